// The FLOP model of a GPT training step under a freeze state: what the modules' need rules
// (nn/module.hpp) actually compute, given which parameters the store marks trainable.
//
// Matmuls only, as nn/flops.hpp (whose all-trainable numbers this reproduces): a Linear of n
// weights costs 2 n per token forward, 2 n more for dW when its weight trains, 2 n more for dX
// when a gradient must pass below it; attention costs 4 T^2 d per sequence and layer forward
// and twice that backward when gradients pass through it. The rules mirrored here are those of
// nn::gpt::backward, nn::transformer_block::backward and causal_self_attention::backward:
//   - block i passes dx down iff the embeddings train or a block below i has anything trainable;
//   - inside a block, the MLP computes dx iff the block passes dx, or ln_1 / attention / ln_2
//     train; c_proj computes dx (and attention runs backward) iff the attention block needs
//     its input gradient or c_attn trains; c_attn computes dx iff the block passes dx or
//     ln_1 trains;
//   - the head computes dx iff anything below it (ln_f, blocks, embeddings) trains.
// Element masks do not change compute (the gradient is computed, then masked).
// LoRA adapters (nn/lora.hpp, config.lora_rank = r > 0) on c_attn and c_proj (in -> out) add
// 2 r (in + out) per token forward (x A, then (x A) B), and backward 2 r out for dB where B
// trains, 2 r out for t = dy B^T where A trains or dX is wanted, 2 r in for dA where A trains
// and 2 r in for t A^T where dX is wanted; a Linear with an adapter counts as trainable for the
// rules above when A or B trains.
// docs/freezing.md gives the closed forms for the benchmark variants.
#pragma once

#include <string>

#include "thaw/nn/flops.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/params/param_store.hpp"

namespace thaw::freeze {

/// FLOPs of one forward + backward of a GPT with config `c` whose trainable flags are the
/// store's, on `batch` sequences of `steps` tokens.
template <class B>
nn::step_flops gpt_step_flops(const nn::gpt_config& c, const param_store<B>& store, int batch, int steps) {
  const double tokens = double(batch) * steps, d = c.width, hidden = double(c.mlp_ratio) * c.width;
  auto trains = [&](const std::string& name) {
    for (param_id p = 0; p < store.count(); ++p)
      if (store.ref(p).name == name) return store.trainable(p);
    return false;  // absent (no bias, tied head)
  };
  auto any = [&](const std::string& prefix) {  // anything under a module prefix trains
    for (param_id p = 0; p < store.count(); ++p)
      if (store.ref(p).name.rfind(prefix, 0) == 0 && store.trainable(p)) return true;
    return false;
  };
  const double attention = 4.0 * double(steps) * steps * d * batch;  // per layer, forward
  const double c_attn = 2 * d * 3 * d * tokens, c_proj = 2 * d * d * tokens;
  const double c_fc = 2 * d * hidden * tokens, mlp_proj = 2 * hidden * d * tokens;
  const double head = 2 * d * c.vocab * tokens;

  const double r = c.lora_rank;
  // LoRA per token-rank unit: forward 2 r (in + out) per token.
  auto lora_forward = [&](double in, double out) { return 2 * r * (in + out) * tokens; };
  // Backward of one adapter on `prefix` (in -> out), given whether the Linear passes dX.
  auto lora_backward = [&](const std::string& prefix, double in, double out, bool dx) {
    if (c.lora_rank <= 0) return 0.0;
    const bool a = trains(prefix + "lora_A"), b = trains(prefix + "lora_B");
    double x = 0;
    if (b) x += 2 * r * out * tokens;
    if (a || dx) x += 2 * r * out * tokens;
    if (a) x += 2 * r * in * tokens;
    if (dx) x += 2 * r * in * tokens;
    return x;
  };

  nn::step_flops f;
  f.forward = c.layers * (c_attn + c_proj + c_fc + mlp_proj + attention) + head;
  if (c.lora_rank > 0) f.forward += c.layers * (lora_forward(d, 3 * d) + lora_forward(d, d));

  const bool embeddings = trains("wte.weight") || trains("wpe.weight");
  int lowest = c.layers;
  for (int i = c.layers - 1; i >= 0; --i)
    if (any("h." + std::to_string(i) + ".")) lowest = i;
  const bool below_final = embeddings || lowest < c.layers;
  const bool want_dfinal = below_final || any("ln_f.");

  double bwd = 0;
  // Head: dW when its weight (or the tied wte) trains; dX when anything below wants it.
  const bool head_trains = c.tied_head ? trains("wte.weight") : trains("lm_head.weight");
  if (head_trains) bwd += head;
  if (want_dfinal) bwd += head;
  if (below_final) {
    for (int i = c.layers - 1; i >= (embeddings ? 0 : lowest); --i) {
      const std::string h = "h." + std::to_string(i) + ".";
      const bool dx = embeddings || i > lowest;
      const bool ln1 = any(h + "ln_1."), attn = any(h + "attn."), ln2 = any(h + "ln_2.");
      const bool want_dh = dx || ln1 || attn;
      const bool want_dln2 = want_dh || ln2;
      // MLP: mlp.c_proj then c_fc.
      if (trains(h + "mlp.c_proj.weight")) bwd += mlp_proj;
      const bool mlp_inner = want_dln2 || trains(h + "mlp.c_fc.weight") || trains(h + "mlp.c_fc.bias");
      if (mlp_inner) bwd += mlp_proj;  // dX of mlp.c_proj (into the GELU / c_fc)
      if (trains(h + "mlp.c_fc.weight")) bwd += c_fc;
      if (want_dln2) bwd += c_fc;
      if (!want_dh) continue;
      const bool want_dln1 = dx || ln1;
      const bool qkv = want_dln1 || any(h + "attn.c_attn.");  // base or adapter
      if (trains(h + "attn.c_proj.weight")) bwd += c_proj;
      bwd += lora_backward(h + "attn.c_proj.", d, d, qkv);
      if (qkv) bwd += c_proj + 2 * attention;
      if (!qkv) continue;
      if (trains(h + "attn.c_attn.weight")) bwd += c_attn;
      bwd += lora_backward(h + "attn.c_attn.", d, 3 * d, want_dln1);
      if (want_dln1) bwd += c_attn;
    }
  }
  f.backward = bwd;
  return f;
}

}  // namespace thaw::freeze
