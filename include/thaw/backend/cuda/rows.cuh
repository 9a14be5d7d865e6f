// Row kernels of the CUDA backend: softmax (scale, causal) forward / backward, LayerNorm and
// RMSNorm forward and their input gradients, cross-entropy forward / backward. A row is owned
// by one warp (up to 1024 columns) or one block (row_launch in common.cuh); every element is
// read and written by the same thread, which is what makes y = x / dx = dy / dlogits = logits
// aliasing safe. Statistics are reduced in float.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "thaw/backend/cuda/common.cuh"
#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/backend/ops.hpp"

namespace thaw::backend::cuda_detail {

/// __launch_bounds__ of a row kernel with kThreads threads per row.
template <int kThreads>
inline constexpr int kRowBlock = kThreads == 32 ? 32 * kRowsPerWarpBlock : kThreads;

/// Online softmax statistics: after the loop, sum = sum_c exp(z_c - max).
struct online_max_sum {
  float max = -INFINITY;
  float sum = 0.0f;
  THAW_DEVICE void add(float z) {
    if (z > max) {
      sum = sum * expf(max - z) + 1.0f;
      max = z;
    } else if (z > -INFINITY) {
      sum += expf(z - max);
    }
  }
  /// Combines the row's threads; every thread gets the row's (max, sum).
  template <int kThreads>
  THAW_DEVICE void reduce(float* smem) {
    const float row_max = row_reduce<kThreads>(max, max_op{}, smem);
    const float mine = max == -INFINITY ? 0.0f : sum * expf(max - row_max);
    sum = row_reduce<kThreads>(mine, sum_op{}, smem);
    max = row_max;
  }
};

// ---- softmax ------------------------------------------------------------------------------------

template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    softmax_forward_kernel(T* y, const T* x, int rows, int cols, float scale, bool causal) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const std::size_t o = static_cast<std::size_t>(r) * cols;
  const int valid = causal ? r % cols + 1 : cols;
  online_max_sum stats;
  for (int c = threadIdx.x * W; c < valid; c += kThreads * W) {
    const auto v = load<W>(x + o + c);
#pragma unroll
    for (int k = 0; k < W; ++k)
      if (c + k < valid) stats.add(scale * to_compute(v.v[k]));
  }
  stats.reduce<kThreads>(smem);
  const float inv = 1.0f / stats.sum;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    pack<T, W> out;
    if (c < valid) {
      const auto v = load<W>(x + o + c);
#pragma unroll
      for (int k = 0; k < W; ++k)
        out.v[k] = c + k < valid ? from_compute<T>(expf(scale * to_compute(v.v[k]) - stats.max) * inv) : T(0);
    } else {
#pragma unroll
      for (int k = 0; k < W; ++k) out.v[k] = T(0);
    }
    store<W>(y + o + c, out);
  }
}

template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    softmax_backward_kernel(T* dx, const T* y, const T* dy, int rows, int cols, float scale) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const std::size_t o = static_cast<std::size_t>(r) * cols;
  float dot = 0.0f;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto vy = load<W>(y + o + c);
    const auto vd = load<W>(dy + o + c);
#pragma unroll
    for (int k = 0; k < W; ++k) dot = fmaf(to_compute(vy.v[k]), to_compute(vd.v[k]), dot);
  }
  dot = row_reduce<kThreads>(dot, sum_op{}, smem);
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto vy = load<W>(y + o + c);
    const auto vd = load<W>(dy + o + c);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k)
      out.v[k] = from_compute<T>(scale * to_compute(vy.v[k]) * (to_compute(vd.v[k]) - dot));
    store<W>(dx + o + c, out);
  }
}

// ---- LayerNorm / RMSNorm ------------------------------------------------------------------------

/// weight[c..c+W) as floats, or ones / zeros when the pointer is null.
template <int W, class T>
THAW_DEVICE pack<float, W> load_or(const T* p, int c, float fallback) {
  pack<float, W> out;
  if (p) {
    const auto v = load<W>(p + c);
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = to_compute(v.v[k]);
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = fallback;
  }
  return out;
}

