// The cpu backend's fused and elementwise ops at the reference GPT's shapes (2048 tokens, width
// 384, MLP 1536, 6 heads x T 256 x batch 8, byte vocabulary 256, 10.8 M parameters).
// Benchmarks are named ops/<op>/<shape>; the GB/s counter counts each array the op must read
// or write once (the minimum traffic), so it compares directly with the memcpy line, which
// moves 2 x 12 MiB the same way.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "thaw/backend/cpu.hpp"

namespace {

using B = thaw::backend::cpu<>;
using thaw::token_t;

struct buffer_deleter {
  void operator()(void* p) const noexcept { B::deallocate(p); }
};
template <class U>
using buffer = std::unique_ptr<U[], buffer_deleter>;

buffer<float> random_buffer(std::size_t n, std::uint64_t stream, double lo = -1.0,
                            double hi = 1.0) {
  buffer<float> b(B::allocate<float>(n));
  B::fill_uniform(b.get(), n, thaw::philox_key{7, stream}, 0, lo, hi);
  return b;
}

buffer<token_t> random_ids(std::size_t n, int bound, std::uint64_t stream) {
  buffer<token_t> ids(B::allocate<token_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    ids[i] = static_cast<token_t>(thaw::philox::bits_at({7, stream}, i) % bound);
  return ids;
}

constexpr int kTokens = 2048, kWidth = 384, kHidden = 1536, kVocab = 256;
constexpr int kAttentionRows = 8 * 6 * 256, kSeq = 256;
constexpr std::size_t kParams = 10'840'000;

/// Runs op() in the timing loop and reports `floats_moved` x 4 bytes per call as GB/s.
template <class Op>
void run(benchmark::State& state, double floats_moved, Op op) {
  for (auto _ : state) {
    op();
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] =
      benchmark::Counter(floats_moved * 4e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void memcpy_baseline(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kHidden;
  const auto x = random_buffer(n, 1), y = random_buffer(n, 2);
  run(state, 2.0 * n, [&] { B::copy(y.get(), x.get(), n); });
}

void layernorm_forward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kWidth;
  const auto x = random_buffer(n, 1), w = random_buffer(kWidth, 2), b = random_buffer(kWidth, 3),
             y = random_buffer(n, 4), mean = random_buffer(kTokens, 5),
             rstd = random_buffer(kTokens, 6);
  run(state, 2.0 * n, [&] {
    B::layernorm_forward(y.get(), mean.get(), rstd.get(), x.get(), w.get(), b.get(), kTokens,
                         kWidth, 1e-5f);
  });
}

void layernorm_backward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kWidth;
  const auto x = random_buffer(n, 1), w = random_buffer(kWidth, 2), dy = random_buffer(n, 3),
             dx = random_buffer(n, 4), mean = random_buffer(kTokens, 5),
             rstd = random_buffer(kTokens, 6, 0.5, 2.0), dw = random_buffer(kWidth, 7),
             db = random_buffer(kWidth, 8);
  run(state, 3.0 * n, [&] {
    B::layernorm_backward(dx.get(), dw.get(), db.get(), dy.get(), x.get(), w.get(), mean.get(),
                          rstd.get(), kTokens, kWidth);
  });
}

void rmsnorm_forward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kWidth;
  const auto x = random_buffer(n, 1), w = random_buffer(kWidth, 2), y = random_buffer(n, 4),
             rstd = random_buffer(kTokens, 6);
  run(state, 2.0 * n,
      [&] { B::rmsnorm_forward(y.get(), rstd.get(), x.get(), w.get(), kTokens, kWidth, 1e-6f); });
}

void rmsnorm_backward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kWidth;
  const auto x = random_buffer(n, 1), w = random_buffer(kWidth, 2), dy = random_buffer(n, 3),
             dx = random_buffer(n, 4), rstd = random_buffer(kTokens, 6, 0.5, 2.0),
             dw = random_buffer(kWidth, 7);
  run(state, 3.0 * n, [&] {
    B::rmsnorm_backward(dx.get(), dw.get(), dy.get(), x.get(), w.get(), rstd.get(), kTokens,
                        kWidth);
  });
}

void gelu_forward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kHidden;
  const auto x = random_buffer(n, 1, -4, 4), y = random_buffer(n, 2);
  run(state, 2.0 * n, [&] { B::gelu_forward(y.get(), x.get(), n); });
}

void gelu_backward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kHidden;
  const auto x = random_buffer(n, 1, -4, 4), dy = random_buffer(n, 2), dx = random_buffer(n, 3);
  run(state, 3.0 * n, [&] { B::gelu_backward(dx.get(), x.get(), dy.get(), n); });
}

void softmax_forward(benchmark::State& state) {
  const std::size_t n = std::size_t(kAttentionRows) * kSeq;
  const auto x = random_buffer(n, 1, -8, 8), y = random_buffer(n, 2);
  run(state, 2.0 * n,
      [&] { B::softmax_forward(y.get(), x.get(), kAttentionRows, kSeq, 0.125f, true); });
}

void softmax_backward(benchmark::State& state) {
  const std::size_t n = std::size_t(kAttentionRows) * kSeq;
  const auto y = random_buffer(n, 1, 0, 0.01), dy = random_buffer(n, 2), dx = random_buffer(n, 3);
  run(state, 3.0 * n,
      [&] { B::softmax_backward(dx.get(), y.get(), dy.get(), kAttentionRows, kSeq, 0.125f); });
}

