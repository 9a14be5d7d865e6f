// GEMMs of the CUDA backend through cuBLAS. thaw's matrices are row-major and cuBLAS's are
// column-major; a row-major m x n matrix C is the column-major n x m matrix C^T, so
// C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: cuBLAS is called with the operands
// swapped (B first), m and n swapped, and the same transpose flags and leading dimensions.
// k == 0 (no products) is handled here as C = beta * C, so cuBLAS never sees it.
//
// bf16 operands (policies with gemm_bf16_operands, cuda<bf16>): cuBLAS's bf16 compute type on
// fp32 matrices (CUBLAS_COMPUTE_32F_FAST_16BF) ran no faster than TF32 on the H200 (measured:
// 8192x768x3072 in 125 us either way; its error equals TF32's), while a GEMM on bf16 matrices
// runs at 450-600 TFLOP/s. So under that policy a plain GEMM first rounds A and B to bf16
// copies (one memory-bound pass each, a fraction of the GEMM's time), every dimension padded
// with zeros to a multiple of 8, and multiplies those into the fp32 C, through an aligned
// scratch C when C's shape or rows are not aligned. The padding is for GPT-2's vocabulary of
// 50257: its head GEMMs took 4.8-5.7 ms in cuBLAS as they are and 2.6-2.7 ms padded, copies
// included. Strided-batched GEMMs (the materialised attention, for head sizes the fused kernel
// does not take) keep the fp32-matrix path.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "thaw/backend/cuda/elementwise.cuh"
#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/core/error.hpp"

namespace thaw::backend::cuda_detail {

inline void check_gemm_shape(const char* name, int m, int n, int k, int batch) {
  THAW_CHECK(m >= 0 && n >= 0 && k >= 0 && batch >= 0, name, ": m (", m, "), n (", n, "), k (", k,
             ") and batch (", batch, ") must not be negative");
}

template <class T>
void scale_matrices(T* c, int m, int n, int ldc, std::int64_t stride_c, int batch, float beta) {
  context& cx = ctx();
  const std::size_t total = static_cast<std::size_t>(m) * n * batch;
  scale_matrix_kernel<<<grid_for(total, kMapThreads), kMapThreads, 0, cx.stream>>>(c, m, n, ldc, stride_c, batch, beta);
  check_launch("gemm (k == 0: C = beta C)");
}

/// dst (dst_rows x dst_cols, contiguous) = src (rows x cols, leading dimension ld) rounded to
/// bf16, zero beyond src's rows and columns; blocks stride over rows (y) and columns (x, in
/// fours when `vectorised`).
template <class T>
__global__ void to_bf16_kernel(__nv_bfloat16* __restrict__ dst, int dst_rows, int dst_cols, const T* __restrict__ src,
                               int ld, int rows, int cols, bool vectorised) {
  for (int r = blockIdx.y; r < dst_rows; r += gridDim.y) {
    const T* in = src + std::size_t(r) * ld;
    __nv_bfloat16* out = dst + std::size_t(r) * dst_cols;
    if (vectorised) {  // cols, ld and dst_cols multiples of 4; src 16-byte aligned
      for (int c = 4 * (blockIdx.x * blockDim.x + threadIdx.x); c < dst_cols; c += 4 * gridDim.x * blockDim.x) {
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (r < rows && c < cols) v = *reinterpret_cast<const float4*>(in + c);
        auto* o = reinterpret_cast<__nv_bfloat162*>(out + c);
        o[0] = __floats2bfloat162_rn(v.x, v.y);
        o[1] = __floats2bfloat162_rn(v.z, v.w);
      }
    } else {
      for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < dst_cols; c += gridDim.x * blockDim.x)
        out[c] = __float2bfloat16_rn(r < rows && c < cols ? static_cast<float>(in[c]) : 0.f);
    }
  }
}

/// dst (rows x cols, leading dimension dst_ld) = src (leading dimension src_ld).
template <class T>
__global__ void copy_matrix_kernel(T* __restrict__ dst, int dst_ld, const T* __restrict__ src, int src_ld, int rows,
                                   int cols) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y)
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x)
      dst[std::size_t(r) * dst_ld + c] = src[std::size_t(r) * src_ld + c];
}

inline int round_up(int x, int to) { return (x + to - 1) / to * to; }

inline dim3 matrix_grid(int rows, int col_units) {
  return {unsigned(std::min((col_units + kMapThreads - 1) / kMapThreads, 1024)), unsigned(std::min(rows, 65535))};
}

