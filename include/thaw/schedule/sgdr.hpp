// sgdr(a, b, t0, tmult): cosine annealing with warm restarts, from "SGDR: Stochastic Gradient
// Descent with Warm Restarts" (Loshchilov & Hutter, ICLR 2017).
//
// Cycle i lasts T_i = t0 tmult^i steps; within it the value goes from a down to b by half a
// cosine, then restarts at a:
//   sgdr(a, b, t0, tmult)(s) = b + (a - b) (1 + cos(pi T_cur / T_i)) / 2
// Pinned to PyTorch's CosineAnnealingWarmRestarts(T_0 = t0, T_mult = tmult, eta_min = b) with
// base lr a (PyTorch needs an integer tmult; thaw accepts any real tmult >= 1, cycle lengths are
// then real numbers). Its length is infinite.
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class sgdr_schedule {
public:
  /// Requires a, b finite, 1 <= t0 < kInfinite, 1 <= tmult <= 1e6.
  constexpr sgdr_schedule(double a, double b, step_t t0, double tmult = 1.0)
      : a_(a), b_(b), t0_(t0), tmult_(tmult) {
    THAW_CHECK(detail::is_finite(a) && detail::is_finite(b),
               "sgdr(a, b, t0, tmult): a and b must be finite, got ", a, " and ", b);
    THAW_CHECK(detail::is_finite(a - b), "sgdr(a, b, t0, tmult): a - b overflows, got ", a,
               " and ", b);
    THAW_CHECK(t0 >= 1 && t0 != kInfinite,
               "sgdr(a, b, t0, tmult): t0 must be a finite number of steps >= 1, got ",
               detail::length_text{t0});
    THAW_CHECK(tmult >= 1 && tmult <= 1e6,
               "sgdr(a, b, t0, tmult): tmult must be in [1, 1e6] (each cycle is tmult times "
               "longer than the one before), got ", tmult);
  }

  constexpr double operator()(step_t s) const {
    double t_cur = 0, t_i = static_cast<double>(t0_);
    if (s <= 0) {
      t_cur = 0;
    } else if (tmult_ == 1.0) {
      t_cur = static_cast<double>(s % t0_);
    } else {
      // Closed form of PyTorch's recurrence (T_cur -= T_i; T_i *= T_mult when T_cur >= T_i):
      // cycle n starts at t0 (tmult^n - 1) / (tmult - 1).
      const double x = static_cast<double>(s) / static_cast<double>(t0_);
      const double n = detail::floor(detail::log1p(x * (tmult_ - 1.0)) / detail::log(tmult_));
      double pn = detail::pow(tmult_, n);
      t_cur = static_cast<double>(s) - static_cast<double>(t0_) * (pn - 1.0) / (tmult_ - 1.0);
      t_i = static_cast<double>(t0_) * pn;
      // The logarithm can land one cycle off by rounding; step to the right cycle.
      if (t_cur < 0) {
        pn /= tmult_;
        t_i = static_cast<double>(t0_) * pn;
        t_cur += t_i;
      } else if (t_cur >= t_i) {
        t_cur -= t_i;
        pn *= tmult_;
        t_i = static_cast<double>(t0_) * pn;
      }
    }
    return b_ + (a_ - b_) * (1.0 + detail::cos(detail::kPi * t_cur / t_i)) / 2.0;
  }
  constexpr step_t length() const { return kInfinite; }

private:
  double a_, b_;
  step_t t0_;
  double tmult_;
};

constexpr sgdr_schedule sgdr(double a, double b, step_t t0, double tmult = 1.0) {
  return {a, b, t0, tmult};
}

}  // namespace thaw::sched
