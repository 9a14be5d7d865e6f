// The schedule concept: what every scalar that changes during training is.
//
// A schedule is a small copyable value with
//   double operator()(step_t s) const   the value at step s (s counts from 0), and
//   step_t length() const               how many steps it lasts: finite, or kInfinite.
// The length matters to sequencing (`a >> b` switches to b after a's length) and to repeat;
// it does not stop the value: past its length a primitive keeps following its formula (for the
// PyTorch-pinned primitives that is exactly what PyTorch reports past T_max / total_iters, see
// docs/schedules.md), and `hold(x)` freezes x at its final value.
//
// Consumers (optimizers, samplers, freeze policies, EMA) should ask for the weaker
// `step_function`: anything callable with a step that returns a number, so a schedule, an
// any_schedule or a plain lambda all plug in.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <ostream>
#include <type_traits>

namespace thaw::sched {

/// A training step: counts optimizer updates from 0.
using step_t = std::int64_t;

/// The length of a schedule that never ends (constant phases, SGDR, the infinite schedule).
inline constexpr step_t kInfinite = std::numeric_limits<step_t>::max();

/// Anything that maps a step to a number: what consumers of a scheduled scalar accept.
template <class F>
concept step_function = std::copy_constructible<F> && requires(const F& f, step_t s) {
  { f(s) } -> std::convertible_to<double>;
};

/// A step function that also knows its length; the algebra (>>, repeat, splice) needs it.
template <class S>
concept schedule = step_function<S> && requires(const S& s) {
  { s.length() } -> std::same_as<step_t>;
};

/// What the combinators accept on either side: a schedule, or a plain number (a constant).
template <class T>
concept schedule_operand = schedule<std::remove_cvref_t<T>> ||
                           std::is_arithmetic_v<std::remove_cvref_t<T>>;

namespace detail {

/// a + b for lengths, saturating at kInfinite (an infinite part makes the whole infinite).
constexpr step_t add_lengths(step_t a, step_t b) {
  if (a == kInfinite || b == kInfinite) return kInfinite;
  return a > kInfinite - b ? kInfinite : a + b;
}

/// a * b for lengths (both >= 0), saturating at kInfinite.
constexpr step_t mul_lengths(step_t a, step_t b) {
  if (a == 0 || b == 0) return 0;
  if (a == kInfinite || b == kInfinite) return kInfinite;
  return a > kInfinite / b ? kInfinite : a * b;
}

constexpr step_t max_length(step_t a, step_t b) { return a > b ? a : b; }

/// Lengths are printed as "inf" in messages.
struct length_text {
  step_t n;
  friend std::ostream& operator<<(std::ostream& out, length_text l) {
    if (l.n == kInfinite) return out << "inf";
    return out << l.n;
  }
};

}  // namespace detail
}  // namespace thaw::sched
