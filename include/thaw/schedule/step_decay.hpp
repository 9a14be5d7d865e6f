// step_decay(a, gamma, every, n) and multi_step(a, gamma, {m1, m2, ...}, n): piecewise-constant
// decay by a factor gamma (spec form: step(a, gamma, every, n)).
//
// Pinned to PyTorch: step_decay is StepLR (step_size = every) with base lr a,
//   step_decay(a, gamma, every, n)(s) = a gamma^floor(s / every);
// multi_step is MultiStepLR, a gamma^(number of milestones <= s). Both keep following the rule
// past their length n (n = kInfinite by default; n only matters to `>>` and repeat).
#pragma once

#include <array>
#include <cstddef>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class step_decay_schedule {
public:
  /// Requires a finite, gamma finite and >= 0, every >= 1, n >= 0 (kInfinite allowed).
  constexpr step_decay_schedule(double a, double gamma, step_t every, step_t n = kInfinite)
      : a_(a), gamma_(gamma), every_(every), n_(n) {
    THAW_CHECK(detail::is_finite(a), "step(a, gamma, every, n): a must be finite, got ", a);
    THAW_CHECK(detail::is_finite(gamma) && gamma >= 0,
               "step(a, gamma, every, n): gamma must be finite and >= 0, got ", gamma);
    THAW_CHECK(every >= 1, "step(a, gamma, every, n): every must be >= 1, got ", every);
    THAW_CHECK(n >= 0, "step(a, gamma, every, n): n must be >= 0, got ", n);
  }
  constexpr double operator()(step_t s) const {
    if (s < every_) return a_;
    return a_ * detail::pow(gamma_, static_cast<double>(s / every_));
  }
  constexpr step_t length() const { return n_; }

private:
  double a_, gamma_;
  step_t every_, n_;
};

constexpr step_decay_schedule step_decay(double a, double gamma, step_t every,
                                         step_t n = kInfinite) {
  return {a, gamma, every, n};
}

template <std::size_t N>
class multi_step_schedule {
public:
  /// Requires milestones strictly increasing and >= 1, gamma finite and >= 0, n >= 0.
  constexpr multi_step_schedule(double a, double gamma, const std::array<step_t, N>& milestones,
                                step_t n = kInfinite)
      : a_(a), gamma_(gamma), milestones_(milestones), n_(n) {
    THAW_CHECK(detail::is_finite(a), "multi_step: a must be finite, got ", a);
    THAW_CHECK(detail::is_finite(gamma) && gamma >= 0,
               "multi_step: gamma must be finite and >= 0, got ", gamma);
    THAW_CHECK(n >= 0, "multi_step: n must be >= 0, got ", n);
    for (std::size_t i = 0; i < N; ++i) {
      THAW_CHECK(milestones[i] >= 1, "multi_step: milestone ", i, " must be >= 1, got ",
                 milestones[i]);
      THAW_CHECK(i == 0 || milestones[i] > milestones[i - 1],
                 "multi_step: milestones must be strictly increasing, got ", milestones[i - 1],
                 " then ", milestones[i]);
    }
  }
  constexpr double operator()(step_t s) const {
    double v = a_;
    for (std::size_t i = 0; i < N && milestones_[i] <= s; ++i) v *= gamma_;
    return v;
  }
  constexpr step_t length() const { return n_; }

private:
  double a_, gamma_;
  std::array<step_t, N> milestones_;
  step_t n_;
};

/// multi_step(0.1, 0.1, {30, 80}): 0.1 until step 30, 0.01 until 80, then 0.001.
template <std::size_t N>
constexpr multi_step_schedule<N> multi_step(double a, double gamma, const step_t (&milestones)[N],
                                            step_t n = kInfinite) {
  std::array<step_t, N> m{};
  for (std::size_t i = 0; i < N; ++i) m[i] = milestones[i];
  return {a, gamma, m, n};
}

}  // namespace thaw::sched
