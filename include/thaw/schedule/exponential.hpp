// exponential(a, b, n): geometric from a at step 0 to b at step n (spec form: exp(a, b, n)).
//
// Pinned to PyTorch's ExponentialLR with base lr a and gamma = (b / a)^(1/n):
//   exponential(a, b, n)(s) = a (b / a)^(s / n)
// for every s; past n it keeps shrinking by gamma per step, as ExponentialLR does.
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class exponential_schedule {
public:
  /// Requires a > 0, b > 0 (both finite) and 1 <= n < kInfinite.
  constexpr exponential_schedule(double a, double b, step_t n) : a_(a), b_(b), n_(n) {
    THAW_CHECK(detail::is_finite(a) && detail::is_finite(b),
               "exp(a, b, n): a and b must be finite, got ", a, " and ", b);
    THAW_CHECK(a > 0 && b > 0, "exp(a, b, n): a and b must be > 0 (a geometric curve "
               "never reaches or crosses 0), got ", a, " and ", b);
    THAW_CHECK(detail::is_finite(b / a) && b / a > 0,
               "exp(a, b, n): b / a overflows or underflows, got ", a, " and ", b);
    THAW_CHECK(n >= 1, "exp(a, b, n): n must be >= 1, got ", n);
    THAW_CHECK(n != kInfinite, "exp(a, b, n): n must be finite");
    ratio_ = b / a;
  }
  constexpr double operator()(step_t s) const {
    return a_ * detail::pow(ratio_, static_cast<double>(s) / static_cast<double>(n_));
  }
  constexpr step_t length() const { return n_; }
  constexpr double start() const { return a_; }
  constexpr double end() const { return b_; }

private:
  double a_, b_;
  step_t n_;
  double ratio_ = 1.0;
};

constexpr exponential_schedule exponential(double a, double b, step_t n) { return {a, b, n}; }

}  // namespace thaw::sched
