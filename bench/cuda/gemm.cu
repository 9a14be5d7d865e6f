// bench_cuda_gemm: cuBLAS GEMMs through the CUDA backend at the reference model's shapes
// (2048 tokens, n_embd 384): (2048x384)(384x1152), (2048x384)(384x384), (2048x384)(384x1536),
// (2048x1536)(1536x384), (2048x384)(384x256). Layouts: nn (A B), nt (x W^T, a linear layer's
// forward), tn (A^T B, a weight gradient's layout); precisions fp32 (no TF32) and tf32.
// Names are gemm_<precision>_<layout>/<M>x<K>x<N>, the same as tests/gpu/torch_compare.py's.
#include <cuda_bf16.h>

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

// GPT-2 small's GEMMs (8192 tokens, width 768): c_attn, c_proj, mlp c_fc, mlp c_proj, the head.
constexpr gemm_shape kGpt2Shapes[] = {
    {8192, 768, 2304}, {8192, 768, 768}, {8192, 768, 3072}, {8192, 3072, 768}, {8192, 768, 50257}};

__global__ void to_bf16_kernel(__nv_bfloat16* y, const float* x, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(x[i]);
}

/// The ceiling of bf16 storage: cublasGemmEx on bf16 A and B (fp32 C, fp32 compute), row-major
/// as the backend calls it. What the cuda<bf16> policy (fp32 storage) is measured against.
void bench_gemm_bf16_storage(benchmark::State& state, gemm_shape s, bool ta, bool tb) {
  const auto [m, k, n] = s;
  auto a32 = thaw::bench::random_tensor(m, k, 1);
  auto b32 = thaw::bench::random_tensor(k, n, 2);
  thaw::tensor<B> c(thaw::shape{m, n});
  __nv_bfloat16 *a = nullptr, *b = nullptr;
  THAW_CUDA_CHECK(cudaMalloc(&a, a32.size() * sizeof(__nv_bfloat16)));
  THAW_CUDA_CHECK(cudaMalloc(&b, b32.size() * sizeof(__nv_bfloat16)));
  to_bf16_kernel<<<1024, 256, 0, B::stream()>>>(a, a32.data(), a32.size());
  to_bf16_kernel<<<1024, 256, 0, B::stream()>>>(b, b32.data(), b32.size());
  const int lda = ta ? m : k, ldb = tb ? k : n;
  const float alpha = 1, beta = 0;
  thaw::bench::time_on_gpu(state, [&] {
    THAW_CUBLAS_CHECK(cublasGemmEx(B::blas_handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n,
                                   m, k, &alpha, b, CUDA_R_16BF, ldb, a, CUDA_R_16BF, lda, &beta, c.data(),
                                   CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  B::synchronize();
  THAW_CUDA_CHECK(cudaFree(a));
  THAW_CUDA_CHECK(cudaFree(b));
  thaw::bench::set_tflops(state, 2.0 * m * n * k);
}

struct layout_t {
  const char* name;
  bool ta, tb;
};
constexpr layout_t kNn{"nn", false, false}, kNt{"nt", false, true}, kTn{"tn", true, false};

std::string dims_of(gemm_shape s) {
  return std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
}

/// Registers `run(state, shape, ta, tb)` as `name`, timed on the GPU in microseconds.
template <class Run>
void register_gemm(const std::string& name, gemm_shape s, layout_t l, Run run) {
  benchmark::RegisterBenchmark(name.c_str(), [s, l, run](benchmark::State& st) { run(st, s, l.ta, l.tb); })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

const bool registered_gpt2 = [] {
  using thaw::backend::cuda;
  for (const auto& s : kGpt2Shapes)
    for (const layout_t l : {kNt, kNn, kTn}) {
      const std::string tail = std::string(l.name) + "/" + dims_of(s);
      register_gemm("gpt2_gemm_tf32_" + tail, s, l, bench_gemm<cuda<thaw::backend::tf32>>);
      register_gemm("gpt2_gemm_bf16_" + tail, s, l, bench_gemm<cuda<thaw::backend::bf16>>);
      register_gemm("gpt2_gemm_bf16storage_" + tail, s, l, bench_gemm_bf16_storage);
    }
  return true;
}();

const bool registered = [] {
  for (const auto& s : kShapes)
    for (const layout_t l : {kNn, kNt, kTn}) {
      const std::string tail = std::string(l.name) + "/" + dims_of(s);
      register_gemm("gemm_fp32_" + tail, s, l, bench_gemm<B>);
      register_gemm("gemm_tf32_" + tail, s, l, bench_gemm<thaw::backend::cuda<thaw::backend::tf32>>);
    }
  return true;
}();
}  // namespace

THAW_CUDA_BENCHMARK_MAIN()
