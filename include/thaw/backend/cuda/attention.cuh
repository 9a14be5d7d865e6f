// Fused causal attention of the CUDA backend for the bf16 policy: FlashAttention-2 (Dao 2023,
// "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning"; the
// algorithm of Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
// IO-Awareness"). The (T, T) scores never reach memory: each block keeps a 64-row query tile's
// scores in registers, walks the key tiles the causal mask leaves (online softmax), and keeps
// only the output and the log-sum-exp of each row. The backward recomputes the probabilities
// from the log-sum-exp.
//
// Tensor cores through mma.sync.m16n8k16 (bf16 inputs, fp32 accumulation): Q, K, V, dO (fp32
// in memory, as thaw's storage is) are rounded to bf16 as they are staged into shared memory or
// registers, and the probabilities P and score gradients dS are rounded to bf16 as they enter
// the second product, exactly where PyTorch's bf16 flash attention rounds. Softmax statistics,
// accumulators and every output stay fp32.
//
// Layout: q|k|v rows of width 3C as nn::causal_self_attention's c_attn writes them (head h of
// q at columns [h hd, (h+1) hd), of k at C + that, of v at 2C + that); outputs and dO rows of
// width C. Head size 64 only (GPT-2's); other sizes use the materialised path.
//
// Kernels (128 threads, 4 warps; a warp owns 16 rows of a 64-row tile):
//   forward        grid (query tiles, batch x heads): O and the row log-sum-exp.
//   backward_dkdv  grid (key tiles, batch x heads): dK, dV of a key tile over the query tiles
//                  at or after it (each key is written by one block: no atomics).
//   backward_dq    grid (query tiles, batch x heads): dQ over the key tiles at or before it.
//   row_dot        D = rowsum(dO * O), the softmax-backward term shared by both.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/core/error.hpp"

namespace thaw::backend::cuda_detail::flash {

inline constexpr int kHead = 64;     // head size
inline constexpr int kTile = 64;     // rows of a query tile and of a key tile
inline constexpr int kThreads = 128;  // 4 warps x 16 rows
inline constexpr int kStride = kTile + 8;  // shared-memory row stride in bf16 (no bank conflicts)
inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

/// Attention problem geometry (row strides in floats).
struct geometry {
  int batch, steps, heads, width;  // width = C = heads * 64
  float scale;                     // 1 / sqrt(64) usually
};

__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (lo) in the low 16 bits
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

/// d += a b on the tensor cores: a 16x16 (row), b 16x8 (col), d 16x8, bf16 in, fp32 accumulate.
__device__ __forceinline__ void mma(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// The 32-bit word holding elements [col, col + 1] of row `row` of a bf16 tile in shared memory.
__device__ __forceinline__ std::uint32_t word(const __nv_bfloat16* tile, int row, int col) {
  return *reinterpret_cast<const std::uint32_t*>(tile + row * kStride + col);
}

/// Stages 64 rows x 64 columns of fp32 (row r at src + r * ld; rows >= valid_rows read as 0)
/// into shared memory as bf16: tile[r][c] (transpose = false) or tile[c][r] (true).
__device__ __forceinline__ void stage(__nv_bfloat16* tile, const float* src, int ld, int valid_rows,
                                      bool transpose) {
  for (int i = threadIdx.x; i < kTile * kHead / 4; i += kThreads) {
    const int r = i / (kHead / 4), c = (i % (kHead / 4)) * 4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (r < valid_rows) v = *reinterpret_cast<const float4*>(src + std::size_t(r) * ld + c);
    if (!transpose) {
      auto* dst = reinterpret_cast<std::uint32_t*>(tile + r * kStride + c);
      dst[0] = pack_bf16(v.x, v.y);
      dst[1] = pack_bf16(v.z, v.w);
    } else {
      tile[(c + 0) * kStride + r] = __float2bfloat16_rn(v.x);
      tile[(c + 1) * kStride + r] = __float2bfloat16_rn(v.y);
      tile[(c + 2) * kStride + r] = __float2bfloat16_rn(v.z);
      tile[(c + 3) * kStride + r] = __float2bfloat16_rn(v.w);
    }
  }
}

/// A-operand fragments (16 rows x 64 columns, as 4 k-chunks of 16) of rows [row0, row0 + 16)
/// read straight from global fp32 memory (rows >= steps read as 0).
__device__ __forceinline__ void load_rows(std::uint32_t (&a)[4][4], const float* base, int ld, int row0, int steps) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int r0 = row0 + g, r1 = row0 + g + 8;
  for (int kc = 0; kc < 4; ++kc) {
    const int c = kc * 16 + 2 * t;
    float2 x00 = make_float2(0.f, 0.f), x10 = x00, x01 = x00, x11 = x00;
    if (r0 < steps) {
      x00 = *reinterpret_cast<const float2*>(base + std::size_t(r0) * ld + c);
      x01 = *reinterpret_cast<const float2*>(base + std::size_t(r0) * ld + c + 8);
    }
    if (r1 < steps) {
      x10 = *reinterpret_cast<const float2*>(base + std::size_t(r1) * ld + c);
      x11 = *reinterpret_cast<const float2*>(base + std::size_t(r1) * ld + c + 8);
    }
    a[kc][0] = pack_bf16(x00.x, x00.y);
    a[kc][1] = pack_bf16(x10.x, x10.y);
    a[kc][2] = pack_bf16(x01.x, x01.y);
    a[kc][3] = pack_bf16(x11.x, x11.y);
  }
}

/// acc[n] (16 x 8 tiles n = 0..7, a 16 x 64 block) += a (16 x 64) * tile^T, tile in shared
/// memory as [64 rows of the result's columns][64 k].
__device__ __forceinline__ void mma_rows_by_tile(float (&acc)[8][4], const std::uint32_t (&a)[4][4],
                                                 const __nv_bfloat16* tile) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  for (int n = 0; n < 8; ++n)
    for (int kc = 0; kc < 4; ++kc)
      mma(acc[n], a[kc], word(tile, n * 8 + g, kc * 16 + 2 * t), word(tile, n * 8 + g, kc * 16 + 2 * t + 8));
}

