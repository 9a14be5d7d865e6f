// Image modules over NCHW tensors: nn::conv2d<B> (im2col + one GEMM per image, weights
// [out, in, k, k] exactly as PyTorch's Conv2d), nn::max_pool2d<B>, nn::relu<B>, nn::flatten<B>.
#pragma once

#include <cmath>

#include "thaw/backend/ops.hpp"
#include "thaw/nn/module.hpp"

namespace thaw::nn {

template <class B>
class conv2d {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int in_channels = 1;
    int out_channels = 1;
    int kernel = 3;
    int stride = 1;
    int pad = 0;
    bool bias = true;
  };

  conv2d(const scope<B>& s, config c) : cfg_(c) {
    THAW_CHECK(c.in_channels > 0 && c.out_channels > 0 && c.kernel > 0 && c.stride > 0 && c.pad >= 0,
               "conv2d '", s.prefix, "' needs positive channels, kernel and stride (got in ",
               c.in_channels, ", out ", c.out_channels, ", kernel ", c.kernel, ", stride ", c.stride,
               ", pad ", c.pad, ")");
    weight_ = s.add("weight", {c.out_channels, c.in_channels, c.kernel, c.kernel}, param_kind::weight, "conv2d");
    if (c.bias) bias_ = s.add("bias", {c.out_channels}, param_kind::bias, "conv2d");
  }

  /// x: (N, C, H, W) -> (N, out_channels, OH, OW)
  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    THAW_CHECK(x.shape.rank() == 4 && x.shape[1] == cfg_.in_channels, "conv2d expects (N, ",
               cfg_.in_channels, ", H, W), got ", x.shape);
    g_ = {static_cast<int>(x.shape[0]), cfg_.in_channels, static_cast<int>(x.shape[2]),
          static_cast<int>(x.shape[3]), cfg_.kernel, cfg_.stride, cfg_.pad};
    THAW_CHECK(g_.out_height() > 0 && g_.out_width() > 0, "conv2d: a ", cfg_.kernel, "x", cfg_.kernel,
               " kernel does not fit an image of ", x.shape[2], "x", x.shape[3]);
    const int K = g_.patch(), P = g_.out_height() * g_.out_width(), OC = cfg_.out_channels;
    col_ = ctx.activations.template allocate<T>(std::size_t(g_.batch) * K * P);
    B::im2col(col_, x.data, g_);
    auto y = ctx.activations.template allocate<T>(shape{g_.batch, OC, g_.out_height(), g_.out_width()});
    // Y_n (OC x P) = W (OC x K) col_n (K x P), the same W for every image (stride 0).
    B::gemm_strided_batched(false, false, OC, P, K, T(1), ctx.params.value(weight_), K, 0, col_, P,
                            std::int64_t(K) * P, T(0), y.data, P, std::int64_t(OC) * P, g_.batch);
    if (cfg_.bias) {
      // Y_n += b (OC x 1) ones (1 x P)
      ones_ = ctx.activations.template allocate<T>(P);
      B::fill(ones_, P, T(1));
      B::gemm_strided_batched(false, false, OC, P, 1, T(1), ctx.params.value(bias_), 1, 0, ones_, P, 0,
                              T(1), y.data, P, std::int64_t(OC) * P, g_.batch);
    }
    return y;
  }

  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    const int K = g_.patch(), P = g_.out_height() * g_.out_width(), OC = cfg_.out_channels;
    const bool dw = ctx.params.trainable(weight_), db = cfg_.bias && ctx.params.trainable(bias_);
    for (int b = 0; b < g_.batch && (dw || db); ++b) {
      const T* dyb = dy.data + std::size_t(b) * OC * P;
      if (dw)  // dW += dY_n col_n^T
        B::gemm(false, true, OC, K, P, T(1), dyb, P, col_ + std::size_t(b) * K * P, P, T(1),
                ctx.params.grad(weight_), K);
      if (db)  // db += dY_n ones
        B::gemm(false, false, OC, 1, P, T(1), dyb, P, ones_, 1, T(1), ctx.params.grad(bias_), 1);
    }
    if (!n.dx) return {};
    // dcol_n = W^T dY_n, then scattered back to the image.
    T* dcol = ctx.activations.template allocate<T>(std::size_t(g_.batch) * K * P);
    B::gemm_strided_batched(true, false, K, P, OC, T(1), ctx.params.value(weight_), K, 0, dy.data, P,
                            std::int64_t(OC) * P, T(0), dcol, P, std::int64_t(K) * P, g_.batch);
    auto dx = ctx.activations.template allocate<T>(shape{g_.batch, g_.channels, g_.height, g_.width});
    B::col2im(dx.data, dcol, g_);
    return dx;
  }

  /// Weights N(0, 1/fan_in) (LeCun), bias 0.
  void init(param_store<B>& p, std::uint64_t seed, double) const {
    const double std = 1.0 / std::sqrt(double(cfg_.in_channels) * cfg_.kernel * cfg_.kernel);
    B::fill_normal(p.value(weight_), p.ref(weight_).size(), {seed, weight_}, 0, 0.0, std);
    if (cfg_.bias) B::fill(p.value(bias_), cfg_.out_channels, T(0));
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return p.trainable(weight_) || (cfg_.bias && p.trainable(bias_));
  }

