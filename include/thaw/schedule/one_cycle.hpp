// one_cycle: the 1cycle policy of "Super-Convergence: Very Fast Training of Neural Networks
// Using Large Learning Rates" (Smith & Topin, 2019), as PyTorch's OneCycleLR computes it.
//
// From peak / div_factor up to peak over the first pct_start of `total` steps, then down to
// peak / div_factor / final_div_factor at step total - 1 (cosine or linear annealing); with
// three_phase, up, back down to the initial value, then down to the minimum. Values at steps
// 0 .. total-1 equal OneCycleLR's learning rate after s calls of step(); from `total` on the
// schedule stays at its minimum (OneCycleLR raises an error there). Length: total.
#pragma once

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

enum class anneal { cosine, linear };

struct one_cycle_cfg {
  double peak = 0;                 // max_lr
  step_t total = 0;                // total_steps
  double pct_start = 0.3;          // fraction of steps spent going up
  double div_factor = 25.0;        // initial = peak / div_factor
  double final_div_factor = 1e4;   // minimum = initial / final_div_factor
  anneal shape = anneal::cosine;   // anneal_strategy
  bool three_phase = false;
};

class one_cycle_schedule {
public:
  /// Requires peak finite, 1 <= total < kInfinite, pct_start in [0, 1], div factors > 0, and
  /// every phase at least a fraction of a step long (pct_start * total > 1; with three_phase
  /// also 2 pct_start total - 1 < total - 1), as OneCycleLR would otherwise divide by zero.
  constexpr explicit one_cycle_schedule(const one_cycle_cfg& c) : c_(c) {
    THAW_CHECK(detail::is_finite(c.peak), "one_cycle: peak must be finite, got ", c.peak);
    THAW_CHECK(c.total >= 1 && c.total != kInfinite,
               "one_cycle: total must be a finite number of steps >= 1, got ",
               detail::length_text{c.total});
    THAW_CHECK(c.pct_start >= 0 && c.pct_start <= 1,
               "one_cycle: pct_start must be in [0, 1], got ", c.pct_start);
    THAW_CHECK(detail::is_finite(c.div_factor) && c.div_factor > 0 &&
                   detail::is_finite(c.final_div_factor) && c.final_div_factor > 0,
               "one_cycle: div_factor and final_div_factor must be finite and > 0, got ",
               c.div_factor, " and ", c.final_div_factor);
    initial_ = c.peak / c.div_factor;
    min_ = initial_ / c.final_div_factor;
    const double total = static_cast<double>(c.total);
    end1_ = c.pct_start * total - 1.0;
    end2_ = c.three_phase ? 2.0 * c.pct_start * total - 2.0 : total - 1.0;
    end3_ = total - 1.0;
    THAW_CHECK(end1_ > 0, "one_cycle: pct_start * total must be > 1 so the rising phase has a "
               "length, got ", c.pct_start, " * ", c.total);
    THAW_CHECK(end2_ > end1_ && (!c.three_phase || end3_ > end2_),
               "one_cycle: every phase must have a length; with three_phase pct_start must be "
               "< (total - 1) / (2 total) + 1/total, got ", c.pct_start);
  }

  constexpr double operator()(step_t s) const {
    if (s >= c_.total) return min_;
    const double x = static_cast<double>(s);
    if (x <= end1_) return anneal_(initial_, c_.peak, x / end1_);
    if (!c_.three_phase) return anneal_(c_.peak, min_, (x - end1_) / (end2_ - end1_));
    if (x <= end2_) return anneal_(c_.peak, initial_, (x - end1_) / (end2_ - end1_));
    return anneal_(initial_, min_, (x - end2_) / (end3_ - end2_));
  }
  constexpr step_t length() const { return c_.total; }
  constexpr const one_cycle_cfg& cfg() const { return c_; }

private:
  constexpr double anneal_(double start, double end, double pct) const {
    if (c_.shape == anneal::linear) return (end - start) * pct + start;
    return end + (start - end) / 2.0 * (detail::cos(detail::kPi * pct) + 1.0);
  }

  one_cycle_cfg c_;
  double initial_ = 0, min_ = 0, end1_ = 0, end2_ = 0, end3_ = 0;
};

/// one_cycle({.peak = 0.1, .total = 1000}) — the settings are OneCycleLR's, by name.
constexpr one_cycle_schedule one_cycle(const one_cycle_cfg& c) { return one_cycle_schedule(c); }

}  // namespace thaw::sched
