// CUDA kernels for the image ops: ReLU forward/backward (through the element-wise map), im2col /
// col2im (one thread per output element; col2im gathers, so it needs no atomics and is
// deterministic) and 2-D max pooling with its argmax scatter.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "thaw/backend/cuda/common.cuh"
#include "thaw/backend/cuda/elementwise.cuh"
#include "thaw/backend/ops.hpp"

namespace thaw::backend::cuda_detail {

template <class T>
struct relu_forward_fn {
  T* y;
  const T* x;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    const auto vx = load<W>(x + i);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = vx.v[k] > T(0) ? vx.v[k] : T(0);
    store<W>(y + i, out);
  }
};

template <class T>
struct relu_backward_fn {
  T* dx;
  const T* x;
  const T* dy;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    const auto vx = load<W>(x + i);
    const auto vd = load<W>(dy + i);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = vx.v[k] > T(0) ? vd.v[k] : T(0);
    store<W>(dx + i, out);
  }
};

/// col[b, (c, ki, kj), (i, j)] = x[b, c, i*stride - pad + ki, j*stride - pad + kj] or 0.
template <class T>
__global__ void im2col_kernel(T* col, const T* x, conv_geometry g) {
  const int oh = g.out_height(), ow = g.out_width();
  const std::size_t total = std::size_t(g.batch) * g.patch() * oh * ow;
  for (std::size_t idx = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(idx % ow);
    const int i = static_cast<int>((idx / ow) % oh);
    const std::size_t row = (idx / (std::size_t(oh) * ow)) % g.patch();
    const int b = static_cast<int>(idx / (std::size_t(oh) * ow * g.patch()));
    const int kj = static_cast<int>(row % g.kernel), ki = static_cast<int>((row / g.kernel) % g.kernel);
    const int c = static_cast<int>(row / (std::size_t(g.kernel) * g.kernel));
    const int y = i * g.stride - g.pad + ki, xx = j * g.stride - g.pad + kj;
    col[idx] = (y >= 0 && y < g.height && xx >= 0 && xx < g.width)
                   ? x[((std::size_t(b) * g.channels + c) * g.height + y) * g.width + xx]
                   : T(0);
  }
}

/// dx[b, c, y, x] = sum of the col entries that read it (a gather over the kernel window).
template <class T>
__global__ void col2im_kernel(T* dx, const T* dcol, conv_geometry g) {
  const int oh = g.out_height(), ow = g.out_width();
  const std::size_t total = std::size_t(g.batch) * g.channels * g.height * g.width;
  for (std::size_t idx = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const int xx = static_cast<int>(idx % g.width);
    const int y = static_cast<int>((idx / g.width) % g.height);
    const int c = static_cast<int>((idx / (std::size_t(g.width) * g.height)) % g.channels);
    const int b = static_cast<int>(idx / (std::size_t(g.width) * g.height * g.channels));
    float acc = 0.0f;
    for (int ki = 0; ki < g.kernel; ++ki) {
      const int ty = y + g.pad - ki;
      if (ty < 0 || ty % g.stride) continue;
      const int i = ty / g.stride;
      if (i >= oh) continue;
      for (int kj = 0; kj < g.kernel; ++kj) {
        const int tx = xx + g.pad - kj;
        if (tx < 0 || tx % g.stride) continue;
        const int j = tx / g.stride;
        if (j >= ow) continue;
        const std::size_t row = (std::size_t(c) * g.kernel + ki) * g.kernel + kj;
        acc += to_compute(dcol[((std::size_t(b) * g.patch() + row) * oh + i) * ow + j]);
      }
    }
    dx[idx] = from_compute<T>(acc);
  }
}

template <class T>
__global__ void maxpool_forward_kernel(T* y, token_t* argmax, const T* x, pool_geometry g) {
  const int oh = g.out_height(), ow = g.out_width();
  const std::size_t total = std::size_t(g.planes) * oh * ow;
  for (std::size_t idx = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(idx % ow), i = static_cast<int>((idx / ow) % oh);
    const std::size_t plane = idx / (std::size_t(oh) * ow);
    const T* xp = x + plane * g.height * g.width;
    int best = (i * g.stride) * g.width + j * g.stride;
    for (int ki = 0; ki < g.kernel; ++ki)
      for (int kj = 0; kj < g.kernel; ++kj) {
        const int at = (i * g.stride + ki) * g.width + j * g.stride + kj;
        if (xp[at] > xp[best]) best = at;  // first maximum wins, as the reference
      }
    y[idx] = xp[best];
    argmax[idx] = best;
  }
}

template <class T>
__global__ void maxpool_backward_kernel(T* dx, const token_t* argmax, const T* dy, pool_geometry g) {
  const std::size_t per_plane = std::size_t(g.out_height()) * g.out_width();
  const std::size_t total = std::size_t(g.planes) * per_plane;
  for (std::size_t idx = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t plane = idx / per_plane;
    atomicAdd(dx + plane * g.height * g.width + argmax[idx], dy[idx]);  // windows may overlap
  }
}

}  // namespace thaw::backend::cuda_detail
