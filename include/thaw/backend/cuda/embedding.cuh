// Embedding kernels of the CUDA backend: the gather y[i, :] = table[ids[i], :] and the
// scatter-add dtable[ids[i], :] += dy[i, :] (float atomics: repeated ids accumulate in an
// unspecified order). One warp per position; ids outside the table are recorded as a device
// error (thrown at the next synchronising call) and their output row is NaN.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "thaw/backend/cuda/common.cuh"
#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/backend/ops.hpp"

namespace thaw::backend::cuda_detail {

inline constexpr int kEmbeddingRowsPerBlock = 8;

template <bool kVec, class T>
__global__ void __launch_bounds__(32 * kEmbeddingRowsPerBlock)
    embedding_forward_kernel(T* y, const T* table, const token_t* ids, int n, int dim, int table_rows,
                             device_error* error) {
  constexpr int W = kVec ? kPack<T> : 1;
  const int i = static_cast<int>(blockIdx.x) * kEmbeddingRowsPerBlock + static_cast<int>(threadIdx.y);
  if (i >= n) return;
  const token_t id = ids[i];
  T* out = y + static_cast<std::size_t>(i) * dim;
  if (id < 0 || id >= table_rows) {
    if (threadIdx.x == 0) raise_device_error(error, kErrorEmbeddingId, id, i, table_rows);
    for (int d = threadIdx.x; d < dim; d += 32) out[d] = from_compute<T>(NAN);
    return;
  }
  const T* row = table + static_cast<std::size_t>(id) * dim;
  for (int d = threadIdx.x * W; d < dim; d += 32 * W) store<W>(out + d, load<W>(row + d));
}

template <class T>
__global__ void __launch_bounds__(32 * kEmbeddingRowsPerBlock)
    embedding_backward_kernel(T* dtable, const T* dy, const token_t* ids, int n, int dim, int table_rows,
                              device_error* error) {
  const int i = static_cast<int>(blockIdx.x) * kEmbeddingRowsPerBlock + static_cast<int>(threadIdx.y);
  if (i >= n) return;
  const token_t id = ids[i];
  if (id < 0 || id >= table_rows) {
    if (threadIdx.x == 0) raise_device_error(error, kErrorEmbeddingId, id, i, table_rows);
    return;
  }
  T* row = dtable + static_cast<std::size_t>(id) * dim;
  const T* g = dy + static_cast<std::size_t>(i) * dim;
  for (int d = threadIdx.x; d < dim; d += 32) atomicAdd(row + d, g[d]);
}

template <class T>
void embedding_forward(T* y, const T* table, const token_t* ids, int n, int dim, int table_rows) {
  THAW_CHECK(n >= 0 && dim >= 0 && table_rows >= 0, "embedding_forward: n (", n, "), dim (", dim,
             ") and table_rows (", table_rows, ") must not be negative");
  if (n == 0 || dim == 0) return;
  context& c = ctx();
  const dim3 grid((n + kEmbeddingRowsPerBlock - 1) / kEmbeddingRowsPerBlock), block(32, kEmbeddingRowsPerBlock);
  if (kPack<T> > 1 && dim % kPack<T> == 0 && pack_aligned<T>(y, table))
    embedding_forward_kernel<true><<<grid, block, 0, c.stream>>>(y, table, ids, n, dim, table_rows, device_error_ptr());
  else
    embedding_forward_kernel<false><<<grid, block, 0, c.stream>>>(y, table, ids, n, dim, table_rows, device_error_ptr());
  check_launch("embedding_forward");
}

/// `table_rows` is not part of the op's signature, so only negative ids can be caught here; an
/// id past the table's end writes out of bounds (the forward pass would have reported it).
template <class T>
void embedding_backward(T* dtable, const T* dy, const token_t* ids, int n, int dim) {
  THAW_CHECK(n >= 0 && dim >= 0, "embedding_backward: n (", n, ") and dim (", dim,
             ") must not be negative");
  if (n == 0 || dim == 0) return;
  context& c = ctx();
  const dim3 grid((n + kEmbeddingRowsPerBlock - 1) / kEmbeddingRowsPerBlock), block(32, kEmbeddingRowsPerBlock);
  embedding_backward_kernel<<<grid, block, 0, c.stream>>>(dtable, dy, ids, n, dim, kUnknownLimit, device_error_ptr());
  check_launch("embedding_backward");
}

}  // namespace thaw::backend::cuda_detail
