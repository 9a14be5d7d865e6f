// Device-side building blocks of the CUDA backend's kernels: storage <-> compute conversions
// (float compute for every storage type; bf16 storage plugs in here), 16-byte packs for
// vectorised loads, warp and row-group reductions, and the launch shape of row kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/core/host_device.hpp"

namespace thaw::backend::cuda_detail {

// ---- storage <-> compute --------------------------------------------------------------------
// Kernels load storage values, compute in float and round once when they store.
template <class T>
THAW_DEVICE float to_compute(T v) {
  return static_cast<float>(v);
}
template <class T>
THAW_DEVICE T from_compute(float v) {
  return static_cast<T>(v);
}

// ---- 16-byte packs -----------------------------------------------------------------------------
template <class T, int N>
struct alignas(sizeof(T) * N) pack {
  T v[N];
};
/// Elements of T in one 16-byte access (4 floats; 8 for a 2-byte type).
template <class T>
inline constexpr int kPack = sizeof(T) >= 16 ? 1 : static_cast<int>(16 / sizeof(T));

template <int N, class T>
THAW_DEVICE pack<T, N> load(const T* p) {
  return *reinterpret_cast<const pack<T, N>*>(p);
}
template <int N, class T>
THAW_DEVICE void store(T* p, const pack<T, N>& v) {
  *reinterpret_cast<pack<T, N>*>(p) = v;
}

/// True when each pointer is aligned to a 16-byte pack of T.
template <class T, class... P>
bool pack_aligned(const P*... ptrs) {
  return (aligned_to(ptrs, sizeof(T) * kPack<T>) && ...);
}

// ---- reductions ----------------------------------------------------------------------------------
struct sum_op {
  template <class V>
  THAW_DEVICE V operator()(V a, V b) const {
    return a + b;
  }
  template <class V>
  static THAW_DEVICE V identity() {
    return V(0);
  }
};
struct max_op {
  THAW_DEVICE float operator()(float a, float b) const { return fmaxf(a, b); }
  template <class V>
  static THAW_DEVICE V identity() {
    return -INFINITY;
  }
};

/// Butterfly reduction over the 32 lanes of a warp; every lane gets the result.
template <class V, class Op>
THAW_DEVICE V warp_reduce(V v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

/// Reduction over the kThreads threads that share one row (threadIdx.x in [0, kThreads)):
/// a warp when kThreads == 32, the whole (kThreads x 1) block otherwise. Every thread of the
/// row gets the result. `smem` holds at least 32 values; the leading barrier makes back-to-back
/// calls safe.
template <int kThreads, class V, class Op>
THAW_DEVICE V row_reduce(V v, Op op, V* smem) {
  v = warp_reduce(v, op);
  if constexpr (kThreads > 32) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    v = lane < kThreads / 32 ? smem[lane] : Op::template identity<V>();
    v = warp_reduce(v, op);
  }
  return v;
}

// ---- row kernels' launch shape ------------------------------------------------------------------
// A row of `cols` elements is handled by a warp (8 rows per 256-thread block) up to 1024 columns,
// by a 128-thread block up to 4096, and by a 512-thread block beyond. Each thread moves W
// elements at a time: a 16-byte pack (W = kPack<T>) when every row starts 16-byte aligned and
// the pointers allow it, else one (W = 1).
inline constexpr int kRowsPerWarpBlock = 8;

template <int kThreads>
struct row_launch {
  static constexpr int threads = kThreads;
  static dim3 block() { return kThreads == 32 ? dim3(32, kRowsPerWarpBlock) : dim3(kThreads, 1); }
  static dim3 grid(int rows) {
    return kThreads == 32 ? dim3(static_cast<unsigned>((rows + kRowsPerWarpBlock - 1) / kRowsPerWarpBlock))
                          : dim3(static_cast<unsigned>(rows));
  }
};

/// Row index of this thread's row group in a row kernel.
template <int kThreads>
THAW_DEVICE int row_index() {
  return kThreads == 32 ? static_cast<int>(blockIdx.x) * kRowsPerWarpBlock + static_cast<int>(threadIdx.y)
                        : static_cast<int>(blockIdx.x);
}

/// Calls f(std::integral_constant<int, threads>{}, std::integral_constant<bool, vectorised>{}).
template <class T, class F>
void dispatch_rows(int cols, bool vec_ok, F&& f) {
  vec_ok = vec_ok && kPack<T> > 1 && cols % kPack<T> == 0;
  auto by_width = [&](auto threads) {
    if (vec_ok)
      f(threads, std::true_type{});
    else
      f(threads, std::false_type{});
  };
  if (cols <= 1024)
    by_width(std::integral_constant<int, 32>{});
  else if (cols <= 4096)
    by_width(std::integral_constant<int, 128>{});
  else
    by_width(std::integral_constant<int, 512>{});
}

}  // namespace thaw::backend::cuda_detail
