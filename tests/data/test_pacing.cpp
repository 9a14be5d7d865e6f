// Pacing functions against their formulas (pacing.hpp), their end points, monotonicity and
// parameter checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "thaw/data/pacing.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;

TEST_CASE("pacing: each function equals its formula") {
  const double T = 1000, c0 = 0.2;
  for (const std::uint64_t t : {0u, 1u, 10u, 250u, 500u, 999u, 1000u, 5000u}) {
    INFO("t = " << t);
    const double x = std::min(1.0, static_cast<double>(t) / T);
    CHECK(pace::linear(T, c0)(t) == Approx(std::min(1.0, c0 + (1 - c0) * x)).epsilon(1e-12));
    CHECK(pace::root(T, c0, 2)(t) == Approx(std::min(1.0, c0 + (1 - c0) * std::sqrt(x))).epsilon(1e-12));
    CHECK(pace::root(T, c0, 3)(t) == Approx(std::min(1.0, c0 + (1 - c0) * std::cbrt(x))).epsilon(1e-12));
    CHECK(pace::exponential(T, c0, 10)(t) ==
          Approx(std::min(1.0, c0 + (1 - c0) * (std::exp(10 * x) - 1) / (std::exp(10.0) - 1))).epsilon(1e-12));
    CHECK(pace::step(T, c0, 4)(t) == Approx(std::min(1.0, c0 + (1 - c0) * std::floor(4 * x) / 4)).epsilon(1e-12));
    CHECK(pace::geometric(T, c0)(t) == Approx(std::min(1.0, c0 * std::pow(1 / c0, x))).epsilon(1e-12));
    // Platanios et al. (2019), eq. for c_sqrt and c_linear.
    CHECK(pace::competence(T, c0, 2)(t) ==
          Approx(std::min(1.0, std::sqrt(x * (1 - c0 * c0) + c0 * c0))).epsilon(1e-12));
    CHECK(pace::competence(T, c0, 1)(t) == Approx(std::min(1.0, x * (1 - c0) + c0)).epsilon(1e-12));
  }
}

TEST_CASE("pacing: start at c0, reach 1 at T, never decrease") {
  const std::vector<std::function<double(std::uint64_t)>> all = {
      pace::linear(300, 0.1),      pace::root(300, 0.1),       pace::exponential(300, 0.1),
      pace::step(300, 0.1, 5),     pace::geometric(300, 0.1),  pace::competence(300, 0.1)};
  for (const auto& p : all) {
    CHECK(p(0) == Approx(0.1));
    CHECK(p(300) == 1.0);
    CHECK(p(100000) == 1.0);
    double prev = 0;
    for (std::uint64_t t = 0; t <= 400; ++t) {
      REQUIRE(p(t) >= prev);
      REQUIRE(p(t) <= 1.0);
      prev = p(t);
    }
  }
  // Shapes: root is ahead of linear, exponential behind; step is piecewise constant.
  CHECK(pace::root(100, 0.1)(25) > pace::linear(100, 0.1)(25));
  CHECK(pace::exponential(100, 0.1)(50) < pace::linear(100, 0.1)(50));
  CHECK(pace::step(100, 0.1, 4)(24) == pace::step(100, 0.1, 4)(0));
  CHECK(pace::step(100, 0.1, 4)(25) > pace::step(100, 0.1, 4)(24));
}

TEST_CASE("pacing: bad parameters are errors naming the function") {
  CHECK_THAT(error_of([] { (void)pace::linear(0, 0.1); }), Catch::Contains("linear pacing: T must be >= 1"));
  CHECK_THAT(error_of([] { (void)pace::root(10, 0); }), Catch::Contains("root pacing: c0"));
  CHECK_THAT(error_of([] { (void)pace::root(10, 0.1, -1); }), Catch::Contains("p must be > 0"));
  CHECK_THAT(error_of([] { (void)pace::step(10, 0.1, 0); }), Catch::Contains("k must be >= 1"));
  CHECK_THAT(error_of([] { (void)pace::exponential(10, 0.1, 0); }), Catch::Contains("s must be"));
  CHECK_THAT(error_of([] { (void)pace::geometric(10, 1.5); }), Catch::Contains("geometric pacing: c0"));
  CHECK_THAT(error_of([] { (void)pace::competence(std::nan(""), 0.5); }), Catch::Contains("competence pacing: T"));
}
