// a >> b: a for a.length() steps, then b with its own clock restarted at 0 (optax's
// join_schedules). Associative: a >> b >> c runs a, then b, then c.
#pragma once

#include <type_traits>
#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::sched {

template <schedule A, schedule B>
class sequence_schedule {
public:
  /// Requires a finite: an infinite a would never hand over to b.
  constexpr sequence_schedule(A a, B b) : a_(std::move(a)), b_(std::move(b)), split_(a_.length()) {
    THAW_CHECK(split_ != kInfinite,
               "a >> b: the left side has infinite length, so the right side would never run");
  }
  constexpr double operator()(step_t s) const { return s < split_ ? a_(s) : b_(s - split_); }
  constexpr step_t length() const { return detail::add_lengths(split_, b_.length()); }
  constexpr const A& first() const { return a_; }
  constexpr const B& second() const { return b_; }

private:
  A a_;
  B b_;
  step_t split_;
};

template <class A, class B>
  requires schedule<std::remove_cvref_t<A>> && schedule<std::remove_cvref_t<B>>
constexpr auto operator>>(A&& a, B&& b) {
  return sequence_schedule<std::remove_cvref_t<A>, std::remove_cvref_t<B>>(
      std::forward<A>(a), std::forward<B>(b));
}

}  // namespace thaw::sched
