// bench_cuda_ops: the CUDA backend's fused / memory-bound ops at the reference model's shapes
// (2048 tokens, n_embd C = 384, MLP 4C = 1536, QKV 3C = 1152, vocabulary 256; attention with
// T = 256, 8 sequences, 6 heads: 12288 x 256 score rows). The GB/s counter counts the bytes an
// op must move at least (each input read once, each output written once), so it compares with
// the GPU's memory bandwidth and with tests/gpu/torch_compare.py's numbers of the same names.
#include <string>
#include <vector>

#include "cuda_bench.cuh"

namespace {
using thaw::bench::B;
using thaw::bench::random_tensor;
using thaw::bench::set_gbps;
using thaw::bench::time_on_gpu;
using T = float;
constexpr double kF = sizeof(T);

constexpr int kTokens = 2048, kC = 384, kMlp = 1536, kQkv = 1152, kVocab = 256;
constexpr int kSeq = 256, kHeads = 6, kScoreRows = kTokens / kSeq * kHeads * kSeq;  // 12288
constexpr std::size_t kParams = 6ull * 12 * kC * kC;                                 // 6 blocks

void layernorm_forward(benchmark::State& state) {
  auto x = random_tensor(kTokens, kC, 1), w = random_tensor(1, kC, 2), b = random_tensor(1, kC, 3);
  thaw::tensor<B> y(x.shape()), mean(thaw::shape{kTokens}), rstd(thaw::shape{kTokens});
  time_on_gpu(state, [&] {
    B::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), kTokens, kC, 1e-5f);
  });
  set_gbps(state, kF * (2.0 * kTokens * kC + 2.0 * kC + 2.0 * kTokens));
}

void layernorm_backward(benchmark::State& state) {
  auto x = random_tensor(kTokens, kC, 1), w = random_tensor(1, kC, 2), dy = random_tensor(kTokens, kC, 4);
  thaw::tensor<B> y(x.shape()), dx(x.shape()), mean(thaw::shape{kTokens}), rstd(thaw::shape{kTokens});
  thaw::tensor<B> dw(thaw::shape{kC}, 0.0f), db(thaw::shape{kC}, 0.0f);
  B::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr, kTokens, kC, 1e-5f);
  time_on_gpu(state, [&] {
    B::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                          kTokens, kC);
  });
  set_gbps(state, kF * (3.0 * kTokens * kC + 2.0 * kTokens + 5.0 * kC));
}

void rmsnorm_forward(benchmark::State& state) {
  auto x = random_tensor(kTokens, kC, 1), w = random_tensor(1, kC, 2);
  thaw::tensor<B> y(x.shape()), rstd(thaw::shape{kTokens});
  time_on_gpu(state, [&] { B::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), kTokens, kC, 1e-6f); });
  set_gbps(state, kF * (2.0 * kTokens * kC + kC + kTokens));
}

void rmsnorm_backward(benchmark::State& state) {
  auto x = random_tensor(kTokens, kC, 1), w = random_tensor(1, kC, 2), dy = random_tensor(kTokens, kC, 4);
  thaw::tensor<B> y(x.shape()), dx(x.shape()), rstd(thaw::shape{kTokens}), dw(thaw::shape{kC}, 0.0f);
  B::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), kTokens, kC, 1e-6f);
  time_on_gpu(state, [&] {
    B::rmsnorm_backward(dx.data(), dw.data(), dy.data(), x.data(), w.data(), rstd.data(), kTokens, kC);
  });
  set_gbps(state, kF * (3.0 * kTokens * kC + kTokens + 3.0 * kC));
}

void gelu_forward(benchmark::State& state) {
  auto x = random_tensor(kTokens, kMlp, 1, -4, 4);
  thaw::tensor<B> y(x.shape());
  time_on_gpu(state, [&] { B::gelu_forward(y.data(), x.data(), x.size()); });
  set_gbps(state, kF * 2.0 * x.size());
}

void gelu_backward(benchmark::State& state) {
  auto x = random_tensor(kTokens, kMlp, 1, -4, 4), dy = random_tensor(kTokens, kMlp, 2);
  thaw::tensor<B> dx(x.shape());
  time_on_gpu(state, [&] { B::gelu_backward(dx.data(), x.data(), dy.data(), x.size()); });
  set_gbps(state, kF * 3.0 * x.size());
}