template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    layernorm_forward_kernel(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias,
                             int rows, int cols, float eps) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const std::size_t o = static_cast<std::size_t>(r) * cols;
  float s = 0.0f;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto v = load<W>(x + o + c);
#pragma unroll
    for (int k = 0; k < W; ++k) s += to_compute(v.v[k]);
  }
  const float mu = row_reduce<kThreads>(s, sum_op{}, smem) / cols;
  float q = 0.0f;  // second pass over the (cached) row: no cancellation in the variance
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto v = load<W>(x + o + c);
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float d = to_compute(v.v[k]) - mu;
      q = fmaf(d, d, q);
    }
  }
  const float inv = 1.0f / sqrtf(row_reduce<kThreads>(q, sum_op{}, smem) / cols + eps);
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto v = load<W>(x + o + c);
    const auto w = load_or<W>(weight, c, 1.0f);
    const auto b = load_or<W>(bias, c, 0.0f);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = from_compute<T>((to_compute(v.v[k]) - mu) * inv * w.v[k] + b.v[k]);
    store<W>(y + o + c, out);
  }
  if (threadIdx.x == 0) {
    if (mean) mean[r] = from_compute<T>(mu);
    if (rstd) rstd[r] = from_compute<T>(inv);
  }
}

/// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * weight.
template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    layernorm_backward_dx_kernel(T* dx, const T* dy, const T* x, const T* weight, const T* mean,
                                 const T* rstd, int rows, int cols) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const std::size_t o = static_cast<std::size_t>(r) * cols;
  const float mu = to_compute(mean[r]), inv = to_compute(rstd[r]);
  float sum_dxhat = 0.0f, sum_dxhat_xhat = 0.0f;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto vx = load<W>(x + o + c);
    const auto vd = load<W>(dy + o + c);
    const auto w = load_or<W>(weight, c, 1.0f);
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float xhat = (to_compute(vx.v[k]) - mu) * inv;
      const float dxhat = to_compute(vd.v[k]) * w.v[k];
      sum_dxhat += dxhat;
      sum_dxhat_xhat = fmaf(dxhat, xhat, sum_dxhat_xhat);
    }
  }
  const float mean_dxhat = row_reduce<kThreads>(sum_dxhat, sum_op{}, smem) / cols;
  const float mean_dxhat_xhat = row_reduce<kThreads>(sum_dxhat_xhat, sum_op{}, smem) / cols;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto vx = load<W>(x + o + c);
    const auto vd = load<W>(dy + o + c);
    const auto w = load_or<W>(weight, c, 1.0f);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float xhat = (to_compute(vx.v[k]) - mu) * inv;
      const float dxhat = to_compute(vd.v[k]) * w.v[k];
      out.v[k] = from_compute<T>(inv * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat));
    }
    store<W>(dx + o + c, out);
  }
}

template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    rmsnorm_forward_kernel(T* y, T* rstd, const T* x, const T* weight, int rows, int cols, float eps) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const std::size_t o = static_cast<std::size_t>(r) * cols;
  float q = 0.0f;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto v = load<W>(x + o + c);
#pragma unroll
    for (int k = 0; k < W; ++k) q = fmaf(to_compute(v.v[k]), to_compute(v.v[k]), q);
  }
  const float inv = 1.0f / sqrtf(row_reduce<kThreads>(q, sum_op{}, smem) / cols + eps);
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto v = load<W>(x + o + c);
    const auto w = load_or<W>(weight, c, 1.0f);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) out.v[k] = from_compute<T>(to_compute(v.v[k]) * inv * w.v[k]);
    store<W>(y + o + c, out);
  }
  if (threadIdx.x == 0 && rstd) rstd[r] = from_compute<T>(inv);
}

/// dx = rstd * (dxhat - xhat * mean(dxhat * xhat)), xhat = x * rstd, dxhat = dy * weight.
template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    rmsnorm_backward_dx_kernel(T* dx, const T* dy, const T* x, const T* weight, const T* rstd,
                               int rows, int cols) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const std::size_t o = static_cast<std::size_t>(r) * cols;
  const float inv = to_compute(rstd[r]);
  float s = 0.0f;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto vx = load<W>(x + o + c);
    const auto vd = load<W>(dy + o + c);
    const auto w = load_or<W>(weight, c, 1.0f);
