// Forward + backward of the reference GPT (vocab 256, context 256, 6 layers, 6 heads, width 384,
// batch 8) on the cpu backend: step time and achieved GFLOP/s by the FLOP model in
// nn/flops.hpp. bench/compare_gpt_step.sh runs it side by side with PyTorch.
#include <benchmark/benchmark.h>

#include <thaw/thaw.hpp>
#include <thaw/nn/flops.hpp>
#include <thaw/nn/gpt.hpp>

#include <vector>

namespace {
using B = thaw::backend::cpu<>;
const thaw::nn::gpt_config kReference{.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384};
constexpr int kBatch = 8;

void gpt_forward_backward(benchmark::State& state) {
  thaw::nn::gpt<B> model(kReference, 1);
  std::vector<thaw::token_t> tokens(kBatch * kReference.context), targets(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = thaw::token_t(thaw::philox::bits_at({7, 0}, i) % 256);
    targets[i] = thaw::token_t(thaw::philox::bits_at({7, 1}, i) % 256);
  }
  auto dtokens = thaw::tensor<B, thaw::token_t>::from_host({kBatch, kReference.context}, tokens);
  auto dtargets = thaw::tensor<B, thaw::token_t>::from_host({kBatch, kReference.context}, targets);
  thaw::arena<B> activations;
  thaw::nn::context<B> ctx{model.params(), activations};
  double loss = 0;
  for (auto _ : state) {
    activations.reset();
    model.params().zero_grads();
    auto logits = model.forward(ctx, dtokens.view());
    loss = model.loss(ctx, logits, dtargets.view());
    model.backward(ctx);
    benchmark::DoNotOptimize(model.params().grads());
  }
  const auto flops = thaw::nn::gpt_training_flops(kReference, kBatch, kReference.context);
  state.counters["GFLOP/s"] = benchmark::Counter(flops.total() / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["loss"] = loss;
  state.counters["activation_MiB"] = double(activations.peak_bytes()) / (1 << 20);
}
BENCHMARK(gpt_forward_backward)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
