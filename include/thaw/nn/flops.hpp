// The FLOP model of a GPT training step (matmuls only, as ../shared/BENCHMARKING.md states it):
// forward 2 n tokens per Linear including the head (embedding lookups are free) plus
// 4 L T^2 d B for attention; backward adds 2 n tokens for dW where the weight trains and
// 2 n tokens for dX where anything trainable lies below, and twice the attention forward
// where gradients pass through it. Used for achieved GFLOP/s and for predicting what freezing
// should save.
#pragma once

#include "thaw/nn/gpt.hpp"

namespace thaw::nn {

struct step_flops {
  double forward = 0;
  double backward = 0;
  [[nodiscard]] double total() const noexcept { return forward + backward; }
};

/// FLOPs of one forward + full backward (everything trainable) of `c` on batch x T tokens.
inline step_flops gpt_training_flops(const gpt_config& c, int batch, int steps) {
  const double tokens = double(batch) * steps;
  const double per_layer = double(c.width) * 3 * c.width + double(c.width) * c.width +
                           2.0 * c.width * c.mlp_ratio * c.width;
  const double linear_params = c.layers * per_layer + double(c.width) * c.vocab;  // + head
  const double attention = 4.0 * c.layers * double(steps) * steps * c.width * batch;
  step_flops f;
  f.forward = 2 * linear_params * tokens + attention;
  f.backward = 4 * linear_params * tokens + 2 * attention;
  return f;
}

}  // namespace thaw::nn
