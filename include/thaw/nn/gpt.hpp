// nn::gpt<B> — a GPT-2-architecture decoder ("Language Models are Unsupervised Multitask
// Learners", Radford et al. 2019): token + learned position embeddings, N pre-LN transformer
// blocks, a final LayerNorm, and an LM head tied to the token embedding (or untied).
//
// Parameter names are Hugging Face GPT-2's (wte.weight, wpe.weight, h.{i}.ln_1.weight,
// h.{i}.attn.c_attn.weight, h.{i}.attn.c_proj.weight, h.{i}.ln_2.*, h.{i}.mlp.c_fc.*,
// h.{i}.mlp.c_proj.*, ln_f.*; lm_head.weight when untied) and Linear weights are stored
// [in, out] like GPT-2's Conv1D, so a GPT-2 safetensors checkpoint loads with no name map.
// The untied head is [width, vocab] ([in, out]); Hugging Face's lm_head.weight is [vocab,
// width] (nn.Linear) — transpose it when importing an untied checkpoint.
//
// Depths: embeddings 0, block i is i + 1, ln_f and the head layers + 1.
//
// Optional LoRA (nn/lora.hpp, Hu et al. 2021): lora_rank > 0 adds h.{i}.attn.c_attn.lora_A /
// lora_B and h.{i}.attn.c_proj.lora_A / lora_B (registered after each base Linear). The default
// (0) leaves the names and the buffer layout exactly GPT-2's.
//
// Activation memory follows what trains (nn/module.hpp): the blocks below the lowest trainable
// module run as a transient forward (nothing kept; backward never reaches them), and inside a
// block the input of a frozen Linear (ln_1/ln_2 output, attention heads, GELU output) lives in
// a scratch arena only until that Linear has run.
#pragma once

#include <cmath>
#include <memory>
#include <optional>
#include <vector>

#include "thaw/nn/attention.hpp"
#include "thaw/nn/cross_entropy.hpp"
#include "thaw/nn/embedding.hpp"
#include "thaw/nn/linear.hpp"
#include "thaw/nn/mlp.hpp"
#include "thaw/nn/norm.hpp"

namespace thaw::nn {

struct gpt_config {
  int vocab = 256;     ///< vocab_size
  int context = 256;   ///< n_positions
  int layers = 6;      ///< n_layer
  int heads = 6;       ///< n_head
  int width = 384;     ///< n_embd
  int mlp_ratio = 4;   ///< hidden width of the MLP = mlp_ratio * width
  double eps = 1e-5;   ///< layer_norm_epsilon
  bool tied_head = true;
  bool bias = true;    ///< biases on every Linear and LayerNorm, as GPT-2
  int lora_rank = 0;        ///< LoRA rank on attention c_attn and c_proj (0: none)
  double lora_alpha = 8.0;  ///< LoRA scale alpha / lora_rank

  void validate() const {
    THAW_CHECK(vocab > 0 && context > 0 && layers > 0 && heads > 0 && width > 0 && mlp_ratio > 0,
               "GPT config needs positive sizes (vocab ", vocab, ", context ", context, ", layers ",
               layers, ", heads ", heads, ", width ", width, ", mlp_ratio ", mlp_ratio, ")");
    THAW_CHECK(width % heads == 0, "GPT config: n_embd (width) ", width,
               " is not divisible by n_head (heads) ", heads);
    THAW_CHECK(eps > 0, "GPT config: layer_norm_epsilon must be positive, got ", eps);
    THAW_CHECK(lora_rank >= 0 && lora_rank <= width, "GPT config: lora_rank must be in [0, width = ",
               width, "], got ", lora_rank);
    THAW_CHECK(lora_rank == 0 || (std::isfinite(lora_alpha) && lora_alpha > 0),
               "GPT config: lora_alpha must be positive and finite, got ", lora_alpha);
  }
};

/// One pre-LN transformer block: x + attn(ln_1(x)), then + mlp(ln_2(.)).
template <class B>
class transformer_block {
public:
  using backend_type = B;
  using T = typename B::scalar;

