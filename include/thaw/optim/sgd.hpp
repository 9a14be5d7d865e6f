// optim::sgd<B> — SGD with momentum and Nesterov momentum (torch.optim.SGD's update; Nesterov
// as in "On the importance of initialization and momentum in deep learning", Sutskever et al.
// 2013), over the compacted trainable elements: the momentum buffer holds one value per
// trainable element, and none at all without momentum.
#pragma once

#include <optional>
#include <vector>

#include "thaw/optim/optimizer.hpp"

namespace thaw::optim {

struct sgd_cfg {
  step_scalar lr = 1e-2;
  step_scalar weight_decay = 0.0;
  double momentum = 0.0;  ///< constant: it decides whether a buffer exists
  double dampening = 0.0;
  bool nesterov = false;
  std::vector<group_rule> groups{};
  std::optional<select::any_selector> no_decay = select::any_selector(select::no_decay_default());
  double layer_decay = 1.0;
  double max_grad_norm = 0.0;
};

template <class B>
class sgd : public compact_optimizer<B> {
  using base = compact_optimizer<B>;

public:
  using T = typename B::scalar;

  sgd(param_store<B>& store, sgd_cfg cfg = {}) : sgd(store, trainable_ranges(store), std::move(cfg)) {}
  template <class M>
    requires trainable_mask<M, B>
  sgd(param_store<B>& store, const M& mask, sgd_cfg cfg = {})
      : sgd(store, (mask.apply(store), mask.ranges(store)), std::move(cfg)) {}
  sgd(param_store<B>& store, std::vector<index_range> ranges, sgd_cfg cfg)
      : base(store, std::move(ranges), "sgd", check(cfg) ? std::vector<std::string>{"momentum"} : std::vector<std::string>{},
             {cfg.groups, cfg.no_decay, cfg.layer_decay, cfg.max_grad_norm}),
        cfg_(std::move(cfg)) {}
  template <has_params M>
  explicit sgd(M& model, sgd_cfg cfg = {}) : sgd(model.params(), std::move(cfg)) {}
  template <has_params M, class Mask>
    requires trainable_mask<Mask, B>
  sgd(M& model, const Mask& mask, sgd_cfg cfg = {}) : sgd(model.params(), mask, std::move(cfg)) {}

  void step() {
    const double lr = this->checked(cfg_.lr, "lr"), wd = this->checked(cfg_.weight_decay, "weight_decay");
    auto& store = *this->store_;
    T* buf = this->has_buffers() ? this->buffer(0) : nullptr;
    this->run_update([&](std::span<const index_range> pieces, std::size_t state, double lr_scale,
                         double decay_scale, sched::step_t param_step) {
      const sgd_args a{.lr = lr * lr_scale, .momentum = cfg_.momentum, .dampening = cfg_.dampening,
                       .weight_decay = wd * decay_scale, .nesterov = cfg_.nesterov,
                       .first_step = param_step == 0};
      B::sgd_update(store.values(), store.grads(), buf ? buf + state : nullptr, pieces, a);
    });
  }

  [[nodiscard]] const sgd_cfg& cfg() const noexcept { return cfg_; }

private:
  /// Validates the config; true when a momentum buffer is needed.
  static bool check(const sgd_cfg& c) {
    THAW_CHECK(c.momentum >= 0 && c.momentum < 1, "sgd: momentum must be in [0, 1), got ", c.momentum);
    THAW_CHECK(c.dampening >= 0 && c.dampening <= 1, "sgd: dampening must be in [0, 1], got ", c.dampening);
    THAW_CHECK(!c.nesterov || (c.momentum > 0 && c.dampening == 0),
               "sgd: Nesterov momentum requires a momentum and zero dampening");
    return c.momentum != 0;
  }
  sgd_cfg cfg_;
};

template <has_params M>
sgd(M&, sgd_cfg = {}) -> sgd<typename M::backend_type>;
template <has_params M, class Mask>
sgd(M&, const Mask&, sgd_cfg = {}) -> sgd<typename M::backend_type>;

}  // namespace thaw::optim