/// acc[n] += p (16 x 64, given as the fp32 accumulator fragments of a previous product, which
/// have the A layout once paired) * tile^T, tile in shared memory as [64 result columns][64 k].
__device__ __forceinline__ void mma_fragments_by_tile(float (&acc)[8][4], const float (&p)[8][4],
                                                      const __nv_bfloat16* tile) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  for (int kc = 0; kc < 4; ++kc) {
    const std::uint32_t a[4] = {pack_bf16(p[2 * kc][0], p[2 * kc][1]), pack_bf16(p[2 * kc][2], p[2 * kc][3]),
                                pack_bf16(p[2 * kc + 1][0], p[2 * kc + 1][1]),
                                pack_bf16(p[2 * kc + 1][2], p[2 * kc + 1][3])};
    for (int n = 0; n < 8; ++n)
      mma(acc[n], a, word(tile, n * 8 + g, kc * 16 + 2 * t), word(tile, n * 8 + g, kc * 16 + 2 * t + 8));
  }
}

__device__ __forceinline__ void zero(float (&acc)[8][4]) {
  for (int n = 0; n < 8; ++n)
    for (int i = 0; i < 4; ++i) acc[n][i] = 0.f;
}

/// Writes a 16 x 64 accumulator block (rows [row0, row0 + 16), times `factor`) to fp32 memory.
__device__ __forceinline__ void store_rows(float* base, int ld, int row0, int steps, const float (&acc)[8][4],
                                           float factor0, float factor1) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int r0 = row0 + g, r1 = row0 + g + 8;
  for (int n = 0; n < 8; ++n) {
    const int c = n * 8 + 2 * t;
    if (r0 < steps)
      *reinterpret_cast<float2*>(base + std::size_t(r0) * ld + c) = make_float2(acc[n][0] * factor0, acc[n][1] * factor0);
    if (r1 < steps)
      *reinterpret_cast<float2*>(base + std::size_t(r1) * ld + c) = make_float2(acc[n][2] * factor1, acc[n][3] * factor1);
  }
}

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// ---- forward ------------------------------------------------------------------------------------
// Kernels are templates (on the head size) so that the header can be included by several
// translation units of one program.
template <int Head>
__global__ void __launch_bounds__(kThreads) forward_kernel(float* __restrict__ out, float* __restrict__ lse,
                                                           const float* __restrict__ qkv, geometry geo) {
  __shared__ __align__(16) __nv_bfloat16 k_tile[kTile * kStride];   // [key][dim]
  __shared__ __align__(16) __nv_bfloat16 vt_tile[kHead * kStride];  // [dim][key]
  const int tiles = (geo.steps + kTile - 1) / kTile;
  const int qt = tiles - 1 - int(blockIdx.x);  // the longest (last) query tiles first
  const int bh = blockIdx.y, b = bh / geo.heads, h = bh % geo.heads;
  const int C = geo.width, ld = 3 * C;
  const float* q = qkv + std::size_t(b) * geo.steps * ld + h * kHead;
  const float* k = q + C;
  const float* v = q + 2 * C;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = qt * kTile + warp * 16;
  const int r0 = row0 + g, r1 = row0 + g + 8;
  const float scale_log2 = geo.scale * kLog2e;

  std::uint32_t qa[4][4];
  load_rows(qa, q, ld, row0, geo.steps);
  float o[8][4];
  zero(o);
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;

  for (int kt = 0; kt <= qt; ++kt) {
    const int key0 = kt * kTile;
    __syncthreads();  // the previous tile's readers are done
    stage(k_tile, k + std::size_t(key0) * ld, ld, geo.steps - key0, false);
    stage(vt_tile, v + std::size_t(key0) * ld, ld, geo.steps - key0, true);
    __syncthreads();
    float s[8][4];
    zero(s);
    mma_rows_by_tile(s, qa, k_tile);
    float mx0 = -INFINITY, mx1 = -INFINITY;
    for (int n = 0; n < 8; ++n)
      for (int i = 0; i < 4; ++i) {
        const int key = key0 + n * 8 + 2 * t + (i & 1), row = i < 2 ? r0 : r1;
        s[n][i] = (key <= row && key < geo.steps) ? s[n][i] * scale_log2 : -INFINITY;
        if (i < 2) mx0 = fmaxf(mx0, s[n][i]);
        else mx1 = fmaxf(mx1, s[n][i]);
      }
    const float new0 = fmaxf(m0, quad_max(mx0)), new1 = fmaxf(m1, quad_max(mx1));
    // A row with every key masked so far keeps m = -inf; exp2 of (-inf) - 0 is then 0.
    const float base0 = new0 == -INFINITY ? 0.f : new0, base1 = new1 == -INFINITY ? 0.f : new1;
    const float alpha0 = exp2f(m0 - base0), alpha1 = exp2f(m1 - base1);
    m0 = new0;
    m1 = new1;
    float sum0 = 0.f, sum1 = 0.f;
    for (int n = 0; n < 8; ++n) {
      s[n][0] = exp2f(s[n][0] - base0);
      s[n][1] = exp2f(s[n][1] - base0);
      s[n][2] = exp2f(s[n][2] - base1);
      s[n][3] = exp2f(s[n][3] - base1);
      sum0 += s[n][0] + s[n][1];
      sum1 += s[n][2] + s[n][3];
      o[n][0] *= alpha0;
      o[n][1] *= alpha0;
      o[n][2] *= alpha1;
      o[n][3] *= alpha1;
    }
    l0 = l0 * alpha0 + sum0;  // this thread's share of the row sum; the quad adds them at the end
    l1 = l1 * alpha1 + sum1;
    mma_fragments_by_tile(o, s, vt_tile);
  }
  l0 = quad_sum(l0);
  l1 = quad_sum(l1);
  store_rows(out + std::size_t(b) * geo.steps * C + h * kHead, C, row0, geo.steps, o, 1.f / l0, 1.f / l1);
  if (t == 0) {
    float* row_lse = lse + std::size_t(bh) * geo.steps;
    if (r0 < geo.steps) row_lse[r0] = (m0 + log2f(l0)) * kLn2;
    if (r1 < geo.steps) row_lse[r1] = (m1 + log2f(l1)) * kLn2;
  }
}