void softmax_forward(benchmark::State& state, bool causal) {
  auto x = random_tensor(kScoreRows, kSeq, 1, -4, 4);
  thaw::tensor<B> y(x.shape());
  time_on_gpu(state, [&] { B::softmax_forward(y.data(), x.data(), kScoreRows, kSeq, 0.125f, causal); });
  set_gbps(state, kF * 2.0 * x.size());
}

void softmax_backward(benchmark::State& state) {
  auto x = random_tensor(kScoreRows, kSeq, 1, -4, 4), dy = random_tensor(kScoreRows, kSeq, 2);
  thaw::tensor<B> y(x.shape()), dx(x.shape());
  B::softmax_forward(y.data(), x.data(), kScoreRows, kSeq, 0.125f, true);
  time_on_gpu(state, [&] { B::softmax_backward(dx.data(), y.data(), dy.data(), kScoreRows, kSeq, 0.125f); });
  set_gbps(state, kF * 3.0 * x.size());
}

thaw::tensor<B, thaw::token_t> random_ids(int n, int below, std::uint64_t stream) {
  std::vector<thaw::token_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = thaw::token_t(thaw::philox::bits_at({2026, stream}, i) % below);
  return thaw::tensor<B, thaw::token_t>::from_host(thaw::shape{n}, ids);
}

void cross_entropy_forward(benchmark::State& state) {
  auto logits = random_tensor(kTokens, kVocab, 1, -5, 5);
  auto targets = random_ids(kTokens, kVocab, 7);
  thaw::tensor<B> losses(thaw::shape{kTokens});
  time_on_gpu(state, [&] {
    B::cross_entropy_forward(losses.data(), logits.data(), targets.data(), kTokens, kVocab, -100);
  });
  set_gbps(state, kF * (1.0 * kTokens * kVocab + 2.0 * kTokens));
}

void cross_entropy_backward(benchmark::State& state) {
  auto logits = random_tensor(kTokens, kVocab, 1, -5, 5);
  auto targets = random_ids(kTokens, kVocab, 7);
  thaw::tensor<B> dlogits(logits.shape());
  time_on_gpu(state, [&] {
    B::cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), kTokens, kVocab, -100, 1.0f / kTokens);
  });
  set_gbps(state, kF * (2.0 * kTokens * kVocab + kTokens));
}

void embedding_forward(benchmark::State& state) {
  auto table = random_tensor(kVocab, kC, 1);
  auto ids = random_ids(kTokens, kVocab, 8);
  thaw::tensor<B> y(thaw::shape{kTokens, kC});
  time_on_gpu(state, [&] { B::embedding_forward(y.data(), table.data(), ids.data(), kTokens, kC, kVocab); });
  set_gbps(state, kF * (2.0 * kTokens * kC + kTokens));
}

void embedding_backward(benchmark::State& state) {
  auto dy = random_tensor(kTokens, kC, 1);
  auto ids = random_ids(kTokens, kVocab, 8);
  thaw::tensor<B> dtable(thaw::shape{kVocab, kC}, 0.0f);
  time_on_gpu(state, [&] { B::embedding_backward(dtable.data(), dy.data(), ids.data(), kTokens, kC); });
  set_gbps(state, kF * (1.0 * kTokens * kC + 2.0 * kVocab * kC + kTokens));
}

void add(benchmark::State& state) {
  auto a = random_tensor(kTokens, kC, 1), b = random_tensor(kTokens, kC, 2);
  thaw::tensor<B> y(a.shape());
  time_on_gpu(state, [&] { B::add(y.data(), a.data(), b.data(), a.size()); });
  set_gbps(state, kF * 3.0 * a.size());
}

void axpy(benchmark::State& state) {
  auto x = random_tensor(kTokens, kC, 1);
  auto y = random_tensor(kTokens, kC, 2);
  time_on_gpu(state, [&] { B::axpy(y.data(), 1e-3f, x.data(), x.size()); });
  set_gbps(state, kF * 3.0 * x.size());
}

void add_bias(benchmark::State& state) {
  auto y = random_tensor(kTokens, kQkv, 1), bias = random_tensor(1, kQkv, 2);
  time_on_gpu(state, [&] { B::add_bias(y.data(), bias.data(), kTokens, kQkv); });
  set_gbps(state, kF * (2.0 * kTokens * kQkv + kQkv));
}

