// nn::lora_linear<B> — a Linear with a low-rank adapter ("LoRA: Low-Rank Adaptation of Large
// Language Models", Hu et al. 2021):
//
//   y = x W + b + (alpha / r) (x A) B,     A: [in, r], B: [r, out]   (stored [in, out] like W)
//
// A and B are ordinary parameters of the flat store, registered right after the base Linear's
// as `<prefix>lora_A` and `<prefix>lora_B` (kind weight, module type "lora"), so selectors pick
// them: `module(lora)` or `name(*.lora_*)` trains only the adapters, `~module(lora)` freezes the
// base. A ~ N(0, 1/in), B = 0 (the adapter starts as the identity change, as in the paper).
// Rank 0 is a plain nn::linear with the same names and layout (no adapter parameters).
//
// Backward, with s = alpha / r, u = x A (kept from the forward, [rows, r]) and g = dy:
//   dB += s u^T g                      (if B trains)
//   t   = s g B^T                      ([rows, r]; if A trains or dx is wanted)
//   dA += x^T t                        (if A trains: the input is kept only then, or for dW)
//   dx  = g W^T + t A^T                (if wanted)
// A minimal module: no merging of B A into W, no dropout on the adapter's input.
#pragma once

#include <algorithm>
#include <cmath>

#include "thaw/nn/linear.hpp"

namespace thaw::nn {

template <class B>
class lora_linear {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int in = 0;
    int out = 0;
    bool bias = true;
    int rank = 0;        ///< r; 0: no adapter
    double alpha = 8.0;  ///< the adapter's output is scaled by alpha / r
  };

  lora_linear(const scope<B>& s, config c) : cfg_(validated(s, c)), base_(s, {c.in, c.out, c.bias}) {
    if (c.rank > 0) {
      a_ = s.add("lora_A", {c.in, c.rank}, param_kind::weight, "lora");
      b_ = s.add("lora_B", {c.rank, c.out}, param_kind::weight, "lora");
    }
  }

  /// x: (..., in) -> (..., out)
  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    auto y = base_.forward(ctx, x);
    if (!cfg_.rank) return y;
    const int rows = static_cast<int>(x.shape.rows()), r = cfg_.rank;
    u_ = ctx.activations.template allocate<T>(std::size_t(rows) * r);  // x A, kept for dB
    B::gemm(false, false, rows, r, cfg_.in, T(1), x.data, cfg_.in, ctx.params.value(a_), r, T(0), u_, r);
    B::gemm(false, false, rows, cfg_.out, r, scale(), u_, r, ctx.params.value(b_), cfg_.out, T(1), y.data,
            cfg_.out);
    x_ = ctx.params.trainable(a_) ? x : tensor_view<const T>{};
    return y;
  }

  /// dy: (..., out) -> dx: (..., in), or an empty view when !n.dx.
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    if (!cfg_.rank) return base_.backward(ctx, dy, n);
    auto& p = ctx.params;
    const int rows = static_cast<int>(dy.shape.rows()), r = cfg_.rank;
    const bool train_a = p.trainable(a_);
    if (p.trainable(b_))  // dB += s u^T dy
      B::gemm(true, false, r, cfg_.out, rows, scale(), u_, r, dy.data, cfg_.out, T(1), p.grad(b_), cfg_.out);
    T* t = nullptr;
    if (train_a || n.dx) {  // t = s dy B^T
      t = ctx.activations.template allocate<T>(std::size_t(rows) * r);
      B::gemm(false, true, rows, r, cfg_.out, scale(), dy.data, cfg_.out, p.value(b_), cfg_.out, T(0), t, r);
    }
    if (train_a) {  // dA += x^T t
      THAW_CHECK(x_.data != nullptr, "lora_linear: '", p.ref(a_).name,
                 "' was frozen at forward (its input was not kept) but trains at backward; "
                 "change trainable flags between steps, not between forward and backward");
      B::gemm(true, false, cfg_.in, r, rows, T(1), x_.data, cfg_.in, t, r, T(1), p.grad(a_), r);
    }
    auto dx = base_.backward(ctx, dy, n);
    if (n.dx)  // dx += t A^T
      B::gemm(false, true, rows, cfg_.in, r, T(1), t, r, p.value(a_), r, T(1), dx.data, cfg_.in);
    return dx;
  }

  /// The base Linear as nn::linear::init (W ~ N(0, std), b = 0); A ~ N(0, 1/in), B = 0.
  void init(param_store<B>& p, std::uint64_t seed, double std) const {
    base_.init(p, seed, std);
    if (!cfg_.rank) return;
    B::fill_normal(p.value(a_), p.ref(a_).size(), {seed, a_}, 0, 0.0, 1.0 / std::sqrt(double(cfg_.in)));
    B::fill(p.value(b_), p.ref(b_).size(), T(0));
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return base_.any_trainable(p) || (cfg_.rank && (p.trainable(a_) || p.trainable(b_)));
  }
  /// Whether backward reads this forward's input: for the base's dW or the adapter's dA.
  [[nodiscard]] bool needs_input(const param_store<B>& p) const {
    return base_.needs_input(p) || (cfg_.rank && p.trainable(a_));
  }
  [[nodiscard]] const config& cfg() const noexcept { return cfg_; }
  [[nodiscard]] const linear<B>& base() const noexcept { return base_; }
  [[nodiscard]] param_id weight() const noexcept { return base_.weight(); }
  /// The adapter's parameters (only when rank > 0).
  [[nodiscard]] param_id lora_a() const {
    THAW_CHECK(cfg_.rank > 0, "lora_linear: rank 0 has no lora_A");
    return a_;
  }
  [[nodiscard]] param_id lora_b() const {
    THAW_CHECK(cfg_.rank > 0, "lora_linear: rank 0 has no lora_B");
    return b_;
  }
  [[nodiscard]] T scale() const noexcept { return cfg_.rank ? T(cfg_.alpha / cfg_.rank) : T(0); }

private:
  static config validated(const scope<B>& s, config c) {
    THAW_CHECK(c.in > 0 && c.out > 0, "lora_linear '", s.prefix, "' needs positive sizes, got in ", c.in,
               ", out ", c.out);
    THAW_CHECK(c.rank >= 0 && c.rank <= std::min(c.in, c.out), "lora_linear '", s.prefix, "': rank ", c.rank,
               " must be in [0, min(in, out) = ", std::min(c.in, c.out), "]");
    THAW_CHECK(c.rank == 0 || (std::isfinite(c.alpha) && c.alpha > 0), "lora_linear '", s.prefix,
               "': alpha must be positive and finite, got ", c.alpha);
    return c;
  }

  config cfg_;
  linear<B> base_;
  param_id a_{}, b_{};
  T* u_ = nullptr;              // x A from the forward
  tensor_view<const T> x_{};    // the input, kept only when A trains
};

}  // namespace thaw::nn
