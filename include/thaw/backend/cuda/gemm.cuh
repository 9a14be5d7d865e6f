// GEMMs of the CUDA backend through cuBLAS. thaw's matrices are row-major and cuBLAS's are
// column-major; a row-major m x n matrix C is the column-major n x m matrix C^T, so
// C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: cuBLAS is called with the operands
// swapped (B first), m and n swapped, and the same transpose flags and leading dimensions.
// k == 0 (no products) is handled here as C = beta * C, so cuBLAS never sees it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

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

template <class P, class T>
void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const T* a, int lda, const T* b, int ldb,
          float beta, T* c, int ldc) {
  check_gemm_shape("gemm", m, n, k, 1);
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_matrices(c, m, n, ldc, 0, 1, beta);
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
