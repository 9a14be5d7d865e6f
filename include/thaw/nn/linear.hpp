// nn::linear<B> — y = x W + b, W stored [in, out] (the layout of GPT-2's Conv1D, so GPT-2
// checkpoints load as they are; PyTorch's nn.Linear stores [out, in] and needs a transpose).
#pragma once

#include "thaw/nn/module.hpp"

namespace thaw::nn {

template <class B>
class linear {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int in = 0;
    int out = 0;
    bool bias = true;
  };

  linear(const scope<B>& s, config c) : cfg_(c) {
    THAW_CHECK(c.in > 0 && c.out > 0, "linear '", s.prefix, "' needs positive sizes, got in ", c.in,
               ", out ", c.out);
    weight_ = s.add("weight", {c.in, c.out}, param_kind::weight, "linear");
    if (c.bias) bias_ = s.add("bias", {c.out}, param_kind::bias, "linear");
  }

  /// x: (..., in) -> (..., out)
  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    check_width("linear", x.shape, cfg_.in);
    const int rows = static_cast<int>(x.shape.rows());
    auto y = ctx.activations.template allocate<T>(with_last(x.shape, cfg_.out));
    B::gemm(false, false, rows, cfg_.out, cfg_.in, T(1), x.data, cfg_.in, ctx.params.value(weight_),
            cfg_.out, T(0), y.data, cfg_.out);
    if (cfg_.bias) B::add_bias(y.data, ctx.params.value(bias_), rows, cfg_.out);
    // The input is needed only for dW; a frozen weight's caller may free it (nn/module.hpp).
    x_ = needs_input(ctx.params) ? x : tensor_view<const T>{};
    return y;
  }

  /// dy: (..., out) -> dx: (..., in), or an empty view when !n.dx.
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    const int rows = static_cast<int>(dy.shape.rows());
    // dW += x^T dy, skipped entirely for a frozen weight.
    if (ctx.params.trainable(weight_)) {
      THAW_CHECK(x_.data != nullptr, "linear: the weight '", ctx.params.ref(weight_).name,
                 "' was frozen at forward (its input was not kept) but trains at backward; "
                 "change trainable flags between steps, not between forward and backward");
      B::gemm(true, false, cfg_.in, cfg_.out, rows, T(1), x_.data, cfg_.in, dy.data, cfg_.out,
              T(1), ctx.params.grad(weight_), cfg_.out);
    }
    if (cfg_.bias && ctx.params.trainable(bias_))
      B::sum_rows(ctx.params.grad(bias_), dy.data, rows, cfg_.out);
    if (!n.dx) return {};
    auto dx = ctx.activations.template allocate<T>(with_last(dy.shape, cfg_.in));
    B::gemm(false, true, rows, cfg_.in, cfg_.out, T(1), dy.data, cfg_.out, ctx.params.value(weight_),
            cfg_.out, T(0), dx.data, cfg_.in);
    return dx;
  }

  /// Initialises W ~ N(0, std), b = 0 from the seed's stream for this parameter.
  void init(param_store<B>& p, std::uint64_t seed, double std) const {
    B::fill_normal(p.value(weight_), p.ref(weight_).size(), {seed, weight_}, 0, 0.0, std);
    if (cfg_.bias) B::fill(p.value(bias_), p.ref(bias_).size(), T(0));
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return p.trainable(weight_) || (cfg_.bias && p.trainable(bias_));
  }
  /// Whether backward reads this forward's input: only for dW (dx = dy W^T needs only W).
  [[nodiscard]] bool needs_input(const param_store<B>& p) const { return p.trainable(weight_); }
  [[nodiscard]] param_id weight() const noexcept { return weight_; }
  [[nodiscard]] const config& cfg() const noexcept { return cfg_; }

private:
  config cfg_;
  param_id weight_{}, bias_{};
  tensor_view<const T> x_{};  // saved input (for dW), empty when the weight is frozen
};

}  // namespace thaw::nn