void cross_entropy_forward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kVocab;
  const auto logits = random_buffer(n, 1, -8, 8), losses = random_buffer(kTokens, 2);
  const auto targets = random_ids(kTokens, kVocab, 3);
  run(state, 1.0 * n, [&] {
    B::cross_entropy_forward(losses.get(), logits.get(), targets.get(), kTokens, kVocab, -100);
  });
}

void cross_entropy_backward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kVocab;
  const auto logits = random_buffer(n, 1, -8, 8), dlogits = random_buffer(n, 2);
  const auto targets = random_ids(kTokens, kVocab, 3);
  run(state, 2.0 * n, [&] {
    B::cross_entropy_backward(dlogits.get(), logits.get(), targets.get(), kTokens, kVocab, -100,
                              1.0f / kTokens);
  });
}

void embedding_forward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kWidth;
  const auto table = random_buffer(std::size_t(kVocab) * kWidth, 1), y = random_buffer(n, 2);
  const auto ids = random_ids(kTokens, kVocab, 3);
  run(state, 2.0 * n,
      [&] { B::embedding_forward(y.get(), table.get(), ids.get(), kTokens, kWidth, kVocab); });
}

void embedding_backward(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kWidth;
  const auto dtable = random_buffer(std::size_t(kVocab) * kWidth, 1), dy = random_buffer(n, 2);
  const auto ids = random_ids(kTokens, kVocab, 3);
  run(state, 1.0 * n,
      [&] { B::embedding_backward(dtable.get(), dy.get(), ids.get(), kTokens, kWidth); });
}

void add(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kWidth;
  const auto a = random_buffer(n, 1), b = random_buffer(n, 2), y = random_buffer(n, 3);
  run(state, 3.0 * n, [&] { B::add(y.get(), a.get(), b.get(), n); });
}

void add_bias(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kHidden;
  const auto y = random_buffer(n, 1), bias = random_buffer(kHidden, 2);
  run(state, 2.0 * n, [&] { B::add_bias(y.get(), bias.get(), kTokens, kHidden); });
}

void sum_rows(benchmark::State& state) {
  const std::size_t n = std::size_t(kTokens) * kHidden;
  const auto x = random_buffer(n, 1), out = random_buffer(kHidden, 2);
  run(state, 1.0 * n, [&] { B::sum_rows(out.get(), x.get(), kTokens, kHidden); });
}

void sum_squares(benchmark::State& state) {
  const auto x = random_buffer(kParams, 1);
  run(state, 1.0 * kParams, [&] { benchmark::DoNotOptimize(B::sum_squares(x.get(), kParams)); });
}

void adamw_update(benchmark::State& state) {
  const auto p = random_buffer(kParams, 1), g = random_buffer(kParams, 2),
             m = random_buffer(kParams, 3, -0.01, 0.01), v = random_buffer(kParams, 4, 0, 1e-4);
  const std::vector<thaw::index_range> all{{0, kParams}};
  long step = 0;
  // Reads p, g, m, v; writes p, m, v.
  run(state, 7.0 * kParams, [&] {
    B::adamw_update(p.get(), g.get(), m.get(), v.get(), all,
                    {.lr = 3e-4,
                     .beta1 = 0.9,
                     .beta2 = 0.95,
                     .eps = 1e-8,
                     .weight_decay = 0.1,
                     .step = ++step});
  });
}

}  // namespace

BENCHMARK(memcpy_baseline)->Name("ops/memcpy/2048x1536")->UseRealTime();
BENCHMARK(layernorm_forward)->Name("ops/layernorm_forward/2048x384")->UseRealTime();
BENCHMARK(layernorm_backward)->Name("ops/layernorm_backward/2048x384")->UseRealTime();
BENCHMARK(rmsnorm_forward)->Name("ops/rmsnorm_forward/2048x384")->UseRealTime();
BENCHMARK(rmsnorm_backward)->Name("ops/rmsnorm_backward/2048x384")->UseRealTime();
BENCHMARK(gelu_forward)->Name("ops/gelu_forward/2048x1536")->UseRealTime();
BENCHMARK(gelu_backward)->Name("ops/gelu_backward/2048x1536")->UseRealTime();
BENCHMARK(softmax_forward)->Name("ops/softmax_forward_causal/12288x256")->UseRealTime();
BENCHMARK(softmax_backward)->Name("ops/softmax_backward/12288x256")->UseRealTime();
BENCHMARK(cross_entropy_forward)->Name("ops/cross_entropy_forward/2048x256")->UseRealTime();
BENCHMARK(cross_entropy_backward)->Name("ops/cross_entropy_backward/2048x256")->UseRealTime();
BENCHMARK(embedding_forward)->Name("ops/embedding_forward/2048x384")->UseRealTime();
BENCHMARK(embedding_backward)->Name("ops/embedding_backward/2048x384")->UseRealTime();
BENCHMARK(add)->Name("ops/add/2048x384")->UseRealTime();
BENCHMARK(add_bias)->Name("ops/add_bias/2048x1536")->UseRealTime();
BENCHMARK(sum_rows)->Name("ops/sum_rows/2048x1536")->UseRealTime();
BENCHMARK(sum_squares)->Name("ops/sum_squares/10.8M")->UseRealTime();
BENCHMARK(adamw_update)->Name("ops/adamw_update/10.8M")->UseRealTime();

BENCHMARK_MAIN();