#pragma unroll
    for (int k = 0; k < W; ++k) s = fmaf(to_compute(vd.v[k]) * w.v[k], to_compute(vx.v[k]) * inv, s);
  }
  const float mean_dxhat_xhat = row_reduce<kThreads>(s, sum_op{}, smem) / cols;
  for (int c = threadIdx.x * W; c < cols; c += kThreads * W) {
    const auto vx = load<W>(x + o + c);
    const auto vd = load<W>(dy + o + c);
    const auto w = load_or<W>(weight, c, 1.0f);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float xhat = to_compute(vx.v[k]) * inv;
      out.v[k] = from_compute<T>(inv * (to_compute(vd.v[k]) * w.v[k] - xhat * mean_dxhat_xhat));
    }
    store<W>(dx + o + c, out);
  }
}

// ---- cross-entropy ------------------------------------------------------------------------------

/// Visits the columns [0, cols) of a row that starts `o` elements after a 16-byte aligned base
/// but not itself on a 16-byte boundary (GPT-2's 50257-wide logits): scalar(c) up to the first
/// boundary, vector(c) for each whole pack after it, scalar(c) for the rest, so that most of
/// the row moves in 16-byte accesses.
template <int kThreads, class T, class Scalar, class Vector>
THAW_DEVICE void split_row(std::size_t o, int cols, Scalar&& scalar, Vector&& vector) {
  constexpr int P = kPack<T>;
  const int head = min(cols, static_cast<int>((P - o % P) % P));
  const int packs = (cols - head) / P;
  for (int c = threadIdx.x; c < head; c += kThreads) scalar(c);
  for (int i = threadIdx.x; i < packs; i += kThreads) vector(head + i * P);
  for (int c = head + packs * P + threadIdx.x; c < cols; c += kThreads) scalar(c);
}

template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    cross_entropy_forward_kernel(T* losses, const T* logits, const token_t* targets, int rows,
                                 int vocab, token_t ignore_index, device_error* error, bool split) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const token_t t = targets[r];
  if (t == ignore_index) {  // uniform over the row's threads: whole warp / block leaves
    if (threadIdx.x == 0) losses[r] = T(0);
    return;
  }
  if (t < 0 || t >= vocab) {
    if (threadIdx.x == 0) {
      raise_device_error(error, kErrorTarget, t, r, vocab);
      losses[r] = from_compute<T>(NAN);
    }
    return;
  }
  const std::size_t o = static_cast<std::size_t>(r) * vocab;
  online_max_sum stats;
  if (!kVec && split) {
    split_row<kThreads, T>(
        o, vocab, [&](int c) { stats.add(to_compute(logits[o + c])); },
        [&](int c) {
          const auto v = load<kPack<T>>(logits + o + c);
#pragma unroll
          for (int k = 0; k < kPack<T>; ++k) stats.add(to_compute(v.v[k]));
        });
  } else {
    for (int c = threadIdx.x * W; c < vocab; c += kThreads * W) {
      const auto v = load<W>(logits + o + c);
#pragma unroll
      for (int k = 0; k < W; ++k) stats.add(to_compute(v.v[k]));
    }
  }
  stats.reduce<kThreads>(smem);
  if (threadIdx.x == 0) losses[r] = from_compute<T>(logf(stats.sum) + stats.max - to_compute(logits[o + t]));
}

