// offset(x, k): x with its clock moved by k steps; hold(x): x frozen at its final value.
//
//   offset(x, k)(s) = x(max(s + k, 0))   k > 0 skips x's first k steps (length L - k);
//                                         k < 0 delays x by -k steps, holding x(0) meanwhile.
//   hold(x)(s)      = x(min(s, L))       e.g. hold(cosine(a, b, n)) stays at b after n.
#pragma once

#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::sched {

template <schedule X>
class offset_schedule {
public:
  /// Requires |k| finite.
  constexpr offset_schedule(X x, step_t k) : x_(std::move(x)), k_(k) {
    THAW_CHECK(k != kInfinite && k > -kInfinite, "offset(x, k): k must be finite");
  }
  constexpr double operator()(step_t s) const {
    if (k_ >= 0) return x_(s > kInfinite - k_ ? kInfinite : s + k_);
    return x_(s < -k_ ? 0 : s + k_);
  }
  constexpr step_t length() const {
    const step_t n = x_.length();
    if (n == kInfinite) return kInfinite;
    if (k_ >= 0) return n > k_ ? n - k_ : 0;
    return detail::add_lengths(n, -k_);
  }

private:
  X x_;
  step_t k_;
};

template <schedule X>
class hold_schedule {
public:
  constexpr explicit hold_schedule(X x) : x_(std::move(x)), n_(x_.length()) {}
  constexpr double operator()(step_t s) const { return x_(s < n_ ? s : n_); }
  constexpr step_t length() const { return n_; }

private:
  X x_;
  step_t n_;
};

template <class X>
  requires schedule<std::remove_cvref_t<X>>
constexpr auto offset(X&& x, step_t k) {
  return offset_schedule<std::remove_cvref_t<X>>(std::forward<X>(x), k);
}

template <class X>
  requires schedule<std::remove_cvref_t<X>>
constexpr auto hold(X&& x) {
  return hold_schedule<std::remove_cvref_t<X>>(std::forward<X>(x));
}

}  // namespace thaw::sched
