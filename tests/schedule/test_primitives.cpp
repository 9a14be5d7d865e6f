// Tests for the primitives: constant, linear, cosine, exponential, step_decay, multi_step, poly,
// inverse_sqrt, sgdr, one_cycle, wsd, infinite, fn. Values are checked against the formulas
// written out independently here; PyTorch parity is in test_pytorch_interop.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;
using Catch::Matchers::Contains;

namespace {
constexpr double pi = std::numbers::pi;
bool close(double a, double b, double rel = 1e-12) {
  return std::abs(a - b) <= rel * std::max({std::abs(a), std::abs(b), 1e-300});
}
}  // namespace

// Every primitive is a schedule, and a literal type usable in constant expressions.
static_assert(schedule<constant_schedule> && schedule<linear_schedule> &&
              schedule<cosine_schedule> && schedule<exponential_schedule> &&
              schedule<step_decay_schedule> && schedule<multi_step_schedule<2>> &&
              schedule<poly_schedule> && schedule<inverse_sqrt_schedule> &&
              schedule<sgdr_schedule> && schedule<one_cycle_schedule> && schedule<wsd_schedule> &&
              schedule<infinite_schedule>);
static_assert(!schedule<double> && !schedule<int>);
static_assert(constant(0.25)(123456) == 0.25 && constant(0.25).length() == kInfinite);
static_assert(linear(0.0, 1.0, 4)(1) == 0.25 && linear(0.0, 1.0, 4)(4) == 1.0);
static_assert(cosine(1.0, 0.0, 10)(0) == 1.0 && cosine(1.0, 0.0, 10)(10) == 0.0);
static_assert(step_decay(1.0, 0.5, 10)(25) == 0.25);
static_assert(multi_step(1.0, 0.1, {2, 5})(4) == 0.1);
static_assert(poly(1.0, 0.0, 4, 2.0)(2) == 0.25);
static_assert(wsd({.peak = 1.0, .min = 0.1, .warmup = 10, .stable = 10, .decay = 10})(15) == 1.0);
static_assert(one_cycle({.peak = 1.0, .total = 100}).length() == 100);
static_assert(sgdr(1.0, 0.0, 10, 2.0)(10) == 1.0);  // a restart: back to a
static_assert(inverse_sqrt(1.0, 100)(400) == 0.5);
constexpr bool near(double a, double b) { return a - b < 1e-15 && b - a < 1e-15; }
static_assert(near(exponential(1.0, 0.25, 2)(1), 0.5));
static_assert(near(cosine(1.0, 0.0, 4)(2), 0.5));
constexpr auto kInf = infinite({.peak = 1.0, .constant = 0.5, .min = 0.125, .warmup = 10,
                                .cooldown = 10, .anneal = 2})
                          .anneal_at(30);
static_assert(kInf(5) == 0.5 && near(kInf(15), 0.75) && kInf(25) == 0.5);
static_assert(near(kInf(31), 0.25) && kInf(32) == 0.125 && kInf.length() == 32);

TEST_CASE("constant", "[schedule][primitives]") {
  CHECK(constant(3.0, 5)(0) == 3.0);
  CHECK(constant(3.0, 5)(99) == 3.0);
  CHECK(constant(3.0, 5).length() == 5);
  CHECK_THROWS_WITH(constant(1.0, -1), Contains("n must be >= 0"));
  CHECK_THROWS_WITH(constant(std::nan(""), 1), Contains("v must be finite"));
}

TEST_CASE("linear: from a to b over n steps, then b", "[schedule][primitives]") {
  const auto s = linear(1.0, 3.0, 8);
  CHECK(s(0) == 1.0);
  CHECK(s(4) == 2.0);
  CHECK(s(7) == 2.75);  // the last step of the ramp
  CHECK(s(8) == 3.0);   // the end value
  CHECK(s(1000) == 3.0);
  CHECK(s.length() == 8);
  CHECK(linear(5.0, 7.0, 0)(0) == 7.0);
  CHECK_THROWS_WITH(linear(0, 1, -5), Contains("n must be >= 0, got -5"));
  CHECK_THROWS_WITH(linear(0, 1, kInfinite), Contains("n must be finite"));
}

