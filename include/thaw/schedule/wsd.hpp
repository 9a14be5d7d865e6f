// wsd: warmup-stable-decay, the schedule of "MiniCPM: Unveiling the Potential of Small Language
// Models with Scalable Training Strategies" (Hu et al., 2024), studied with the 1-sqrt cool-down
// in "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations" (Hägele et al.,
// 2024). Spec form: wsd(peak, min, warmup, stable, decay, shape).
//
//   s < warmup                    peak s / warmup                        (linear from 0)
//   s < warmup + stable           peak
//   s < warmup + stable + decay   min + (peak - min) f(p),  p = (s - warmup - stable) / decay
//   after                         min
// with f(p) = 1 - p (linear), (1 + cos(pi p)) / 2 (cosine) or 1 - sqrt(p) (one_minus_sqrt).
// This is Hugging Face's get_wsd_schedule with min_lr_ratio = min / peak, except that recent
// versions of it warm up from min instead of from 0 (equal when min = 0).
//
// The stable phase may be open-ended (stable = kInfinite). To extend the stable phase of a run
// that is already going, splice it (see splice.hpp):
//   run | splice(k, [&](double v) { return wsd({.peak = v, .min = lo, .stable = more, ...}); })
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

enum class decay_shape { linear, cosine, one_minus_sqrt };

struct wsd_cfg {
  double peak = 0;
  double min = 0;
  step_t warmup = 0;
  step_t stable = 0;   // may be kInfinite
  step_t decay = 0;
  decay_shape shape = decay_shape::linear;
};

class wsd_schedule {
public:
  /// Requires peak, min finite; warmup, decay finite and >= 0; stable >= 0 (kInfinite allowed).
  constexpr explicit wsd_schedule(const wsd_cfg& c) : c_(c) {
    THAW_CHECK(detail::is_finite(c.peak) && detail::is_finite(c.min),
               "wsd: peak and min must be finite, got ", c.peak, " and ", c.min);
    THAW_CHECK(detail::is_finite(c.peak - c.min), "wsd: peak - min overflows, got ", c.peak,
               " and ", c.min);
    THAW_CHECK(c.warmup >= 0 && c.warmup != kInfinite,
               "wsd: warmup must be finite and >= 0, got ", detail::length_text{c.warmup});
    THAW_CHECK(c.stable >= 0, "wsd: stable must be >= 0, got ", c.stable);
    THAW_CHECK(c.decay >= 0 && c.decay != kInfinite,
               "wsd: decay must be finite and >= 0, got ", detail::length_text{c.decay});
    decay_start_ = detail::add_lengths(c.warmup, c.stable);
    length_ = detail::add_lengths(decay_start_, c.decay);
  }

  constexpr double operator()(step_t s) const {
    if (s < c_.warmup) return c_.peak * (static_cast<double>(s) / static_cast<double>(c_.warmup));
    if (s < decay_start_) return c_.peak;
    if (s < length_) {
      const double p =
          static_cast<double>(s - decay_start_) / static_cast<double>(c_.decay);
      return c_.min + (c_.peak - c_.min) * shape_(p);
    }
    return c_.min;
  }
  constexpr step_t length() const { return length_; }
  constexpr const wsd_cfg& cfg() const { return c_; }
  /// The first step of the decay (kInfinite while the stable phase is open-ended).
  constexpr step_t decay_start() const { return decay_start_; }

private:
  constexpr double shape_(double p) const {
    switch (c_.shape) {
      case decay_shape::linear: return 1.0 - p;
      case decay_shape::cosine: return (1.0 + detail::cos(detail::kPi * p)) / 2.0;
      case decay_shape::one_minus_sqrt: return 1.0 - detail::sqrt(p);
    }
    return 0.0;
  }

  wsd_cfg c_;
  step_t decay_start_ = 0, length_ = 0;
};

/// wsd({.peak = 3e-4, .min = 3e-5, .warmup = 500, .stable = 8000, .decay = 1500,
///      .shape = decay_shape::one_minus_sqrt})
constexpr wsd_schedule wsd(const wsd_cfg& c) { return wsd_schedule(c); }

}  // namespace thaw::sched
