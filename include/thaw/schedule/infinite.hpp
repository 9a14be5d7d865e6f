// infinite: the "infinite learning rate schedule" of "Simple and Scalable Strategies to
// Continually Pre-train Large Language Models" (Ibrahim et al., 2024), as evaluated in "Beyond
// Cosine Decay: On the effectiveness of Infinite Learning Rate Schedule for Continual
// Pre-training" (Singh et al., 2025). It needs no total number of steps: the constant phase is
// open-ended and the annealing happens on demand.
//
//   s < warmup                        peak s / warmup                                 warmup
//   s < warmup + cooldown             constant + (peak - constant)(1 + cos(pi t / cooldown)) / 2
//                                     with t = s - warmup                             cool-down
//   s < anneal_start                  constant                                        constant
//   s < anneal_start + anneal         constant (min / constant)^((s - anneal_start) / anneal)
//   after                             min                                             annealing
//
// infinite(cfg) has anneal_start = kInfinite (length infinite); .anneal_at(k) returns the same
// schedule with the annealing starting at step k (length k + anneal), e.g. when a checkpoint is
// wanted, while the run itself can go on from the un-annealed schedule.
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

struct infinite_cfg {
  double peak = 0;       // eta_max, reached at the end of the warmup
  double constant = 0;   // eta_const, the open-ended phase
  double min = 0;        // eta_min, reached at the end of the annealing
  step_t warmup = 0;
  step_t cooldown = 0;
  step_t anneal = 0;     // length of the annealing phase, once it is started
};

class infinite_schedule {
public:
  /// Requires peak finite, constant > 0 and min > 0 (exponential annealing), warmup, cooldown,
  /// anneal finite and >= 0, and anneal_start >= warmup + cooldown (kInfinite: not yet).
  constexpr explicit infinite_schedule(const infinite_cfg& c, step_t anneal_start = kInfinite)
      : c_(c), anneal_start_(anneal_start) {
    THAW_CHECK(detail::is_finite(c.peak), "infinite: peak must be finite, got ", c.peak);
    THAW_CHECK(detail::is_finite(c.constant) && c.constant > 0 && detail::is_finite(c.min) &&
                   c.min > 0,
               "infinite: constant and min must be finite and > 0 (the annealing is "
               "exponential), got ", c.constant, " and ", c.min);
    THAW_CHECK(detail::is_finite(c.peak - c.constant) && c.min / c.constant > 0,
               "infinite: peak - constant overflows or min / constant underflows");
    THAW_CHECK(c.warmup >= 0 && c.warmup != kInfinite && c.cooldown >= 0 &&
                   c.cooldown != kInfinite && c.anneal >= 0 && c.anneal != kInfinite,
               "infinite: warmup, cooldown and anneal must be finite and >= 0, got ",
               detail::length_text{c.warmup}, ", ", detail::length_text{c.cooldown}, ", ",
               detail::length_text{c.anneal});
    constant_start_ = detail::add_lengths(c.warmup, c.cooldown);
    THAW_CHECK(anneal_start >= constant_start_,
               "infinite: the annealing can start at the end of the cool-down (step ",
               constant_start_, ") or later, asked for step ", anneal_start);
  }

  constexpr double operator()(step_t s) const {
    if (s < c_.warmup) return c_.peak * (static_cast<double>(s) / static_cast<double>(c_.warmup));
    if (s < constant_start_) {
      const double t = static_cast<double>(s - c_.warmup) / static_cast<double>(c_.cooldown);
      return c_.constant + (c_.peak - c_.constant) * (1.0 + detail::cos(detail::kPi * t)) / 2.0;
    }
    if (s < anneal_start_) return c_.constant;
    if (s - anneal_start_ < c_.anneal) {
      const double t = static_cast<double>(s - anneal_start_) / static_cast<double>(c_.anneal);
      return c_.constant * detail::pow(c_.min / c_.constant, t);
    }
    return c_.min;
  }
  constexpr step_t length() const { return detail::add_lengths(anneal_start_, c_.anneal); }

  /// The same schedule, annealed from step k on (k >= warmup + cooldown).
  constexpr infinite_schedule anneal_at(step_t k) const { return infinite_schedule(c_, k); }
  constexpr step_t anneal_start() const { return anneal_start_; }
  constexpr const infinite_cfg& cfg() const { return c_; }

private:
  infinite_cfg c_;
  step_t anneal_start_;
  step_t constant_start_ = 0;
};

constexpr infinite_schedule infinite(const infinite_cfg& c) { return infinite_schedule(c); }

}  // namespace thaw::sched