/// A bf16 copy of a rows x cols matrix (leading dimension ld) into `buffer`, a scratch buffer
/// of the context, padded with zeros to round_up(rows, 8) x round_up(cols, 8), contiguous.
template <class T>
const __nv_bfloat16* bf16_copy(scratch_buffer& buffer, const T* src, int rows, int cols, int ld) {
  const int dst_rows = round_up(rows, 8), dst_cols = round_up(cols, 8);
  auto* dst = static_cast<__nv_bfloat16*>(scratch(buffer, std::size_t(dst_rows) * dst_cols * sizeof(__nv_bfloat16)));
  const bool vectorised = cols % 4 == 0 && ld % 4 == 0 && aligned_to(src, 16);
  to_bf16_kernel<<<matrix_grid(dst_rows, vectorised ? dst_cols / 4 : dst_cols), kMapThreads, 0, ctx().stream>>>(
      dst, dst_rows, dst_cols, src, ld, rows, cols, vectorised);
  check_launch("gemm (bf16 operand copy)");
  return dst;
}

template <class T>
void copy_matrix(T* dst, int dst_ld, const T* src, int src_ld, int rows, int cols) {
  copy_matrix_kernel<<<matrix_grid(rows, cols), kMapThreads, 0, ctx().stream>>>(dst, dst_ld, src, src_ld, rows, cols);
  check_launch("gemm (copy of C)");
}

/// C = alpha op(A) op(B) + beta C on bf16 copies of A and B (the bf16 policy; see the top of
/// this file). Every dimension is padded with zeros to a multiple of 8, so that cuBLAS takes
/// its tensor-core kernels for any shape; a C whose shape or rows are not aligned (GPT-2's
/// logits: 50257 wide) is computed in an aligned scratch matrix and copied into place.
template <class T>
void gemm_bf16_operands(bool ta, bool tb, int m, int n, int k, float alpha, const T* a, int lda, const T* b, int ldb,
                        float beta, T* c, int ldc) {
  static_assert(sizeof(T) == 4, "bf16 operand copies multiply into an fp32 C");
  context& cx = ctx();
  const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  const __nv_bfloat16* a16 = bf16_copy(cx.gemm_a, a, a_rows, a_cols, lda);
  const __nv_bfloat16* b16 = bf16_copy(cx.gemm_b, b, b_rows, b_cols, ldb);
  const int m8 = round_up(m, 8), n8 = round_up(n, 8), k8 = round_up(k, 8);
  const bool c_direct = m8 == m && n8 == n && ldc % 4 == 0 && aligned_to(c, 16);
  const int c_ld = c_direct ? ldc : n8;
  T* c_out = c;
  if (!c_direct) {
    c_out = static_cast<T*>(scratch(cx.gemm_c, std::size_t(m8) * n8 * sizeof(T)));
    if (beta != 0.0f) copy_matrix(c_out, c_ld, c, ldc, m, n);
  }
  // n8 == n and m8 == m when C is written directly.
  THAW_CUBLAS_CHECK(cublasGemmEx(cx.blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n8, m8,
                                 k8, &alpha, b16, CUDA_R_16BF,
                                 round_up(b_cols, 8), a16, CUDA_R_16BF, round_up(a_cols, 8), &beta, c_out, CUDA_R_32F,
                                 c_ld, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  if (!c_direct) copy_matrix(c, ldc, c_out, c_ld, m, n);
}

template <class P, class T>
void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const T* a, int lda, const T* b, int ldb,
          float beta, T* c, int ldc) {
  check_gemm_shape("gemm", m, n, k, 1);
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_matrices(c, m, n, ldc, 0, 1, beta);
  if constexpr (P::gemm_bf16_operands) return gemm_bf16_operands(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  THAW_CUBLAS_CHECK(cublasGemmEx(ctx().blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 n, m, k, &alpha, b, P::blas_type, ldb, a, P::blas_type, lda, &beta, c,
                                 P::blas_type, ldc, P::blas_compute, CUBLAS_GEMM_DEFAULT));
}

template <class P, class T>
void gemm_strided_batched(bool ta, bool tb, int m, int n, int k, float alpha, const T* a, int lda,
                          std::int64_t stride_a, const T* b, int ldb, std::int64_t stride_b, float beta,
                          T* c, int ldc, std::int64_t stride_c, int batch) {
  check_gemm_shape("gemm_strided_batched", m, n, k, batch);
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) return scale_matrices(c, m, n, ldc, stride_c, batch, beta);
  THAW_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      ctx().blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b,
      P::blas_type, ldb, stride_b, a, P::blas_type, lda, stride_a, &beta, c, P::blas_type, ldc, stride_c,
      batch, P::blas_compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace thaw::backend::cuda_detail
