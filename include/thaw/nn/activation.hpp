// Parameter-free element-wise modules: nn::gelu<B> (tanh form, "Gaussian Error Linear Units",
// Hendrycks & Gimpel 2016, as GPT-2 uses it).
#pragma once

#include "thaw/nn/module.hpp"

namespace thaw::nn {

template <class B>
class gelu {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {};

  gelu() = default;
  gelu(const scope<B>&, config) {}

  /// `out`: where the output goes when the caller frees it early (nn/module.hpp); backward
  /// needs only the input.
  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x, arena<B>* out = nullptr) {
    auto y = allocate_output(ctx, out, x.shape);
    B::gelu_forward(y.data, x.data, x.size());
    x_ = x;
    return y;
  }
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    if (!n.dx) return {};
    auto dx = ctx.activations.template allocate<T>(dy.shape);
    B::gelu_backward(dx.data, x_.data, dy.data, dy.size());
    return dx;
  }
  void init(param_store<B>&, std::uint64_t, double) const {}
  [[nodiscard]] bool any_trainable(const param_store<B>&) const { return false; }

private:
  tensor_view<const T> x_{};
};

}  // namespace thaw::nn
