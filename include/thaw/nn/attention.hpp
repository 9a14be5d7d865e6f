// nn::causal_self_attention<B> — multi-head causal self-attention as in GPT-2 ("Attention Is
// All You Need", Vaswani et al. 2017; "Language Models are Unsupervised Multitask Learners",
// Radford et al. 2019): c_attn (width -> 3 width, q|k|v), per-head softmax(q k^T / sqrt(hd))
// with a causal mask, then c_proj.
//
// c_attn and c_proj may carry a rank-r LoRA adapter (nn/lora.hpp; config.lora_rank, default 0:
// none, and then the parameters are exactly GPT-2's).
//
// Heads are never copied out: Q, K and V of head h are strided views into c_attn's output
// (row stride 3 width, head stride hd), so every product is a strided-batched GEMM over the
// heads of a sequence. The causal mask is used to skip work: the products run by blocks of 64
// query rows (or key columns), each against only the keys (queries) it can see.
//
// A backend that has fused attention for the head size (fused_attention_backend below; the
// CUDA backend's bf16 policy, FlashAttention-2, backend/cuda/attention.cuh) runs that instead:
// the (batch, heads, T, T) probabilities are then never stored, only the heads' output and one
// log-sum-exp per row, which the backward recomputes the probabilities from.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>

#include "thaw/nn/lora.hpp"

namespace thaw::nn {

/// A backend with a fused causal attention: B::fused_attention(head_dim) says whether it takes
/// that head size; attention_forward writes the heads' output (batch, T, C) and the row
/// log-sum-exp (batch, heads, T) from c_attn's q|k|v (batch, T, 3C); attention_backward writes
/// d(q|k|v) from the output's gradient.
template <class B>
concept fused_attention_backend = requires(typename B::scalar* p, const typename B::scalar* c, int i,
                                           typename B::scalar s) {
  { B::fused_attention(i) } -> std::same_as<bool>;
  B::attention_forward(p, p, c, i, i, i, i, s);
  B::attention_backward(p, c, c, c, c, i, i, i, i, s);
};

template <class B>
class causal_self_attention {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int width = 0;
    int heads = 1;
    int context = 0;
    bool bias = true;
    int lora_rank = 0;        ///< LoRA rank on c_attn and c_proj (0: no adapter)
    double lora_alpha = 8.0;  ///< LoRA scale alpha / rank
  };

  causal_self_attention(const scope<B>& s, config c)
      : cfg_(validated(s, c)),
        c_attn_(s.child("c_attn"), {c.width, 3 * c.width, c.bias, c.lora_rank, c.lora_alpha}),
        c_proj_(s.child("c_proj"), {c.width, c.width, c.bias, c.lora_rank, c.lora_alpha}) {}

