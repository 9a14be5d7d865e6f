// bench_cuda_gemm: cuBLAS GEMMs through the CUDA backend at the reference model's shapes
// (2048 tokens, n_embd 384): (2048x384)(384x1152), (2048x384)(384x384), (2048x384)(384x1536),
// (2048x1536)(1536x384), (2048x384)(384x256). Layouts: nn (A B), nt (x W^T, a linear layer's
// forward), tn (A^T B, a weight gradient's layout); precisions fp32 (no TF32) and tf32.
// Names are gemm_<precision>_<layout>/<M>x<K>x<N>, the same as tests/gpu/torch_compare.py's.
#include <string>

#include "cuda_bench.cuh"

namespace {
using thaw::bench::B;

struct gemm_shape {
  int m, k, n;
};
constexpr gemm_shape kShapes[] = {{2048, 384, 1152}, {2048, 384, 384}, {2048, 384, 1536},
                                  {2048, 1536, 384}, {2048, 384, 256}};

template <class Backend>
void bench_gemm(benchmark::State& state, gemm_shape s, bool ta, bool tb) {
  const auto [m, k, n] = s;
  // A is m x k (k x m when ta), B is k x n (n x k when tb), C is m x n; all contiguous.
  auto a = ta ? thaw::bench::random_tensor(k, m, 1) : thaw::bench::random_tensor(m, k, 1);
  auto b = tb ? thaw::bench::random_tensor(n, k, 2) : thaw::bench::random_tensor(k, n, 2);
  thaw::tensor<B> c(thaw::shape{m, n});
  const int lda = ta ? m : k, ldb = tb ? k : n;
  thaw::bench::time_on_gpu(state, [&] {
    Backend::gemm(ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), n);
  });
  thaw::bench::set_tflops(state, 2.0 * m * n * k);
}

const bool registered = [] {
  for (const auto& s : kShapes) {
    const std::string dims = std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
    struct layout_t {
      const char* name;
      bool ta, tb;
    };
    for (const layout_t l : {layout_t{"nn", false, false}, layout_t{"nt", false, true}, layout_t{"tn", true, false}}) {
      benchmark::RegisterBenchmark(("gemm_fp32_" + std::string(l.name) + "/" + dims).c_str(),
                                   [s, l](benchmark::State& st) { bench_gemm<B>(st, s, l.ta, l.tb); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("gemm_tf32_" + std::string(l.name) + "/" + dims).c_str(),
                                   [s, l](benchmark::State& st) {
                                     bench_gemm<thaw::backend::cuda<thaw::backend::tf32>>(st, s, l.ta, l.tb);
                                   })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();
}  // namespace

THAW_CUDA_BENCHMARK_MAIN()
