// Tests for arithmetic.hpp: + - * / with numbers and schedules, min, max, clamp.
#include <catch2/catch.hpp>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;
using Catch::Matchers::Contains;

static_assert((linear(0.0, 1.0, 10) * 2.0)(5) == 1.0);
static_assert((1.0 - linear(0.0, 1.0, 8))(2) == 0.75);
static_assert((linear(0.0, 1.0, 8) + linear(1.0, 0.0, 8))(2) == 1.0);
static_assert((-linear(0.0, 1.0, 10))(10) == -1.0);
static_assert(clamp(linear(-1.0, 2.0, 3), 0.0, 1.0)(0) == 0.0);
static_assert(clamp(linear(-1.0, 2.0, 3), 0.0, 1.0)(3) == 1.0);
static_assert((linear(0.0, 1.0, 10) * 2.0).length() == 10);  // a number adds no length

TEST_CASE("arithmetic with numbers and between schedules", "[schedule][arithmetic]") {
  const auto a = linear(1.0, 3.0, 4);
  const auto b = step_decay(8.0, 0.5, 1, 6);
  for (step_t s = 0; s < 10; ++s) {
    INFO("s = " << s);
    CHECK((a + b)(s) == a(s) + b(s));
    CHECK((a - b)(s) == a(s) - b(s));
    CHECK((a * b)(s) == a(s) * b(s));
    CHECK((a / b)(s) == a(s) / b(s));
    CHECK((2.0 * a)(s) == 2.0 * a(s));
    CHECK((a / 4)(s) == a(s) / 4);
    CHECK((10 - a)(s) == 10 - a(s));
    CHECK((-a)(s) == -a(s));
    CHECK(min(a, b)(s) == std::min(a(s), b(s)));
    CHECK(max(a, 2.5)(s) == std::max(a(s), 2.5));
  }
  CHECK((a + b).length() == 6);  // the longer operand
  CHECK((a * constant(2.0)).length() == kInfinite);
}

TEST_CASE("clamp keeps a schedule inside bounds", "[schedule][arithmetic]") {
  const auto x = linear(-1.0, 2.0, 30);
  const auto c = clamp(x, 0.0, 1.0);
  for (step_t s = 0; s <= 30; ++s) {
    CHECK(c(s) >= 0.0);
    CHECK(c(s) <= 1.0);
    if (x(s) >= 0 && x(s) <= 1) CHECK(c(s) == x(s));
  }
  // Bounds that are schedules themselves.
  const auto band = clamp(x, linear(-2.0, 0.0, 30), constant(0.5));
  CHECK(band(0) == -1.0);
  CHECK(band(30) == 0.5);
  CHECK_THROWS_WITH(clamp(x, 1.0, 0.0), Contains("lo must be <= hi"));
}