// ---- backward -----------------------------------------------------------------------------------
/// D[bh][row] = sum_d dO[row][d] O[row][d]: one warp per (row, head).
template <int Head>
__global__ void row_dot_kernel(float* __restrict__ d, const float* __restrict__ dout, const float* __restrict__ out,
                               geometry geo) {
  const std::size_t rows = std::size_t(geo.batch) * geo.heads * geo.steps;
  const std::size_t warp = (std::size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= rows) return;
  const int row = int(warp % geo.steps);
  const std::size_t bh = warp / geo.steps;
  const int b = int(bh / geo.heads), h = int(bh % geo.heads);
  const std::size_t at = (std::size_t(b) * geo.steps + row) * geo.width + h * kHead + 2 * lane;
  const float2 x = *reinterpret_cast<const float2*>(dout + at), y = *reinterpret_cast<const float2*>(out + at);
  float sum = x.x * y.x + x.y * y.y;
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) d[bh * geo.steps + row] = sum;
}

/// dK, dV of one 64-key tile: each warp's 16 keys are the rows of S^T = K Q^T and of
/// dP^T = V dO^T; dV += P^T dO and dK += dS^T Q.
template <int Head>
__global__ void __launch_bounds__(kThreads) backward_dkdv_kernel(float* __restrict__ dqkv, const float* __restrict__ qkv,
                                                                 const float* __restrict__ dout,
                                                                 const float* __restrict__ lse,
                                                                 const float* __restrict__ dterm, geometry geo) {
  __shared__ __align__(16) __nv_bfloat16 q_tile[kTile * kStride];    // [query][dim]
  __shared__ __align__(16) __nv_bfloat16 qt_tile[kHead * kStride];   // [dim][query]
  __shared__ __align__(16) __nv_bfloat16 do_tile[kTile * kStride];   // [query][dim]
  __shared__ __align__(16) __nv_bfloat16 dot_tile[kHead * kStride];  // [dim][query]
  __shared__ float lse_tile[kTile], d_tile[kTile];
  const int tiles = (geo.steps + kTile - 1) / kTile;
  const int kt = int(blockIdx.x);  // key tile; the first ones have the most query tiles
  const int bh = blockIdx.y, b = bh / geo.heads, h = bh % geo.heads;
  const int C = geo.width, ld = 3 * C;
  const float* q = qkv + std::size_t(b) * geo.steps * ld + h * kHead;
  const float* k = q + C;
  const float* v = q + 2 * C;
  const float* dout_b = dout + std::size_t(b) * geo.steps * C + h * kHead;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int key_row0 = kt * kTile + warp * 16;
  const int key0 = key_row0 + g, key1 = key_row0 + g + 8;
  const float scale_log2 = geo.scale * kLog2e;

  std::uint32_t ka[4][4], va[4][4];
  load_rows(ka, k, ld, key_row0, geo.steps);
  load_rows(va, v, ld, key_row0, geo.steps);
  float dk[8][4], dv[8][4];
  zero(dk);
  zero(dv);

  for (int qt = kt; qt < tiles; ++qt) {
    const int query0 = qt * kTile;
    __syncthreads();
    stage(q_tile, q + std::size_t(query0) * ld, ld, geo.steps - query0, false);
    stage(qt_tile, q + std::size_t(query0) * ld, ld, geo.steps - query0, true);
    stage(do_tile, dout_b + std::size_t(query0) * C, C, geo.steps - query0, false);
    stage(dot_tile, dout_b + std::size_t(query0) * C, C, geo.steps - query0, true);
    if (threadIdx.x < kTile) {
      const int query = query0 + threadIdx.x;
      const bool in = query < geo.steps;
      lse_tile[threadIdx.x] = in ? lse[std::size_t(bh) * geo.steps + query] * kLog2e : 0.f;
      d_tile[threadIdx.x] = in ? dterm[std::size_t(bh) * geo.steps + query] : 0.f;
    }
    __syncthreads();
    float p[8][4], ds[8][4];  // P^T and then dS^T, 16 keys x 64 queries
    zero(p);
    zero(ds);
    mma_rows_by_tile(p, ka, q_tile);   // S^T = K Q^T
    mma_rows_by_tile(ds, va, do_tile);  // dP^T = V dO^T
    for (int n = 0; n < 8; ++n)
      for (int i = 0; i < 4; ++i) {
        const int col = n * 8 + 2 * t + (i & 1), query = query0 + col, key = i < 2 ? key0 : key1;
        const bool valid = key <= query && query < geo.steps && key < geo.steps;
        p[n][i] = valid ? exp2f(p[n][i] * scale_log2 - lse_tile[col]) : 0.f;
        ds[n][i] = p[n][i] * (ds[n][i] - d_tile[col]);
      }
    mma_fragments_by_tile(dv, p, dot_tile);  // dV += P^T dO
    mma_fragments_by_tile(dk, ds, qt_tile);  // dK += dS^T Q
  }
  float* dk_out = dqkv + std::size_t(b) * geo.steps * ld + C + h * kHead;
  store_rows(dk_out, ld, key_row0, geo.steps, dk, geo.scale, geo.scale);
  store_rows(dk_out + C, ld, key_row0, geo.steps, dv, 1.f, 1.f);
}

