// Schedules: a composed schedule against the same formula written by hand (issue 5 asks for at
// most 2x). Each benchmark evaluates every step of a 10000-step run once per iteration; the
// parameters pass through DoNotOptimize so nothing is folded at compile time.
//
//   warmup_cosine   linear(0, peak, 500) >> cosine(peak, lo, 9500)
//   wsd             wsd({... 1-sqrt decay}) — the primitive
//   wsd_sequence    linear >> constant >> cosine >> constant — a WSD assembled from parts
//   splice3         (warmup >> cosine) | splice(6000, v -> linear(v, peak2, 200) >> cosine(...))
// Variants: /composed (typed, inlined), /hand (the formula as one function), /any (type-erased,
// parsed from a spec; for reference, not part of the 2x requirement).
#include <benchmark/benchmark.h>

#include <cmath>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;

namespace {

constexpr step_t kSteps = 10'000;
constexpr double kPi = 3.14159265358979323846;

struct params {
  double peak = 3e-4, lo = 3e-5, peak2 = 2e-4, lo2 = 2e-5;
  step_t warmup = 500, total = 10'000, stable = 8'000, decay = 1'500, at = 6'000, rewarm = 200;
};

params runtime_params() {
  params p;
  benchmark::DoNotOptimize(p);  // the values are unknown to the optimizer from here on
  return p;
}

template <class F>
void evaluate_all(benchmark::State& state, const F& f) {
  for (auto _ : state) {
    double sum = 0;
    for (step_t s = 0; s < kSteps; ++s) sum += f(s);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kSteps);
}

// ---- warmup >> cosine ---------------------------------------------------------------------------
void warmup_cosine_composed(benchmark::State& state) {
  const params p = runtime_params();
  const auto lr = linear(0.0, p.peak, p.warmup) >> cosine(p.peak, p.lo, p.total - p.warmup);
  evaluate_all(state, lr);
}
void warmup_cosine_hand(benchmark::State& state) {
  const params p = runtime_params();
  evaluate_all(state, [p](step_t s) {
    if (s < p.warmup) return p.peak * (double(s) / double(p.warmup));
    const double t = double(s - p.warmup) / double(p.total - p.warmup);
    return p.lo + (p.peak - p.lo) * (1.0 + std::cos(kPi * t)) / 2.0;
  });
}
void warmup_cosine_any(benchmark::State& state) {
  const any_schedule lr = parse("linear(0, 3e-4, 500) >> cosine(3e-4, 3e-5, 9500)");
  evaluate_all(state, lr);
}

// ---- WSD ------------------------------------------------------------------------------------------
void wsd_composed(benchmark::State& state) {
  const params p = runtime_params();
  const auto lr = wsd({.peak = p.peak, .min = p.lo, .warmup = p.warmup, .stable = p.stable,
                       .decay = p.decay, .shape = decay_shape::one_minus_sqrt});
  evaluate_all(state, lr);
}
void wsd_hand(benchmark::State& state) {
  const params p = runtime_params();
  evaluate_all(state, [p](step_t s) {
    if (s < p.warmup) return p.peak * (double(s) / double(p.warmup));
    if (s < p.warmup + p.stable) return p.peak;
    if (s < p.warmup + p.stable + p.decay) {
      const double t = double(s - p.warmup - p.stable) / double(p.decay);
      return p.lo + (p.peak - p.lo) * (1.0 - std::sqrt(t));
    }
    return p.lo;
  });
}
void wsd_any(benchmark::State& state) {
  const any_schedule lr = parse("wsd(3e-4, 3e-5, 500, 8000, 1500, 1-sqrt)");
  evaluate_all(state, lr);
}

// ---- WSD assembled from four parts ---------------------------------------------------------------
void wsd_sequence_composed(benchmark::State& state) {
  const params p = runtime_params();
  const auto lr = linear(0.0, p.peak, p.warmup) >> constant(p.peak, p.stable) >>
                  cosine(p.peak, p.lo, p.decay) >> constant(p.lo);
  evaluate_all(state, lr);
}
void wsd_sequence_hand(benchmark::State& state) {
  const params p = runtime_params();
  evaluate_all(state, [p](step_t s) {
    if (s < p.warmup) return p.peak * (double(s) / double(p.warmup));
    if (s < p.warmup + p.stable) return p.peak;
    if (s < p.warmup + p.stable + p.decay) {
      const double t = double(s - p.warmup - p.stable) / double(p.decay);
      return p.lo + (p.peak - p.lo) * (1.0 + std::cos(kPi * t)) / 2.0;
    }
    return p.lo;
  });
}
void wsd_sequence_any(benchmark::State& state) {
  const any_schedule lr =
      parse("linear(0, 3e-4, 500) >> constant(3e-4, 8000) >> cosine(3e-4, 3e-5, 1500) >> "
            "constant(3e-5)");
  evaluate_all(state, lr);
}

// ---- a splice of three parts -----------------------------------------------------------------------
void splice3_composed(benchmark::State& state) {
  const params p = runtime_params();
  const auto lr = (linear(0.0, p.peak, p.warmup) >> cosine(p.peak, p.lo, p.total - p.warmup)) |
                  splice(p.at, [p](double v) {
                    return linear(v, p.peak2, p.rewarm) >> cosine(p.peak2, p.lo2, p.total);
                  });
  evaluate_all(state, lr);
}
void splice3_hand(benchmark::State& state) {
  const params p = runtime_params();
  // The value at the splice point, as a hand-written version would precompute it.
  const double t_at = double(p.at - p.warmup) / double(p.total - p.warmup);
  const double v = p.lo + (p.peak - p.lo) * (1.0 + std::cos(kPi * t_at)) / 2.0;
  evaluate_all(state, [p, v](step_t s) {
    if (s < p.warmup) return p.peak * (double(s) / double(p.warmup));
    if (s < p.at) {
      const double t = double(s - p.warmup) / double(p.total - p.warmup);
      return p.lo + (p.peak - p.lo) * (1.0 + std::cos(kPi * t)) / 2.0;
    }
    if (s < p.at + p.rewarm) return v + (p.peak2 - v) * (double(s - p.at) / double(p.rewarm));
    const double t = double(s - p.at - p.rewarm) / double(p.total);
    return p.lo2 + (p.peak2 - p.lo2) * (1.0 + std::cos(kPi * t)) / 2.0;
  });
}

}  // namespace

BENCHMARK(warmup_cosine_composed)->Name("warmup_cosine/composed");
BENCHMARK(warmup_cosine_hand)->Name("warmup_cosine/hand");
BENCHMARK(warmup_cosine_any)->Name("warmup_cosine/any");
BENCHMARK(wsd_composed)->Name("wsd/composed");
BENCHMARK(wsd_hand)->Name("wsd/hand");
BENCHMARK(wsd_any)->Name("wsd/any");
BENCHMARK(wsd_sequence_composed)->Name("wsd_sequence/composed");
BENCHMARK(wsd_sequence_hand)->Name("wsd_sequence/hand");
BENCHMARK(wsd_sequence_any)->Name("wsd_sequence/any");
BENCHMARK(splice3_composed)->Name("splice3/composed");
BENCHMARK(splice3_hand)->Name("splice3/hand");

BENCHMARK_MAIN();
