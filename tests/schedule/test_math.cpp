// Tests for thaw/schedule/math.hpp: the constexpr series against <cmath>, and that the
// dispatching functions are usable in constant expressions.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "thaw/schedule/math.hpp"

namespace ts = thaw::sched::detail;
namespace series = thaw::sched::detail::series;

namespace {
// Distance in units of the last place, for finite doubles of the same sign.
double ulps(double a, double b) {
  if (a == b) return 0;
  const double scale = std::max(std::abs(a), std::abs(b));
  return std::abs(a - b) / (scale * std::numeric_limits<double>::epsilon());
}
}  // namespace

static_assert(ts::cos(0.0) == 1.0);
static_assert(ts::sqrt(4.0) == 2.0);
static_assert(ts::pow(2.0, 10.0) == 1024.0);
static_assert(ts::floor(-1.5) == -2.0);
static_assert(series::cos(0.0) == 1.0);
static_assert(series::sqrt(2.25) == 1.5);
static_assert(series::pow(3.0, 4.0) == 81.0);
static_assert(series::cos(ts::kPi) == -1.0);
static_assert(series::floor(2.0) == 2.0 && series::floor(-0.5) == -1.0);

TEST_CASE("series cos matches std::cos on schedule arguments", "[schedule][math]") {
  double worst_abs = 0;
  for (int i = -2000; i <= 2000; ++i) {
    const double x = i * 0.01 * ts::kPi;  // [-20 pi, 20 pi]
    worst_abs = std::max(worst_abs, std::abs(series::cos(x) - std::cos(x)));
  }
  CHECK(worst_abs < 4e-16);
  // pi s / n for typical s, n, including the restart points of SGDR.
  for (int n : {1, 3, 7, 50, 1000, 9500}) {
    for (int s = 0; s <= 2 * n; s += std::max(1, n / 17)) {
      const double x = ts::kPi * s / n;
      CHECK(std::abs(series::cos(x) - std::cos(x)) < 4e-16);
    }
  }
  CHECK(std::isnan(series::cos(std::numeric_limits<double>::infinity())));
}

TEST_CASE("series sqrt, exp, log, log1p, pow match <cmath> to a few ulp", "[schedule][math]") {
  for (double x : {1e-300, 1e-10, 0.001, 0.25, 0.5, 1.0, 2.0, 3.0, 10.0, 12345.678, 1e10, 1e300}) {
    INFO("x = " << x);
    CHECK(ulps(series::sqrt(x), std::sqrt(x)) <= 1);
    CHECK(ulps(series::log(x), std::log(x)) <= 4);
  }
  for (double x : {-700.0, -50.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 1.0, 10.0, 300.0, 700.0}) {
    INFO("x = " << x);
    CHECK(ulps(series::exp(x), std::exp(x)) <= 4);
  }
  for (double x : {-0.5, -1e-12, 0.0, 1e-12, 0.1, 0.24, 0.3, 5.0, 1e6}) {
    INFO("x = " << x);
    CHECK(ulps(series::log1p(x), std::log1p(x)) <= 4);
  }
  for (auto [x, y] : {std::pair{0.01, 0.5}, {0.5, 0.3}, {2.0, -3.0}, {0.1, 12.0}, {0.999, 1000.5},
                      {1e-3, 0.001}, {7.0, 0.0}}) {
    INFO("x = " << x << ", y = " << y);
    CHECK(ulps(series::pow(x, y), std::pow(x, y)) <= 16);
  }
  CHECK(series::sqrt(0.0) == 0.0);
  CHECK(std::isnan(series::sqrt(-1.0)));
  CHECK(series::log(0.0) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(series::pow(-2.0, 0.5)));
  CHECK(series::pow(0.0, 2.5) == 0.0);
}

TEST_CASE("the dispatching functions give <cmath>'s exact bits at run time", "[schedule][math]") {
  // Run-time values must be libm's, so schedules agree with Python's math module bit for bit.
  volatile double x = 0.7384;
  CHECK(ts::cos(x) == std::cos(x));
  CHECK(ts::pow(x, 1.7) == std::pow(x, 1.7));
  CHECK(ts::sqrt(x) == std::sqrt(x));
  CHECK(ts::exp(x) == std::exp(x));
  CHECK(ts::log(x) == std::log(x));
}
