// poly(a, b, n, power): polynomial decay from a to b over n steps, then b.
//
//   poly(a, b, n, power)(s) = b + (a - b) (1 - min(s, n) / n)^power
// Pinned to PyTorch's PolynomialLR (total_iters = n, power) with base lr a when b = 0; with
// b != 0 it is PolynomialLR with base lr a - b, shifted up by b.
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class poly_schedule {
public:
  /// Requires a, b finite, 1 <= n < kInfinite, power finite and > 0.
  constexpr poly_schedule(double a, double b, step_t n, double power)
      : a_(a), b_(b), n_(n), power_(power) {
    THAW_CHECK(detail::is_finite(a) && detail::is_finite(b),
               "poly(a, b, n, power): a and b must be finite, got ", a, " and ", b);
    THAW_CHECK(detail::is_finite(a - b), "poly(a, b, n, power): a - b overflows, got ", a,
               " and ", b);
    THAW_CHECK(n >= 1, "poly(a, b, n, power): n must be >= 1, got ", n);
    THAW_CHECK(n != kInfinite, "poly(a, b, n, power): n must be finite");
    THAW_CHECK(detail::is_finite(power) && power > 0,
               "poly(a, b, n, power): power must be finite and > 0, got ", power);
  }
  constexpr double operator()(step_t s) const {
    if (s >= n_) return b_;
    const double left = 1.0 - static_cast<double>(s) / static_cast<double>(n_);
    return b_ + (a_ - b_) * detail::pow(left, power_);
  }
  constexpr step_t length() const { return n_; }

private:
  double a_, b_;
  step_t n_;
  double power_;
};

constexpr poly_schedule poly(double a, double b, step_t n, double power) {
  return {a, b, n, power};
}

}  // namespace thaw::sched
