// Reductions of the CUDA backend, all deterministic (fixed order for a given shape and GPU):
//  - column reductions out[c] += sum_r f(r, c) for sum_rows and the LayerNorm / RMSNorm weight
//    gradients: partial sums over row chunks in a scratch buffer, then one pass per column that
//    adds the chunks in order (no atomics);
//  - sum / sum_squares of a vector in double: per-block partials, then one block.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "thaw/backend/cuda/common.cuh"
#include "thaw/backend/cuda/runtime.cuh"

namespace thaw::backend::cuda_detail {

// ---- column reductions --------------------------------------------------------------------------
inline constexpr int kColumnTile = 32;  // columns per block (one warp across them)
inline constexpr int kColumnRows = 8;   // warps per block, each walking its own rows

/// Block (blockIdx.x, blockIdx.y) sums f over columns [32 bx, 32 bx + 32) and the rows of chunk
/// by, and writes partial[k][by][c] for each of the kOut outputs.
template <int kOut, class F>
__global__ void __launch_bounds__(kColumnTile * kColumnRows)
    column_partials_kernel(int rows, int cols, int rows_per_chunk, F f, float* partial) {
  __shared__ float sm[kOut][kColumnRows][kColumnTile + 1];
  const int c = static_cast<int>(blockIdx.x) * kColumnTile + static_cast<int>(threadIdx.x);
  const int chunk = static_cast<int>(blockIdx.y);
  const int r0 = chunk * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
  float acc[kOut];
#pragma unroll
  for (int k = 0; k < kOut; ++k) acc[k] = 0.0f;
  if (c < cols) {
#pragma unroll 4
    for (int r = r0 + static_cast<int>(threadIdx.y); r < r1; r += kColumnRows) f(r, c, acc);
  }
#pragma unroll
  for (int k = 0; k < kOut; ++k) sm[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
#pragma unroll
    for (int k = 0; k < kOut; ++k) {
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < kColumnRows; ++j) s += sm[k][j][threadIdx.x];
      partial[(static_cast<std::size_t>(k) * gridDim.y + chunk) * cols + c] = s;
    }
  }
}

template <int kOut, class T>
struct column_outputs {
  T* out[kOut];
};

/// out[k][c] += sum over chunks of partial[k][chunk][c], chunks in order; null outputs skipped.
template <int kOut, class T>
__global__ void __launch_bounds__(256)
    column_finalize_kernel(int cols, int chunks, const float* partial, column_outputs<kOut, T> outs) {
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= cols) return;
#pragma unroll
  for (int k = 0; k < kOut; ++k) {
    if (!outs.out[k]) continue;
    float s = 0.0f;
    for (int chunk = 0; chunk < chunks; ++chunk)
      s += partial[(static_cast<std::size_t>(k) * chunks + chunk) * cols + c];
    outs.out[k][c] = from_compute<T>(to_compute(outs.out[k][c]) + s);
  }
}

/// out_k[c] += sum_r f(r, c)_k. f is a device functor `void(int r, int c, float (&acc)[kOut])`
/// that adds its terms into acc.
template <int kOut, class T, class F>
void column_reduce(const char* name, int rows, int cols, const F& f, column_outputs<kOut, T> outs) {
  THAW_CHECK(rows >= 0 && cols >= 0, name, ": rows (", rows, ") and cols (", cols,
             ") must not be negative");
  if (rows == 0 || cols == 0) return;
  context& c = ctx();
  const int tiles = (cols + kColumnTile - 1) / kColumnTile;
  // About four blocks per multiprocessor, at least kColumnRows rows per chunk.
  const int max_chunks = (rows + kColumnRows - 1) / kColumnRows;
  int chunks = std::clamp((4 * c.sm_count + tiles - 1) / tiles, 1, max_chunks);
  const int rows_per_chunk = (rows + chunks - 1) / chunks;
  chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  auto* partial = static_cast<float*>(
      scratch(c.partials, sizeof(float) * static_cast<std::size_t>(kOut) * chunks * cols));
  column_partials_kernel<kOut><<<dim3(tiles, chunks), dim3(kColumnTile, kColumnRows), 0, c.stream>>>(
      rows, cols, rows_per_chunk, f, partial);
  check_launch(name);
  column_finalize_kernel<kOut, T><<<(cols + 255) / 256, 256, 0, c.stream>>>(cols, chunks, partial, outs);
  check_launch(name);
}