/// dlogits = dloss * (softmax(logits) - onehot(target)); zero rows where the target is ignored.
template <int kThreads, bool kVec, class T>
__global__ void __launch_bounds__(kRowBlock<kThreads>)
    cross_entropy_backward_kernel(T* dlogits, const T* logits, const token_t* targets, int rows,
                                  int vocab, token_t ignore_index, float dloss, device_error* error, bool split) {
  constexpr int W = kVec ? kPack<T> : 1;
  __shared__ float smem[32];
  const int r = row_index<kThreads>();
  if (r >= rows) return;
  const std::size_t o = static_cast<std::size_t>(r) * vocab;
  const token_t t = targets[r];
  const bool ignored = t == ignore_index;
  const bool bad = !ignored && (t < 0 || t >= vocab);
  if (ignored || bad) {
    if (bad && threadIdx.x == 0) raise_device_error(error, kErrorTarget, t, r, vocab);
    pack<T, W> fill;
#pragma unroll
    for (int k = 0; k < W; ++k) fill.v[k] = bad ? from_compute<T>(NAN) : T(0);
    for (int c = threadIdx.x * W; c < vocab; c += kThreads * W) store<W>(dlogits + o + c, fill);
    return;
  }
  online_max_sum stats;
  if (!kVec && split) {
    split_row<kThreads, T>(
        o, vocab, [&](int c) { stats.add(to_compute(logits[o + c])); },
        [&](int c) {
          const auto v = load<kPack<T>>(logits + o + c);
#pragma unroll
          for (int k = 0; k < kPack<T>; ++k) stats.add(to_compute(v.v[k]));
        });
    stats.reduce<kThreads>(smem);
    const float inv = 1.0f / stats.sum;
    auto grad = [&](int c, float x) { return dloss * (expf(x - stats.max) * inv - (c == t ? 1.0f : 0.0f)); };
    split_row<kThreads, T>(
        o, vocab, [&](int c) { dlogits[o + c] = from_compute<T>(grad(c, to_compute(logits[o + c]))); },
        [&](int c) {
          const auto v = load<kPack<T>>(logits + o + c);
          pack<T, kPack<T>> out;
#pragma unroll
          for (int k = 0; k < kPack<T>; ++k) out.v[k] = from_compute<T>(grad(c + k, to_compute(v.v[k])));
          store<kPack<T>>(dlogits + o + c, out);
        });
    return;
  }
  for (int c = threadIdx.x * W; c < vocab; c += kThreads * W) {
    const auto v = load<W>(logits + o + c);
#pragma unroll
    for (int k = 0; k < W; ++k) stats.add(to_compute(v.v[k]));
  }
  stats.reduce<kThreads>(smem);
  const float inv = 1.0f / stats.sum;
  for (int c = threadIdx.x * W; c < vocab; c += kThreads * W) {
    const auto v = load<W>(logits + o + c);
    pack<T, W> out;
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float p = expf(to_compute(v.v[k]) - stats.max) * inv;
      out.v[k] = from_compute<T>(dloss * (p - (c + k == t ? 1.0f : 0.0f)));
    }
    store<W>(dlogits + o + c, out);
  }
}

// ---- host launchers -----------------------------------------------------------------------------

/// Launches a row kernel chosen by dispatch_rows: launch(threads, vec, grid, block).
template <class T, class Launch>
void launch_rows(const char* name, int rows, int cols, bool vec_ok, Launch&& launch) {
  THAW_CHECK(rows >= 0 && cols >= 0, name, ": rows (", rows, ") and cols (", cols,
             ") must not be negative");
  if (rows == 0 || cols == 0) return;
  dispatch_rows<T>(cols, vec_ok, [&](auto threads, auto vec) {
    using shape = row_launch<decltype(threads)::value>;
    launch(threads, vec, shape::grid(rows), shape::block());
  });
  check_launch(name);
}

template <class T>
void softmax_forward(T* y, const T* x, int rows, int cols, float scale, bool causal) {
  cudaStream_t s = ctx().stream;
  launch_rows<T>("softmax_forward", rows, cols, pack_aligned<T>(y, x), [&](auto th, auto vec, dim3 g, dim3 b) {
    softmax_forward_kernel<decltype(th)::value, decltype(vec)::value><<<g, b, 0, s>>>(y, x, rows, cols, scale, causal);
  });
}

