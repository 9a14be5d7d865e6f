// freeze::gradual_unfreezing<B> — starts with only the top layer trainable and unfreezes one
// more layer, top-down, every `every` steps until all train: "Universal Language Model
// Fine-tuning for Text Classification" (ULMFiT, Howard & Ruder, ACL 2018), which unfreezes one
// layer group per epoch (every = steps per epoch).
//
//   trainable layers at step t = min(L, 1 + floor(t / every))   (or a custom count(t))
//
// Layers are units of the parameters in `scope` (depths by default, or leaf modules); the
// parameters outside the scope are left alone. A layer never freezes again once thawed.
#pragma once

#include <cmath>
#include <optional>

#include "thaw/freeze/policy.hpp"
#include "thaw/optim/scalar.hpp"

namespace thaw::freeze {

struct unfreezing_cfg {
  step_t every = 1;  ///< steps between two unfreezings
  unit granularity = unit::depth;
  select::any_selector scope = select::all();
  /// Overrides the schedule: the number of top layers trainable at step t (at least 1).
  std::optional<optim::step_scalar> count{};
};

template <class B>
class gradual_unfreezing : public detail::policy_base<B> {
public:
  gradual_unfreezing(const param_store<B>& store, unfreezing_cfg cfg)
      : detail::policy_base<B>(store, "unfreezing"), cfg_(std::move(cfg)) {
    THAW_CHECK(cfg_.every >= 1, "gradual_unfreezing: every must be >= 1, got ", cfg_.every);
    units_ = detail::make_units(store, select::resolve(cfg_.scope, store), cfg_.granularity);
  }

  /// How many top layers the schedule trains at `step`.
  [[nodiscard]] std::size_t wanted(step_t step) const {
    double n = cfg_.count ? (*cfg_.count)(step) : 1.0 + static_cast<double>(step / cfg_.every);
    THAW_CHECK(std::isfinite(n) && n >= 0, "gradual_unfreezing: count is ", n, " at step ", step);
    n = std::min(std::floor(n), static_cast<double>(units_.size()));
    return std::max<std::size_t>(1, static_cast<std::size_t>(n));
  }

  bool update(step_t step, param_store<B>& store) {
    this->check(store);
    trainable_units_ = std::max(trainable_units_, wanted(step));
    bool changed = false;
    const std::size_t first_trainable = units_.size() - std::min(trainable_units_, units_.size());
    for (std::size_t u = 0; u < units_.size(); ++u)
      for (param_id p : units_[u]) changed |= this->set(store, p, u >= first_trainable, step);
    return changed;
  }

  /// Number of top units trainable now.
  [[nodiscard]] std::size_t trainable_units() const noexcept { return trainable_units_; }
  [[nodiscard]] std::size_t units() const noexcept { return units_.size(); }

  [[nodiscard]] state_dict state() const {
    state_dict d;
    this->save_common(d);
    put_scalar(d, this->key("trainable_units"), static_cast<double>(trainable_units_));
    put_scalar(d, this->key("units"), static_cast<double>(units_.size()));
    return d;
  }
  void load_state(const state_dict& d) {
    THAW_CHECK(static_cast<std::size_t>(get_count(d, this->key("units"))) == units_.size(),
               "gradual_unfreezing state has ", get_count(d, this->key("units")), " layers, this policy ",
               units_.size());
    const auto n = static_cast<std::size_t>(get_count(d, this->key("trainable_units")));
    THAW_CHECK(n <= units_.size(), "gradual_unfreezing state trains ", n, " of ", units_.size(), " layers");
    this->load_common(d);
    trainable_units_ = n;
  }

private:
  unfreezing_cfg cfg_;
  std::vector<std::vector<param_id>> units_;
  std::size_t trainable_units_ = 0;
};

}  // namespace thaw::freeze
