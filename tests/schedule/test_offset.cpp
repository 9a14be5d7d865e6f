// Tests for offset.hpp: offset(x, k) and hold(x).
#include <catch2/catch.hpp>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;

static_assert(offset(linear(0.0, 1.0, 10), 5)(0) == 0.5);
static_assert(offset(linear(0.0, 1.0, 10), 5).length() == 5);
static_assert(hold(cosine(1.0, 0.0, 10))(15) == 0.0);

TEST_CASE("offset moves a schedule's clock", "[schedule][offset]") {
  const auto x = cosine(1.0, 0.1, 100);
  const auto later = offset(x, -20);  // delayed: x(0) for 20 steps, then x
  const auto sooner = offset(x, 30);  // x from its step 30
  for (step_t s = 0; s < 20; ++s) CHECK(later(s) == x(0));
  for (step_t s = 20; s < 200; ++s) CHECK(later(s) == x(s - 20));
  for (step_t s = 0; s < 200; ++s) CHECK(sooner(s) == x(s + 30));
  CHECK(later.length() == 120);
  CHECK(sooner.length() == 70);
  CHECK(offset(x, 500).length() == 0);
  CHECK(offset(constant(1.0), 5).length() == kInfinite);
}

TEST_CASE("hold freezes a schedule at its final value", "[schedule][offset]") {
  const auto x = cosine(1.0, 0.1, 100);
  const auto h = hold(x);
  for (step_t s = 0; s <= 100; ++s) CHECK(h(s) == x(s));
  CHECK(h(101) == x(100));
  CHECK(h(5'000) == x(100));
  CHECK(x(150) > 0.5);  // cosine itself rises again past its length (PyTorch's curve)
}
