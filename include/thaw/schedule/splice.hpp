// splice: from step k on, continue with another schedule that starts from the current value.
//
//   splice(base, k, f)   base before step k; from k on, f(base(k)) with its clock at 0 at k.
//   base | splice(k, f)  the same, written as a pipeline.
// f is either a callable double -> schedule (it receives the value the run is at) or a
// schedule. Uses, in continual pre-training ("Continual Pre-Training of Large Language Models:
// How to (re)warm your model?", Gupta et al., 2023):
//   re-warming:   pre | splice(k, [](double v) { return linear(v, peak, n) >> cosine(peak, lo, m); })
//   longer WSD:   run | splice(k, [](double v) {
//                   return wsd({.peak = v, .min = lo, .stable = more, .decay = d, .shape = s}); })
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::sched {

template <schedule Base, schedule Next>
class splice_schedule {
public:
  /// Requires 0 <= k < kInfinite.
  constexpr splice_schedule(Base base, step_t k, Next next)
      : base_(std::move(base)), k_(k), next_(std::move(next)) {
    THAW_CHECK(k >= 0 && k != kInfinite, "splice(k, f): k must be finite and >= 0, got ",
               detail::length_text{k});
  }
  constexpr double operator()(step_t s) const { return s < k_ ? base_(s) : next_(s - k_); }
  constexpr step_t length() const { return detail::add_lengths(k_, next_.length()); }
  constexpr step_t at() const { return k_; }
  constexpr const Base& base() const { return base_; }
  constexpr const Next& next() const { return next_; }

private:
  Base base_;
  step_t k_;
  Next next_;
};

namespace detail {
template <class F>
concept continuation = schedule<F> || (std::invocable<const F&, double> &&
                                       schedule<std::invoke_result_t<const F&, double>>);

template <class F>
struct splice_at {
  step_t k;
  F f;
};
}  // namespace detail

/// base until step k, then f(base(k)) (or the schedule f) from step k on.
template <class Base, class F>
  requires schedule<std::remove_cvref_t<Base>>
constexpr auto splice(Base&& base, step_t k, F f) {
  using B = std::remove_cvref_t<Base>;
  static_assert(detail::continuation<F>,
                "thaw::sched::splice: the continuation must be a schedule, or a callable that "
                "takes the current value (double) and returns a schedule");
  THAW_CHECK(k >= 0 && k != kInfinite, "splice(k, f): k must be finite and >= 0, got ",
             detail::length_text{k});
  if constexpr (schedule<F>) {
    return splice_schedule<B, F>(std::forward<Base>(base), k, std::move(f));
  } else {
    auto next = f(static_cast<double>(base(k)));
    return splice_schedule<B, decltype(next)>(std::forward<Base>(base), k, std::move(next));
  }
}

/// The pipeline form: base | splice(k, f).
template <class F>
constexpr detail::splice_at<F> splice(step_t k, F f) {
  static_assert(detail::continuation<F>,
                "thaw::sched::splice: the continuation must be a schedule, or a callable that "
                "takes the current value (double) and returns a schedule");
  return {k, std::move(f)};
}

template <class Base, class F>
  requires schedule<std::remove_cvref_t<Base>>
constexpr auto operator|(Base&& base, detail::splice_at<F> at) {
  return splice(std::forward<Base>(base), at.k, std::move(at.f));
}

}  // namespace thaw::sched
