// nn::layer_norm<B> ("Layer Normalization", Ba, Kiros & Hinton 2016) and nn::rms_norm<B>
// ("Root Mean Square Layer Normalization", Zhang & Sennrich 2019), over the last dimension.
#pragma once

#include "thaw/nn/module.hpp"

namespace thaw::nn {

template <class B>
class layer_norm {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int width = 0;
    double eps = 1e-5;
    bool bias = true;
  };

  layer_norm(const scope<B>& s, config c) : cfg_(c) {
    THAW_CHECK(c.width > 0, "layer_norm '", s.prefix, "' needs a positive width, got ", c.width);
    weight_ = s.add("weight", {c.width}, param_kind::norm, "layer_norm");
    if (c.bias) bias_ = s.add("bias", {c.width}, param_kind::norm, "layer_norm");
  }

  /// `out`: where the output goes when the caller will free it early (nn/module.hpp); the
  /// statistics backward needs stay in ctx.activations.
  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x, arena<B>* out = nullptr) {
    check_width("layer_norm", x.shape, cfg_.width);
    const int rows = static_cast<int>(x.shape.rows());
    auto y = allocate_output(ctx, out, x.shape);
    mean_ = ctx.activations.template allocate<T>(rows);
    rstd_ = ctx.activations.template allocate<T>(rows);
    B::layernorm_forward(y.data, mean_, rstd_, x.data, ctx.params.value(weight_),
                         cfg_.bias ? ctx.params.value(bias_) : nullptr, rows, cfg_.width, T(cfg_.eps));
    x_ = x;
    return y;
  }

  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    const int rows = static_cast<int>(dy.shape.rows());
    tensor_view<T> dx{};
    if (n.dx) dx = ctx.activations.template allocate<T>(dy.shape);
    T* dweight = ctx.params.trainable(weight_) ? ctx.params.grad(weight_) : nullptr;
    T* dbias = cfg_.bias && ctx.params.trainable(bias_) ? ctx.params.grad(bias_) : nullptr;
    if (dx.data || dweight || dbias)
      B::layernorm_backward(dx.data, dweight, dbias, dy.data, x_.data, ctx.params.value(weight_),
                            mean_, rstd_, rows, cfg_.width);
    return dx;
  }

  void init(param_store<B>& p, std::uint64_t, double) const {
    B::fill(p.value(weight_), cfg_.width, T(1));
    if (cfg_.bias) B::fill(p.value(bias_), cfg_.width, T(0));
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return p.trainable(weight_) || (cfg_.bias && p.trainable(bias_));
  }

private:
  config cfg_;
  param_id weight_{}, bias_{};
  tensor_view<const T> x_{};
  T* mean_ = nullptr;
  T* rstd_ = nullptr;
};

template <class B>
class rms_norm {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int width = 0;
    double eps = 1e-6;
  };

  rms_norm(const scope<B>& s, config c) : cfg_(c) {
    THAW_CHECK(c.width > 0, "rms_norm '", s.prefix, "' needs a positive width, got ", c.width);
    weight_ = s.add("weight", {c.width}, param_kind::norm, "rms_norm");
  }

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x, arena<B>* out = nullptr) {
    check_width("rms_norm", x.shape, cfg_.width);
    const int rows = static_cast<int>(x.shape.rows());
    auto y = allocate_output(ctx, out, x.shape);
    rstd_ = ctx.activations.template allocate<T>(rows);
    B::rmsnorm_forward(y.data, rstd_, x.data, ctx.params.value(weight_), rows, cfg_.width, T(cfg_.eps));
    x_ = x;
    return y;
  }

  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    const int rows = static_cast<int>(dy.shape.rows());
    tensor_view<T> dx{};
    if (n.dx) dx = ctx.activations.template allocate<T>(dy.shape);
    T* dweight = ctx.params.trainable(weight_) ? ctx.params.grad(weight_) : nullptr;
    if (dx.data || dweight)
      B::rmsnorm_backward(dx.data, dweight, dy.data, x_.data, ctx.params.value(weight_), rstd_, rows,
                          cfg_.width);
    return dx;
  }

  void init(param_store<B>& p, std::uint64_t, double) const { B::fill(p.value(weight_), cfg_.width, T(1)); }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const { return p.trainable(weight_); }

private:
  config cfg_;
  param_id weight_{};
  tensor_view<const T> x_{};
  T* rstd_ = nullptr;
};

}  // namespace thaw::nn