  /// x: (batch, T, width) -> (batch, T, width)
  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    THAW_CHECK(x.shape.rank() == 3 && x.shape[2] == cfg_.width && x.shape[1] <= cfg_.context,
               "attention expects (batch, T <= ", cfg_.context, ", ", cfg_.width, "), got ", x.shape);
    batch_ = static_cast<int>(x.shape[0]);
    steps_ = static_cast<int>(x.shape[1]);
    const int C = cfg_.width, H = cfg_.heads, hd = C / H, Tn = steps_;
    qkv_ = c_attn_.forward(ctx, x);  // (batch, T, 3C)
    const T scale = T(1) / std::sqrt(T(hd));
    fused_ = false;
    if constexpr (fused_attention_backend<B>) {
      fused_ = B::fused_attention(hd);
      if (fused_) {
        // The backward needs the heads' output (its row dot with dO) and the row log-sum-exp.
        heads_out_ = ctx.activations.template allocate<T>(x.shape);
        row_lse_ = ctx.activations.template allocate<T>(std::size_t(batch_) * H * Tn);
        B::attention_forward(heads_out_.data, row_lse_, qkv_.data, batch_, Tn, H, hd, scale);
        return c_proj_.forward(ctx, heads_out_);
      }
    }
    probs_ = ctx.activations.template allocate<T>(std::size_t(batch_) * H * Tn * Tn);  // (b, h, T, T)
    // Heads side by side: (batch, T, C). Only c_proj reads them; transient (ctx.scratch) when
    // c_proj's backward does not need its input.
    arena<B>* transient = c_proj_.needs_input(ctx.params) ? nullptr : ctx.scratch;
    const auto mark = transient ? transient->mark() : typename arena<B>::marker{};
    auto y = allocate_output(ctx, transient, x.shape);
    const std::int64_t square = std::int64_t(Tn) * Tn;
    for (int b = 0; b < batch_; ++b) {
      const T* q = qkv_.data + std::size_t(b) * Tn * 3 * C;
      T* p = probs_ + std::size_t(b) * H * Tn * Tn;
      // scores[h] = Q_h K_h^T (T x T), by blocks of query rows [r0, r1) against keys [0, r1):
      // the rest of those rows is masked and never read (softmax_forward reads a causal row up to
      // its diagonal and writes the zeros).
      for_causal_blocks(Tn, [&](int r0, int r1) {
        B::gemm_strided_batched(false, true, r1 - r0, r1, hd, T(1), q + std::size_t(r0) * 3 * C, 3 * C,
                                hd, q + C, 3 * C, hd, T(0), p + std::size_t(r0) * Tn, Tn, square, H);
      });
      B::softmax_forward(p, p, H * Tn, Tn, scale, /*causal=*/true);
      // y_h = P_h V_h (T x hd), written into columns [h hd, (h + 1) hd) of y; rows [r0, r1) need
      // only the keys [0, r1) (P is zero beyond).
      T* yb = y.data + std::size_t(b) * Tn * C;
      for_causal_blocks(Tn, [&](int r0, int r1) {
        B::gemm_strided_batched(false, false, r1 - r0, hd, r1, T(1), p + std::size_t(r0) * Tn, Tn, square,
                                q + 2 * C, 3 * C, hd, T(0), yb + std::size_t(r0) * C, C, hd, H);
      });
    }
    auto out = c_proj_.forward(ctx, y);
    if (transient) transient->release(mark);
    return out;
  }

  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    const bool qkv_grad_needed = n.dx || c_attn_.any_trainable(ctx.params);
    auto dheads = c_proj_.backward(ctx, dy, {.dx = qkv_grad_needed});
    if (!qkv_grad_needed) return {};
    const int C = cfg_.width, H = cfg_.heads, hd = C / H, Tn = steps_;
    const T scale = T(1) / std::sqrt(T(hd));
    auto dqkv = ctx.activations.template allocate<T>(qkv_.shape);
    if constexpr (fused_attention_backend<B>) {
      if (fused_) {
        B::attention_backward(dqkv.data, dheads.data, qkv_.data, heads_out_.data, row_lse_, batch_, Tn, H, hd,
                              scale);
        return c_attn_.backward(ctx, dqkv, n);
      }
    }
    const std::int64_t square = std::int64_t(Tn) * Tn;
    auto dprobs = ctx.activations.template allocate<T>(std::size_t(H) * Tn * Tn);  // one sequence
    // The masked part of dP is never computed below; softmax_backward multiplies it by P = 0,
    // which needs it finite: zero once (softmax_backward then keeps it zero for later sequences).
    B::fill(dprobs, std::size_t(H) * Tn * Tn, T(0));
    for (int b = 0; b < batch_; ++b) {
      const T* q = qkv_.data + std::size_t(b) * Tn * 3 * C;
      T* dq = dqkv.data + std::size_t(b) * Tn * 3 * C;
      const T* p = probs_ + std::size_t(b) * H * Tn * Tn;
      const T* dyb = dheads.data + std::size_t(b) * Tn * C;
      // dP_h = dY_h V_h^T, query rows [r0, r1) against keys [0, r1)
      for_causal_blocks(Tn, [&](int r0, int r1) {
        B::gemm_strided_batched(false, true, r1 - r0, r1, hd, T(1), dyb + std::size_t(r0) * C, C, hd,
                                q + 2 * C, 3 * C, hd, T(0), dprobs + std::size_t(r0) * Tn, Tn, square, H);
      });
      // dV_h = P_h^T dY_h: keys [c0, c1) are attended by the queries [c0, T) only
      for_causal_blocks(Tn, [&](int c0, int c1) {
        B::gemm_strided_batched(true, false, c1 - c0, hd, Tn - c0, T(1), p + std::size_t(c0) * Tn + c0, Tn,
                                square, dyb + std::size_t(c0) * C, C, hd, T(0),
                                dq + 2 * C + std::size_t(c0) * 3 * C, 3 * C, hd, H);
      });
      // dS_h = softmax backward (in place), including the 1/sqrt(hd) scale
      B::softmax_backward(dprobs, p, dprobs, H * Tn, Tn, scale);
      // dQ_h = dS_h K_h (rows [r0, r1) against keys [0, r1)); dK_h = dS_h^T Q_h (keys [c0, c1)
      // from the queries [c0, T))
      for_causal_blocks(Tn, [&](int r0, int r1) {
        B::gemm_strided_batched(false, false, r1 - r0, hd, r1, T(1), dprobs + std::size_t(r0) * Tn, Tn,
                                square, q + C, 3 * C, hd, T(0), dq + std::size_t(r0) * 3 * C, 3 * C, hd, H);
      });
      for_causal_blocks(Tn, [&](int c0, int c1) {
        B::gemm_strided_batched(true, false, c1 - c0, hd, Tn - c0, T(1), dprobs + std::size_t(c0) * Tn + c0,
                                Tn, square, q + std::size_t(c0) * 3 * C, 3 * C, hd, T(0),
                                dq + C + std::size_t(c0) * 3 * C, 3 * C, hd, H);
      });
    }
    return c_attn_.backward(ctx, dqkv, n);
  }

  /// N(0, std) weights; c_proj, which writes into the residual stream, gets proj_std.
  void init(param_store<B>& p, std::uint64_t seed, double std, double proj_std) const {
    c_attn_.init(p, seed, std);
    c_proj_.init(p, seed, proj_std);
  }
  void init(param_store<B>& p, std::uint64_t seed, double std) const { init(p, seed, std, std); }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return c_attn_.any_trainable(p) || c_proj_.any_trainable(p);
  }
  /// Whether backward reads the forward's input (c_attn's dW or LoRA dA).
  [[nodiscard]] bool needs_input(const param_store<B>& p) const { return c_attn_.needs_input(p); }