  transformer_block(const scope<B>& s, const gpt_config& c)
      : ln_1_(s.child("ln_1"), {c.width, c.eps, c.bias}),
        attn_(s.child("attn"), {c.width, c.heads, c.context, c.bias, c.lora_rank, c.lora_alpha}),
        ln_2_(s.child("ln_2"), {c.width, c.eps, c.bias}),
        mlp_(s.child("mlp"), {c.width, c.mlp_ratio * c.width, c.bias}) {}

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    // A norm's output feeds only the next Linear: transient when that Linear does not need
    // its input for backward (the norm keeps its own input and statistics).
    arena<B>* t1 = attn_.needs_input(ctx.params) ? nullptr : ctx.scratch;
    auto m1 = t1 ? t1->mark() : typename arena<B>::marker{};
    auto a = attn_.forward(ctx, ln_1_.forward(ctx, x, t1));
    if (t1) t1->release(m1);
    B::add(a.data, a.data, x.data, x.size());  // h = x + attn(ln_1(x)), written over a
    arena<B>* t2 = mlp_.needs_input(ctx.params) ? nullptr : ctx.scratch;
    auto m2 = t2 ? t2->mark() : typename arena<B>::marker{};
    auto m = mlp_.forward(ctx, ln_2_.forward(ctx, a, t2));
    if (t2) t2->release(m2);
    B::add(m.data, m.data, a.data, a.size());  // out = h + mlp(ln_2(h))
    return m;
  }

  /// dy: gradient of the block's output. Each branch is asked for its input gradient only when
  /// something at or below it trains (or the caller wants dx).
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    const auto& p = ctx.params;
    const bool want_dh = n.dx || ln_1_.any_trainable(p) || attn_.any_trainable(p);
    const bool want_dln2 = want_dh || ln_2_.any_trainable(p);
    tensor_view<T> dh{};
    auto dm = mlp_.backward(ctx, dy, {.dx = want_dln2});
    if (want_dln2) {
      dh = ln_2_.backward(ctx, dm, {.dx = want_dh});
      if (want_dh) B::add(dh.data, dh.data, dy.data, dy.size());  // residual: dh = dy + d branch
    }
    if (!want_dh) return {};
    const bool want_dln1 = n.dx || ln_1_.any_trainable(p);
    auto da = attn_.backward(ctx, dh, {.dx = want_dln1});
    if (!want_dln1) return {};
    auto dx = ln_1_.backward(ctx, da, {.dx = n.dx});
    if (!n.dx) return {};
    B::add(dx.data, dx.data, dh.data, dh.size());
    return dx;
  }

  void init(param_store<B>& p, std::uint64_t seed, double std, double proj_std) const {
    ln_1_.init(p, seed, std);
    attn_.init(p, seed, std, proj_std);
    ln_2_.init(p, seed, std);
    mlp_.init(p, seed, std, proj_std);
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return ln_1_.any_trainable(p) || attn_.any_trainable(p) || ln_2_.any_trainable(p) ||
           mlp_.any_trainable(p);
  }

private:
  layer_norm<B> ln_1_;
  causal_self_attention<B> attn_;
  layer_norm<B> ln_2_;
  mlp<B> mlp_;
};

template <class B>
class gpt {
public:
  using backend_type = B;
  using T = typename B::scalar;

  /// Builds the model and its parameter store, initialised as GPT-2 (N(0, 0.02), residual
  /// projections N(0, 0.02 / sqrt(2 layers)), norms 1 and 0) from `seed`.
  explicit gpt(const gpt_config& c, std::uint64_t seed = 0)
      : cfg_((c.validate(), c)),
        wte_(root().at_depth(0).child("wte"), {c.vocab, c.width}),
        wpe_(root().at_depth(0).child("wpe"), {c.context, c.width}) {
    // Registration order is the buffer's layout: bottom to top, so "the bottom k blocks" is
    // one contiguous slice.
    blocks_.reserve(c.layers);
    for (int i = 0; i < c.layers; ++i)
      blocks_.emplace_back(root().at_depth(i + 1).child("h").child(std::to_string(i)), c);
    ln_f_.emplace(root().at_depth(c.layers + 1).child("ln_f"), typename layer_norm<B>::config{c.width, c.eps, c.bias});
    if (!c.tied_head) head_.emplace(root().at_depth(c.layers + 1).child("lm_head"), typename linear<B>::config{c.width, c.vocab, false});
    params_.allocate();
    init(seed);
  }

