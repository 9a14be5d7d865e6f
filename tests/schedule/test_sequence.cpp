// Tests for a >> b (sequence.hpp): b's clock restarts when a ends, lengths add, constexpr.
#include <catch2/catch.hpp>

#include <cmath>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;
using Catch::Matchers::Contains;

namespace {
// DESIGN.md's learning rate: 500 warmup steps, then cosine to a tenth over 9500.
constexpr auto kLr = linear(0.0, 3e-4, 500) >> cosine(3e-4, 3e-5, 9'500);
}  // namespace

static_assert(kLr.length() == 10'000);
static_assert(kLr(0) == 0.0);
static_assert(kLr(250) == 1.5e-4);
static_assert(kLr(500) == 3e-4);  // the cosine's step 0
static_assert(kLr(10'000) > 3e-5 - 1e-18 && kLr(10'000) < 3e-5 + 1e-18);
static_assert((linear(0.0, 1.0, 2) >> constant(1.0, 3) >> linear(1.0, 0.0, 4)).length() == 9);

TEST_CASE("a >> b restarts b's clock when a ends", "[schedule][sequence]") {
  const auto w = linear(0.0, 3e-4, 500);
  const auto c = cosine(3e-4, 3e-5, 9'500);
  for (step_t s = 0; s < 500; ++s) CHECK(kLr(s) == w(s));
  for (step_t s = 500; s < 12'000; s += 7) CHECK(kLr(s) == c(s - 500));
  CHECK(kLr(499) == w(499));
  CHECK(kLr(500) == c(0));
}

TEST_CASE("a >> b is associative and skips zero-length parts", "[schedule][sequence]") {
  const auto a = linear(0.0, 1.0, 3);
  const auto b = constant(2.0, 0);
  const auto c = cosine(1.0, 0.0, 5);
  const auto d = step_decay(1.0, 0.5, 2, 4);
  const auto left = (a >> b) >> (c >> d);
  const auto right = a >> (b >> (c >> d));
  CHECK(left.length() == 12);
  CHECK(right.length() == 12);
  for (step_t s = 0; s < 20; ++s) {
    INFO("s = " << s);
    CHECK(left(s) == right(s));
  }
  CHECK(left(3) == c(0));  // the zero-length constant never shows
}

TEST_CASE("a >> b refuses an infinite left side", "[schedule][sequence]") {
  CHECK_THROWS_WITH(constant(1.0) >> linear(0, 1, 5), Contains("infinite length"));
  CHECK((linear(0, 1, 5) >> constant(1.0)).length() == kInfinite);
}