template <class T>
void softmax_backward(T* dx, const T* y, const T* dy, int rows, int cols, float scale) {
  cudaStream_t s = ctx().stream;
  launch_rows<T>("softmax_backward", rows, cols, pack_aligned<T>(dx, y, dy), [&](auto th, auto vec, dim3 g, dim3 b) {
    softmax_backward_kernel<decltype(th)::value, decltype(vec)::value><<<g, b, 0, s>>>(dx, y, dy, rows, cols, scale);
  });
}

template <class T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int rows,
                       int cols, float eps) {
  cudaStream_t s = ctx().stream;
  const bool vec = pack_aligned<T>(y, x) && (!weight || pack_aligned<T>(weight)) && (!bias || pack_aligned<T>(bias));
  launch_rows<T>("layernorm_forward", rows, cols, vec, [&](auto th, auto v, dim3 g, dim3 b) {
    layernorm_forward_kernel<decltype(th)::value, decltype(v)::value>
        <<<g, b, 0, s>>>(y, mean, rstd, x, weight, bias, rows, cols, eps);
  });
}

template <class T>
void layernorm_backward_dx(T* dx, const T* dy, const T* x, const T* weight, const T* mean,
                           const T* rstd, int rows, int cols) {
  cudaStream_t s = ctx().stream;
  const bool vec = pack_aligned<T>(dx, dy, x) && (!weight || pack_aligned<T>(weight));
  launch_rows<T>("layernorm_backward", rows, cols, vec, [&](auto th, auto v, dim3 g, dim3 b) {
    layernorm_backward_dx_kernel<decltype(th)::value, decltype(v)::value>
        <<<g, b, 0, s>>>(dx, dy, x, weight, mean, rstd, rows, cols);
  });
}

template <class T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* weight, int rows, int cols, float eps) {
  cudaStream_t s = ctx().stream;
  const bool vec = pack_aligned<T>(y, x) && (!weight || pack_aligned<T>(weight));
  launch_rows<T>("rmsnorm_forward", rows, cols, vec, [&](auto th, auto v, dim3 g, dim3 b) {
    rmsnorm_forward_kernel<decltype(th)::value, decltype(v)::value><<<g, b, 0, s>>>(y, rstd, x, weight, rows, cols, eps);
  });
}

template <class T>
void rmsnorm_backward_dx(T* dx, const T* dy, const T* x, const T* weight, const T* rstd, int rows, int cols) {
  cudaStream_t s = ctx().stream;
  const bool vec = pack_aligned<T>(dx, dy, x) && (!weight || pack_aligned<T>(weight));
  launch_rows<T>("rmsnorm_backward", rows, cols, vec, [&](auto th, auto v, dim3 g, dim3 b) {
    rmsnorm_backward_dx_kernel<decltype(th)::value, decltype(v)::value>
        <<<g, b, 0, s>>>(dx, dy, x, weight, rstd, rows, cols);
  });
}

template <class T>
void cross_entropy_forward(T* losses, const T* logits, const token_t* targets, int rows, int vocab,
                           token_t ignore_index) {
  cudaStream_t s = ctx().stream;
  device_error* error = device_error_ptr();
  const bool aligned = pack_aligned<T>(logits);
  launch_rows<T>("cross_entropy_forward", rows, vocab, aligned, [&](auto th, auto v, dim3 g, dim3 b) {
    cross_entropy_forward_kernel<decltype(th)::value, decltype(v)::value>
        <<<g, b, 0, s>>>(losses, logits, targets, rows, vocab, ignore_index, error, aligned);
  });
}

template <class T>
void cross_entropy_backward(T* dlogits, const T* logits, const token_t* targets, int rows, int vocab,
                            token_t ignore_index, float dloss) {
  cudaStream_t s = ctx().stream;
  device_error* error = device_error_ptr();
  const bool aligned = pack_aligned<T>(dlogits, logits);
  launch_rows<T>("cross_entropy_backward", rows, vocab, aligned, [&](auto th, auto v, dim3 g, dim3 b) {
    cross_entropy_backward_kernel<decltype(th)::value, decltype(v)::value>
        <<<g, b, 0, s>>>(dlogits, logits, targets, rows, vocab, ignore_index, dloss, error, aligned);
  });
}

}  // namespace thaw::backend::cuda_detail
