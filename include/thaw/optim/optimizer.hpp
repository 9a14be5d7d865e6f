// What SGD and AdamW share: state compacted to the trainable elements, per-parameter
// hyperparameters chosen by selectors, layer-wise learning-rate decay, global gradient-norm
// clipping, remapping when the trainable set changes, and checkpoints of all of it.
//
// The trainable set is an index set over the flat buffer (params/mask.hpp). State buffers hold
// one value per trainable element, so freezing 90% of a model cuts optimizer memory by 90%
// (state_bytes()). The update ops (B::adamw_update / B::sgd_update) run over the index set,
// once per run of consecutive parameters that share their hyperparameters and step count.
//
// Per-parameter hyperparameters:
//   lr    = lr(step) * lr_scale(p),   lr_scale(p) = rule lr_scale * layer_decay^(max_depth - depth)
//   decay = weight_decay(step) * decay_scale(p)
// where the rules are applied in order (a later matching rule overrides an earlier one) after
// the default: decay_scale 0 for `no_decay` (norms, biases and embeddings unless changed; as
// nanoGPT's configure_optimizers), 1 otherwise. Layer-wise decay is as in "ELECTRA:
// Pre-training Text Encoders as Discriminators Rather Than Generators" (Clark et al. 2020) and
// BEiT: the top depth gets the full rate, each depth below a factor layer_decay less.
//
// Step counts: steps() counts optimizer updates from 0; the schedules are evaluated at it. Each
// parameter also counts its own updates since its state was created (torch keeps a step per
// parameter), so a parameter that starts training late begins with bias correction at step 1.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "thaw/backend/concept.hpp"
#include "thaw/core/tensor.hpp"
#include "thaw/optim/clip.hpp"
#include "thaw/optim/compact.hpp"
#include "thaw/optim/scalar.hpp"
#include "thaw/optim/state_dict.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/param_store.hpp"
#include "thaw/params/select.hpp"

namespace thaw::optim {

/// A per-parameter hyperparameter rule: parameters `select` matches get these factors.
struct group_rule {
  select::any_selector select{};
  std::optional<double> lr_scale = std::nullopt;     ///< multiplies the learning rate
  std::optional<double> decay_scale = std::nullopt;  ///< multiplies the weight decay (0: no decay)
};

/// The group settings every optimizer takes (members of adamw_cfg / sgd_cfg).
struct group_settings {
  std::vector<group_rule> groups{};
  std::optional<select::any_selector> no_decay = std::nullopt;
  double layer_decay = 1.0;
  double max_grad_norm = 0.0;
};

/// Something that says what trains: applies itself to a store and gives its index set
/// (group_mask, element_mask).
template <class M, class B>
concept trainable_mask = requires(const M& m, param_store<B>& s) {
  m.apply(s);
  { m.ranges(s) } -> std::convertible_to<std::vector<index_range>>;
};

/// Something that gives the index set to train for a store (masks, freeze policies).
template <class M, class B>
concept index_source = requires(const M& m, const param_store<B>& s) {
  { m.ranges(s) } -> std::convertible_to<std::vector<index_range>>;
};

/// A model: something with params() returning its param_store.
template <class M>
concept has_params = requires(M& m) { m.params(); };

template <class B>
class compact_optimizer {
  static_assert(assert_backend<B>());

public:
  using T = typename B::scalar;

  compact_optimizer(const compact_optimizer&) = delete;
  compact_optimizer& operator=(const compact_optimizer&) = delete;

  // ---- the trainable set ----

  /// Moves the state to a new index set (sorted, disjoint, inside trainable parameters):
  /// shared elements keep their state, new ones start from zero, dropped ones are freed.
  void retarget(std::vector<index_range> ranges) {
    ranges = normalize(std::move(ranges));
    check_inside_trainable(ranges, name_);
    if (ranges.size() == ranges_.size() &&
        std::equal(ranges.begin(), ranges.end(), ranges_.begin(),
                   [](const index_range& a, const index_range& b) { return a.begin == b.begin && a.end == b.end; }))
      return;  // unchanged: keep everything as it is
    std::vector<index_range> pieces;
    std::vector<param_id> owner;
    detail::split_by_param(*store_, ranges, pieces, owner);
    std::vector<bool> has(store_->count(), false);
    for (param_id p : owner) has[p] = true;
    for (param_id p = 0; p < store_->count(); ++p)
      if (has[p] != has_state_[p]) param_steps_[p] = 0;  // new state starts counting afresh
    for (auto& b : buffers_) b = detail::remap<B>(b, ranges_, ranges);
    ranges_ = std::move(ranges);
    rebuild();
  }
  /// Follows the store's trainable flags (after a group-level policy changed them).
  void sync() { retarget(trainable_ranges(*store_)); }
  /// Follows a policy or mask (a FreezeNet policy's element mask, say): its ranges(store).
  template <class M>
    requires index_source<M, B>
  void sync(const M& source) { retarget(source.ranges(*store_)); }

