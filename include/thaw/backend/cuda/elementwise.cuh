// Elementwise kernels of the CUDA backend: fill, the Philox random fills (the same numbers as
// philox::*_at on the CPU), add / scale / axpy / add_bias, GELU forward and backward, and the
// beta-scaling used by GEMM when k == 0. Each is a functor run by one grid-stride kernel that
// moves 16-byte packs when every pointer allows it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "thaw/backend/cuda/common.cuh"
#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/core/philox.hpp"

namespace thaw::backend::cuda_detail {

inline constexpr int kMapThreads = 256;

/// Runs f.apply<W>(i) for i = 0, W, 2W, ... over the first n / W * W elements, then
/// f.apply<1>(i) over the tail.
template <int W, class F>
__global__ void __launch_bounds__(kMapThreads) map_kernel(std::size_t n, F f) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t tid = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::size_t packs = n / W;
  for (std::size_t i = tid; i < packs; i += stride) f.template apply<W>(i * W);
  if constexpr (W > 1) {
    for (std::size_t i = packs * W + tid; i < n; i += stride) f.template apply<1>(i);
  }
}

/// Launches map_kernel over n elements, with packs of kPack<T> when `vec_ok`.
template <class T, class F>
void launch_map(const char* name, std::size_t n, const F& f, bool vec_ok) {
  if (n == 0) return;
  cudaStream_t stream = ctx().stream;
  constexpr int W = kPack<T>;
  if (W > 1 && vec_ok && n >= static_cast<std::size_t>(W)) {
    map_kernel<W><<<grid_for(n / W, kMapThreads), kMapThreads, 0, stream>>>(n, f);
  } else {
    map_kernel<1><<<grid_for(n, kMapThreads), kMapThreads, 0, stream>>>(n, f);
  }
  check_launch(name);
}

// ---- functors -----------------------------------------------------------------------------------

template <class T>
struct fill_fn {
  T* x;
  T value;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = value;
    store<W>(x + i, out);
  }
};

template <class T>
struct add_fn {
  T* y;
  const T* a;
  const T* b;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    const auto va = load<W>(a + i);
    const auto vb = load<W>(b + i);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = from_compute<T>(to_compute(va.v[k]) + to_compute(vb.v[k]));
    store<W>(y + i, out);
  }
};

template <class T>
struct scale_fn {
  T* x;
  float alpha;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    auto v = load<W>(x + i);
#pragma unroll
    for (int k = 0; k < W; ++k) v.v[k] = from_compute<T>(to_compute(v.v[k]) * alpha);
    store<W>(x + i, v);
  }
};

template <class T>
struct axpy_fn {
  T* y;
  const T* x;
  float alpha;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    auto vy = load<W>(y + i);
    const auto vx = load<W>(x + i);
#pragma unroll
    for (int k = 0; k < W; ++k) vy.v[k] = from_compute<T>(fmaf(alpha, to_compute(vx.v[k]), to_compute(vy.v[k])));
    store<W>(y + i, vy);
  }
};

/// y[r, c] += bias[c]; packs never straddle rows because cols % W == 0 when W > 1.
template <class T>
struct add_bias_fn {
  T* y;
  const T* bias;
  std::size_t cols;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    auto vy = load<W>(y + i);
    const auto vb = load<W>(bias + i % cols);
#pragma unroll
    for (int k = 0; k < W; ++k) vy.v[k] = from_compute<T>(to_compute(vy.v[k]) + to_compute(vb.v[k]));
    store<W>(y + i, vy);
  }
};

// GELU, tanh approximation (GPT-2): y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
inline constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float kGeluCubic = 0.044715f;

THAW_DEVICE float gelu(float x) {
  const float u = kGeluScale * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}
THAW_DEVICE float gelu_grad(float x) {
  const float u = kGeluScale * (x + kGeluCubic * x * x * x);
  const float t = tanhf(u);
  const float du = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

template <class T>
struct gelu_forward_fn {
  T* y;
  const T* x;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    const auto vx = load<W>(x + i);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = from_compute<T>(gelu(to_compute(vx.v[k])));
    store<W>(y + i, out);
  }
};

template <class T>
struct gelu_backward_fn {
  T* dx;
  const T* x;
  const T* dy;
  template <int W>
  THAW_DEVICE void apply(std::size_t i) const {
    const auto vx = load<W>(x + i);
    const auto vdy = load<W>(dy + i);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = from_compute<T>(to_compute(vdy.v[k]) * gelu_grad(to_compute(vx.v[k])));
    store<W>(dx + i, out);
  }
};

// ---- Philox fills -------------------------------------------------------------------------------
// Uniform and Bernoulli: one thread per Philox block (4 outputs), element e = lane e % 4 of
// block e / 4, exactly as philox::bits_at. The uniform value is philox::uniform_from_bits, the
// host's own function: one fused multiply-add in double (philox.hpp says why), so the GPU's
// values equal the CPU's bit for bit whatever either compiler's contraction settings.

template <class T>
__global__ void __launch_bounds__(kMapThreads)
    fill_uniform_kernel(T* x, std::size_t n, philox_key key, std::uint64_t offset, double lo, double hi) {
  const std::uint64_t first = offset / 4, last = (offset + n - 1) / 4;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t j = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       j <= last - first; j += stride) {
    const std::uint64_t block = first + j;
    const philox::block4 b = philox::block_at(key, block);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const std::uint64_t e = block * 4 + lane;
      if (e >= offset && e - offset < n)
        x[e - offset] = static_cast<T>(philox::uniform_from_bits(b.v[lane], lo, hi));
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kMapThreads)
    fill_bernoulli_kernel(T* x, std::size_t n, philox_key key, std::uint64_t offset, double p) {
  const std::uint64_t first = offset / 4, last = (offset + n - 1) / 4;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t j = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       j <= last - first; j += stride) {
    const std::uint64_t block = first + j;
    const philox::block4 b = philox::block_at(key, block);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const std::uint64_t e = block * 4 + lane;
      if (e >= offset && e - offset < n)
        x[e - offset] = philox::to_unit(b.v[lane]) < p ? T(1) : T(0);
    }
  }
}

/// Normal: element by element through philox::normal_at itself (double-precision Box-Muller;
/// CUDA's log / cos may differ from libm in the last bit, as philox.hpp says).
template <class T>
__global__ void __launch_bounds__(kMapThreads)
    fill_normal_kernel(T* x, std::size_t n, philox_key key, std::uint64_t offset, double mean, double stddev) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride)
    x[e] = static_cast<T>(philox::normal_at(key, offset + e, mean, stddev));
}

// ---- GEMM helper: C = beta * C over an m x n block with row stride ldc (batched) ---------------
template <class T>
__global__ void __launch_bounds__(kMapThreads)
    scale_matrix_kernel(T* c, int m, int n, int ldc, std::int64_t stride_c, int batch, float beta) {
  const std::size_t per = static_cast<std::size_t>(m) * n, total = per * batch;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const std::size_t b = i / per, rem = i % per, r = rem / n, col = rem % n;
    T& out = c[b * stride_c + r * ldc + col];
    out = beta == 0.0f ? T(0) : from_compute<T>(beta * to_compute(out));
  }
}

}  // namespace thaw::backend::cuda_detail
