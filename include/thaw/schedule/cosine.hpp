// cosine(a, b, n): half a cosine from a at step 0 to b at step n (cosine annealing).
//
// Pinned to PyTorch's CosineAnnealingLR with base lr a, eta_min = b, T_max = n:
//   cosine(a, b, n)(s) = b + (a - b) (1 + cos(pi s / n)) / 2
// for every s, including past n, where PyTorch's (and so thaw's) curve rises again with period
// 2n. For "decay, then stay at b" write hold(cosine(a, b, n)) or cosine(a, b, n) >> constant(b).
// From SGDR (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", 2017).
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class cosine_schedule {
public:
  /// Requires a, b finite and 0 <= n < kInfinite. With n = 0 the value is b everywhere.
  constexpr cosine_schedule(double a, double b, step_t n) : a_(a), b_(b), n_(n) {
    THAW_CHECK(detail::is_finite(a) && detail::is_finite(b),
               "cosine(a, b, n): a and b must be finite, got ", a, " and ", b);
    THAW_CHECK(detail::is_finite(a - b), "cosine(a, b, n): a - b overflows, got ", a, " and ", b);
    THAW_CHECK(n >= 0, "cosine(a, b, n): n must be >= 0, got ", n);
    THAW_CHECK(n != kInfinite, "cosine(a, b, n): n must be finite");
  }
  constexpr double operator()(step_t s) const {
    if (n_ == 0) return b_;
    const double c = detail::cos(detail::kPi * static_cast<double>(s) / static_cast<double>(n_));
    return b_ + (a_ - b_) * (1.0 + c) / 2.0;
  }
  constexpr step_t length() const { return n_; }
  constexpr double start() const { return a_; }
  constexpr double end() const { return b_; }

private:
  double a_, b_;
  step_t n_;
};

constexpr cosine_schedule cosine(double a, double b, step_t n) { return {a, b, n}; }

}  // namespace thaw::sched