/// dQ of one 64-query tile: each warp's 16 queries are the rows of S = Q K^T and dP = dO V^T;
/// dQ += dS K.
template <int Head>
__global__ void __launch_bounds__(kThreads) backward_dq_kernel(float* __restrict__ dqkv, const float* __restrict__ qkv,
                                                               const float* __restrict__ dout,
                                                               const float* __restrict__ lse,
                                                               const float* __restrict__ dterm, geometry geo) {
  __shared__ __align__(16) __nv_bfloat16 k_tile[kTile * kStride];   // [key][dim]
  __shared__ __align__(16) __nv_bfloat16 kt_tile[kHead * kStride];  // [dim][key]
  __shared__ __align__(16) __nv_bfloat16 v_tile[kTile * kStride];   // [key][dim]
  const int tiles = (geo.steps + kTile - 1) / kTile;
  const int qt = tiles - 1 - int(blockIdx.x);
  const int bh = blockIdx.y, b = bh / geo.heads, h = bh % geo.heads;
  const int C = geo.width, ld = 3 * C;
  const float* q = qkv + std::size_t(b) * geo.steps * ld + h * kHead;
  const float* k = q + C;
  const float* v = q + 2 * C;
  const float* dout_b = dout + std::size_t(b) * geo.steps * C + h * kHead;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = qt * kTile + warp * 16;
  const int r0 = row0 + g, r1 = row0 + g + 8;
  const float scale_log2 = geo.scale * kLog2e;
  const float* row_lse = lse + std::size_t(bh) * geo.steps;
  const float* row_d = dterm + std::size_t(bh) * geo.steps;
  const float lse0 = r0 < geo.steps ? row_lse[r0] * kLog2e : 0.f, lse1 = r1 < geo.steps ? row_lse[r1] * kLog2e : 0.f;
  const float d0 = r0 < geo.steps ? row_d[r0] : 0.f, d1 = r1 < geo.steps ? row_d[r1] : 0.f;

  std::uint32_t qa[4][4], doa[4][4];
  load_rows(qa, q, ld, row0, geo.steps);
  load_rows(doa, dout_b, C, row0, geo.steps);
  float dq[8][4];
  zero(dq);

  for (int kt = 0; kt <= qt; ++kt) {
    const int key0 = kt * kTile;
    __syncthreads();
    stage(k_tile, k + std::size_t(key0) * ld, ld, geo.steps - key0, false);
    stage(kt_tile, k + std::size_t(key0) * ld, ld, geo.steps - key0, true);
    stage(v_tile, v + std::size_t(key0) * ld, ld, geo.steps - key0, false);
    __syncthreads();
    float p[8][4], ds[8][4];
    zero(p);
    zero(ds);
    mma_rows_by_tile(p, qa, k_tile);    // S = Q K^T
    mma_rows_by_tile(ds, doa, v_tile);  // dP = dO V^T
    for (int n = 0; n < 8; ++n)
      for (int i = 0; i < 4; ++i) {
        const int key = key0 + n * 8 + 2 * t + (i & 1), row = i < 2 ? r0 : r1;
        const bool valid = key <= row && key < geo.steps && row < geo.steps;
        const float pv = valid ? exp2f(p[n][i] * scale_log2 - (i < 2 ? lse0 : lse1)) : 0.f;
        ds[n][i] = pv * (ds[n][i] - (i < 2 ? d0 : d1));
      }
    mma_fragments_by_tile(dq, ds, kt_tile);  // dQ += dS K
  }
  store_rows(dqkv + std::size_t(b) * geo.steps * ld + h * kHead, ld, row0, geo.steps, dq, geo.scale, geo.scale);
}

}  // namespace thaw::backend::cuda_detail::flash