  [[nodiscard]] const std::vector<index_range>& ranges() const noexcept { return ranges_; }
  /// Number of trainable elements (the state has this many values per buffer).
  [[nodiscard]] std::size_t trainable_count() const noexcept { return count_; }
  /// Bytes of optimizer state (compacted buffers; the index set itself is host metadata).
  [[nodiscard]] std::size_t state_bytes() const noexcept {
    std::size_t n = 0;
    for (const auto& b : buffers_) n += b.size() * sizeof(T);
    return n;
  }
  /// Updates taken so far (the step the schedules see next).
  [[nodiscard]] sched::step_t steps() const noexcept { return steps_; }
  /// The gradient norm over the trainable elements before clipping, at the last step (NaN
  /// before the first step or when clipping is off).
  [[nodiscard]] double last_grad_norm() const noexcept { return last_norm_; }
  [[nodiscard]] double lr_scale(param_id p) const { return lr_scale_.at(p); }
  [[nodiscard]] double decay_scale(param_id p) const { return decay_scale_.at(p); }
  [[nodiscard]] sched::step_t param_steps(param_id p) const { return param_steps_.at(p); }
  [[nodiscard]] param_store<B>& store() noexcept { return *store_; }

  // ---- checkpoints ----

  /// The complete state: index set, step counts and buffers (bit-exact).
  [[nodiscard]] state_dict state() const {
    state_dict d;
    const std::string k = name_ + ".";
    put_scalar(d, k + "numel", static_cast<double>(store_->numel()));
    put_scalar(d, k + "step", static_cast<double>(steps_));
    put_ranges(d, k + "ranges", ranges_);
    std::vector<double> ps(param_steps_.begin(), param_steps_.end());
    put_vector(d, k + "param_steps", std::move(ps));
    const auto dtype = sizeof(T) == sizeof(float) ? io::st_dtype::f32 : io::st_dtype::f64;
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      const auto host = buffers_[i].to_host();
      put_vector(d, k + buffer_names_[i], std::vector<double>(host.begin(), host.end()), dtype);
    }
    return d;
  }
  /// Restores a state() of an optimizer of the same kind over the same model. The store's
  /// trainable flags must already be restored (load the freeze state first).
  void load_state(const state_dict& d) {
    const std::string k = name_ + ".";
    const auto numel = get_count(d, k + "numel");
    THAW_CHECK(static_cast<std::size_t>(numel) == store_->numel(), name_, " state is for a model of ",
               numel, " elements, this one has ", store_->numel());
    auto ranges = get_ranges(d, k + "ranges", store_->numel());
    THAW_CHECK(normalize(ranges).size() == ranges.size(), "state entry '", k, "ranges' is not canonical");
    check_inside_trainable(ranges, name_ + " state");
    const std::size_t n = element_count(ranges);
    const auto& ps = get_vector(d, k + "param_steps", store_->count());
    std::vector<tensor<B>> buffers;
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      const auto& v = get_vector(d, k + buffer_names_[i], n);
      std::vector<T> host(v.begin(), v.end());
      buffers.push_back(tensor<B>::from_host(thaw::shape{static_cast<std::int64_t>(n)}, host));
    }
    steps_ = get_count(d, k + "step");
    for (std::size_t p = 0; p < ps.size(); ++p) {
      THAW_CHECK(ps[p] >= 0 && std::floor(ps[p]) == ps[p], "state entry '", k, "param_steps' holds ", ps[p]);
      param_steps_[p] = static_cast<sched::step_t>(ps[p]);
    }
    ranges_ = std::move(ranges);
    buffers_ = std::move(buffers);
    rebuild();
  }
  void save(const std::filesystem::path& path) const { save_state(state(), path, {{"format", "thaw." + name_}}); }
  void load(const std::filesystem::path& path) { load_state(load_state_file(path)); }

