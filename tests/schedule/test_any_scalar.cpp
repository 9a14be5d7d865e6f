// "Any scalar": the same schedule types drive a learning rate, a weight decay and a data-mixture
// ratio in a small but real training run (linear regression, minibatch SGD with decoupled weight
// decay, two data sources mixed by a scheduled ratio), and each schedule's effect is observed
// in the trained weights and in the drawn data.
//
// The optimizer and the sampler here are test-local stand-ins written the way thaw's optim/ and
// data/ components take their hyperparameters: any `step_function` (a typed schedule, an
// any_schedule from a spec, or a lambda). The real components will be tested the same way once
// they exist.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;

namespace {

constexpr int kDim = 4;  // features 0..2 carry signal; feature 3 is always 0 (a "dead" weight)
using vec = std::array<double, kDim>;

/// Deterministic normal numbers (splitmix64 + Box-Muller).
struct rng {
  std::uint64_t state;
  double uniform() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1p-53;
  }
  double normal() {
    const double u = uniform() + 0x1p-54, v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
};

/// SGD with decoupled weight decay; lr and weight decay are callables of the step.
template <step_function Lr, step_function Wd>
struct sgdw {
  Lr lr;
  Wd weight_decay;
  void step(step_t s, vec& w, const vec& grad) const {
    const double a = lr(s), d = weight_decay(s);
    for (int i = 0; i < kDim; ++i) w[i] -= a * grad[i] + a * d * w[i];
  }
};

/// Draws the source of each example: source 0 with probability ratio(s), else source 1.
template <step_function Ratio>
struct two_source_mixture {
  Ratio ratio;
  rng r{42};
  int draw(step_t s) { return r.uniform() < ratio(s) ? 0 : 1; }
};

struct example {
  vec x;
  double y;
};

constexpr vec kTrueA = {1.0, -2.0, 0.5, 0.0};
constexpr vec kTrueB = {-1.5, 0.5, 2.0, 0.0};

double dist(const vec& a, const vec& b) {
  double d = 0;
  for (int i = 0; i < 3; ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

double norm(const vec& a) {
  double n = 0;
  for (int i = 0; i < 3; ++i) n += a[i] * a[i];
  return std::sqrt(n);
}

struct run_log {
  vec w_after_first_step{}, w_at_200{}, w_at_400{}, w_final{};
  std::array<int, 3> draws_a{}, draws{};  // per phase: [0,200), [200,300), [300,600)
};

template <class Opt, class Mix>
run_log train(const Opt& opt, Mix mix, const vec& w0) {
  constexpr int kBatch = 8;
  rng data{7};
  vec w = w0;
  run_log log;
  for (step_t s = 0; s < 600; ++s) {
    if (s == 200) log.w_at_200 = w;
    if (s == 400) log.w_at_400 = w;
    vec grad{};
    for (int b = 0; b < kBatch; ++b) {
      const int src = mix.draw(s);
      const int phase = s < 200 ? 0 : s < 300 ? 1 : 2;
      log.draws[phase] += 1;
      log.draws_a[phase] += src == 0;
      const vec& truth = src == 0 ? kTrueA : kTrueB;
      example e{{data.normal(), data.normal(), data.normal(), 0.0}, 0.0};
      for (int i = 0; i < kDim; ++i) e.y += truth[i] * e.x[i];
      double pred = 0;
      for (int i = 0; i < kDim; ++i) pred += w[i] * e.x[i];
      for (int i = 0; i < kDim; ++i) grad[i] += 2.0 * (pred - e.y) * e.x[i] / kBatch;  // d MSE
    }
    opt.step(s, w, grad);
    if (s == 0) log.w_after_first_step = w;
  }
  log.w_final = w;
  return log;
}

}  // namespace

TEST_CASE("a learning rate, a weight decay and a mixture ratio are driven by schedules in a "
          "real training run",
          "[schedule][any_scalar]") {
  const vec w0 = {0.1, 0.1, 0.1, 1.0};
  // Learning rate: a typed composed schedule (warmup from 0, constant, cosine cool-down).
  const auto lr = linear(0.0, 0.1, 20) >> constant(0.1, 480) >> cosine(0.1, 0.01, 100);
  // Weight decay: a schedule parsed from a config string — off, then on from step 400.
  const any_schedule wd = parse("constant(0, 400) >> constant(0.2)");
  // Mixture: source A only, a linear hand-over to B during [200, 300), then B only.
  const auto ratio = constant(1.0, 200) >> linear(1.0, 0.0, 100) >> constant(0.0);

  const auto log = train(sgdw<decltype(lr), any_schedule>{lr, wd},
                         two_source_mixture<decltype(ratio)>{ratio}, w0);

  SECTION("the learning rate: step 0 has lr 0, so nothing moves; then it learns") {
    CHECK(log.w_after_first_step == w0);
    CHECK(dist(log.w_at_200, kTrueA) < 1e-6);
  }
  SECTION("the mixture ratio: the data and the weights follow it") {
    CHECK(log.draws_a[0] == log.draws[0]);  // ratio 1: every example from A
    CHECK(log.draws_a[2] == 0);             // ratio 0: none
    const double handover = double(log.draws_a[1]) / log.draws[1];  // mean ratio 0.5 (800 draws)
    CHECK(handover > 0.42);
    CHECK(handover < 0.58);
    CHECK(dist(log.w_at_200, kTrueA) < 1e-6);  // trained on A
    CHECK(dist(log.w_at_400, kTrueB) < 1e-6);  // then on B
  }
  SECTION("the weight decay: off until step 400, then it shrinks the weights") {
    // The dead weight gets no gradient: only the decay moves it, by exactly (1 - lr wd) a step.
    CHECK(log.w_at_200[3] == 1.0);
    CHECK(log.w_at_400[3] == 1.0);
    double expect = 1.0;
    for (step_t s = 400; s < 600; ++s) expect *= 1.0 - lr(s) * wd(s);
    CHECK(log.w_final[3] == Approx(expect).epsilon(1e-12));
    CHECK(log.w_final[3] < 0.1);
    // Live weights settle (in the mean, minibatch noise aside) where 2 (w - w_B) + wd w = 0:
    // shrunk by 2 / 2.2 = 0.909. Without weight decay they sit on w_B (the control below).
    CHECK(norm(log.w_final) / norm(kTrueB) == Approx(2.0 / 2.2).margin(0.03));
  }
  SECTION("controls: with lr 0 nothing trains; with wd 0 the dead weight stays") {
    const auto frozen = train(sgdw<constant_schedule, any_schedule>{constant(0.0), wd},
                              two_source_mixture<decltype(ratio)>{ratio}, w0);
    CHECK(frozen.w_final == w0);
    // Plain lambdas are step functions too.
    const auto no_wd = train(sgdw<decltype(lr), double (*)(step_t)>{lr, [](step_t) { return 0.0; }},
                             two_source_mixture<decltype(ratio)>{ratio}, w0);
    CHECK(no_wd.w_final[3] == 1.0);
    CHECK(dist(no_wd.w_final, kTrueB) < 1e-6);
  }
}

TEST_CASE("a scheduled mixture ratio shows in the drawn data", "[schedule][any_scalar]") {
  // 20000 steps, one draw each, ratio from 0.9 down to 0.1: each window of 2000 draws has about
  // the window's mean ratio of source-0 examples (5 sigma bounds).
  two_source_mixture<linear_schedule> mix{linear(0.9, 0.1, 20'000)};
  for (step_t start = 0; start < 20'000; start += 2'000) {
    int zeros = 0;
    for (step_t s = start; s < start + 2'000; ++s) zeros += mix.draw(s) == 0;
    const double want = (mix.ratio(start) + mix.ratio(start + 1'999)) / 2;
    const double sigma = std::sqrt(want * (1 - want) / 2'000);
    INFO("window at " << start << ": " << zeros / 2000.0 << " vs " << want);
    CHECK(std::abs(zeros / 2000.0 - want) < 5 * sigma);
  }
}
