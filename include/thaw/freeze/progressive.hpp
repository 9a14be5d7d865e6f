// freeze::progressive_freezing<B> — freezes layers bottom-up as training goes on, with the
// semantics of MosaicML Composer's LayerFreezing (after "SVCCA: Singular Vector Canonical
// Correlation Analysis for Deep Learning Dynamics and Interpretability", Raghu et al. 2017, and
// "FreezeOut: Accelerate Training by Progressively Freezing Layers", Brock et al. 2017):
//
//   fraction(t) = 0                                               if t/T <= freeze_start
//               = freeze_level * (t/T - freeze_start) / (1 - freeze_start)   otherwise
//   frozen layers = floor(fraction * (L - 1))   (the top layer never freezes)
//
// evaluated every `every` steps (Composer: at each epoch end; every = steps per epoch), where L
// is the number of units (depths by default; leaf modules with unit::module, as Composer walks
// the model's modules) of the parameters in `scope`. A frozen layer never thaws again, even if a
// custom `fraction` schedule goes down. Parameters outside the scope are left alone.
#pragma once

#include <cmath>
#include <optional>

#include "thaw/freeze/policy.hpp"
#include "thaw/optim/scalar.hpp"

namespace thaw::freeze {

struct progressive_cfg {
  step_t total_steps = 0;       ///< T: the length of training
  double freeze_start = 0.5;    ///< fraction of training before freezing begins
  double freeze_level = 1.0;    ///< fraction of the layers frozen at the end
  step_t every = 1;             ///< re-evaluate every this many steps
  unit granularity = unit::depth;
  select::any_selector scope = select::all();
  /// Overrides the linear Composer schedule: the fraction of layers frozen at step t.
  std::optional<optim::step_scalar> fraction{};
};

template <class B>
class progressive_freezing : public detail::policy_base<B> {
public:
  progressive_freezing(const param_store<B>& store, progressive_cfg cfg)
      : detail::policy_base<B>(store, "progressive"), cfg_(std::move(cfg)) {
    THAW_CHECK(cfg_.fraction || cfg_.total_steps > 0, "progressive_freezing: total_steps must be positive, got ",
               cfg_.total_steps);
    THAW_CHECK(cfg_.freeze_start >= 0 && cfg_.freeze_start < 1, "progressive_freezing: freeze_start must be in [0, 1), got ",
               cfg_.freeze_start);
    THAW_CHECK(cfg_.freeze_level >= 0 && cfg_.freeze_level <= 1, "progressive_freezing: freeze_level must be in [0, 1], got ",
               cfg_.freeze_level);
    THAW_CHECK(cfg_.every >= 1, "progressive_freezing: every must be >= 1, got ", cfg_.every);
    units_ = detail::make_units(store, select::resolve(cfg_.scope, store), cfg_.granularity);
  }

  /// The fraction of layers the schedule asks to be frozen at `step`.
  [[nodiscard]] double fraction(step_t step) const {
    if (cfg_.fraction) return (*cfg_.fraction)(step);
    const double elapsed = static_cast<double>(step) / static_cast<double>(cfg_.total_steps);
    if (elapsed <= cfg_.freeze_start) return 0.0;
    return cfg_.freeze_level * (elapsed - cfg_.freeze_start) / (1.0 - cfg_.freeze_start);
  }

  bool update(step_t step, param_store<B>& store) {
    this->check(store);
    if (step % cfg_.every == 0) {
      const double f = fraction(step);
      THAW_CHECK(std::isfinite(f) && f >= 0, "progressive_freezing: fraction is ", f, " at step ", step);
      const double want = std::floor(std::min(f, 1.0) * static_cast<double>(units_.size() - 1));
      frozen_units_ = std::max(frozen_units_, static_cast<std::size_t>(want));
    }
    bool changed = false;
    for (std::size_t u = 0; u < units_.size(); ++u)
      for (param_id p : units_[u]) changed |= this->set(store, p, u >= frozen_units_, step);
    return changed;
  }

  /// Number of units (layers) frozen now, bottom first.
  [[nodiscard]] std::size_t frozen_units() const noexcept { return frozen_units_; }
  [[nodiscard]] std::size_t units() const noexcept { return units_.size(); }

  [[nodiscard]] state_dict state() const {
    state_dict d;
    this->save_common(d);
    put_scalar(d, this->key("frozen_units"), static_cast<double>(frozen_units_));
    put_scalar(d, this->key("units"), static_cast<double>(units_.size()));
    return d;
  }
  void load_state(const state_dict& d) {
    THAW_CHECK(static_cast<std::size_t>(get_count(d, this->key("units"))) == units_.size(),
               "progressive_freezing state has ", get_count(d, this->key("units")), " layers, this policy ",
               units_.size());
    const auto frozen = static_cast<std::size_t>(get_count(d, this->key("frozen_units")));
    THAW_CHECK(frozen < units_.size() || units_.empty(), "progressive_freezing state freezes ", frozen,
               " of ", units_.size(), " layers");
    this->load_common(d);
    frozen_units_ = frozen;
  }

private:
  progressive_cfg cfg_;
  std::vector<std::vector<param_id>> units_;
  std::size_t frozen_units_ = 0;
};

}  // namespace thaw::freeze
