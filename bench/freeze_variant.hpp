// The freezing benchmark's five variants (issue 4, docs/benchmarks.md "Freezing variants"), one
// definition for the CPU benchmark (bench/freeze_variants.cpp) and the GPU one
// (bench/cuda/gpt_step.cu):
//   a  full training
//   b  embeddings + bottom half of the blocks frozen (tied head: frozen with wte)
//   c  everything frozen but the final norm and an untied head
//   d  all base weights frozen, rank-8 LoRA (alpha 8) on attention c_attn and c_proj trains
//   e  99% of elements frozen by FreezeNet saliency (one forward + backward at initialisation)
// AdamW: lr 3e-4, betas (0.9, 0.95), weight decay 0.1 on matrices (thaw's default: none on
// norms, biases, embeddings). Only headers that also compile under nvcc.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/freeze/freezenet.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/optim/adamw.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/select.hpp"

namespace thaw::bench {

/// The model configuration of `variant` ('a'..'e') built on `base`.
inline nn::gpt_config variant_config(nn::gpt_config base, char variant) {
  if (variant == 'c') base.tied_head = false;
  if (variant == 'd') base.lora_rank = 8;  // lora_alpha 8: scale 1
  return base;
}

/// The variant's freeze state applied to the model's store, as the AdamW that trains it.
/// `forward_backward` runs one forward + backward on a batch (FreezeNet's saliency, variant e).
template <class B, class F>
std::unique_ptr<optim::adamw<B>> variant_optimizer(nn::gpt<B>& model, char variant, F&& forward_backward) {
  auto& store = model.params();
  const optim::adamw_cfg cfg{.lr = 3e-4, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95};
  switch (variant) {
    case 'a':
      return std::make_unique<optim::adamw<B>>(store, cfg);
    case 'b': {
      const std::string frozen = "wte.* | wpe.* | blocks[0:" + std::to_string(model.config().layers / 2) + ")";
      return std::make_unique<optim::adamw<B>>(store, group_mask::frozen(store, select::parse(frozen)), cfg);
    }
    case 'c':
      return std::make_unique<optim::adamw<B>>(store, group_mask::training(store, select::parse("ln_f.* | lm_head.*")),
                                               cfg);
    case 'd':
      return std::make_unique<optim::adamw<B>>(store, group_mask::training(store, select::parse("module(lora)")), cfg);
    case 'e': {
      auto policy = freeze::freezenet<B>::by_saliency(store, 0.01, std::forward<F>(forward_backward));
      return std::make_unique<optim::adamw<B>>(store, policy.mask(), cfg);
    }
  }
  throw error(message("freeze variant '", variant, "': must be one of a, b, c, d, e"));
}

}  // namespace thaw::bench
