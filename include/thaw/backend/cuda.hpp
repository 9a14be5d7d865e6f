// thaw::backend::cuda<Precision> — the CUDA backend (NVIDIA GPUs, built and tuned for sm_90).
//
// Every op of the Backend concept (thaw/backend/concept.hpp) on device memory: cudaMalloc /
// cudaFree, cuBLAS for the GEMMs (FP32 compute, no TF32 with the default fp32 policy; TF32 or
// bf16 tensor cores with the tf32 / bf16 policies of cuda/precision.cuh, float storage in all
// three), and the kernels in thaw/backend/cuda/*.cuh for everything else. All work runs in order on one
// non-blocking stream of a lazily created process-wide context (runtime.cuh); to_host,
// from_host, sum, sum_squares and synchronize wait for it, the other ops are asynchronous.
// Every CUDA / cuBLAS failure throws thaw::error naming the call and the error. Ids and
// targets outside their range are found on the device and thrown by the next synchronising op.
//
// Include from .cu files only (it needs nvcc); link CUDA::cublas (thaw::cuda does).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <span>
#include <vector>

#include "thaw/backend/concept.hpp"
#include "thaw/backend/cuda/attention.cuh"
#include "thaw/backend/cuda/common.cuh"
#include "thaw/backend/cuda/conv.cuh"
#include "thaw/backend/cuda/elementwise.cuh"
#include "thaw/backend/cuda/embedding.cuh"
#include "thaw/backend/cuda/gemm.cuh"
#include "thaw/backend/cuda/optimizer.cuh"
#include "thaw/backend/cuda/precision.cuh"
#include "thaw/backend/cuda/profile.cuh"
#include "thaw/backend/cuda/reduce.cuh"
#include "thaw/backend/cuda/rows.cuh"
#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/backend/ops.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"

namespace thaw::backend {

template <class Precision = fp32>
struct cuda {
  using precision = Precision;
  using scalar = typename Precision::scalar;
  using T = scalar;
  static const char* name() { return Precision::backend_name; }
  static constexpr bool host_accessible = false;

  // ---- CUDA specifics (not part of the concept) ----------------------------------------------
  /// The stream every op runs on; order foreign work after thaw's with it.
  static cudaStream_t stream() { return cuda_detail::ctx().stream; }
  /// The cuBLAS handle (bound to stream()).
  static cublasHandle_t blas_handle() { return cuda_detail::ctx().blas; }
  /// The device the context was created on (the current device at first use).
  static int device() { return cuda_detail::ctx().device; }
  /// Op profiling (cuda/profile.cuh): GPU time per op while on (also THAW_CUDA_PROFILE=1).
  static void profile_ops(bool on) { cuda_detail::op_profiler::get().enable(on); }
  /// The GPU time per op (GEMMs per shape) since the last reset, longest first; waits for them.
  static std::vector<op_time> op_profile() { return cuda_detail::op_profiler::get().totals(); }
  static void reset_op_profile() { cuda_detail::op_profiler::get().reset(); }

