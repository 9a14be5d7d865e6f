// GEMM throughput of the cpu backend against the libraries it wraps, at the reference GPT's
// shapes (docs/benchmarks.md, bench/README.md). Benchmarks are named
//   gemm/<impl>/<M>x<K>x<N>     C (M x N) = A (M x K) B (K x N), row-major, GFLOP/s counter;
//                               impl: thaw_blas, openblas, thaw_eigen, eigen;
//   batched/<policy>/<how>/<op> attention's 48 problems per layer, thaw's gemm_strided_batched
//                               (how = thaw) against one all-thread GEMM per problem (split);
//   mlp/<arrangement>           GEMM, GELU, GEMM of one MLP block: thaw's one OpenMP pool
//                               against OpenBLAS's own threads next to OpenMP's (openblas_pool).
// bench/compare_gemm.py runs the gemm/ ones interleaved, one implementation and shape per process.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <memory>
#include <string>

#include "thaw/backend/cpu.hpp"

namespace {

using thaw::backend::cpu;
using blas_backend = cpu<thaw::gemm_policy::blas>;
using eigen_backend = cpu<thaw::gemm_policy::eigen>;

struct buffer_deleter {
  void operator()(float* p) const noexcept { blas_backend::deallocate(p); }
};
using buffer = std::unique_ptr<float[], buffer_deleter>;

/// n floats, uniform in [-1, 1), 64-byte aligned like every cpu allocation.
buffer random_buffer(std::size_t n, std::uint64_t stream) {
  buffer b(blas_backend::allocate<float>(n));
  blas_backend::fill_uniform(b.get(), n, thaw::philox_key{42, stream}, 0, -1.0, 1.0);
  return b;
}

double gemm_gflop(int m, int k, int n) { return 2.0 * m * k * n * 1e-9; }

void set_gflops(benchmark::State& state, double gflop) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
}

/// OpenBLAS with its own thread pool at the OpenMP thread count (thaw's cpu<blas> sets it to 1).
void use_openblas_threads() { openblas_set_num_threads(thaw::backend::cpu_detail::max_threads()); }

template <class Backend>
void gemm_thaw(benchmark::State& state, int m, int k, int n) {
  const buffer a = random_buffer(std::size_t(m) * k, 1), b = random_buffer(std::size_t(k) * n, 2),
               c = random_buffer(std::size_t(m) * n, 3);
  for (auto _ : state) {
    Backend::gemm(false, false, m, n, k, 1.0f, a.get(), k, b.get(), n, 0.0f, c.get(), n);
    benchmark::DoNotOptimize(c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, gemm_gflop(m, k, n));
}

void gemm_openblas(benchmark::State& state, int m, int k, int n) {
  use_openblas_threads();
  const buffer a = random_buffer(std::size_t(m) * k, 1), b = random_buffer(std::size_t(k) * n, 2),
               c = random_buffer(std::size_t(m) * n, 3);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.get(), k, b.get(), n,
                0.0f, c.get(), n);
    benchmark::DoNotOptimize(c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, gemm_gflop(m, k, n));
}

void gemm_eigen(benchmark::State& state, int m, int k, int n) {
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(m, k), b = Eigen::MatrixXf::Random(k, n);
  Eigen::MatrixXf c(m, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, gemm_gflop(m, k, n));
}

/// Attention's batched products for one layer: batch 8 x 6 heads, T = 256, head size 64.
constexpr int kHeads = 48, kSeq = 256, kHeadDim = 64;