TEST_CASE("cosine: half a cosine from a to b, and PyTorch's periodic curve past n",
          "[schedule][primitives]") {
  const auto s = cosine(1.0, 0.1, 100);
  CHECK(s(0) == 1.0);
  CHECK(close(s(50), 0.55));
  CHECK(close(s(25), 0.1 + 0.9 * (1 + std::cos(pi / 4)) / 2));
  CHECK(close(s(100), 0.1));
  CHECK(close(s(150), 0.55));  // rising again, as CosineAnnealingLR does
  CHECK(close(s(200), 1.0));
  CHECK(close(hold(s)(150), 0.1));  // hold() keeps the end value instead
  CHECK(cosine(2.0, 1.0, 0)(0) == 1.0);
  CHECK_THROWS_WITH(cosine(0, 1, -1), Contains("n must be >= 0"));
}

TEST_CASE("exponential: geometric from a to b", "[schedule][primitives]") {
  const auto s = exponential(1.0, 0.01, 10);
  CHECK(s(0) == 1.0);
  CHECK(close(s(5), 0.1));
  CHECK(close(s(10), 0.01));
  CHECK(close(s(20), 0.0001));  // keeps decaying, as ExponentialLR does
  CHECK_THROWS_WITH(exponential(0.0, 1.0, 10), Contains("must be > 0"));
  CHECK_THROWS_WITH(exponential(1.0, -1.0, 10), Contains("must be > 0"));
  CHECK_THROWS_WITH(exponential(1.0, 0.5, 0), Contains("n must be >= 1"));
}

TEST_CASE("step and multi-step decay", "[schedule][primitives]") {
  const auto s = step_decay(0.1, 0.5, 3, 9);
  CHECK(s(0) == 0.1);
  CHECK(s(2) == 0.1);
  CHECK(s(3) == 0.05);
  CHECK(s(8) == 0.025);
  CHECK(close(s(9), 0.0125));  // past the length it keeps stepping
  CHECK(s.length() == 9);
  CHECK_THROWS_WITH(step_decay(1, 0.5, 0), Contains("every must be >= 1"));
  CHECK_THROWS_WITH(step_decay(1, -0.5, 2), Contains("gamma must be finite and >= 0"));

  const auto m = multi_step(1.0, 0.1, {3, 5});
  CHECK(m(2) == 1.0);
  CHECK(m(3) == 0.1);
  CHECK(close(m(5), 0.01));
  CHECK(close(m(500), 0.01));
  CHECK_THROWS_WITH(multi_step(1.0, 0.1, {5, 5}), Contains("strictly increasing"));
}

TEST_CASE("poly: polynomial decay with power", "[schedule][primitives]") {
  const auto s = poly(1.0, 0.2, 10, 2.0);
  CHECK(s(0) == 1.0);
  CHECK(close(s(5), 0.2 + 0.8 * 0.25));
  CHECK(close(s(9), 0.2 + 0.8 * 0.01));
  CHECK(s(10) == 0.2);
  CHECK(s(11) == 0.2);
  CHECK_THROWS_WITH(poly(1, 0, 10, 0.0), Contains("power must be finite and > 0"));
  CHECK_THROWS_WITH(poly(1, 0, 0, 1.0), Contains("n must be >= 1"));
}

