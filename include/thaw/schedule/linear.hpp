// linear(a, b, n): from a at step 0 to b at step n, then b.
//
// Pinned to PyTorch's LinearLR: linear(a, b, n)(s) is the learning rate LinearLR reports after s
// calls of step() with total_iters = n and base lr and factors chosen so that the first lr is a
// and the last is b (start_factor = a / base, end_factor = b / base, base = max(a, b)); past n it
// stays at b, as LinearLR does. Warmup is linear(0, peak, n).
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class linear_schedule {
public:
  /// Requires a, b finite and 0 <= n < kInfinite. With n = 0 the value is b everywhere.
  constexpr linear_schedule(double a, double b, step_t n) : a_(a), b_(b), n_(n) {
    THAW_CHECK(detail::is_finite(a) && detail::is_finite(b),
               "linear(a, b, n): a and b must be finite, got ", a, " and ", b);
    THAW_CHECK(detail::is_finite(b - a), "linear(a, b, n): b - a overflows, got ", a, " and ", b);
    THAW_CHECK(n >= 0, "linear(a, b, n): n must be >= 0, got ", n);
    THAW_CHECK(n != kInfinite, "linear(a, b, n): n must be finite");
  }
  constexpr double operator()(step_t s) const {
    if (s >= n_) return b_;
    return a_ + (b_ - a_) * (static_cast<double>(s) / static_cast<double>(n_));
  }
  constexpr step_t length() const { return n_; }
  constexpr double start() const { return a_; }
  constexpr double end() const { return b_; }

private:
  double a_, b_;
  step_t n_;
};

constexpr linear_schedule linear(double a, double b, step_t n) { return {a, b, n}; }

}  // namespace thaw::sched
