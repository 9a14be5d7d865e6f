// Shared by the CUDA benchmarks (bench/cuda/*.cu): GPU-side timing with CUDA events (each
// iteration times `inner` back-to-back launches on the backend's stream and reports the mean),
// throughput counters, and a main that says SKIPPED (exit code 77) when no GPU is present.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <string>
#include <vector>

#include "thaw/backend/cuda.hpp"
#include "thaw/core/tensor.hpp"

namespace thaw::bench {

using B = backend::cuda<>;

/// Times `op` on the GPU: warm-up, then per iteration `inner` launches between two events.
template <class Op>
void time_on_gpu(benchmark::State& state, Op&& op, int inner = 20) {
  cudaEvent_t start, stop;
  THAW_CUDA_CHECK(cudaEventCreate(&start));
  THAW_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) op();
  B::synchronize();
  for (auto _ : state) {
    THAW_CUDA_CHECK(cudaEventRecord(start, B::stream()));
    for (int i = 0; i < inner; ++i) op();
    THAW_CUDA_CHECK(cudaEventRecord(stop, B::stream()));
    THAW_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    THAW_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(static_cast<double>(ms) / 1e3 / inner);
  }
  B::synchronize();
  THAW_CUDA_CHECK(cudaEventDestroy(start));
  THAW_CUDA_CHECK(cudaEventDestroy(stop));
}

/// counters["TFLOP/s"] / ["GB/s"]: per-iteration work divided by the measured (GPU) time.
inline void set_tflops(benchmark::State& state, double flops) {
  state.counters["TFLOP/s"] = benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
}
inline void set_gbps(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

/// A device tensor of n floats filled uniformly from [lo, hi).
inline tensor<B> random_tensor(std::int64_t rows, std::int64_t cols, std::uint64_t stream, double lo = -1,
                               double hi = 1) {
  tensor<B> t(shape{rows, cols});
  B::fill_uniform(t.data(), t.size(), philox_key{2026, stream}, 0, lo, hi);
  return t;
}

/// main() of a CUDA benchmark program: skips without a GPU, records the GPU in the context.
inline int run_main(int argc, char** argv) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::fprintf(stderr, "%s: SKIPPED: no CUDA GPU is present (cudaGetDeviceCount: %s); no benchmark ran.\n",
                 argv[0], status == cudaSuccess ? "0 devices" : cudaGetErrorString(status));
    return 77;
  }
  cudaDeviceProp prop{};
  THAW_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  benchmark::AddCustomContext("gpu", prop.name);
  benchmark::AddCustomContext("gpu_sms", std::to_string(prop.multiProcessorCount));
  benchmark::AddCustomContext("thaw_backend", B::name());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace thaw::bench

#define THAW_CUDA_BENCHMARK_MAIN() \
  int main(int argc, char** argv) { return ::thaw::bench::run_main(argc, argv); }