namespace thaw::backend::cuda_detail {

inline flash::geometry attention_geometry(const char* op, int batch, int steps, int heads, int head_dim, float scale,
                                          std::initializer_list<const void*> pointers) {
  THAW_CHECK(head_dim == flash::kHead, op, ": the fused kernel takes head size ", flash::kHead, ", got ", head_dim);
  THAW_CHECK(batch >= 0 && steps >= 0 && heads > 0, op, ": batch (", batch, "), steps (", steps, ") and heads (",
             heads, ") must not be negative");
  for (const void* p : pointers)
    THAW_CHECK(aligned_to(p, 16), op, ": every tensor must be 16-byte aligned (thaw's allocations are)");
  return {batch, steps, heads, heads * head_dim, scale};
}

/// out (batch, steps, C), lse (batch, heads, steps) from qkv (batch, steps, 3C).
inline void attention_forward(float* out, float* lse, const float* qkv, int batch, int steps, int heads,
                              int head_dim, float scale) {
  const auto geo = attention_geometry("attention_forward", batch, steps, heads, head_dim, scale, {out, lse, qkv});
  if (batch == 0 || steps == 0) return;
  const dim3 grid((steps + flash::kTile - 1) / flash::kTile, unsigned(batch) * heads);
  flash::forward_kernel<flash::kHead><<<grid, flash::kThreads, 0, ctx().stream>>>(out, lse, qkv, geo);
  check_launch("attention forward (flash)");
}

/// dqkv (batch, steps, 3C; overwritten) from dout and out (batch, steps, C), qkv, lse.
inline void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                               int batch, int steps, int heads, int head_dim, float scale) {
  const auto geo =
      attention_geometry("attention_backward", batch, steps, heads, head_dim, scale, {dqkv, dout, qkv, out, lse});
  if (batch == 0 || steps == 0) return;
  const std::size_t rows = std::size_t(batch) * heads * steps;
  auto* dterm = static_cast<float*>(scratch(ctx().attention, rows * sizeof(float)));
  flash::row_dot_kernel<flash::kHead><<<unsigned((rows * 32 + 255) / 256), 256, 0, ctx().stream>>>(dterm, dout, out, geo);
  check_launch("attention backward (row dot)");
  const dim3 grid((steps + flash::kTile - 1) / flash::kTile, unsigned(batch) * heads);
  flash::backward_dkdv_kernel<flash::kHead><<<grid, flash::kThreads, 0, ctx().stream>>>(dqkv, qkv, dout, lse, dterm, geo);
  check_launch("attention backward dK dV (flash)");
  flash::backward_dq_kernel<flash::kHead><<<grid, flash::kThreads, 0, ctx().stream>>>(dqkv, qkv, dout, lse, dterm, geo);
  check_launch("attention backward dQ (flash)");
}

}  // namespace thaw::backend::cuda_detail
