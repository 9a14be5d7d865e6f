// nn::mlp<B> — the transformer's position-wise feed-forward block: c_fc (width -> ratio width),
// GELU, c_proj (back to width), with GPT-2's names.
#pragma once

#include "thaw/nn/activation.hpp"
#include "thaw/nn/linear.hpp"

namespace thaw::nn {

template <class B>
class mlp {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int width = 0;
    int hidden = 0;  ///< usually 4 * width
    bool bias = true;
  };

  mlp(const scope<B>& s, config c)
      : c_fc_(s.child("c_fc"), {c.width, c.hidden, c.bias}),
        c_proj_(s.child("c_proj"), {c.hidden, c.width, c.bias}) {}

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    auto h = c_fc_.forward(ctx, x);
    // The GELU output feeds only c_proj: transient when c_proj's weight is frozen.
    arena<B>* transient = c_proj_.needs_input(ctx.params) ? nullptr : ctx.scratch;
    const auto mark = transient ? transient->mark() : typename arena<B>::marker{};
    auto a = act_.forward(ctx, h, transient);
    auto y = c_proj_.forward(ctx, a);
    if (transient) transient->release(mark);
    return y;
  }
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    const bool below = n.dx || c_fc_.any_trainable(ctx.params);
    auto da = c_proj_.backward(ctx, dy, {.dx = below});
    if (!below) return {};
    auto dh = act_.backward(ctx, da, {.dx = true});
    return c_fc_.backward(ctx, dh, n);
  }

  /// N(0, std) weights; c_proj, which writes into the residual stream, gets proj_std.
  void init(param_store<B>& p, std::uint64_t seed, double std, double proj_std) const {
    c_fc_.init(p, seed, std);
    c_proj_.init(p, seed, proj_std);
  }
  void init(param_store<B>& p, std::uint64_t seed, double std) const { init(p, seed, std, std); }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return c_fc_.any_trainable(p) || c_proj_.any_trainable(p);
  }
  /// Whether backward reads the forward's input (c_fc's dW).
  [[nodiscard]] bool needs_input(const param_store<B>& p) const { return c_fc_.needs_input(p); }

private:
  linear<B> c_fc_;
  gelu<B> act_;
  linear<B> c_proj_;
};

}  // namespace thaw::nn
