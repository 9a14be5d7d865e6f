// freeze::freezenet<B> — an element mask fixed before training: "FreezeNet: Full Performance by
// Reduced Storage Costs" (Wimmer, Mehnert, Condurache, ACCV 2020). The k most salient weights,
// by |w * dL/dw| from one forward + backward on one batch at initialization, train; all other
// weights stay frozen at their (seeded) initial values, so the trained model is stored as the
// seed, the mask and the trained values (freeze/seeded_checkpoint.hpp).
//
//   auto policy = freeze::freezenet<B>::by_saliency(store, 0.01, [&] { forward_backward(batch); });
//   optim::adamw opt(store, policy.mask(), {...});
//
// Parameters with no trainable element are frozen in the store (no gradient work at all); the
// others compute their full gradient, which the optimizer reads only at the mask's elements:
// the saving is optimizer memory. random() and by_magnitude() build the baselines the paper
// compares against.
#pragma once

#include <utility>

#include "thaw/freeze/policy.hpp"

namespace thaw::freeze {

template <class B>
class freezenet : public detail::policy_base<B> {
public:
  /// A policy for a given element mask.
  freezenet(const param_store<B>& store, element_mask mask)
      : detail::policy_base<B>(store, "freezenet"), mask_(std::move(mask)) {
    THAW_CHECK(mask_.size() == store.numel(), "freezenet: the element mask has ", mask_.size(),
               " elements but the model has ", store.numel());
  }

  /// FreezeNet's choice: the round(fraction * n) elements of `scope` (n elements) with the
  /// largest |w * dL/dw|. `forward_backward()` must run one forward + backward on one batch
  /// into the store's gradients; every scoped parameter is made trainable for it, and the
  /// store's flags and gradients are restored/zeroed afterwards.
  template <class F, select::selector S = select::all_params>
  static freezenet by_saliency(param_store<B>& store, double fraction, F&& forward_backward, const S& scope = {}) {
    const auto before = group_mask::from_store(store);
    for (param_id p : select::resolve(scope, store)) store.set_trainable(p, true);
    store.zero_grads();
    std::forward<F>(forward_backward)();
    auto mask = element_mask::top_k_saliency(
        store, element_mask::count_for(fraction, element_mask::scope_size(store, scope)), scope);
    store.zero_grads();
    before.apply(store);
    return freezenet(store, std::move(mask));
  }
  /// Baseline: the largest |w| of the scope train.
  template <select::selector S = select::all_params>
  static freezenet by_magnitude(const param_store<B>& store, double fraction, const S& scope = {}) {
    return freezenet(store, element_mask::top_k_magnitude(
                                store, element_mask::count_for(fraction, element_mask::scope_size(store, scope)), scope));
  }
  /// Baseline: each element of the scope trains with probability `fraction` (Philox at key).
  template <select::selector S = select::all_params>
  static freezenet random(const param_store<B>& store, double fraction, philox_key key, const S& scope = {}) {
    return freezenet(store, element_mask::random(store, fraction, key, scope));
  }

  /// Marks trainable exactly the parameters that have a trainable element (every step: the
  /// mask never changes, so this only reports a change the first time).
  bool update(step_t step, param_store<B>& store) {
    this->check(store);
    bool changed = false;
    for (param_id p = 0; p < store.count(); ++p) {
      const auto& r = store.ref(p);
      changed |= this->set(store, p, mask_.any_in(r.offset, r.offset + r.size()), step);
    }
    return changed;
  }
  /// The mask's elements inside trainable parameters: what the optimizer trains.
  [[nodiscard]] std::vector<index_range> ranges(const param_store<B>& store) const {
    this->check(store);
    return mask_.ranges(store);
  }
  [[nodiscard]] const element_mask& mask() const noexcept { return mask_; }

  [[nodiscard]] state_dict state() const {
    state_dict d;
    this->save_common(d);
    put_bytes(d, this->key("mask"), mask_.to_bytes());
    return d;
  }
  void load_state(const state_dict& d) {
    auto mask = element_mask::from_bytes(this->numel_, get_bytes(d, this->key("mask"), (this->numel_ + 7) / 8));
    this->load_common(d);
    mask_ = std::move(mask);
  }

private:
  element_mask mask_;
};

}  // namespace thaw::freeze
