// Activation memory follows what trains (nn/module.hpp, nn/gpt.hpp): a frozen Linear's input is
// not kept, and the blocks below the lowest trainable module run as a transient forward. The
// benchmark variants (b), (c), (d) of issue 4 need less activation memory than full training,
// and their trainable gradients stay bitwise those of the full run.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "freeze/freeze_util.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/freeze/freeze.hpp"

using namespace thaw;
using thaw::test::rd;
using thaw::test::rf;
using cpu = backend::cpu<>;

namespace {

// Large enough that activations, not statistics, dominate: T 16, width 16, 4 blocks.
nn::gpt_config mem_gpt(bool tied, int lora_rank) {
  return {.vocab = 13, .context = 16, .layers = 4, .heads = 2, .width = 16, .tied_head = tied, .lora_rank = lora_rank};
}

struct step_result {
  double loss = 0;
  std::size_t activation_bytes = 0;  // activation arena peak + scratch arena peak
  std::size_t scratch_bytes = 0;
};

template <class B>
step_result step(nn::gpt<B>& model, arena<B>& a, arena<B>* scratch = nullptr) {
  const int batch = 3, steps = 16, vocab = model.config().vocab;
  std::vector<token_t> tokens(batch * steps), targets(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = static_cast<token_t>(philox::bits_at({17, 0}, i) % vocab);
    targets[i] = static_cast<token_t>(philox::bits_at({17, 1}, i) % vocab);
  }
  auto t = tensor<B, token_t>::from_host(shape{batch, steps}, tokens);
  auto y = tensor<B, token_t>::from_host(shape{batch, steps}, targets);
  a.reset();
  a.reset_peak();
  if (scratch) {
    scratch->reset();
    scratch->reset_peak();
  }
  model.params().zero_grads();
  nn::context<B> ctx{model.params(), a, scratch};
  auto logits = model.forward(ctx, t.view());
  step_result r;
  r.loss = model.loss(ctx, logits, y.view());
  model.backward(ctx);
  r.scratch_bytes = scratch ? scratch->peak_bytes() : model.scratch_peak_bytes();
  r.activation_bytes = a.peak_bytes() + r.scratch_bytes;
  return r;
}

// Nonzero adapters: B = 0 at initialisation would make dA exactly zero in both runs.
template <class B>
void perturb_adapters(param_store<B>& s) {
  for (param_id p = 0; p < s.count(); ++p) {
    if (s.ref(p).module_type != "lora") continue;
    std::vector<typename B::scalar> v(s.ref(p).size());
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = static_cast<typename B::scalar>(philox::uniform_at({3, p}, i, -0.3, 0.3));
    B::from_host(s.value(p), v.data(), v.size());
  }
}

struct variant {
  const char* name;
  const char* trains;  // selector of what trains ("" = see frozen)
  const char* frozen;
  bool tied;
  int lora_rank;
  double max_ratio;  // activation memory relative to full training must stay below this
};

// The variants on a small GPT; the bounds are what the kept activations predict
// (b: half the blocks; c: no block; d: per block, LayerNorm-2 and GELU outputs not kept).
const variant kVariants[] = {
    {"(b) embeddings + bottom half frozen", "", "wte.* | wpe.* | blocks[0:2)", true, 0, 0.75},
    {"(c) only ln_f + untied head", "ln_f.* | lm_head.*", "", false, 0, 0.35},
    {"(d) base frozen, LoRA on attention", "module(lora)", "", true, 2, 0.92},
};

}  // namespace

