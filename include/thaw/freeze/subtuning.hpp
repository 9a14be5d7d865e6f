// freeze::subtuning<B> — only a chosen subset of layers trains, everything else stays frozen:
// "Less is More: Selective Layer Finetuning with SubTuning" (Kaplun, Gurevich, Swisa, David,
// Shalev-Shwartz, Malach, 2023). The paper picks the subset greedily by validation accuracy;
// here the subset is given (a selector, e.g. select::blocks(4, 6) | select::name("lm_head.*")),
// so a greedy search is a loop over candidate selectors around this policy.
#pragma once

#include "thaw/freeze/policy.hpp"

namespace thaw::freeze {

template <class B>
class subtuning : public detail::policy_base<B> {
public:
  subtuning(const param_store<B>& store, select::any_selector trainable)
      : detail::policy_base<B>(store, "subtuning"), selector_(std::move(trainable)),
        train_(select::flags(selector_, store.refs())) {}

  bool update(step_t step, param_store<B>& store) {
    this->check(store);
    bool changed = false;
    for (param_id p = 0; p < store.count(); ++p) changed |= this->set(store, p, train_[p], step);
    return changed;
  }

  [[nodiscard]] state_dict state() const {
    state_dict d;
    this->save_common(d);
    put_vector(d, this->key("trainable"), detail::to_doubles(train_));
    return d;
  }
  void load_state(const state_dict& d) {
    const auto saved = detail::to_flags(get_vector(d, this->key("trainable"), train_.size()), this->key("trainable"));
    THAW_CHECK(saved == train_, "subtuning state selects other layers than this policy ('", selector_.describe(), "')");
    this->load_common(d);
  }

  [[nodiscard]] const select::any_selector& selector() const noexcept { return selector_; }

private:
  select::any_selector selector_;
  std::vector<bool> train_;
};


}  // namespace thaw::freeze