private:
  config cfg_;
  param_id weight_{}, bias_{};
  conv_geometry g_{};
  T* col_ = nullptr;
  T* ones_ = nullptr;
};

template <class B>
class max_pool2d {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int kernel = 2;
    int stride = 2;
  };

  max_pool2d(const scope<B>&, config c) : cfg_(c) {
    THAW_CHECK(c.kernel > 0 && c.stride > 0, "max_pool2d needs a positive kernel and stride, got ",
               c.kernel, " and ", c.stride);
  }

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    THAW_CHECK(x.shape.rank() == 4 && x.shape[2] >= cfg_.kernel && x.shape[3] >= cfg_.kernel,
               "max_pool2d expects (N, C, H >= ", cfg_.kernel, ", W >= ", cfg_.kernel, "), got ", x.shape);
    in_shape_ = x.shape;
    g_ = {static_cast<int>(x.shape[0] * x.shape[1]), static_cast<int>(x.shape[2]),
          static_cast<int>(x.shape[3]), cfg_.kernel, cfg_.stride};
    auto y = ctx.activations.template allocate<T>(shape{x.shape[0], x.shape[1], g_.out_height(), g_.out_width()});
    argmax_ = ctx.activations.template allocate<token_t>(y.size());
    B::maxpool_forward(y.data, argmax_, x.data, g_);
    return y;
  }
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    if (!n.dx) return {};
    auto dx = ctx.activations.template allocate<T>(in_shape_);
    B::maxpool_backward(dx.data, argmax_, dy.data, g_);
    return dx;
  }
  void init(param_store<B>&, std::uint64_t, double) const {}
  [[nodiscard]] bool any_trainable(const param_store<B>&) const { return false; }

private:
  config cfg_;
  pool_geometry g_{};
  shape in_shape_{};
  token_t* argmax_ = nullptr;
};

template <class B>
class relu {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {};

  relu() = default;
  relu(const scope<B>&, config) {}

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    auto y = ctx.activations.template allocate<T>(x.shape);
    B::relu_forward(y.data, x.data, x.size());
    x_ = x;
    return y;
  }
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    if (!n.dx) return {};
    auto dx = ctx.activations.template allocate<T>(dy.shape);
    B::relu_backward(dx.data, x_.data, dy.data, dy.size());
    return dx;
  }
  void init(param_store<B>&, std::uint64_t, double) const {}
  [[nodiscard]] bool any_trainable(const param_store<B>&) const { return false; }

private:
  tensor_view<const T> x_{};
};

/// (N, ...) -> (N, rest) without copying (row-major order, as torch.flatten(x, 1)).
template <class B>
class flatten {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {};

  flatten() = default;
  flatten(const scope<B>&, config) {}

  tensor_view<T> forward(context<B>&, tensor_view<const T> x) {
    in_shape_ = x.shape;
    const std::int64_t n = x.shape[0];
    return {const_cast<T*>(x.data), shape{n, n ? x.numel() / n : 0}};  // a view of the same memory
  }
  tensor_view<T> backward(context<B>&, tensor_view<const T> dy, need n) {
    if (!n.dx) return {};
    return {const_cast<T*>(dy.data), in_shape_};
  }
  void init(param_store<B>&, std::uint64_t, double) const {}
  [[nodiscard]] bool any_trainable(const param_store<B>&) const { return false; }

private:
  shape in_shape_{};
};

}  // namespace thaw::nn