/// op "scores": S = Q K^T (256x64 by 64x256); op "values": O = P V (256x256 by 256x64).
template <class Backend, bool use_batched>
void attention_products(benchmark::State& state, bool scores) {
  const int m = kSeq, n = scores ? kSeq : kHeadDim, k = scores ? kHeadDim : kSeq;
  const std::int64_t stride_a = std::int64_t(m) * k, stride_b = std::int64_t(k) * n,
                     stride_c = std::int64_t(m) * n;
  const buffer a = random_buffer(std::size_t(stride_a) * kHeads, 1),
               b = random_buffer(std::size_t(stride_b) * kHeads, 2),
               c = random_buffer(std::size_t(stride_c) * kHeads, 3);
  // Q K^T reads K (n x k) transposed, as the model stores it.
  const bool tb = scores;
  const int ldb = tb ? k : n;
  for (auto _ : state) {
    if constexpr (use_batched) {
      Backend::gemm_strided_batched(false, tb, m, n, k, 1.0f, a.get(), k, stride_a, b.get(), ldb,
                                    stride_b, 0.0f, c.get(), n, stride_c, kHeads);
    } else {
      for (int i = 0; i < kHeads; ++i)
        Backend::gemm(false, tb, m, n, k, 1.0f, a.get() + i * stride_a, k, b.get() + i * stride_b,
                      ldb, 0.0f, c.get() + i * stride_c, n);
    }
    benchmark::DoNotOptimize(c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, kHeads * gemm_gflop(m, k, n));
}

/// One MLP block forward, (2048 x 384) -> 1536 -> GELU -> 384: GEMMs alternate with an OpenMP op,
/// as in training. `thaw_pool` runs the GEMMs on thaw's OpenMP threads; otherwise OpenBLAS's
/// own pool runs them while OpenMP's threads wait (spinning) between the GELUs.
void mlp_block(benchmark::State& state, bool thaw_pool) {
  constexpr int tokens = 2048, width = 384, hidden = 1536;
  const buffer x = random_buffer(std::size_t(tokens) * width, 1),
               w1 = random_buffer(std::size_t(width) * hidden, 2),
               w2 = random_buffer(std::size_t(hidden) * width, 3),
               h = random_buffer(std::size_t(tokens) * hidden, 4),
               g = random_buffer(std::size_t(tokens) * hidden, 5),
               y = random_buffer(std::size_t(tokens) * width, 6);
  const auto gemm = [thaw_pool](int m, int n, int k, const float* a, const float* b, float* c) {
    if (thaw_pool)
      blas_backend::gemm(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
  };
  if (!thaw_pool) use_openblas_threads();
  for (auto _ : state) {
    gemm(tokens, hidden, width, x.get(), w1.get(), h.get());
    blas_backend::gelu_forward(g.get(), h.get(), std::size_t(tokens) * hidden);
    gemm(tokens, width, hidden, g.get(), w2.get(), y.get());
    benchmark::DoNotOptimize(y.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2 * gemm_gflop(tokens, width, hidden));
}

struct shape {
  int m, k, n;
};
/// The reference GPT's Linear layers at 2048 tokens: qkv, attention out, MLP up, MLP down, head.
constexpr shape kShapes[] = {
    {2048, 384, 1152}, {2048, 384, 384}, {2048, 384, 1536}, {2048, 1536, 384}, {2048, 384, 256}};

void register_benchmarks() {
  using gemm_fn = void (*)(benchmark::State&, int, int, int);
  const std::pair<const char*, gemm_fn> impls[] = {{"thaw_blas", gemm_thaw<blas_backend>},
                                                   {"openblas", gemm_openblas},
                                                   {"thaw_eigen", gemm_thaw<eigen_backend>},
                                                   {"eigen", gemm_eigen}};
  for (const auto& [impl, fn] : impls) {
    for (const shape s : kShapes) {
      const std::string name = std::string("gemm/") + impl + "/" + std::to_string(s.m) + "x" +
                               std::to_string(s.k) + "x" + std::to_string(s.n);
      benchmark::RegisterBenchmark(name.c_str(), fn, s.m, s.k, s.n)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const bool scores : {true, false}) {
    const std::string op = scores ? "scores" : "values";
    benchmark::RegisterBenchmark(("batched/blas/thaw/" + op).c_str(),
                                 attention_products<blas_backend, true>, scores)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("batched/blas/split/" + op).c_str(),
                                 attention_products<blas_backend, false>, scores)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("batched/eigen/thaw/" + op).c_str(),
                                 attention_products<eigen_backend, true>, scores)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("batched/eigen/split/" + op).c_str(),
                                 attention_products<eigen_backend, false>, scores)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("mlp/thaw_pool", mlp_block, true)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("mlp/openblas_pool", mlp_block, false)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  // OpenBLAS 0.3.21 falls back to generic kernels on CPUs it does not know (OPENBLAS_CORETYPE).
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