protected:
  compact_optimizer(param_store<B>& store, std::vector<index_range> ranges, std::string name,
                    std::vector<std::string> buffer_names, const group_settings& g)
      : store_(&store), name_(std::move(name)), buffer_names_(std::move(buffer_names)),
        max_grad_norm_(g.max_grad_norm) {
    THAW_CHECK(store.allocated(), name_, ": the parameter store is not allocated");
    THAW_CHECK(g.layer_decay > 0 && std::isfinite(g.layer_decay), name_, ": layer_decay must be positive, got ",
               g.layer_decay);
    THAW_CHECK(g.max_grad_norm >= 0, name_, ": max_grad_norm must be >= 0 (0: no clipping), got ",
               g.max_grad_norm);
    const auto refs = store.refs();
    lr_scale_.assign(store.count(), 1.0);
    decay_scale_.assign(store.count(), 1.0);
    param_steps_.assign(store.count(), 0);
    if (g.no_decay)
      for (param_id p : select::resolve_lenient(*g.no_decay, refs)) decay_scale_[p] = 0.0;
    for (const auto& rule : g.groups) {
      THAW_CHECK(!rule.lr_scale || (*rule.lr_scale >= 0 && std::isfinite(*rule.lr_scale)), name_,
                 ": group '", rule.select.describe(), "' has lr_scale ", *rule.lr_scale);
      THAW_CHECK(!rule.decay_scale || (*rule.decay_scale >= 0 && std::isfinite(*rule.decay_scale)), name_,
                 ": group '", rule.select.describe(), "' has decay_scale ", *rule.decay_scale);
      for (param_id p : select::resolve(rule.select, refs)) {
        if (rule.lr_scale) lr_scale_[p] = *rule.lr_scale;
        if (rule.decay_scale) decay_scale_[p] = *rule.decay_scale;
      }
    }
    if (g.layer_decay != 1.0) {
      int top = 0;
      for (const auto& r : refs) top = std::max(top, r.depth);
      for (param_id p = 0; p < refs.size(); ++p) lr_scale_[p] *= std::pow(g.layer_decay, top - refs[p].depth);
    }
    ranges = normalize(std::move(ranges));
    check_inside_trainable(ranges, name_);
    ranges_ = std::move(ranges);
    rebuild();
    for (std::size_t i = 0; i < buffer_names_.size(); ++i)
      buffers_.emplace_back(thaw::shape{static_cast<std::int64_t>(count_)}, T(0));
  }

  /// One run of consecutive pieces (each inside one parameter) with equal hyperparameters
  /// and step count: one backend call.
  struct segment {
    std::size_t first = 0, last = 0;  // pieces [first, last)
    std::size_t state = 0;            // compacted offset of the first piece
    param_id param = 0;               // a parameter of the run (they all share the settings)
  };

  /// Clips (if configured), then calls fn(pieces, state offset, lr scale, decay scale,
  /// parameter step count before this update) per segment, then advances the step counts.
  template <class Fn>
  void run_update(Fn&& fn) {
    last_norm_ = max_grad_norm_ > 0 ? clip_grad_norm(*store_, ranges_, max_grad_norm_)
                                    : std::numeric_limits<double>::quiet_NaN();
    for (const auto& s : segments_)
      fn(std::span<const index_range>(pieces_.data() + s.first, s.last - s.first), s.state,
         lr_scale_[s.param], decay_scale_[s.param], param_steps_[s.param]);
    for (param_id p = 0; p < store_->count(); ++p)
      if (has_state_[p]) ++param_steps_[p];
    ++steps_;
  }

  /// Checks that a scheduled scalar is finite (and, if asked, >= 0) at the current step.
  double checked(const step_scalar& s, const char* what, bool non_negative = true) const {
    const double v = s(steps_);
    THAW_CHECK(std::isfinite(v) && (!non_negative || v >= 0), name_, ": ", what, " is ", v, " at step ", steps_);
    return v;
  }

  T* buffer(std::size_t i) noexcept { return buffers_[i].data(); }
  bool has_buffers() const noexcept { return !buffers_.empty(); }

  param_store<B>* store_;

private:
  static state_dict load_state_file(const std::filesystem::path& path) { return thaw::load_state(path); }

  void check_inside_trainable(std::span<const index_range> ranges, const std::string& who) const {
    check_index_set(ranges, store_->numel(), who + " index set");
    const auto outside = subtract(ranges, trainable_ranges(*store_));
    if (outside.empty()) return;
    const std::size_t e = outside.front().begin;
    std::string param = "?";
    for (const auto& r : store_->refs())
      if (e >= r.offset && e < r.offset + r.size()) param = r.name;
    throw error(message(who, ": elements [", outside.front().begin, ", ", outside.front().end,
                        ") of parameter '", param, "' are in the trainable set but the parameter is frozen "
                        "in the store (apply the mask or restore the freeze state first)"));
  }

  void rebuild() {
    detail::split_by_param(*store_, ranges_, pieces_, owner_);
    count_ = element_count(ranges_);
    has_state_.assign(store_->count(), false);
    for (param_id p : owner_) has_state_[p] = true;
    segments_.clear();
    std::size_t state = 0;
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      const param_id p = owner_[i];
      const bool joins = !segments_.empty() && lr_scale_[segments_.back().param] == lr_scale_[p] &&
                         decay_scale_[segments_.back().param] == decay_scale_[p] &&
                         param_steps_[segments_.back().param] == param_steps_[p];
      if (joins) segments_.back().last = i + 1;
      else segments_.push_back({i, i + 1, state, p});
      state += pieces_[i].size();
    }
  }

  std::string name_;
  std::vector<std::string> buffer_names_;
  double max_grad_norm_ = 0;
  std::vector<index_range> ranges_, pieces_;
  std::vector<param_id> owner_;
  std::vector<bool> has_state_;
  std::vector<segment> segments_;
  std::vector<tensor<B>> buffers_;
  std::vector<double> lr_scale_, decay_scale_;
  std::vector<sched::step_t> param_steps_;
  std::size_t count_ = 0;
  sched::step_t steps_ = 0;
  double last_norm_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace thaw::optim
