// repeat(x, times): x's first x.length() steps, `times` times over (kInfinite: forever). Past
// the end the last repetition continues. Cyclic schedules (triangular, repeated cosine as in
// "Continual Pre-Training of Large Language Models: How to (re)warm your model?", Gupta et al.,
// 2023) are repeat(warmup >> decay).
#pragma once

#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::sched {

template <schedule X>
class repeat_schedule {
public:
  /// Requires x.length() finite and >= 1, times >= 1 (kInfinite allowed).
  constexpr repeat_schedule(X x, step_t times)
      : x_(std::move(x)), period_(x_.length()), times_(times) {
    THAW_CHECK(period_ >= 1 && period_ != kInfinite,
               "repeat(x, times): x must have a finite length >= 1, got ",
               detail::length_text{period_});
    THAW_CHECK(times >= 1, "repeat(x, times): times must be >= 1, got ", times);
    length_ = detail::mul_lengths(period_, times_);
  }
  constexpr double operator()(step_t s) const {
    if (s < 0) return x_(s);
    if (length_ == kInfinite || s < length_) return x_(s % period_);
    return x_(s - (times_ - 1) * period_);
  }
  constexpr step_t length() const { return length_; }

private:
  X x_;
  step_t period_, times_;
  step_t length_ = 0;
};

template <class X>
  requires schedule<std::remove_cvref_t<X>>
constexpr auto repeat(X&& x, step_t times = kInfinite) {
  return repeat_schedule<std::remove_cvref_t<X>>(std::forward<X>(x), times);
}

}  // namespace thaw::sched
