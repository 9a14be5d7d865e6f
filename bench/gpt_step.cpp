// Forward + backward of the reference GPT (vocab 256, context 256, 6 layers, 6 heads, width 384,
// batch 8) on the cpu backend: step time and achieved GFLOP/s by the FLOP model in
// nn/flops.hpp. bench/compare_gpt_step.sh runs it side by side with PyTorch.
//
// gpt_gemm_floor: the same step's matrix products alone. One step runs on a backend that records
// every gemm and gemm_strided_batched call (shapes, transposes, leading dimensions, batch), then
// the benchmark replays those calls through cpu<> on operands of the same sizes: the time the
// step would take if everything but the GEMMs were free, on this machine and BLAS (issue 13's
// "GEMM floor").
#include <benchmark/benchmark.h>

#include <thaw/thaw.hpp>
#include <thaw/nn/flops.hpp>
#include <thaw/nn/gpt.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

namespace {
using B = thaw::backend::cpu<>;
const thaw::nn::gpt_config kReference{.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384};
constexpr int kBatch = 8;

/// The reference GPT on backend Backend with fixed random tokens and targets; step() is one
/// forward + backward. Construction runs `warmup` untimed steps; two, as the PyTorch peer's
/// warm-up: the first grows the activation arena block by block, the second touches the one block
/// that replaces them (first-touch page faults are ~7% of a step), so later steps are a training
/// run's steady state.
template <class Backend = B>
struct reference_step {
  thaw::nn::gpt<Backend> model{kReference, 1};
  thaw::tensor<Backend, thaw::token_t> tokens = random_tokens(0), targets = random_tokens(1);
  thaw::arena<Backend> activations;
  thaw::nn::context<Backend> ctx{model.params(), activations};
  double loss = 0;

