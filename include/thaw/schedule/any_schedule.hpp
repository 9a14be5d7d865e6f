// any_schedule: a schedule whose type is decided at run time (configs, command lines).
//
// Holds any schedule behind one virtual call; copies share the (immutable) schedule. Built from a
// typed schedule, or from a spec string with parse() (spec.hpp). It is itself a schedule, so it
// composes with everything else; the typed forms are the ones that inline.
#pragma once

#include <algorithm>
#include <concepts>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::sched {

class any_schedule {
public:
  /// Wraps a typed schedule; `spec` is kept for logs (parse() stores the spec it read).
  template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_schedule>) &&
            schedule<std::remove_cvref_t<S>>
  any_schedule(S&& s, std::string spec = {})  // NOLINT: implicit on purpose, like std::function
      : impl_(std::make_shared<const model<std::remove_cvref_t<S>>>(std::forward<S>(s))),
        length_(impl_->length()),
        spec_(std::move(spec)) {}

  /// The same schedule, described by `spec`.
  any_schedule(const any_schedule& s, std::string spec)
      : impl_(s.impl_), length_(s.length_), spec_(std::move(spec)) {}

  double operator()(step_t s) const { return impl_->value(s); }
  step_t length() const { return length_; }
  /// The spec this schedule was parsed from ("" when built from a typed schedule).
  const std::string& spec() const { return spec_; }

private:
  struct interface {
    virtual ~interface() = default;
    virtual double value(step_t s) const = 0;
    virtual step_t length() const = 0;
  };
  template <class S>
  struct model final : interface {
    explicit model(S s) : schedule(std::move(s)) {}
    double value(step_t s) const override { return static_cast<double>(schedule(s)); }
    step_t length() const override { return schedule.length(); }
    S schedule;
  };

  std::shared_ptr<const interface> impl_;
  step_t length_;
  std::string spec_;
};

/// parts[0] >> parts[1] >> ... as one flat schedule: a binary search finds the part, so a long
/// chain from a spec costs O(log parts) per step and no recursion.
class any_sequence {
public:
  /// Requires at least one part, and every part but the last of finite length.
  explicit any_sequence(std::vector<any_schedule> parts) : parts_(std::move(parts)) {
    THAW_CHECK(!parts_.empty(), "a >> b: nothing to sequence");
    starts_.reserve(parts_.size());
    step_t at = 0;
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      starts_.push_back(at);
      const step_t n = parts_[i].length();
      THAW_CHECK(i + 1 == parts_.size() || n != kInfinite, "a >> b: part ", i + 1, " of ",
                 parts_.size(), " has infinite length, so the parts after it would never run");
      at = detail::add_lengths(at, n);
    }
    length_ = at;
  }
  double operator()(step_t s) const {
    // The last part whose start is <= s (part 0 for s < 0).
    auto it = std::upper_bound(starts_.begin(), starts_.end(), s);
    const std::size_t i = it == starts_.begin() ? 0 : static_cast<std::size_t>(it - starts_.begin()) - 1;
    return parts_[i](s - starts_[i]);
  }
  step_t length() const { return length_; }
  std::size_t size() const { return parts_.size(); }

private:
  std::vector<any_schedule> parts_;
  std::vector<step_t> starts_;
  step_t length_ = 0;
};

}  // namespace thaw::sched
