// fn(f, n): any callable of the step as a schedule of length n (kInfinite by default), so a
// formula the primitives do not cover still composes with >>, splice and arithmetic.
#pragma once

#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::sched {

template <step_function F>
class function_schedule {
public:
  constexpr function_schedule(F f, step_t n) : f_(std::move(f)), n_(n) {
    THAW_CHECK(n >= 0, "fn(f, n): n must be >= 0, got ", n);
  }
  constexpr double operator()(step_t s) const { return static_cast<double>(f_(s)); }
  constexpr step_t length() const { return n_; }

private:
  F f_;
  step_t n_;
};

template <step_function F>
constexpr function_schedule<F> fn(F f, step_t n = kInfinite) {
  return {std::move(f), n};
}

}  // namespace thaw::sched
