// Freeze policies: what trains, changing over time. The concept every policy satisfies, the
// event log they keep, and the pieces they share.
//
// A policy is built for one model (its selectors are resolved, strictly, at construction) and
// is driven by the training loop:
//
//   for (step = start; step < steps; ++step) {
//     if (policy.update(step, store)) opt.sync(policy);  // trainable set for this step
//     store.zero_grads(); forward(...); backward(...);   // compute follows the store's flags
//     freeze::observe(policy, step, store);              // GradES reads this step's gradients
//     opt.step();
//   }
//
// update(step, store) writes the store's trainable flags for `step` and returns whether they
// changed (the optimizer then remaps its state: opt.sync(policy) uses policy.ranges(store),
// which for element-level policies is narrower than the flags). observe(step, store) is an
// optional hook, called after backward, for policies that watch gradients.
//
// Every policy is checkpointable. After step k:  d = policy.state(); merge(d, opt.state()).
// To resume: build the model, policy and optimizer as before, then
//   policy.load_state(d); policy.restore(store); opt.load_state(d);
// and continue the loop at step k + 1: it runs exactly as the uninterrupted one
// (tests/freeze/test_policies.cpp checks this for each policy). events() lists each
// parameter that froze or unfroze and at which step (the first step it did (not) train).
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "thaw/optim/state_dict.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/param_store.hpp"
#include "thaw/params/select.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::freeze {

using sched::step_t;

/// A parameter that froze (or unfroze) at a step.
struct freeze_event {
  param_id param = 0;
  std::string name;
  step_t step = 0;      ///< the first step with the new setting
  bool frozen = true;   ///< true: stopped training; false: started training
  double value = 0.0;   ///< what triggered it, where meaningful (GradES: the gradient metric)
};

/// What the training loop needs from a policy.
template <class P, class B>
concept policy = requires(P& p, const P& cp, param_store<B>& s, const param_store<B>& cs, step_t t,
                          const state_dict& d) {
  { p.update(t, s) } -> std::same_as<bool>;
  { cp.ranges(cs) } -> std::same_as<std::vector<index_range>>;
  { cp.state() } -> std::same_as<state_dict>;
  p.load_state(d);
  cp.restore(s);
  { cp.events() } -> std::convertible_to<const std::vector<freeze_event>&>;
};

/// Calls policy.observe(step, store) when the policy has that hook (GradES), else nothing.
template <class P, class B>
void observe(P& p, step_t step, param_store<B>& store) {
  if constexpr (requires { p.observe(step, store); }) p.observe(step, store);
}

/// The DESIGN's one-liner: a group mask with everything trainable except what `frozen` selects.
template <class M, select::selector S>
  requires requires(M& m) { m.params(); }
group_mask mask(M& model, const S& frozen) {
  return group_mask::frozen(model.params(), frozen);
}
template <class B, select::selector S>
group_mask mask(const param_store<B>& store, const S& frozen) {
  return group_mask::frozen(store, frozen);
}

/// How progressive policies cut a model into layers.
enum class unit {
  depth,   ///< one unit per module depth (GPT: embeddings, each block, final norm + head)
  module,  ///< one unit per module (parameters sharing a name prefix: "h.0.attn.c_attn"),
           ///< as Composer's LayerFreezing, which walks the model's leaf modules
};

namespace detail {

/// The parameters of `scope` grouped into units, bottom (input side) first.
template <class B>
std::vector<std::vector<param_id>> make_units(const param_store<B>& store, const std::vector<param_id>& scope,
                                              unit granularity) {
  std::vector<std::vector<param_id>> units;
  if (granularity == unit::depth) {
    std::map<int, std::vector<param_id>> by_depth;
    for (param_id p : scope) by_depth[store.ref(p).depth].push_back(p);
    for (auto& [d, ids] : by_depth) units.push_back(std::move(ids));
  } else {
    std::map<std::string, std::size_t> index;  // module prefix -> unit
    std::vector<std::pair<std::size_t, std::vector<param_id>>> ordered;  // (first offset, ids)
    for (param_id p : scope) {
      const auto& name = store.ref(p).name;
      const auto dot = name.rfind('.');
      const std::string prefix = dot == std::string::npos ? name : name.substr(0, dot);
      auto [it, fresh] = index.try_emplace(prefix, ordered.size());
      if (fresh) ordered.push_back({store.ref(p).offset, {}});
      ordered[it->second].second.push_back(p);
    }
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [offset, ids] : ordered) units.push_back(std::move(ids));
  }
  return units;
}