template <class T>
struct sum_rows_term {
  const T* x;
  int cols;
  THAW_DEVICE void operator()(int r, int c, float (&acc)[1]) const {
    acc[0] += to_compute(x[static_cast<std::size_t>(r) * cols + c]);
  }
};

/// LayerNorm weight / bias gradients: dy * xhat and dy.
template <class T>
struct layernorm_param_grad_term {
  const T* dy;
  const T* x;
  const T* mean;
  const T* rstd;
  int cols;
  THAW_DEVICE void operator()(int r, int c, float (&acc)[2]) const {
    const std::size_t i = static_cast<std::size_t>(r) * cols + c;
    const float d = to_compute(dy[i]);
    const float xhat = (to_compute(x[i]) - to_compute(mean[r])) * to_compute(rstd[r]);
    acc[0] = fmaf(d, xhat, acc[0]);
    acc[1] += d;
  }
};

/// RMSNorm weight gradient: dy * x * rstd.
template <class T>
struct rmsnorm_param_grad_term {
  const T* dy;
  const T* x;
  const T* rstd;
  int cols;
  THAW_DEVICE void operator()(int r, int c, float (&acc)[1]) const {
    const std::size_t i = static_cast<std::size_t>(r) * cols + c;
    acc[0] = fmaf(to_compute(dy[i]), to_compute(x[i]) * to_compute(rstd[r]), acc[0]);
  }
};

// ---- sum / sum_squares --------------------------------------------------------------------------
inline constexpr int kSumThreads = 256;
inline constexpr int kSumMaxBlocks = 1024;  // fixed: the order of the sum depends on n alone

template <bool kSquares, class T>
__global__ void __launch_bounds__(kSumThreads) sum_partials_kernel(const T* x, std::size_t n, double* partial) {
  __shared__ double smem[32];
  double acc = 0.0;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double v = static_cast<double>(to_compute(x[i]));
    acc += kSquares ? v * v : v;
  }
  acc = row_reduce<kSumThreads>(acc, sum_op{}, smem);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/// One block adds the partials in a fixed order. (Kernels here are templates so that the header
/// can be included by several translation units.)
template <class V>
__global__ void __launch_bounds__(kSumMaxBlocks) sum_final_kernel(const V* partial, int count, V* out) {
  __shared__ V smem[32];
  V acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = row_reduce<kSumMaxBlocks>(acc, sum_op{}, smem);
  if (threadIdx.x == 0) *out = acc;
}

/// Sum (or sum of squares) of n elements, accumulated in double, returned to the host.
template <bool kSquares, class T>
double sum(const T* x, std::size_t n) {
  if (n == 0) return 0.0;
  context& c = ctx();
  const std::size_t wanted = (n + kSumThreads * 8 - 1) / (kSumThreads * 8);
  const int blocks = static_cast<int>(std::min<std::size_t>(wanted, kSumMaxBlocks));
  auto* partial = static_cast<double*>(scratch(c.partials, sizeof(double) * (blocks + 1)));
  sum_partials_kernel<kSquares><<<blocks, kSumThreads, 0, c.stream>>>(x, n, partial);
  check_launch(kSquares ? "sum_squares" : "sum");
  sum_final_kernel<double><<<1, kSumMaxBlocks, 0, c.stream>>>(partial, blocks, partial + blocks);
  check_launch(kSquares ? "sum_squares" : "sum");
  THAW_CUDA_CHECK(cudaMemcpyAsync(c.result_host, partial + blocks, sizeof(double), cudaMemcpyDeviceToHost, c.stream));
  sync_and_check();
  return *c.result_host;
}

}  // namespace thaw::backend::cuda_detail