private:
  /// Rows (query rows, or key columns for dV and dK) per block of the causal products. A block
  /// of query rows [r0, r1) needs only the keys [0, r1), a block of keys [c0, c1) only the
  /// queries [c0, T): with blocks of 64, a context of 256 computes 10 of the 16 blocks of every T x T
  /// product (62.5% of attention's GEMM work; 1024: 53%), while each GEMM stays large enough to
  /// run near full speed.
  static constexpr int kCausalBlock = 64;
  template <class Fn>
  static void for_causal_blocks(int steps, Fn&& fn) {
    for (int r0 = 0; r0 < steps; r0 += kCausalBlock) fn(r0, std::min(steps, r0 + kCausalBlock));
  }

  static config validated(const scope<B>& s, config c) {
    THAW_CHECK(c.heads > 0 && c.width > 0 && c.width % c.heads == 0, "attention '", s.prefix,
               "': n_embd (width) ", c.width, " is not divisible by n_head (heads) ", c.heads);
    THAW_CHECK(c.context > 0, "attention '", s.prefix, "' needs a positive context, got ", c.context);
    return c;
  }

  config cfg_;
  lora_linear<B> c_attn_, c_proj_;
  int batch_ = 0, steps_ = 0;
  tensor_view<T> qkv_{};
  T* probs_ = nullptr;           // materialised path: (batch, heads, T, T) probabilities
  bool fused_ = false;           // fused path: the heads' output and the row log-sum-exp instead
  tensor_view<T> heads_out_{};
  T* row_lse_ = nullptr;
};

}  // namespace thaw::nn
