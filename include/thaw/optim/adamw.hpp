// optim::adamw<B> — AdamW ("Decoupled Weight Decay Regularization", Loshchilov & Hutter, ICLR
// 2019) with torch.optim.AdamW's update, over the compacted trainable elements only: the two
// moment buffers hold one value per trainable element (state_bytes() = 2 * sizeof(T) * count).
//
//   optim::adamw opt(model, group_mask::frozen(model.params(), select::blocks(0, 3)),
//                    {.lr = sched::cosine(3e-4, 3e-5, 10'000), .weight_decay = 0.1,
//                     .max_grad_norm = 1.0});
//   ... forward, backward ...; opt.step();
//
// Scalars (lr, weight_decay, beta1, beta2) are numbers or callables of the step; groups,
// no-decay defaults, layer-wise decay, clipping and remapping are compact_optimizer's
// (optimizer.hpp).
#pragma once

#include <optional>
#include <vector>

#include "thaw/optim/optimizer.hpp"

namespace thaw::optim {

struct adamw_cfg {
  step_scalar lr = 1e-3;
  step_scalar weight_decay = 0.0;
  step_scalar beta1 = 0.9;
  step_scalar beta2 = 0.999;
  double eps = 1e-8;
  /// Per-parameter rules, applied in order after the no-decay default.
  std::vector<group_rule> groups{};
  /// Parameters with no weight decay by default (nullopt: decay everything).
  std::optional<select::any_selector> no_decay = select::any_selector(select::no_decay_default());
  /// lr_scale *= layer_decay^(max_depth - depth); 1 = off.
  double layer_decay = 1.0;
  /// Global gradient-norm clipping over the trainable elements; 0 = off.
  double max_grad_norm = 0.0;
};

template <class B>
class adamw : public compact_optimizer<B> {
  using base = compact_optimizer<B>;

public:
  using T = typename B::scalar;

  /// Trains what the store's flags mark trainable.
  adamw(param_store<B>& store, adamw_cfg cfg = {}) : adamw(store, trainable_ranges(store), std::move(cfg)) {}
  /// Applies `mask` to the store, then trains its elements.
  template <class M>
    requires trainable_mask<M, B>
  adamw(param_store<B>& store, const M& mask, adamw_cfg cfg = {})
      : adamw(store, (mask.apply(store), mask.ranges(store)), std::move(cfg)) {}
  /// Trains exactly this index set (inside trainable parameters).
  adamw(param_store<B>& store, std::vector<index_range> ranges, adamw_cfg cfg)
      : base(store, std::move(ranges), "adamw", {"m", "v"},
             {cfg.groups, cfg.no_decay, cfg.layer_decay, cfg.max_grad_norm}),
        cfg_(std::move(cfg)) {
    THAW_CHECK(cfg_.eps > 0, "adamw: eps must be positive, got ", cfg_.eps);
  }
  template <has_params M>
  explicit adamw(M& model, adamw_cfg cfg = {}) : adamw(model.params(), std::move(cfg)) {}
  template <has_params M, class Mask>
    requires trainable_mask<Mask, B>
  adamw(M& model, const Mask& mask, adamw_cfg cfg = {}) : adamw(model.params(), mask, std::move(cfg)) {}

  /// One update of the trainable elements from the gradients in the store.
  void step() {
    const double lr = this->checked(cfg_.lr, "lr"), wd = this->checked(cfg_.weight_decay, "weight_decay");
    const double b1 = this->checked(cfg_.beta1, "beta1"), b2 = this->checked(cfg_.beta2, "beta2");
    THAW_CHECK(b1 < 1 && b2 < 1, "adamw: betas must be below 1, got ", b1, " and ", b2, " at step ", this->steps());
    auto& store = *this->store_;
    T* m = this->buffer(0);
    T* v = this->buffer(1);
    this->run_update([&](std::span<const index_range> pieces, std::size_t state, double lr_scale,
                         double decay_scale, sched::step_t param_step) {
      const adamw_args a{.lr = lr * lr_scale, .beta1 = b1, .beta2 = b2, .eps = cfg_.eps,
                         .weight_decay = wd * decay_scale, .step = param_step + 1};
      B::adamw_update(store.values(), store.grads(), m + state, v + state, pieces, a);
    });
  }

  [[nodiscard]] const adamw_cfg& cfg() const noexcept { return cfg_; }

private:
  adamw_cfg cfg_;
};

template <has_params M>
adamw(M&, adamw_cfg = {}) -> adamw<typename M::backend_type>;
template <has_params M, class Mask>
adamw(M&, const Mask&, adamw_cfg = {}) -> adamw<typename M::backend_type>;

}  // namespace thaw::optim
