// optim::step_scalar — a hyperparameter that may change with the step: a plain number or any
// callable of the step (a sched:: schedule, an any_schedule parsed from a spec, a lambda).
//
// Optimizers, EMA and freeze policies take their scalars (learning rate, weight decay, betas,
// EMA decay, frozen fraction) as step_scalar, so the schedule library plugs in unchanged:
//   optim::adamw opt(store, {.lr = sched::linear(0, 3e-4, 500) >> sched::cosine(3e-4, 3e-5, 9500)});
// Steps count optimizer updates from 0, as in thaw::sched.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "thaw/schedule/concept.hpp"

namespace thaw::optim {

class step_scalar {
public:
  /// A constant.
  template <class N>
    requires std::is_arithmetic_v<N>
  step_scalar(N value) : constant_(static_cast<double>(value)) {}  // NOLINT: implicit on purpose

  /// Any callable of the step that returns a number.
  template <class F>
    requires(!std::is_arithmetic_v<std::remove_cvref_t<F>>) &&
            (!std::same_as<std::remove_cvref_t<F>, step_scalar>) &&
            sched::step_function<std::remove_cvref_t<F>>
  step_scalar(F&& f)  // NOLINT: implicit on purpose
      : fn_([g = std::forward<F>(f)](sched::step_t s) { return static_cast<double>(g(s)); }) {}

  [[nodiscard]] double operator()(sched::step_t step) const { return fn_ ? fn_(step) : constant_; }
  /// True when the value does not depend on the step.
  [[nodiscard]] bool is_constant() const noexcept { return !fn_; }

private:
  double constant_ = 0.0;
  std::function<double(sched::step_t)> fn_;
};

}  // namespace thaw::optim
