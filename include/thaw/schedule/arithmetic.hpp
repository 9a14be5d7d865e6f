// Arithmetic on schedules: a + b, a - b, a * b, a / b, -a, min(a, b), max(a, b),
// clamp(x, lo, hi). Either side may be a plain number. The result lasts as long as the longer
// operand (a number adds nothing to the length): lr * 0.5 has lr's length.
#pragma once

#include <type_traits>
#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/constant.hpp"

namespace thaw::sched {

template <class Op, schedule A, schedule B>
class binary_schedule {
public:
  constexpr binary_schedule(A a, B b) : a_(std::move(a)), b_(std::move(b)) {}
  constexpr double operator()(step_t s) const { return Op::apply(a_(s), b_(s)); }
  constexpr step_t length() const { return detail::max_length(a_.length(), b_.length()); }

private:
  A a_;
  B b_;
};

template <class Op, schedule A>
class unary_schedule {
public:
  constexpr explicit unary_schedule(A a) : a_(std::move(a)) {}
  constexpr double operator()(step_t s) const { return Op::apply(a_(s)); }
  constexpr step_t length() const { return a_.length(); }

private:
  A a_;
};

namespace detail {
struct add_op { static constexpr double apply(double x, double y) { return x + y; } };
struct sub_op { static constexpr double apply(double x, double y) { return x - y; } };
struct mul_op { static constexpr double apply(double x, double y) { return x * y; } };
struct div_op { static constexpr double apply(double x, double y) { return x / y; } };
struct min_op { static constexpr double apply(double x, double y) { return y < x ? y : x; } };
struct max_op { static constexpr double apply(double x, double y) { return x < y ? y : x; } };
struct neg_op { static constexpr double apply(double x) { return -x; } };

/// At least one side is a schedule, the other a schedule or a number.
template <class A, class B>
concept binary_operands = (schedule<std::remove_cvref_t<A>> || schedule<std::remove_cvref_t<B>>) &&
                          schedule_operand<A> && schedule_operand<B>;

template <class Op, class A, class B>
constexpr auto make_binary(A&& a, B&& b) {
  return binary_schedule<Op, as_schedule_t<A>, as_schedule_t<B>>(
      as_schedule(std::forward<A>(a)), as_schedule(std::forward<B>(b)));
}
}  // namespace detail

template <class A, class B>
  requires detail::binary_operands<A, B>
constexpr auto operator+(A&& a, B&& b) {
  return detail::make_binary<detail::add_op>(std::forward<A>(a), std::forward<B>(b));
}
template <class A, class B>
  requires detail::binary_operands<A, B>
constexpr auto operator-(A&& a, B&& b) {
  return detail::make_binary<detail::sub_op>(std::forward<A>(a), std::forward<B>(b));
}
template <class A, class B>
  requires detail::binary_operands<A, B>
constexpr auto operator*(A&& a, B&& b) {
  return detail::make_binary<detail::mul_op>(std::forward<A>(a), std::forward<B>(b));
}
template <class A, class B>
  requires detail::binary_operands<A, B>
constexpr auto operator/(A&& a, B&& b) {
  return detail::make_binary<detail::div_op>(std::forward<A>(a), std::forward<B>(b));
}
template <class A>
  requires schedule<std::remove_cvref_t<A>>
constexpr auto operator-(A&& a) {
  return unary_schedule<detail::neg_op, std::remove_cvref_t<A>>(std::forward<A>(a));
}

/// The smaller of a and b at every step.
template <class A, class B>
  requires detail::binary_operands<A, B>
constexpr auto min(A&& a, B&& b) {
  return detail::make_binary<detail::min_op>(std::forward<A>(a), std::forward<B>(b));
}
/// The larger of a and b at every step.
template <class A, class B>
  requires detail::binary_operands<A, B>
constexpr auto max(A&& a, B&& b) {
  return detail::make_binary<detail::max_op>(std::forward<A>(a), std::forward<B>(b));
}

/// x limited to [lo, hi] at every step (lo, hi numbers or schedules). Numbers need lo <= hi.
template <class X, class Lo, class Hi>
  requires schedule<std::remove_cvref_t<X>> && schedule_operand<Lo> && schedule_operand<Hi>
constexpr auto clamp(X&& x, Lo&& lo, Hi&& hi) {
  if constexpr (std::is_arithmetic_v<std::remove_cvref_t<Lo>> &&
                std::is_arithmetic_v<std::remove_cvref_t<Hi>>) {
    THAW_CHECK(static_cast<double>(lo) <= static_cast<double>(hi),
               "clamp(x, lo, hi): lo must be <= hi, got ", lo, " and ", hi);
  }
  return min(max(std::forward<X>(x), std::forward<Lo>(lo)), std::forward<Hi>(hi));
}

}  // namespace thaw::sched