TEST_CASE("inverse_sqrt with warmup", "[schedule][primitives]") {
  const auto s = inverse_sqrt(1.0, 100);
  CHECK(s(0) == 0.0);
  CHECK(s(50) == 0.5);
  CHECK(s(100) == 1.0);
  CHECK(close(s(400), 0.5));
  CHECK(close(s(10'000), 0.1));
  CHECK(s.length() == kInfinite);
  // HF's default timescale without warmup is 10000.
  CHECK(close(inverse_sqrt(1.0, 0)(30'000), 1.0 / std::sqrt(4.0)));
  CHECK_THROWS_WITH(inverse_sqrt(1.0, -1), Contains("warmup must be finite and >= 0"));
}

TEST_CASE("sgdr: cosine with warm restarts and period multiplier", "[schedule][primitives]") {
  const auto cyc = [](double a, double b, double t, double T) {
    return b + (a - b) * (1 + std::cos(pi * t / T)) / 2;
  };
  const auto s1 = sgdr(1.0, 0.0, 10);
  CHECK(s1(0) == 1.0);
  CHECK(close(s1(5), 0.5));
  CHECK(s1(10) == 1.0);  // restart
  CHECK(close(s1(27), cyc(1, 0, 7, 10)));
  // tmult = 2: cycles of 4, 8, 16, 32 start at 0, 4, 12, 28, 60.
  const auto s2 = sgdr(1.0, 0.1, 4, 2.0);
  for (step_t start : {0, 4, 12, 28, 60}) CHECK(s2(start) == 1.0);
  CHECK(close(s2(3), cyc(1, 0.1, 3, 4)));
  CHECK(close(s2(11), cyc(1, 0.1, 7, 8)));
  CHECK(close(s2(59), cyc(1, 0.1, 31, 32)));
  CHECK(close(s2(100), cyc(1, 0.1, 40, 64)));
  // A real tmult: cycles 2, 3, 4.5, 6.75 starting at 0, 2, 5, 9.5.
  const auto s3 = sgdr(1.0, 0.0, 2, 1.5);
  CHECK(close(s3(5), 1.0));
  CHECK(close(s3(9), cyc(1, 0, 4, 4.5)));
  CHECK(close(s3(10), cyc(1, 0, 0.5, 6.75)));
  // Far out, the cycle is still found exactly (log rounding is corrected).
  const auto s4 = sgdr(1.0, 0.0, 1, 2.0);
  for (int k = 1; k < 50; ++k) {
    const step_t start = (step_t{1} << k) - 1;
    INFO("k = " << k);
    CHECK(s4(start) == 1.0);
    CHECK(close(s4(start - 1), cyc(1, 0, double(step_t{1} << (k - 1)) - 1, double(step_t{1} << (k - 1)))));
  }
  CHECK_THROWS_WITH(sgdr(1, 0, 10, 0.5), Contains("tmult must be in [1, 1e6]"));
  CHECK_THROWS_WITH(sgdr(1, 0, 0, 1), Contains("t0 must be a finite number of steps >= 1"));
}

TEST_CASE("one_cycle follows OneCycleLR's phases", "[schedule][primitives]") {
  const auto s = one_cycle({.peak = 1.0, .total = 100, .pct_start = 0.25});
  CHECK(close(s(0), 1.0 / 25));
  CHECK(close(s(24), 1.0));  // the top: pct_start * total - 1
  CHECK(close(s(99), 1.0 / 25 / 1e4));
  CHECK(close(s(100), 1.0 / 25 / 1e4));  // held after the end
  const auto lin = one_cycle({.peak = 2.0, .total = 11, .pct_start = 0.5, .div_factor = 2,
                              .final_div_factor = 1, .shape = anneal::linear});
  CHECK(close(lin(0), 1.0));
  CHECK(close(lin(10), 1.0));
  const auto three = one_cycle({.peak = 1.0, .total = 100, .pct_start = 0.3, .three_phase = true});
  CHECK(close(three(29), 1.0));
  CHECK(close(three(58), 1.0 / 25));  // back to the initial value at 2 pct_start total - 2
  CHECK(close(three(99), 1.0 / 25 / 1e4));
  CHECK_THROWS_WITH(one_cycle({.peak = 1.0, .total = 3, .pct_start = 0.3}),
                    Contains("pct_start * total must be > 1"));
  CHECK_THROWS_WITH(one_cycle({.peak = 1.0, .total = 0}), Contains("total must be"));
}

TEST_CASE("wsd: warmup, stable, decay with the three shapes", "[schedule][primitives]") {
  const double peak = 3e-4, lo = 3e-5;
  const auto make = [&](decay_shape shape) {
    return wsd({.peak = peak, .min = lo, .warmup = 10, .stable = 20, .decay = 16, .shape = shape});
  };
  for (auto shape : {decay_shape::linear, decay_shape::cosine, decay_shape::one_minus_sqrt}) {
    const auto s = make(shape);
    CHECK(s(0) == 0.0);
    CHECK(close(s(5), peak / 2));
    CHECK(s(10) == peak);
    CHECK(s(29) == peak);
    CHECK(close(s(30), peak));  // p = 0: f(0) = 1
    CHECK(s(46) == lo);    // after the decay
    CHECK(s(1'000'000) == lo);
    CHECK(s.length() == 46);
  }
  CHECK(close(make(decay_shape::linear)(34), lo + (peak - lo) * (1 - 0.25)));
  CHECK(close(make(decay_shape::cosine)(34), lo + (peak - lo) * (1 + std::cos(pi / 4)) / 2));
  CHECK(close(make(decay_shape::one_minus_sqrt)(34), lo + (peak - lo) * 0.5));
  CHECK(close(make(decay_shape::one_minus_sqrt)(45), lo + (peak - lo) * (1 - std::sqrt(15.0 / 16))));
  // An open-ended stable phase.
  const auto open = wsd({.peak = 1.0, .min = 0.0, .warmup = 5, .stable = kInfinite, .decay = 5});
  CHECK(open.length() == kInfinite);
  CHECK(open(kInfinite - 1) == 1.0);
  CHECK_THROWS_WITH(wsd({.peak = 1, .min = 0, .warmup = -1}), Contains("warmup must be finite"));
  CHECK_THROWS_WITH(wsd({.peak = 1, .min = 0, .decay = kInfinite}), Contains("decay must be finite"));
}

TEST_CASE("infinite: warmup, cool-down, open constant phase, annealing on demand",
          "[schedule][primitives]") {
  const infinite_cfg cfg{.peak = 1e-3, .constant = 3e-4, .min = 3e-5, .warmup = 100,
                         .cooldown = 400, .anneal = 200};
  const auto s = infinite(cfg);
  CHECK(s.length() == kInfinite);
  CHECK(s(0) == 0.0);
  CHECK(close(s(50), 5e-4));
  CHECK(close(s(100), 1e-3));
  CHECK(close(s(300), 3e-4 + (1e-3 - 3e-4) * 0.5));  // halfway through the cosine cool-down
  CHECK(s(500) == 3e-4);
  CHECK(s(1'000'000'000) == 3e-4);  // the constant phase never ends by itself

  const auto a = s.anneal_at(10'000);  // annealing asked for at step 10000
  CHECK(a.length() == 10'200);
  CHECK(a(9'999) == 3e-4);
  CHECK(a(10'000) == 3e-4);
  CHECK(close(a(10'100), std::sqrt(3e-4 * 3e-5)));  // exponential: geometric mean halfway
  CHECK(a(10'200) == 3e-5);
  CHECK(a(20'000) == 3e-5);
  for (step_t k = 0; k < 10'000; k += 97) CHECK(a(k) == s(k));  // same run until the annealing
  CHECK_THROWS_WITH(s.anneal_at(499), Contains("end of the cool-down (step 500)"));
  CHECK_THROWS_WITH(infinite({.peak = 1, .constant = 0.5, .min = 0}), Contains("must be finite and > 0"));
}

TEST_CASE("fn: any callable of the step as a schedule", "[schedule][primitives]") {
  constexpr auto f = fn([](step_t s) { return 1.0 / static_cast<double>(s + 1); }, 10);
  static_assert(f(3) == 0.25 && f.length() == 10);
  CHECK(f(0) == 1.0);
  const auto g = fn([](step_t s) { return static_cast<int>(s % 3); });  // any number type
  CHECK(g(5) == 2.0);
  CHECK(g.length() == kInfinite);
}
