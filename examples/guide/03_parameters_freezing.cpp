// Parameters and freezing: a model's parameters live in one param_store (names, shapes, kinds,
// depths); selectors say which parameters, masks say what trains (per tensor or per element),
// and freeze policies change what trains as the steps go.
#include <thaw/freeze/freeze.hpp>
#include <thaw/nn/gpt.hpp>
#include <thaw/thaw.hpp>

#include <cstdio>

using namespace thaw;
using B = backend::cpu<>;

int main() {
  const nn::gpt_config cfg{.vocab = 256, .context = 16, .layers = 4, .heads = 2, .width = 32};
  nn::gpt<B> model(cfg);
  auto& store = model.params();
  for (const char* name : {"wte.weight", "h.1.attn.c_attn.weight", "h.1.ln_2.bias", "ln_f.weight"}) {
    const auto& r = store.ref(store.find(name));
    std::printf("%-24s %-10s depth %d, %s\n", name, message(r.shape).c_str(), r.depth, kind_name(r.kind).data());
  }

  // Selectors: typed (composed at compile time) or parsed from a string; the grammar is the same.
  auto bottom = select::name("wte.*") | select::name("wpe.*") | select::blocks(0, 2);
  auto parsed = select::parse("wte.* | wpe.* | blocks[0:2)");
  const auto ids = select::resolve(bottom, store);  // strict: a part that matches nothing throws
  std::printf("'%s' selects %zu of %zu tensors\n", bottom.describe().c_str(), ids.size(), store.count());
  try {
    select::resolve(select::parse("wte.* | h.*.atn.*"), store);
    return 1;  // a typo must not silently freeze only the other operand
  } catch (const error& e) {
    std::printf("typo: %.70s...\n", e.what());
  }

  // A group mask freezes whole tensors: apply() sets the flags that the modules honour.
  group_mask::frozen(store, parsed).apply(store);
  const double saved = 1 - freeze::gpt_step_flops(cfg, store, 8, 16).total() /
                               nn::gpt_training_flops(cfg, 8, 16).total();
  std::printf("bottom half frozen: %zu of %zu elements train, %.0f%% fewer FLOPs per step\n",
              trainable_elements(store), store.numel(), 100 * saved);
  // An element mask picks single elements (here 1%, regenerable from its Philox key).
  const auto sparse = element_mask::random(store, 0.01, {.seed = 3}, select::parse("kind(weight)"));
  std::printf("element mask: %zu elements train (1%% of the weights)\n", sparse.count());

  // A policy: ULMFiT's gradual unfreezing, one more layer (depth) from the top every 2 steps.
  store.set_all_trainable(true);
  freeze::gradual_unfreezing<B> policy(store, {.every = 2});
  std::size_t before = 0;
  for (sched::step_t step = 0; step < 12; step += 2) {
    policy.update(step, store);
    const std::size_t now = trainable_elements(store);
    std::printf("step %2lld: top %zu of %zu layers train (%zu elements)\n", static_cast<long long>(step),
                policy.trainable_units(), policy.units(), now);
    if (now <= before) return 1;
    before = now;
  }
  return select::resolve(parsed, store) == ids && saved > 0.2 && sparse.count() > 0 ? 0 : 1;
}
