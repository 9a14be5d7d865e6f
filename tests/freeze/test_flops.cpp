// The freeze-aware FLOP model (thaw/freeze/flops.hpp) against nn/flops.hpp and hand counts.
#include <catch2/catch.hpp>

#include "freeze/freeze_util.hpp"
#include "thaw/freeze/flops.hpp"
#include "thaw/params/mask.hpp"

using namespace thaw;
using thaw::test::rd;

TEST_CASE("the freeze-aware FLOP model follows the modules' need rules", "[freeze][flops]") {
  const nn::gpt_config c{.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384, .tied_head = false};
  nn::gpt<rd> model(c);
  auto& s = model.params();
  const int batch = 8, steps = 256;
  const double N = double(batch) * steps, d = 384, V = 256;
  const double block_linear = 2 * 12 * d * d * N, attention = 4.0 * steps * steps * d * batch, head = 2 * d * V * N;

  // (a) everything trains: the model of nn/flops.hpp.
  const auto full = freeze::gpt_step_flops(c, s, batch, steps);
  const auto reference = nn::gpt_training_flops(c, batch, steps);
  REQUIRE(full.forward == Approx(reference.forward).epsilon(1e-12));
  REQUIRE(full.backward == Approx(reference.backward).epsilon(1e-12));
  REQUIRE(full.forward == Approx(6 * (block_linear + attention) + head).epsilon(1e-12));

  // (b) embeddings and the bottom 3 blocks frozen: 3 blocks backward in full (the lowest one
  // still needs c_attn's dX: its ln_1 trains), nothing below.
  group_mask::frozen(s, select::parse("wte.* | wpe.* | blocks[0:3)")).apply(s);
  const auto b = freeze::gpt_step_flops(c, s, batch, steps);
  REQUIRE(b.backward == Approx(3 * (2 * block_linear + 2 * attention) + 2 * head).epsilon(1e-12));
  // ... and with block 3's ln_1 frozen too, c_attn's dX there is skipped.
  s.set_trainable(s.find("h.3.ln_1.weight"), false);
  s.set_trainable(s.find("h.3.ln_1.bias"), false);
  REQUIRE(freeze::gpt_step_flops(c, s, batch, steps).backward ==
          Approx(3 * (2 * block_linear + 2 * attention) - 2 * 3 * d * d * N + 2 * head).epsilon(1e-12));

  // (c) only the final norm and the untied head: the head's dW and its dX into ln_f.
  group_mask::training(s, select::parse("ln_f.* | lm_head.*")).apply(s);
  REQUIRE(freeze::gpt_step_flops(c, s, batch, steps).backward == Approx(2 * head).epsilon(1e-12));

  // Only the head: no dX at all.
  group_mask::training(s, select::parse("lm_head.*")).apply(s);
  REQUIRE(freeze::gpt_step_flops(c, s, batch, steps).backward == Approx(head).epsilon(1e-12));

  // Only the position embedding: dX through everything, no dW but wpe's (a lookup: free).
  group_mask::training(s, select::parse("wpe.*")).apply(s);
  REQUIRE(freeze::gpt_step_flops(c, s, batch, steps).backward ==
          Approx(6 * (block_linear + 2 * attention) + head).epsilon(1e-12));

  // Biases and norms only (BitFit-like): every dX (block 0's ln_1 trains, so even its c_attn
  // passes dX), no weight dW.
  group_mask::training(s, select::parse("kind(bias) | kind(norm)")).apply(s);
  REQUIRE(freeze::gpt_step_flops(c, s, batch, steps).backward ==
          Approx(6 * (block_linear + 2 * attention) + head).epsilon(1e-12));
  // Attention projections' weights only in block 0: nothing below wants dX from c_attn.
  group_mask::training(s, select::parse("h.0.attn.c_attn.weight")).apply(s);
  REQUIRE(freeze::gpt_step_flops(c, s, batch, steps).backward ==
          Approx(5 * (block_linear + 2 * attention) + (2 * 8 * d * d * N + 2 * d * d * N + 2 * attention) +
                 2 * 3 * d * d * N + head)
              .epsilon(1e-12));
}

TEST_CASE("the FLOP model counts LoRA adapters (variant d)", "[freeze][flops][lora]") {
  const int r = 8;
  nn::gpt_config c{.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384};
  const nn::gpt<rd> plain(c);
  c.lora_rank = r;
  nn::gpt<rd> model(c);
  auto& s = model.params();
  const int batch = 8, steps = 256;
  const double N = double(batch) * steps, d = 384, V = 256;
  const double block_linear = 2 * 12 * d * d * N, attention = 4.0 * steps * steps * d * batch, head = 2 * d * V * N;
  const double lora_forward = 2 * r * (d + 3 * d) * N + 2 * r * (d + d) * N;  // c_attn + c_proj, per block

  // Everything trains: the plain model's FLOPs plus the adapters' forward and full backward.
  const auto full = freeze::gpt_step_flops(c, s, batch, steps);
  const auto base = freeze::gpt_step_flops(plain.config(), plain.params(), batch, steps);
  REQUIRE(full.forward == Approx(base.forward + 6 * lora_forward).epsilon(1e-12));
  // Block 0's c_attn passes no dX below block 0 in the plain model either (embeddings train:
  // it does), so every adapter does dB, t, dA and dX: twice its forward.
  REQUIRE(full.backward == Approx(base.backward + 6 * 2 * lora_forward).epsilon(1e-12));

  // (d) base frozen, adapters train: dX everywhere except block 0's c_attn (nothing below it
  // trains), no base dW, head dX only (tied, wte frozen); adapters: c_proj 8 r d N, c_attn
  // 2 r (3d + 3d + d + d) N, block 0's c_attn without its dX term.
  group_mask::training(s, select::parse("module(lora)")).apply(s);
  const auto f = freeze::gpt_step_flops(c, s, batch, steps);
  REQUIRE(f.forward == Approx(full.forward).epsilon(1e-12));
  const double lora_backward = 6 * 8 * r * d * N + 6 * 2 * r * (8 * d) * N - 2 * r * d * N;
  REQUIRE(f.backward == Approx(6 * (block_linear + 2 * attention) - 2 * 3 * d * d * N + head + lora_backward)
                            .epsilon(1e-12));
  // Only block 5's adapters: nothing passes below block 5.
  group_mask::training(s, select::parse("h.5.*.lora_*")).apply(s);
  REQUIRE(freeze::gpt_step_flops(c, s, batch, steps).backward ==
          Approx(block_linear - 2 * 3 * d * d * N + 2 * attention + head + 8 * r * d * N + 2 * r * (7 * d) * N)
              .epsilon(1e-12));
}
