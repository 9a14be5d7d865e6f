// Tests for repeat.hpp.
#include <catch2/catch.hpp>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;
using Catch::Matchers::Contains;

static_assert(repeat(linear(0.0, 1.0, 4), 3).length() == 12);
static_assert(repeat(linear(0.0, 1.0, 4), 3)(5) == 0.25);
static_assert(repeat(linear(0.0, 1.0, 4)).length() == kInfinite);

TEST_CASE("repeat runs a finite schedule again and again", "[schedule][repeat]") {
  // Triangular cycles: up over 5, down over 5.
  const auto tri = linear(0.0, 1.0, 5) >> linear(1.0, 0.0, 5);
  const auto r = repeat(tri, 3);
  CHECK(r.length() == 30);
  for (step_t s = 0; s < 30; ++s) CHECK(r(s) == tri(s % 10));
  CHECK(r(35) == tri(15));  // past the end: the last repetition goes on
  const auto forever = repeat(tri);
  CHECK(forever(1'000'000'007) == tri(7));
  CHECK_THROWS_WITH(repeat(constant(1.0)), Contains("finite length >= 1"));
  CHECK_THROWS_WITH(repeat(tri, 0), Contains("times must be >= 1"));
}