  explicit reference_step(int warmup = 2) {
    for (int i = 0; i < warmup; ++i) step();
  }
  void step() {
    activations.reset();
    model.params().zero_grads();
    auto logits = model.forward(ctx, tokens.view());
    loss = model.loss(ctx, logits, targets.view());
    model.backward(ctx);
    benchmark::DoNotOptimize(model.params().grads());
  }
  static thaw::tensor<Backend, thaw::token_t> random_tokens(std::uint64_t stream) {
    std::vector<thaw::token_t> ids(kBatch * kReference.context);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = thaw::token_t(thaw::philox::bits_at({7, stream}, i) % 256);
    return thaw::tensor<Backend, thaw::token_t>::from_host({kBatch, kReference.context}, ids);
  }
};

void gpt_forward_backward(benchmark::State& state) {
  reference_step<> run;
  for (auto _ : state) run.step();
  const auto flops = thaw::nn::gpt_training_flops(kReference, kBatch, kReference.context);
  state.counters["GFLOP/s"] = benchmark::Counter(flops.total() / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["loss"] = run.loss;
  state.counters["activation_MiB"] = double(run.activations.peak_bytes()) / (1 << 20);
}
BENCHMARK(gpt_forward_backward)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();

/// One GEMM call of the step: batch == 0 for gemm, else gemm_strided_batched.
struct gemm_call {
  bool ta, tb;
  int m, n, k, lda, ldb, ldc, batch;
  std::int64_t stride_a, stride_b, stride_c;
  float alpha, beta;
  /// Elements each operand spans (the last problem's end for a batch).
  [[nodiscard]] std::size_t span(int rows, int ld, std::int64_t stride) const {
    return std::size_t(std::max(batch, 1) - 1) * std::size_t(stride) + std::size_t(rows) * ld;
  }
  [[nodiscard]] std::size_t a_size() const { return span(ta ? k : m, lda, stride_a); }
  [[nodiscard]] std::size_t b_size() const { return span(tb ? n : k, ldb, stride_b); }
  [[nodiscard]] std::size_t c_size() const { return span(m, ldc, stride_c); }
};

/// cpu<> that writes down its GEMM calls.
struct recording_cpu : B {
  static inline std::vector<gemm_call> calls;
  static void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
    calls.push_back({ta, tb, m, n, k, lda, ldb, ldc, 0, 0, 0, 0, alpha, beta});
    B::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  static void gemm_strided_batched(bool ta, bool tb, int m, int n, int k, float alpha,
                                   const float* a, int lda, std::int64_t stride_a, const float* b,
                                   int ldb, std::int64_t stride_b, float beta, float* c, int ldc,
                                   std::int64_t stride_c, int batch) {
    calls.push_back({ta, tb, m, n, k, lda, ldb, ldc, batch, stride_a, stride_b, stride_c, alpha, beta});
    B::gemm_strided_batched(ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc,
                            stride_c, batch);
  }
};

/// The GEMM calls of one forward + backward of the reference GPT, in order.
std::vector<gemm_call> record_step_gemms() {
  reference_step<recording_cpu> run(/*warmup=*/0);
  recording_cpu::calls.clear();  // a previous benchmark may have recorded a step already
  run.step();
  return recording_cpu::calls;
}

/// Replays recorded GEMM calls through cpu<> on operands of the sizes they need (one buffer per
/// operand role, as large as the largest call needs, filled once).
class gemm_replay {
public:
  explicit gemm_replay(std::vector<gemm_call> calls) : calls_(std::move(calls)) {
    std::size_t a_max = 0, b_max = 0, c_max = 0;
    for (const gemm_call& g : calls_) {
      a_max = std::max(a_max, g.a_size());
      b_max = std::max(b_max, g.b_size());
      c_max = std::max(c_max, g.c_size());
      flops_ += 2.0 * g.m * g.n * g.k * std::max(g.batch, 1);
    }
    a_.resize(a_max);
    b_.resize(b_max);
    c_.resize(c_max);
    B::fill_uniform(a_.data(), a_.size(), {3, 1}, 0, -1, 1);
    B::fill_uniform(b_.data(), b_.size(), {3, 2}, 0, -1, 1);
    B::fill_uniform(c_.data(), c_.size(), {3, 3}, 0, -1, 1);
  }
  void operator()() {
    for (const gemm_call& g : calls_) {
      if (g.batch == 0)
        B::gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a_.data(), g.lda, b_.data(), g.ldb, g.beta, c_.data(), g.ldc);
      else
        B::gemm_strided_batched(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a_.data(), g.lda, g.stride_a, b_.data(),
                                g.ldb, g.stride_b, g.beta, c_.data(), g.ldc, g.stride_c, g.batch);
    }
    benchmark::DoNotOptimize(c_.data());
  }
  [[nodiscard]] double gflop() const { return flops_ / 1e9; }
  [[nodiscard]] std::size_t calls() const { return calls_.size(); }

private:
  std::vector<gemm_call> calls_;
  std::vector<float> a_, b_, c_;
  double flops_ = 0;
};

void gpt_gemm_floor(benchmark::State& state) {
  gemm_replay replay(record_step_gemms());
  replay();
  for (auto _ : state) replay();
  state.counters["GFLOP/s"] = benchmark::Counter(replay.gflop(), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = replay.gflop();
  state.counters["calls"] = double(replay.calls());
}
BENCHMARK(gpt_gemm_floor)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();

/// The step and its GEMM floor in one process, in turns (step, replay, step, replay, ...): the
/// host's speed drifts by 20-40% within seconds, and a ratio of two processes' times carries that
/// drift, while turns a second apart share it. Iteration time: the step (manual time);
/// counters: floor_ms and step_over_floor, medians over the pairs.
void gpt_step_over_floor(benchmark::State& state) {
  gemm_replay replay(record_step_gemms());
  reference_step<> run;
  const auto step = [&] { run.step(); };
  const auto seconds = [](auto&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  replay();
  std::vector<double> floors, ratios;
  for (auto _ : state) {
    const double step_s = seconds(step);
    const double floor_s = seconds(replay);
    state.SetIterationTime(step_s);
    floors.push_back(floor_s * 1e3);
    ratios.push_back(step_s / floor_s);
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : (v[(v.size() - 1) / 2] + v[v.size() / 2]) / 2;
  };
  state.counters["floor_ms"] = median(floors);
  state.counters["step_over_floor"] = median(ratios);
}
BENCHMARK(gpt_step_over_floor)->Unit(benchmark::kMillisecond)->Iterations(4)->UseManualTime();
}  // namespace

BENCHMARK_MAIN();