/// Shared by the policies: the store it was built for, the event log, and flag writing.
template <class B>
class policy_base {
public:
  [[nodiscard]] const std::vector<freeze_event>& events() const noexcept { return events_; }
  /// Writes into the store the trainable flags this policy applied last (after load_state:
  /// the flags as of the step the state was saved at, so that the optimizer state saved at
  /// that step loads; the next update(step + 1) then continues as the uninterrupted run).
  void restore(param_store<B>& store) const {
    check(store);
    for (param_id p = 0; p < count_; ++p)
      if (applied_[p] >= 0) store.set_trainable(p, applied_[p] != 0);
  }
  /// The index set the optimizer should train: the store's trainable parameters.
  [[nodiscard]] std::vector<index_range> ranges(const param_store<B>& store) const {
    check(store);
    return trainable_ranges(store);
  }

protected:
  policy_base(const param_store<B>& store, std::string name)
      : name_(std::move(name)), count_(store.count()), numel_(store.numel()) {
    for (const auto& r : store.refs()) names_.push_back(r.name);
    applied_.assign(count_, -1);
  }

  void check(const param_store<B>& store) const {
    THAW_CHECK(store.count() == count_ && store.numel() == numel_, name_, " policy was built for a model of ",
               count_, " parameters (", numel_, " elements), not this one (", store.count(), ", ",
               store.numel(), ")");
  }
  /// Sets param p's flag in the store and returns whether the store changed. An event is
  /// recorded when the setting differs from what this policy applied before (or, the first
  /// time, from the store), so a restored policy on a fresh store logs no spurious events.
  bool set(param_store<B>& store, param_id p, bool train, step_t step, double value = 0.0) {
    const bool in_store = store.trainable(p);
    const bool before = applied_[p] < 0 ? in_store : applied_[p] != 0;
    if (before != train) events_.push_back({p, names_[p], step, !train, value});
    applied_[p] = train ? 1 : 0;
    if (in_store == train) return false;
    store.set_trainable(p, train);
    return true;
  }

  void save_common(state_dict& d) const {
    const std::string k = "freeze." + name_ + ".";
    put_scalar(d, k + "params", static_cast<double>(count_));
    put_scalar(d, k + "numel", static_cast<double>(numel_));
    std::vector<double> ev;
    for (const auto& e : events_) {
      ev.push_back(static_cast<double>(e.param));
      ev.push_back(static_cast<double>(e.step));
      ev.push_back(e.frozen ? 1.0 : 0.0);
      ev.push_back(e.value);
    }
    const auto n = static_cast<std::int64_t>(events_.size());
    d[k + "events"] = {{n, 4}, std::move(ev), io::st_dtype::f64};
    put_vector(d, k + "applied", std::vector<double>(applied_.begin(), applied_.end()));
  }
  /// Checks the state is for this model and restores the event log.
  void load_common(const state_dict& d) {
    const std::string k = "freeze." + name_ + ".";
    THAW_CHECK(static_cast<std::size_t>(get_count(d, k + "params")) == count_ &&
                   static_cast<std::size_t>(get_count(d, k + "numel")) == numel_,
               name_, " policy state is for another model (", get_count(d, k + "params"), " parameters, ",
               get_count(d, k + "numel"), " elements; this one has ", count_, ", ", numel_, ")");
    const auto& t = get_entry(d, k + "events");
    THAW_CHECK(t.values.size() % 4 == 0, "state entry '", k, "events' is malformed");
    std::vector<freeze_event> events;
    for (std::size_t i = 0; i < t.values.size(); i += 4) {
      const double p = t.values[i], s = t.values[i + 1];
      THAW_CHECK(p >= 0 && p < static_cast<double>(count_) && std::floor(p) == p && s >= 0 && std::floor(s) == s,
                 "state entry '", k, "events': event ", i / 4, " names no parameter or step");
      const auto id = static_cast<param_id>(p);
      events.push_back({id, names_[id], static_cast<step_t>(s), t.values[i + 2] != 0, t.values[i + 3]});
    }
    const auto& applied = get_vector(d, k + "applied", count_);
    for (double a : applied)
      THAW_CHECK(a == -1 || a == 0 || a == 1, "state entry '", k, "applied' holds ", a);
    events_ = std::move(events);
    applied_.assign(applied.begin(), applied.end());
  }
  [[nodiscard]] std::string key(const std::string& field) const { return "freeze." + name_ + "." + field; }

  std::string name_;
  std::size_t count_, numel_;
  std::vector<std::string> names_;
  std::vector<freeze_event> events_;
  std::vector<signed char> applied_;  // per parameter: -1 never set, 0 frozen, 1 trainable
};

/// A per-parameter flag vector (0/1 doubles) for state dicts, and back.
inline std::vector<double> to_doubles(const std::vector<bool>& f) { return {f.begin(), f.end()}; }
inline std::vector<bool> to_flags(const std::vector<double>& v, const std::string& key) {
  std::vector<bool> f(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    THAW_CHECK(v[i] == 0 || v[i] == 1, "state entry '", key, "' should hold 0/1 flags, value ", i, " is ", v[i]);
    f[i] = v[i] != 0;
  }
  return f;
}

}  // namespace detail
}  // namespace thaw::freeze
