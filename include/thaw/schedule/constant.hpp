// constant(v, n): the value v for n steps (n = kInfinite by default: forever).
#pragma once

#include <type_traits>
#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

namespace thaw::sched {

class constant_schedule {
public:
  /// Requires v finite and n >= 0 (kInfinite allowed).
  constexpr constant_schedule(double v, step_t n = kInfinite) : v_(v), n_(n) {
    THAW_CHECK(detail::is_finite(v), "constant(v, n): v must be finite, got ", v);
    THAW_CHECK(n >= 0, "constant(v, n): n must be >= 0, got ", n);
  }
  constexpr double operator()(step_t) const { return v_; }
  constexpr step_t length() const { return n_; }
  constexpr double value() const { return v_; }

private:
  double v_;
  step_t n_;
};

constexpr constant_schedule constant(double v, step_t n = kInfinite) { return {v, n}; }

namespace detail {
/// A number used as an operand of the algebra: a constant that adds nothing to the length.
template <class T>
constexpr auto as_schedule(T&& x) {
  if constexpr (std::is_arithmetic_v<std::remove_cvref_t<T>>) {
    return constant_schedule(static_cast<double>(x), 0);
  } else {
    return std::remove_cvref_t<T>(static_cast<T&&>(x));
  }
}
template <class T>
using as_schedule_t = decltype(as_schedule(std::declval<T>()));
}  // namespace detail

}  // namespace thaw::sched
