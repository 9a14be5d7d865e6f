// GPT on the CUDA backend: a full training step (forward + loss + backward + AdamW) matches the
// same step on reference<double>, under the fp32 and bf16 policies, and freezing skips the same
// work on the GPU as on the CPU. The checks are in gpt_step_check.hpp, written over any
// backend so that they were first run on the CPU (host backends in place of cuda<>, with
// emulated bf16 GEMMs) to size the tolerances below.
//
// One translation unit for all GPT instantiations (the nn / optim templates compile once per
// backend type; nvcc is slow on them).
#pragma nv_diag_suppress 554  // tensor_view<const U>'s conversion to itself, never used (nvcc notes it)

#include <catch2/catch.hpp>

#include "cuda/gpt_step_check.hpp"
#include "thaw/backend/cuda.hpp"
#include "thaw/backend/reference.hpp"

using namespace thaw;
namespace check = thaw::test::gpt_check;

// fp32: every value within 1e-4 of the double reference (measured on the CPU with float
// backends, reference<float> and cpu<>: loss up to 1.2e-8, gradients 6.2e-7, updated weights
// 8.8e-7 relative).
TEST_CASE("cuda gpt: a training step on cuda<> matches reference<double> (fp32, 1e-4)", "[cuda][gpt]") {
  for (bool tied : {true, false}) {
    INFO("tied head " << tied);
    const auto e = check::training_step<backend::cuda<>>({.loss = 1e-4, .grads = 1e-4, .weights = 1e-4}, tied);
    WARN("cuda (fp32), tied head " << tied << ": " << e.describe());
  }
}

// bf16 GEMMs: inputs rounded to 8 mantissa bits. Measured on the CPU with the GEMM inputs
// rounded to bf16 (products accumulated in float): round-to-nearest gives loss 6e-6, gradients
// 6.7e-3, updated weights 1.0e-2; truncation, the worst a conversion can do, 8.7e-5, 2.9e-2 and
// 2.9e-2 (largest in LayerNorm biases, whose gradients are sums of many rounded products).
TEST_CASE("cuda gpt: a training step on cuda<bf16> matches reference<double> within bf16 accuracy",
          "[cuda][gpt][bf16]") {
  for (bool tied : {true, false}) {
    INFO("tied head " << tied);
    const auto e =
        check::training_step<backend::cuda<backend::bf16>>({.loss = 1e-3, .grads = 6e-2, .weights = 6e-2}, tied);
    WARN("cuda-bf16, tied head " << tied << ": " << e.describe());
  }
}

TEST_CASE("cuda gpt: freezing the embeddings and the bottom block skips their work on the GPU", "[cuda][gpt][freeze]") {
  check::freezing<backend::cuda<>, backend::reference<float>>();
}

// Head size 64 takes the fused (FlashAttention-2) attention under the bf16 policy; a context
// of 100 leaves a partial 64-row tile. Probabilities and score gradients enter their second
// products as bf16 there (as in PyTorch's bf16 flash attention), on top of the bf16 GEMMs.
TEST_CASE("cuda gpt: a training step with fused attention (cuda<bf16>, head size 64) matches reference<double>",
          "[cuda][gpt][bf16][attention]") {
  REQUIRE(backend::cuda<backend::bf16>::fused_attention(64));
  REQUIRE_FALSE(backend::cuda<>::fused_attention(64));
  REQUIRE_FALSE(backend::cuda<backend::bf16>::fused_attention(32));
  const nn::gpt_config cfg{.vocab = 64, .context = 100, .layers = 2, .heads = 2, .width = 128};
  const auto e = check::training_step<backend::cuda<backend::bf16>>({.loss = 1e-3, .grads = 6e-2, .weights = 6e-2},
                                                                    true, check::step_optimizer(), cfg);
  WARN("cuda-bf16, fused attention: " << e.describe());
}
