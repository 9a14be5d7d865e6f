// freeze::two_stage<B> — a frozen backbone for the first N steps, then everything trains: the
// locked-image stage of "Chinese CLIP: Contrastive Vision-Language Pretraining in Chinese"
// (Yang et al. 2022), which first trains the text side against a frozen image encoder (as LiT)
// and then unfreezes both; also the classic "train the head, then fine-tune all" recipe.
//
//   freeze::two_stage policy(store, {.frozen = select::parse("wte.* | wpe.* | blocks[0:6)"),
//                                    .unfreeze_at = 2'000});
#pragma once

#include "thaw/freeze/policy.hpp"

namespace thaw::freeze {

struct two_stage_cfg {
  select::any_selector frozen;  ///< the backbone: frozen for steps < unfreeze_at
  step_t unfreeze_at = 0;       ///< the first step at which everything trains
};

template <class B>
class two_stage : public detail::policy_base<B> {
public:
  two_stage(const param_store<B>& store, two_stage_cfg cfg)
      : detail::policy_base<B>(store, "two_stage"), cfg_(std::move(cfg)),
        backbone_(select::flags(cfg_.frozen, store.refs())) {
    THAW_CHECK(cfg_.unfreeze_at >= 0, "two_stage: unfreeze_at must be >= 0, got ", cfg_.unfreeze_at);
  }

  /// Before unfreeze_at the backbone is frozen and the rest trains; from then on all trains.
  bool update(step_t step, param_store<B>& store) {
    this->check(store);
    bool changed = false;
    for (param_id p = 0; p < store.count(); ++p)
      changed |= this->set(store, p, step >= cfg_.unfreeze_at || !backbone_[p], step);
    return changed;
  }

  /// The state is the event log (the trainable set is a function of the step).
  [[nodiscard]] state_dict state() const {
    state_dict d;
    this->save_common(d);
    put_scalar(d, this->key("unfreeze_at"), static_cast<double>(cfg_.unfreeze_at));
    return d;
  }
  void load_state(const state_dict& d) {
    THAW_CHECK(get_count(d, this->key("unfreeze_at")) == cfg_.unfreeze_at, "two_stage state has unfreeze_at ",
               get_count(d, this->key("unfreeze_at")), ", this policy ", cfg_.unfreeze_at);
    this->load_common(d);
  }

  [[nodiscard]] const two_stage_cfg& cfg() const noexcept { return cfg_; }

private:
  two_stage_cfg cfg_;
  std::vector<bool> backbone_;
};


}  // namespace thaw::freeze
