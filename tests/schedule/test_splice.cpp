// Tests for splice.hpp: continue from the current value at step k — re-warming for continual
// pre-training and extending a WSD stable phase after a resume.
#include <catch2/catch.hpp>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;
using Catch::Matchers::Contains;

namespace {
constexpr auto kPre = linear(0.0, 1e-3, 100) >> cosine(1e-3, 1e-4, 900);
// Re-warm from wherever the pre-training left the learning rate.
constexpr auto kCpt = kPre | splice(1'000, [](double v) {
                        return linear(v, 5e-4, 50) >> cosine(5e-4, 5e-5, 950);
                      });
}  // namespace

static_assert(kCpt.length() == 2'000);
static_assert(kCpt(999) == kPre(999));
static_assert(kCpt(1'000) == kPre(1'000));  // starts from the current value: no jump
static_assert(kCpt(1'050) > 5e-4 * (1 - 1e-15) && kCpt(1'050) < 5e-4 * (1 + 1e-15));

TEST_CASE("splice: re-warming at the start of continual pre-training", "[schedule][splice]") {
  const double v = kPre(1'000);  // 1e-4, the end of the first cosine
  CHECK(v == Approx(1e-4).epsilon(1e-12));
  const auto rewarm = linear(v, 5e-4, 50) >> cosine(5e-4, 5e-5, 950);
  for (step_t s = 0; s < 1'000; ++s) CHECK(kCpt(s) == kPre(s));
  for (step_t s = 1'000; s < 2'500; ++s) CHECK(kCpt(s) == rewarm(s - 1'000));
  // The pipeline and the three-argument forms agree; a schedule works as the continuation too.
  const auto same = splice(kPre, 1'000, rewarm);
  for (step_t s = 0; s < 2'500; s += 13) CHECK(same(s) == kCpt(s));
}

TEST_CASE("splice: extending the stable phase of a WSD run after a resume", "[schedule][splice]") {
  // Planned: 100 warmup, 1000 stable, 200 decay. Resumed at step 600, the run is extended by
  // 2000 stable steps; the decay keeps its shape and length.
  const wsd_cfg plan{.peak = 3e-4, .min = 3e-5, .warmup = 100, .stable = 1'000, .decay = 200,
                     .shape = decay_shape::one_minus_sqrt};
  const auto run = wsd(plan);
  const auto extended = run | splice(600, [&](double v) {
                          return wsd({.peak = v, .min = plan.min, .warmup = 0,
                                      .stable = 500 + 2'000, .decay = plan.decay,
                                      .shape = plan.shape});
                        });
  // The same as having planned the longer stable phase from the start.
  auto longer = plan;
  longer.stable += 2'000;
  const auto planned = wsd(longer);
  CHECK(extended.length() == planned.length());
  for (step_t s = 0; s < 4'000; ++s) {
    INFO("s = " << s);
    CHECK(extended(s) == Approx(planned(s)).epsilon(1e-15));
  }
}

TEST_CASE("splice: splices chain, and k is checked", "[schedule][splice]") {
  const auto base = constant(1.0, 10);
  const auto twice = base | splice(5, [](double v) { return linear(v, 2.0, 10); }) |
                     splice(10, [](double v) { return linear(v, 0.0, 4); });
  CHECK(twice(4) == 1.0);
  CHECK(twice(5) == 1.0);
  CHECK(twice(9) == Approx(1.4).epsilon(1e-15));
  CHECK(twice(10) == 1.5);
  CHECK(twice(12) == 0.75);
  CHECK(twice(14) == 0.0);
  CHECK(twice.length() == 14);
  CHECK_THROWS_WITH(splice(base, -1, constant(1.0)), Contains("k must be finite and >= 0"));
}