  gpt(const gpt&) = delete;
  gpt& operator=(const gpt&) = delete;

  /// Re-initialises every parameter from `seed` (deterministic, the same on every backend).
  void init(std::uint64_t seed) {
    const double std = 0.02, proj_std = 0.02 / std::sqrt(2.0 * cfg_.layers);
    wte_.init(params_, seed, std);
    wpe_.init(params_, seed, 0.01);
    for (const auto& b : blocks_) b.init(params_, seed, std, proj_std);
    ln_f_->init(params_, seed, std);
    if (head_) head_->init(params_, seed, std);
  }

  /// tokens: (batch, T) ids in backend memory, T <= context -> logits (batch, T, vocab).
  /// Uses ctx.scratch for transient activations when given, else an arena of the model's own.
  tensor_view<T> forward(context<B>& ctx_in, tensor_view<const token_t> tokens) {
    THAW_CHECK(tokens.shape.rank() == 2 && tokens.shape[1] >= 1 && tokens.shape[1] <= cfg_.context,
               "GPT expects tokens of shape (batch, T) with 1 <= T <= ", cfg_.context, ", got ", tokens.shape);
    THAW_CHECK(ctx_in.scratch != &ctx_in.activations,
               "GPT forward: the scratch arena must not be the activation arena");
    context<B> ctx{ctx_in.params, ctx_in.activations, ctx_in.scratch ? ctx_in.scratch : &scratch_};
    if (!ctx_in.scratch) scratch_.reset();  // empty between modules; reset() consolidates its blocks
    kept_from_ = keep_from(ctx.params);
    auto x = wte_.forward(ctx, tokens);
    wpe_.forward(ctx, x);
    tensor_view<T> h = x;
    if (kept_from_ > 0) {
      // Below the lowest trainable block nothing needs gradients: a transient (no-grad) forward,
      // each block's activations released once its output is copied into a ping-pong buffer.
      tensor_view<T> stream[2] = {x, ctx.activations.template allocate<T>(x.shape)};
      for (int i = 0; i < kept_from_; ++i) {
        const auto mark = ctx.activations.mark();
        auto out = blocks_[i].forward(ctx, h);
        tensor_view<T> next = stream[(i + 1) % 2];
        B::copy(next.data, out.data, out.size());
        ctx.activations.release(mark);
        h = next;
      }
    }
    for (int i = kept_from_; i < cfg_.layers; ++i) h = blocks_[i].forward(ctx, h);
    final_ = ln_f_->forward(ctx, h);
    if (head_) return head_->forward(ctx, final_);
    // Tied head: logits = x wte^T
    const int rows = static_cast<int>(final_.shape.rows());
    auto logits = ctx.activations.template allocate<T>(with_last(final_.shape, cfg_.vocab));
    B::gemm(false, true, rows, cfg_.vocab, cfg_.width, T(1), final_.data, cfg_.width,
            params_.value(wte_.table()), cfg_.width, T(0), logits.data, cfg_.vocab);
    return logits;
  }

  /// Mean next-token loss of the logits of the last forward against `targets` (batch, T).
  double loss(context<B>& ctx, tensor_view<T> logits, tensor_view<const token_t> targets) {
    return loss_.forward(ctx, logits, targets);
  }