TEMPLATE_TEST_CASE("frozen variants need less activation memory, with bitwise the full run's trainable gradients",
                   "[freeze][memory][gpt]", rd, rf, cpu) {
  using B = TestType;
  for (const auto& v : kVariants) {
    DYNAMIC_SECTION(v.name) {
      const auto cfg = mem_gpt(v.tied, v.lora_rank);
      nn::gpt<B> full(cfg, 5), part(cfg, 5);
      perturb_adapters(full.params());
      perturb_adapters(part.params());
      auto& s = part.params();
      (*v.trains ? group_mask::training(s, select::parse(v.trains)) : group_mask::frozen(s, select::parse(v.frozen)))
          .apply(s);
      arena<B> a_full, a_part;
      const auto rf_ = step(full, a_full);
      const auto rp = step(part, a_part);
      REQUIRE(rp.loss == rf_.loss);
      const double ratio = double(rp.activation_bytes) / double(rf_.activation_bytes);
      INFO("activation bytes: full " << rf_.activation_bytes << ", frozen " << rp.activation_bytes << " (scratch "
                                     << rp.scratch_bytes << "), ratio " << ratio);
      REQUIRE(rf_.scratch_bytes == 0);  // full training keeps everything: no transient output
      REQUIRE(ratio < v.max_ratio);
      const auto g_full = test::grads_of(full.params()), g_part = test::grads_of(s);
      std::size_t checked = 0;
      for (param_id p = 0; p < s.count(); ++p) {
        const auto& r = s.ref(p);
        if (!s.trainable(p)) continue;
        INFO(r.name);
        REQUIRE(test::same_bits(g_part.data() + r.offset, g_full.data() + r.offset, r.size()));
        checked += r.size();
      }
      REQUIRE(checked == trainable_elements(s));
      // A second step reuses the consolidated arenas and gives the same result.
      const auto again = step(part, a_part);
      REQUIRE(again.loss == rp.loss);
      REQUIRE(test::same_bits(test::grads_of(s).data(), g_part.data(), g_part.size()));
    }
  }
}

TEST_CASE("a scratch arena from the context is used and must differ from the activation arena", "[freeze][memory][gpt]") {
  nn::gpt<rf> model(mem_gpt(true, 0), 5);
  auto& s = model.params();
  arena<rf> a, scratch;
  const auto full = step(model, a, &scratch);
  REQUIRE(scratch.peak_bytes() == 0);  // every Linear trains: nothing is transient
  // Only blocks 2 and 3 train: blocks 0 and 1 run transient (their frozen Linears' inputs in
  // the scratch arena, the rest released block by block from the activation arena).
  group_mask::training(s, select::parse("blocks[2:4)")).apply(s);
  const auto top = step(model, a, &scratch);
  REQUIRE(scratch.peak_bytes() > 0);
  REQUIRE(model.scratch_peak_bytes() == 0);  // the model's own arena was not used
  REQUIRE(top.activation_bytes < full.activation_bytes);
  REQUIRE(top.loss == full.loss);
  nn::context<rf> same{s, a, &a};
  const std::vector<token_t> tokens(16, 1);
  auto t = tensor<rf, token_t>::from_host(shape{1, 16}, tokens);
  REQUIRE_THROWS_WITH(model.forward(same, t.view()), Catch::Contains("scratch arena must not be the activation arena"));
}

TEST_CASE("changing trainable flags between forward and backward is an error, not a read of freed memory",
          "[freeze][memory][gpt]") {
  nn::gpt<rd> model(mem_gpt(false, 0), 5);
  auto& s = model.params();
  group_mask::training(s, select::parse("ln_f.* | lm_head.*")).apply(s);
  arena<rd> a;
  nn::context<rd> ctx{s, a};
  const std::vector<token_t> tokens(32, 1);
  auto t = tensor<rd, token_t>::from_host(shape{2, 16}, tokens);
  auto logits = model.forward(ctx, t.view());
  model.loss(ctx, logits, t.view());
  s.set_trainable(s.find("h.1.mlp.c_fc.weight"), true);  // block 1 ran transient
  REQUIRE_THROWS_WITH(model.backward(ctx), Catch::Contains("block 1 trains now but was run without keeping activations"));

  // Inside a kept block: a Linear whose weight was frozen at forward did not keep its input.
  group_mask::training(s, select::parse("h.1.attn.* | h.1.ln_*")).apply(s);
  logits = model.forward(ctx, t.view());
  model.loss(ctx, logits, t.view());
  s.set_trainable(s.find("h.1.mlp.c_proj.weight"), true);
  REQUIRE_THROWS_WITH(model.backward(ctx), Catch::Contains("'h.1.mlp.c_proj.weight' was frozen at forward"));
}
