// inverse_sqrt(peak, warmup, timescale): linear warmup from 0 to peak, then peak / sqrt(time).
//
//   s <  warmup: peak s / warmup
//   s >= warmup: peak / sqrt((s + timescale - warmup) / timescale)
// which is Hugging Face's get_inverse_sqrt_schedule (timescale defaults to warmup, or 10000
// when warmup is 0). With timescale = warmup it is the "Noam" schedule of "Attention Is All You
// Need" (Vaswani et al., 2017) up to its constant: peak sqrt(warmup / s) after the warmup.
// Its length is infinite.
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class inverse_sqrt_schedule {
public:
  /// Requires peak finite, 0 <= warmup < kInfinite, timescale >= 0 (0 = the default above).
  constexpr inverse_sqrt_schedule(double peak, step_t warmup, step_t timescale = 0)
      : peak_(peak), warmup_(warmup), timescale_(timescale) {
    THAW_CHECK(detail::is_finite(peak), "inverse_sqrt: peak must be finite, got ", peak);
    THAW_CHECK(warmup >= 0 && warmup != kInfinite,
               "inverse_sqrt: warmup must be finite and >= 0, got ", detail::length_text{warmup});
    THAW_CHECK(timescale >= 0 && timescale != kInfinite,
               "inverse_sqrt: timescale must be finite and >= 0, got ",
               detail::length_text{timescale});
    if (timescale_ == 0) timescale_ = warmup_ != 0 ? warmup_ : 10'000;
  }
  constexpr double operator()(step_t s) const {
    if (s < warmup_) return peak_ * (static_cast<double>(s) / static_cast<double>(warmup_));
    const double shift = static_cast<double>(timescale_ - warmup_);
    return peak_ * (1.0 / detail::sqrt((static_cast<double>(s) + shift) /
                                       static_cast<double>(timescale_)));
  }
  constexpr step_t length() const { return kInfinite; }

private:
  double peak_;
  step_t warmup_, timescale_;
};

constexpr inverse_sqrt_schedule inverse_sqrt(double peak, step_t warmup, step_t timescale = 0) {
  return {peak, warmup, timescale};
}

}  // namespace thaw::sched