  // ---- memory ---------------------------------------------------------------------------------
  /// Device memory for n elements (cudaMalloc; 256-byte aligned). allocate(0) returns a valid,
  /// freeable pointer, as the host backends do.
  template <class U>
  static U* allocate(std::size_t n) {
    THAW_CHECK(n <= std::numeric_limits<std::size_t>::max() / sizeof(U), "allocation of ", n,
               " elements overflows");
    cuda_detail::ctx();  // a clear error when there is no GPU
    const std::size_t bytes = n ? n * sizeof(U) : 1;
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      std::size_t free_bytes = 0, total_bytes = 0;
      (void)cudaMemGetInfo(&free_bytes, &total_bytes);
      (void)cudaGetLastError();
      throw ::thaw::error(::thaw::message("cuda: cudaMalloc of ", bytes, " bytes failed: ",
                                          cudaGetErrorName(status), " (", cudaGetErrorString(status),
                                          "); ", free_bytes, " of ", total_bytes,
                                          " bytes of device memory are free"));
    }
    return static_cast<U*>(p);
  }
  /// cudaFree (which waits for the device first). Errors are ignored: this is noexcept and runs
  /// from destructors, also after the CUDA runtime has shut down at exit.
  template <class U>
  static void deallocate(U* p) noexcept {
    if (!p) return;
    if (cudaFree(const_cast<void*>(static_cast<const void*>(p))) != cudaSuccess) (void)cudaGetLastError();
  }
  /// Stream-ordered device-to-device copy. Overlapping ranges are allowed (as memmove; they go
  /// through a scratch buffer, since cudaMemcpy's result is undefined for them).
  template <class U>
  static void copy(U* dst, const U* src, std::size_t n) {
    THAW_CUDA_OP("copy");
    if (n == 0 || dst == src) return;
    const std::size_t bytes = n * sizeof(U);
    const auto* d = reinterpret_cast<const char*>(dst);
    const auto* s = reinterpret_cast<const char*>(src);
    if (d < s + bytes && s < d + bytes) {
      void* tmp = cuda_detail::scratch(cuda_detail::ctx().staging, bytes);
      THAW_CUDA_CHECK(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream()));
      THAW_CUDA_CHECK(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, stream()));
      return;
    }
    THAW_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
  }
  /// Synchronous: returns when host_dst holds the data (after all earlier ops).
  template <class U>
  static void to_host(U* host_dst, const U* src, std::size_t n) {
    if (n) THAW_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n * sizeof(U), cudaMemcpyDeviceToHost, stream()));
    cuda_detail::sync_and_check();
  }
  /// Synchronous: host_src may be reused as soon as this returns.
  template <class U>
  static void from_host(U* dst, const U* host_src, std::size_t n) {
    if (n) THAW_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, n * sizeof(U), cudaMemcpyHostToDevice, stream()));
    cuda_detail::sync_and_check();
  }
  static void fill(T* x, std::size_t n, T value) {
    THAW_CUDA_OP("fill");
    cuda_detail::launch_map<T>("fill", n, cuda_detail::fill_fn<T>{x, value}, cuda_detail::pack_aligned<T>(x));
  }
  /// Waits for every op issued so far; throws any error a kernel recorded.
  static void synchronize() { cuda_detail::sync_and_check(); }

  // ---- random fills ---------------------------------------------------------------------------
  static void fill_uniform(T* x, std::size_t n, philox_key key, std::uint64_t offset, double lo, double hi) {
    THAW_CUDA_OP("fill_uniform");
    if (n == 0) return;
    const std::uint64_t blocks = (offset + n - 1) / 4 - offset / 4 + 1;
    cuda_detail::fill_uniform_kernel<<<cuda_detail::grid_for(blocks, cuda_detail::kMapThreads),
                                       cuda_detail::kMapThreads, 0, stream()>>>(x, n, key, offset, lo, hi);
    cuda_detail::check_launch("fill_uniform");
  }
  static void fill_normal(T* x, std::size_t n, philox_key key, std::uint64_t offset, double mean, double stddev) {
    THAW_CUDA_OP("fill_normal");
    if (n == 0) return;
    cuda_detail::fill_normal_kernel<<<cuda_detail::grid_for(n, cuda_detail::kMapThreads), cuda_detail::kMapThreads,
                                      0, stream()>>>(x, n, key, offset, mean, stddev);
    cuda_detail::check_launch("fill_normal");
  }
  static void fill_bernoulli(T* x, std::size_t n, philox_key key, std::uint64_t offset, double p) {
    THAW_CUDA_OP("fill_bernoulli");
    if (n == 0) return;
    const std::uint64_t blocks = (offset + n - 1) / 4 - offset / 4 + 1;
    cuda_detail::fill_bernoulli_kernel<<<cuda_detail::grid_for(blocks, cuda_detail::kMapThreads),
                                         cuda_detail::kMapThreads, 0, stream()>>>(x, n, key, offset, p);
    cuda_detail::check_launch("fill_bernoulli");
  }

  // ---- GEMM (row-major; cuBLAS) ---------------------------------------------------------------
  static void gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
                   T beta, T* c, int ldc) {
    THAW_CUDA_OP("gemm ", ta ? "t" : "n", tb ? "t" : "n", " ", m, "x", n, "x", k);
    cuda_detail::gemm<Precision>(ta, tb, m, n, k, static_cast<float>(alpha), a, lda, b, ldb,
                                 static_cast<float>(beta), c, ldc);
  }
  static void gemm_strided_batched(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda,
                                   std::int64_t stride_a, const T* b, int ldb, std::int64_t stride_b, T beta,
                                   T* c, int ldc, std::int64_t stride_c, int batch) {
    THAW_CUDA_OP("gemm_batched ", ta ? "t" : "n", tb ? "t" : "n", " ", m, "x", n, "x", k, " x", batch);
    cuda_detail::gemm_strided_batched<Precision>(ta, tb, m, n, k, static_cast<float>(alpha), a, lda, stride_a,
                                                 b, ldb, stride_b, static_cast<float>(beta), c, ldc, stride_c,
                                                 batch);
  }

  // ---- softmax --------------------------------------------------------------------------------
  static void softmax_forward(T* y, const T* x, int rows, int cols, T scale, bool causal) {
    THAW_CUDA_OP("softmax_forward");
    cuda_detail::softmax_forward(y, x, rows, cols, static_cast<float>(scale), causal);
  }
  static void softmax_backward(T* dx, const T* y, const T* dy, int rows, int cols, T scale) {
    THAW_CUDA_OP("softmax_backward");
    cuda_detail::softmax_backward(dx, y, dy, rows, cols, static_cast<float>(scale));
  }

  // ---- fused causal attention (bf16 policy; nn::fused_attention_backend) -------------------------
  /// Whether attention of this head size runs fused (FlashAttention-2, cuda/attention.cuh): the
  /// policy's fused_attention, head size 64 and a device of compute capability 8.0 or later.
  /// THAW_CUDA_ATTENTION=materialised turns it off (read once), for comparisons.
  static bool fused_attention(int head_dim) {
    static const bool allowed = [] {
      const char* env = std::getenv("THAW_CUDA_ATTENTION");
      return env == nullptr || std::string_view(env) != "materialised";
    }();
    return Precision::fused_attention && allowed && head_dim == cuda_detail::flash::kHead &&
           cuda_detail::ctx().compute_major >= 8;
  }
  static void attention_forward(T* out, T* lse, const T* qkv, int batch, int steps, int heads, int head_dim,
                                T scale) {
    THAW_CUDA_OP("attention_forward");
    cuda_detail::attention_forward(out, lse, qkv, batch, steps, heads, head_dim, static_cast<float>(scale));
  }
  static void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, int batch,
                                 int steps, int heads, int head_dim, T scale) {
    THAW_CUDA_OP("attention_backward");
    cuda_detail::attention_backward(dqkv, dout, qkv, out, lse, batch, steps, heads, head_dim,
                                    static_cast<float>(scale));
  }

  // ---- normalisation --------------------------------------------------------------------------
  static void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int rows,
                                int cols, T eps) {
    THAW_CUDA_OP("layernorm_forward");
    cuda_detail::layernorm_forward(y, mean, rstd, x, weight, bias, rows, cols, static_cast<float>(eps));
  }
  static void layernorm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight,
                                 const T* mean, const T* rstd, int rows, int cols) {
    THAW_CUDA_OP("layernorm_backward");
    if (dweight || dbias)
      cuda_detail::column_reduce<2, T>("layernorm_backward (weight / bias gradients)", rows, cols,
                                       cuda_detail::layernorm_param_grad_term<T>{dy, x, mean, rstd, cols},
                                       {{dweight, dbias}});
    if (dx) cuda_detail::layernorm_backward_dx(dx, dy, x, weight, mean, rstd, rows, cols);
  }
  static void rmsnorm_forward(T* y, T* rstd, const T* x, const T* weight, int rows, int cols, T eps) {
    THAW_CUDA_OP("rmsnorm_forward");
    cuda_detail::rmsnorm_forward(y, rstd, x, weight, rows, cols, static_cast<float>(eps));
  }
  static void rmsnorm_backward(T* dx, T* dweight, const T* dy, const T* x, const T* weight, const T* rstd,
                               int rows, int cols) {
    THAW_CUDA_OP("rmsnorm_backward");
    if (dweight)
      cuda_detail::column_reduce<1, T>("rmsnorm_backward (weight gradient)", rows, cols,
                                       cuda_detail::rmsnorm_param_grad_term<T>{dy, x, rstd, cols}, {{dweight}});
    if (dx) cuda_detail::rmsnorm_backward_dx(dx, dy, x, weight, rstd, rows, cols);
  }

  // ---- GELU -----------------------------------------------------------------------------------
  static void gelu_forward(T* y, const T* x, std::size_t n) {
    THAW_CUDA_OP("gelu_forward");
    cuda_detail::launch_map<T>("gelu_forward", n, cuda_detail::gelu_forward_fn<T>{y, x},
                               cuda_detail::pack_aligned<T>(y, x));
  }
  static void gelu_backward(T* dx, const T* x, const T* dy, std::size_t n) {
    THAW_CUDA_OP("gelu_backward");
    cuda_detail::launch_map<T>("gelu_backward", n, cuda_detail::gelu_backward_fn<T>{dx, x, dy},
                               cuda_detail::pack_aligned<T>(dx, x, dy));
  }

  // ---- cross-entropy --------------------------------------------------------------------------
  static void cross_entropy_forward(T* losses, const T* logits, const token_t* targets, int rows, int vocab,
                                    token_t ignore_index) {
    THAW_CUDA_OP("cross_entropy_forward");
    cuda_detail::cross_entropy_forward(losses, logits, targets, rows, vocab, ignore_index);
  }
  static void cross_entropy_backward(T* dlogits, const T* logits, const token_t* targets, int rows, int vocab,
                                     token_t ignore_index, T dloss) {
    THAW_CUDA_OP("cross_entropy_backward");
    cuda_detail::cross_entropy_backward(dlogits, logits, targets, rows, vocab, ignore_index,
                                        static_cast<float>(dloss));
  }

  // ---- embeddings -----------------------------------------------------------------------------
  static void embedding_forward(T* y, const T* table, const token_t* ids, int n, int dim, int table_rows) {
    THAW_CUDA_OP("embedding_forward");
    cuda_detail::embedding_forward(y, table, ids, n, dim, table_rows);
  }
  static void embedding_backward(T* dtable, const T* dy, const token_t* ids, int n, int dim) {
    THAW_CUDA_OP("embedding_backward");
    cuda_detail::embedding_backward(dtable, dy, ids, n, dim);
  }

  // ---- elementwise ----------------------------------------------------------------------------
  static void add(T* y, const T* a, const T* b, std::size_t n) {
    THAW_CUDA_OP("add");
    cuda_detail::launch_map<T>("add", n, cuda_detail::add_fn<T>{y, a, b}, cuda_detail::pack_aligned<T>(y, a, b));
  }
  static void scale(T* x, std::size_t n, T alpha) {
    THAW_CUDA_OP("scale");
    cuda_detail::launch_map<T>("scale", n, cuda_detail::scale_fn<T>{x, static_cast<float>(alpha)},
                               cuda_detail::pack_aligned<T>(x));
  }
  static void axpy(T* y, T alpha, const T* x, std::size_t n) {
    THAW_CUDA_OP("axpy");
    cuda_detail::launch_map<T>("axpy", n, cuda_detail::axpy_fn<T>{y, x, static_cast<float>(alpha)},
                               cuda_detail::pack_aligned<T>(y, x));
  }
  static void add_bias(T* y, const T* bias, int rows, int cols) {
    THAW_CUDA_OP("add_bias");
    THAW_CHECK(rows >= 0 && cols >= 0, "add_bias: rows (", rows, ") and cols (", cols, ") must not be negative");
    const std::size_t n = static_cast<std::size_t>(rows) * cols;
    cuda_detail::launch_map<T>("add_bias", n, cuda_detail::add_bias_fn<T>{y, bias, static_cast<std::size_t>(cols)},
                               cuda_detail::pack_aligned<T>(y, bias) && cols % cuda_detail::kPack<T> == 0);
  }
  static void sum_rows(T* out, const T* x, int rows, int cols) {
    THAW_CUDA_OP("sum_rows");
    cuda_detail::column_reduce<1, T>("sum_rows", rows, cols, cuda_detail::sum_rows_term<T>{x, cols}, {{out}});
  }

  // ---- reductions (double on the device, returned to the host) -------------------------------
  static double sum(const T* x, std::size_t n) { return cuda_detail::sum<false>(x, n); }
  static double sum_squares(const T* x, std::size_t n) { return cuda_detail::sum<true>(x, n); }

  // ---- optimizers over compacted index ranges -------------------------------------------------
  static void adamw_update(T* params, const T* grads, T* m, T* v, std::span<const index_range> ranges,
                           const adamw_args& args) {
    THAW_CUDA_OP("adamw_update");
    cuda_detail::adamw_update(params, grads, m, v, ranges, args);
  }
  static void sgd_update(T* params, const T* grads, T* momentum, std::span<const index_range> ranges,
                         const sgd_args& args) {
    THAW_CUDA_OP("sgd_update");
    cuda_detail::sgd_update(params, grads, momentum, ranges, args);
  }

  // ---- image ops ---------------------------------------------------------------------------------
  static void relu_forward(T* y, const T* x, std::size_t n) {
    cuda_detail::launch_map<T>("relu_forward", n, cuda_detail::relu_forward_fn<T>{y, x}, cuda_detail::pack_aligned<T>(y, x));
  }
  static void relu_backward(T* dx, const T* x, const T* dy, std::size_t n) {
    cuda_detail::launch_map<T>("relu_backward", n, cuda_detail::relu_backward_fn<T>{dx, x, dy},
                               cuda_detail::pack_aligned<T>(dx, x, dy));
  }
  static void im2col(T* col, const T* x, const conv_geometry& g) {
    const std::size_t n = std::size_t(g.batch) * g.patch() * g.out_height() * g.out_width();
    if (n == 0) return;
    cuda_detail::im2col_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, stream()>>>(col, x, g);
    cuda_detail::check_launch("im2col");
  }
  static void col2im(T* dx, const T* dcol, const conv_geometry& g) {
    const std::size_t n = std::size_t(g.batch) * g.channels * g.height * g.width;
    if (n == 0) return;
    cuda_detail::col2im_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, stream()>>>(dx, dcol, g);
    cuda_detail::check_launch("col2im");
  }
  static void maxpool_forward(T* y, token_t* argmax, const T* x, const pool_geometry& g) {
    const std::size_t n = std::size_t(g.planes) * g.out_height() * g.out_width();
    if (n == 0) return;
    cuda_detail::maxpool_forward_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, stream()>>>(y, argmax, x, g);
    cuda_detail::check_launch("maxpool_forward");
  }
  static void maxpool_backward(T* dx, const token_t* argmax, const T* dy, const pool_geometry& g) {
    fill(dx, std::size_t(g.planes) * g.height * g.width, T(0));
    const std::size_t n = std::size_t(g.planes) * g.out_height() * g.out_width();
    if (n == 0) return;
    cuda_detail::maxpool_backward_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, stream()>>>(dx, argmax, dy, g);
    cuda_detail::check_launch("maxpool_backward");
  }
};

static_assert(assert_backend<cuda<>>());
static_assert(assert_backend<cuda<tf32>>());
static_assert(assert_backend<cuda<bf16>>());

}  // namespace thaw::backend