  /// Backward from the loss: parameter gradients accumulate into params().grads() for what
  /// trains; nothing below the lowest trainable module is computed.
  void backward(context<B>& ctx, double loss_scale = 1.0) {
    auto dlogits = loss_.backward(ctx, loss_scale);
    const auto& p = ctx.params;
    THAW_CHECK(keep_from(p) >= kept_from_, "GPT backward: block ", keep_from(p),
               " trains now but was run without keeping activations (only blocks from ", kept_from_,
               " on kept theirs); change trainable flags between steps, not between forward and backward");
    const bool embeddings_train = wte_.any_trainable(p) || wpe_.any_trainable(p);
    // lowest = index of the lowest block that trains (layers if none).
    int lowest = cfg_.layers;
    for (int i = cfg_.layers - 1; i >= 0; --i)
      if (blocks_[i].any_trainable(p)) lowest = i;
    const bool below_final = embeddings_train || lowest < cfg_.layers;
    const bool want_dfinal = below_final || ln_f_->any_trainable(p);
    tensor_view<T> dfinal{};
    const int rows = static_cast<int>(final_.shape.rows());
    if (head_) {
      dfinal = head_->backward(ctx, dlogits, {.dx = want_dfinal});
    } else {
      if (p.trainable(wte_.table()))  // d wte += dlogits^T x
        B::gemm(true, false, cfg_.vocab, cfg_.width, rows, T(1), dlogits.data, cfg_.vocab, final_.data,
                cfg_.width, T(1), ctx.params.grad(wte_.table()), cfg_.width);
      if (want_dfinal) {
        dfinal = ctx.activations.template allocate<T>(final_.shape);
        B::gemm(false, false, rows, cfg_.width, cfg_.vocab, T(1), dlogits.data, cfg_.vocab,
                params_.value(wte_.table()), cfg_.width, T(0), dfinal.data, cfg_.width);
      }
    }
    if (!want_dfinal) return;
    auto dh = ln_f_->backward(ctx, dfinal, {.dx = below_final});
    if (!dh.data) return;
    // The residual-stream gradient ping-pongs between two buffers so that each block's
    // backward temporaries are released as soon as it is done: backward then needs the
    // forward activations plus one block's worth, not twice the forward.
    tensor_view<T> stream[2] = {ctx.activations.template allocate<T>(dh.shape),
                                ctx.activations.template allocate<T>(dh.shape)};
    B::copy(stream[0].data, dh.data, dh.size());
    dh = stream[0];
    for (int i = cfg_.layers - 1; i >= 0; --i) {
      const bool want_dx = embeddings_train || i > lowest;
      const auto mark = ctx.activations.mark();
      auto d = blocks_[i].backward(ctx, dh, {.dx = want_dx});
      if (!want_dx) return;
      tensor_view<T> next = stream[(cfg_.layers - i) % 2];
      B::copy(next.data, d.data, d.size());
      ctx.activations.release(mark);
      dh = next;
    }
    wpe_.backward(ctx, dh);
    wte_.backward(ctx, dh);
  }

  /// Peak bytes of the model's own scratch arena (transient activations; used when the
  /// context brings none). The activation memory of a step is ctx.activations.peak_bytes()
  /// plus this.
  [[nodiscard]] std::size_t scratch_peak_bytes() const noexcept { return scratch_.peak_bytes(); }

  [[nodiscard]] param_store<B>& params() noexcept { return params_; }
  [[nodiscard]] const param_store<B>& params() const noexcept { return params_; }
  [[nodiscard]] const gpt_config& config() const noexcept { return cfg_; }

private:
  scope<B> root() { return {&params_, "", 0}; }
  /// The first block whose activations backward will read: 0 when the embeddings train, else
  /// the lowest block with anything trainable (layers when none has).
  int keep_from(const param_store<B>& p) const {
    if (wte_.any_trainable(p) || wpe_.any_trainable(p)) return 0;
    for (int i = 0; i < cfg_.layers; ++i)
      if (blocks_[i].any_trainable(p)) return i;
    return cfg_.layers;
  }

  gpt_config cfg_;
  param_store<B> params_;  // declared before the modules: they register into it
  embedding<B> wte_;
  position_embedding<B> wpe_;
  std::vector<transformer_block<B>> blocks_;
  std::optional<layer_norm<B>> ln_f_;
  std::optional<linear<B>> head_;
  cross_entropy<B> loss_;
  tensor_view<T> final_{};
  arena<B> scratch_;   // transient activations when the context brings no scratch arena
  int kept_from_ = 0;  // blocks below this ran without keeping activations (last forward)
};

}  // namespace thaw::nn