void sum_rows(benchmark::State& state) {
  auto x = random_tensor(kTokens, kQkv, 1);
  thaw::tensor<B> out(thaw::shape{kQkv}, 0.0f);
  time_on_gpu(state, [&] { B::sum_rows(out.data(), x.data(), kTokens, kQkv); });
  set_gbps(state, kF * (1.0 * kTokens * kQkv + 2.0 * kQkv));
}

void sum_squares(benchmark::State& state) {
  auto g = random_tensor(1, static_cast<std::int64_t>(kParams), 1);
  double sink = 0;
  time_on_gpu(state, [&] { sink += B::sum_squares(g.data(), g.size()); }, 5);
  benchmark::DoNotOptimize(sink);
  set_gbps(state, kF * kParams);
}

/// AdamW over every parameter (one range), or over every other block of 12 C^2 (partial freezing).
void adamw(benchmark::State& state, bool half_frozen) {
  auto p = random_tensor(1, static_cast<std::int64_t>(kParams), 1), g = random_tensor(1, static_cast<std::int64_t>(kParams), 2);
  std::vector<thaw::index_range> ranges;
  const std::size_t block = 12ull * kC * kC;
  for (std::size_t b = 0; b < kParams / block; ++b)
    if (!half_frozen || b % 2 == 0) ranges.push_back({b * block, (b + 1) * block});
  std::size_t trainable = 0;
  for (auto r : ranges) trainable += r.size();
  thaw::tensor<B> m(thaw::shape{static_cast<std::int64_t>(trainable)}, 0.0f),
      v(thaw::shape{static_cast<std::int64_t>(trainable)}, 0.0f);
  thaw::adamw_args args{.lr = 3e-4, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1, .step = 1};
  time_on_gpu(state, [&] {
    B::adamw_update(p.data(), g.data(), m.data(), v.data(), ranges, args);
    ++args.step;
  });
  set_gbps(state, kF * 7.0 * trainable);
}

void fill_normal(benchmark::State& state) {
  thaw::tensor<B> x(thaw::shape{static_cast<std::int64_t>(kParams)});
  time_on_gpu(state, [&] { B::fill_normal(x.data(), x.size(), {1, 2}, 0, 0.0, 0.02); });
  set_gbps(state, kF * kParams);
}

void fill_bernoulli(benchmark::State& state) {
  thaw::tensor<B> x(thaw::shape{kTokens, kMlp});
  time_on_gpu(state, [&] { B::fill_bernoulli(x.data(), x.size(), {1, 3}, 0, 0.9); });
  set_gbps(state, kF * x.size());
}

template <class F>
void reg(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  const std::string tc = "/" + std::to_string(kTokens) + "x" + std::to_string(kC);
  reg("layernorm_forward" + tc, layernorm_forward);
  reg("layernorm_backward" + tc, layernorm_backward);
  reg("rmsnorm_forward" + tc, rmsnorm_forward);
  reg("rmsnorm_backward" + tc, rmsnorm_backward);
  reg("gelu_forward/2048x1536", gelu_forward);
  reg("gelu_backward/2048x1536", gelu_backward);
  reg("softmax_forward/12288x256", [](benchmark::State& s) { softmax_forward(s, false); });
  reg("softmax_forward_causal/12288x256", [](benchmark::State& s) { softmax_forward(s, true); });
  reg("softmax_backward/12288x256", softmax_backward);
  reg("cross_entropy_forward/2048x256", cross_entropy_forward);
  reg("cross_entropy_backward/2048x256", cross_entropy_backward);
  reg("embedding_forward" + tc, embedding_forward);
  reg("embedding_backward" + tc, embedding_backward);
  reg("add" + tc, add);
  reg("axpy" + tc, axpy);
  reg("add_bias/2048x1152", add_bias);
  reg("sum_rows/2048x1152", sum_rows);
  reg("sum_squares/" + std::to_string(kParams), sum_squares);
  reg("adamw/" + std::to_string(kParams), [](benchmark::State& s) { adamw(s, false); });
  reg("adamw_half_frozen/" + std::to_string(kParams), [](benchmark::State& s) { adamw(s, true); });
  reg("fill_normal/" + std::to_string(kParams), fill_normal);
  reg("fill_bernoulli/2048x1536", fill_bernoulli);
  return true;
}();
}  // namespace

THAW_CUDA_BENCHMARK_MAIN()
