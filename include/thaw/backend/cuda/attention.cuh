// Fused causal attention of the CUDA backend for the bf16 policy: FlashAttention-2 (Dao 2023,
// "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning"; the
// algorithm of Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
// IO-Awareness"). The (T, T) scores never reach memory: each block keeps a 64-row query tile's
// scores in registers, walks the key tiles the causal mask leaves (online softmax), and keeps
// only the output and the log-sum-exp of each row. The backward recomputes the probabilities
// from the log-sum-exp.
//
// Tensor cores through mma.sync.m16n8k16 (bf16 inputs, fp32 accumulation). Q, K, V and dO (fp32
// in memory, as thaw's storage is) are first split into per-head bf16 copies, [batch x head]
// [T padded to 64][64] and, where a product needs the other orientation, transposed
// [batch x head][64][T padded] (split_heads_kernel), so that the kernels stream 64 x 64 tiles
// into shared memory with cp.async, the next tile loading while the current one is multiplied.
// The probabilities P and score gradients dS are rounded to bf16 as they enter the second
// product, exactly where PyTorch's bf16 flash attention rounds. Softmax statistics,
// accumulators and every output stay fp32.
//
// Layout: q|k|v rows of width 3C as nn::causal_self_attention's c_attn writes them (head h of
// q at columns [h hd, (h+1) hd), of k at C + that, of v at 2C + that); outputs and dO rows of
// width C. Head size 64 only (GPT-2's); other sizes use the materialised path.
//
// Kernels (128 threads, 4 warps; a warp owns 16 rows of a 64-row tile):
//   split_heads    fp32 rows -> the bf16 per-head copies (zero beyond T).
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
inline constexpr int kTileElems = kTile * kStride;
inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;
using bf16_t = __nv_bfloat16;

/// Attention problem geometry (row strides in floats).
struct geometry {
  int batch, steps, heads, width;  // width = C = heads * 64
  float scale;                     // 1 / sqrt(64) usually
  int padded;                      // steps rounded up to a multiple of 64: the copies' length
};

__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (lo) in the low 16 bits
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

/// d += a b on the tensor cores: a 16x16 (row), b 16x8 (col), d 16x8, bf16 in, fp32 accumulate.
// mma.sync on bf16 and cp.async need sm_80 (Ampere) or later; cuda<bf16>::fused_attention says
// false on older devices, and code built for them traps if reached.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define THAW_FLASH_UNSUPPORTED_ARCH 1
#endif

__device__ __forceinline__ void mma(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
#ifdef THAW_FLASH_UNSUPPORTED_ARCH
  __trap();
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
#ifdef THAW_FLASH_UNSUPPORTED_ARCH
  __trap();
#else
  const auto address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(address), "l"(gmem));
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#ifndef THAW_FLASH_UNSUPPORTED_ARCH
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
#ifndef THAW_FLASH_UNSUPPORTED_ARCH
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
#endif
}

/// Starts copying a 64 x 64 bf16 tile (row r at src + r * src_ld) into shared memory.
__device__ __forceinline__ void load_tile_async(bf16_t* tile, const bf16_t* src, std::size_t src_ld) {
  for (int i = threadIdx.x; i < kTile * 8; i += kThreads) {  // 8 chunks of 16 bytes per row
    const int r = i / 8, chunk = i % 8;
    cp_async16(tile + r * kStride + chunk * 8, src + r * src_ld + chunk * 8);
  }
}

/// The 32-bit word holding elements [col, col + 1] of row `row` of a bf16 tile (row stride `ld`).
__device__ __forceinline__ std::uint32_t word(const bf16_t* tile, int row, int col, int ld = kStride) {
  return *reinterpret_cast<const std::uint32_t*>(tile + row * ld + col);
}

/// A-operand fragments (16 rows x 64 columns, as 4 k-chunks of 16) of rows [row0, row0 + 16)
/// of a per-head bf16 copy ([padded rows][64]).
__device__ __forceinline__ void load_rows(std::uint32_t (&a)[4][4], const bf16_t* head, int row0) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const bf16_t* rows = head + std::size_t(row0) * kHead;
  for (int kc = 0; kc < 4; ++kc) {
    const int c = kc * 16 + 2 * t;
    a[kc][0] = word(rows, g, c, kHead);
    a[kc][1] = word(rows, g + 8, c, kHead);
    a[kc][2] = word(rows, g, c + 8, kHead);
    a[kc][3] = word(rows, g + 8, c + 8, kHead);
  }
}

/// acc[n] (16 x 8 tiles n = 0..7, a 16 x 64 block) += a (16 x 64) * tile^T, tile in shared
/// memory as [64 rows of the result's columns][64 k].
__device__ __forceinline__ void mma_rows_by_tile(float (&acc)[8][4], const std::uint32_t (&a)[4][4],
                                                 const bf16_t* tile) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
    for (int kc = 0; kc < 4; ++kc)
      mma(acc[n], a[kc], word(tile, n * 8 + g, kc * 16 + 2 * t), word(tile, n * 8 + g, kc * 16 + 2 * t + 8));
}

/// acc[n] += p (16 x 64, given as the fp32 accumulator fragments of a previous product, which
/// have the A layout once paired) * tile^T, tile in shared memory as [64 result columns][64 k].
__device__ __forceinline__ void mma_fragments_by_tile(float (&acc)[8][4], const float (&p)[8][4],
                                                      const bf16_t* tile) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
  for (int kc = 0; kc < 4; ++kc) {
    const std::uint32_t a[4] = {pack_bf16(p[2 * kc][0], p[2 * kc][1]), pack_bf16(p[2 * kc][2], p[2 * kc][3]),
                                pack_bf16(p[2 * kc + 1][0], p[2 * kc + 1][1]),
                                pack_bf16(p[2 * kc + 1][2], p[2 * kc + 1][3])};
#pragma unroll
    for (int n = 0; n < 8; ++n)
      mma(acc[n], a, word(tile, n * 8 + g, kc * 16 + 2 * t), word(tile, n * 8 + g, kc * 16 + 2 * t + 8));
  }
}

__device__ __forceinline__ void zero(float (&acc)[8][4]) {
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
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

// Kernels are templates (on the head size, which must be kHead) so that this header can be
// included by several translation units of one program.

// ---- per-head bf16 copies ------------------------------------------------------------------------
/// Block (tile, b x h): rows [64 tile, 64 tile + 64) of head h's 64 columns of src (row stride
/// ld, first column col0 + 64 h) into rows_out ([bh][padded][64]) and / or, transposed, into
/// cols_out ([bh][64][padded]); zero beyond `steps`.
template <int Head>
__global__ void __launch_bounds__(kThreads) split_heads_kernel(bf16_t* __restrict__ rows_out, bf16_t* __restrict__ cols_out,
                                                               const float* __restrict__ src, int ld, int col0,
                                                               geometry geo) {
  static_assert(Head == kHead);
  __shared__ __align__(16) bf16_t tile[kTileElems];
  const int row0 = blockIdx.x * kTile, bh = blockIdx.y, b = bh / geo.heads, h = bh % geo.heads;
  const float* base = src + std::size_t(b) * geo.steps * ld + col0 + h * kHead;
  for (int i = threadIdx.x; i < kTile * kHead / 4; i += kThreads) {
    const int r = i / (kHead / 4), c = (i % (kHead / 4)) * 4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (row0 + r < geo.steps) v = *reinterpret_cast<const float4*>(base + std::size_t(row0 + r) * ld + c);
    auto* dst = reinterpret_cast<std::uint32_t*>(tile + r * kStride + c);
    dst[0] = pack_bf16(v.x, v.y);
    dst[1] = pack_bf16(v.z, v.w);
  }
  __syncthreads();
  if (rows_out) {
    bf16_t* out = rows_out + (std::size_t(bh) * geo.padded + row0) * kHead;
    for (int i = threadIdx.x; i < kTile * 8; i += kThreads) {
      const int r = i / 8, chunk = i % 8;
      *reinterpret_cast<uint4*>(out + r * kHead + chunk * 8) = *reinterpret_cast<const uint4*>(tile + r * kStride + chunk * 8);
    }
  }
  if (cols_out) {
    bf16_t* out = cols_out + std::size_t(bh) * kHead * geo.padded + row0;
    for (int i = threadIdx.x; i < kHead * kTile / 2; i += kThreads) {
      const int d = i / (kTile / 2), j = (i % (kTile / 2)) * 2;
      __nv_bfloat162 pair;
      pair.x = tile[j * kStride + d];
      pair.y = tile[(j + 1) * kStride + d];
      *reinterpret_cast<__nv_bfloat162*>(out + std::size_t(d) * geo.padded + j) = pair;
    }
  }
}

// ---- forward ------------------------------------------------------------------------------------
template <int Head>
__global__ void __launch_bounds__(kThreads) forward_kernel(float* __restrict__ out, float* __restrict__ lse,
                                                           const bf16_t* __restrict__ q16, const bf16_t* __restrict__ k16,
                                                           const bf16_t* __restrict__ vt16, geometry geo) {
  static_assert(Head == kHead);
  __shared__ __align__(16) bf16_t k_tile[2][kTileElems];   // [key][dim]
  __shared__ __align__(16) bf16_t vt_tile[2][kTileElems];  // [dim][key]
  const int tiles = geo.padded / kTile;
  const int qt = tiles - 1 - int(blockIdx.x);  // the longest (last) query tiles first
  const int bh = blockIdx.y, b = bh / geo.heads, h = bh % geo.heads;
  const std::size_t head = std::size_t(bh) * geo.padded * kHead;
  const bf16_t* k = k16 + head;
  const bf16_t* vt = vt16 + head;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = qt * kTile + warp * 16;
  const int r0 = row0 + g, r1 = row0 + g + 8;
  const float scale_log2 = geo.scale * kLog2e;

  load_tile_async(k_tile[0], k, kHead);
  load_tile_async(vt_tile[0], vt, geo.padded);
  cp_async_commit();
  std::uint32_t qa[4][4];
  load_rows(qa, q16 + head, row0);
  float o[8][4];
  zero(o);
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;

  for (int kt = 0; kt <= qt; ++kt) {
    const int buf = kt & 1, key0 = kt * kTile;
    if (kt < qt) {  // the next tile loads while this one is multiplied
      load_tile_async(k_tile[buf ^ 1], k + std::size_t(key0 + kTile) * kHead, kHead);
      load_tile_async(vt_tile[buf ^ 1], vt + key0 + kTile, geo.padded);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    float s[8][4];
    zero(s);
    mma_rows_by_tile(s, qa, k_tile[buf]);
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
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
#pragma unroll
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
    mma_fragments_by_tile(o, s, vt_tile[buf]);
    __syncthreads();  // every warp is done with this buffer before the next-but-one tile fills it
  }
  l0 = quad_sum(l0);
  l1 = quad_sum(l1);
  store_rows(out + std::size_t(b) * geo.steps * geo.width + h * kHead, geo.width, row0, geo.steps, o, 1.f / l0,
             1.f / l1);
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
  static_assert(Head == kHead);
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

/// The per-head bf16 copies the backward reads.
struct backward_operands {
  const bf16_t *q, *qt, *k, *kt, *v, *dout, *doutt;  // rows [bh][padded][64]; *t: [bh][64][padded]
};

inline constexpr int kDkdvSmem = 8 * kTileElems * int(sizeof(bf16_t)) + 4 * kTile * int(sizeof(float));
inline constexpr int kDqSmem = 6 * kTileElems * int(sizeof(bf16_t));

/// dK, dV of one 64-key tile: each warp's 16 keys are the rows of S^T = K Q^T and of
/// dP^T = V dO^T; dV += P^T dO and dK += dS^T Q. Shared memory (dynamic, kDkdvSmem): Q, Q^T,
/// dO, dO^T tiles, two of each, and the query tiles' log-sum-exp and D.
template <int Head>
__global__ void __launch_bounds__(kThreads) backward_dkdv_kernel(float* __restrict__ dqkv, backward_operands in,
                                                                 const float* __restrict__ lse,
                                                                 const float* __restrict__ dterm, geometry geo) {
  static_assert(Head == kHead);
  extern __shared__ __align__(16) unsigned char smem[];
  bf16_t* tiles = reinterpret_cast<bf16_t*>(smem);  // [buffer][q, q^T, dO, dO^T]
  float* stats = reinterpret_cast<float*>(tiles + 8 * kTileElems);  // [buffer][lse, D][64]
  auto tile = [&](int buf, int which) { return tiles + (buf * 4 + which) * kTileElems; };
  const int tiles_n = geo.padded / kTile;
  const int kt = int(blockIdx.x);  // key tile; the first ones have the most query tiles
  const int bh = blockIdx.y, b = bh / geo.heads, h = bh % geo.heads;
  const std::size_t head = std::size_t(bh) * geo.padded * kHead;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int key_row0 = kt * kTile + warp * 16;
  const int key0 = key_row0 + g, key1 = key_row0 + g + 8;
  const float scale_log2 = geo.scale * kLog2e;

  auto load = [&](int buf, int qt) {
    const int query0 = qt * kTile;
    load_tile_async(tile(buf, 0), in.q + head + std::size_t(query0) * kHead, kHead);
    load_tile_async(tile(buf, 1), in.qt + head + query0, geo.padded);
    load_tile_async(tile(buf, 2), in.dout + head + std::size_t(query0) * kHead, kHead);
    load_tile_async(tile(buf, 3), in.doutt + head + query0, geo.padded);
    cp_async_commit();
    if (threadIdx.x < kTile) {  // this buffer's previous readers finished before the last barrier
      const int query = query0 + threadIdx.x;
      const bool inside = query < geo.steps;
      stats[buf * 2 * kTile + threadIdx.x] = inside ? lse[std::size_t(bh) * geo.steps + query] * kLog2e : 0.f;
      stats[(buf * 2 + 1) * kTile + threadIdx.x] = inside ? dterm[std::size_t(bh) * geo.steps + query] : 0.f;
    }
  };

  load(0, kt);
  std::uint32_t ka[4][4], va[4][4];
  load_rows(ka, in.k + head, key_row0);
  load_rows(va, in.v + head, key_row0);
  float dk[8][4], dv[8][4];
  zero(dk);
  zero(dv);

  for (int qt = kt; qt < tiles_n; ++qt) {
    const int buf = (qt - kt) & 1, query0 = qt * kTile;
    if (qt + 1 < tiles_n) {
      load(buf ^ 1, qt + 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const float* lse_tile = stats + buf * 2 * kTile;
    const float* d_tile = lse_tile + kTile;
    float p[8][4], ds[8][4];  // P^T and then dS^T, 16 keys x 64 queries
    zero(p);
    zero(ds);
    mma_rows_by_tile(p, ka, tile(buf, 0));   // S^T = K Q^T
    mma_rows_by_tile(ds, va, tile(buf, 2));  // dP^T = V dO^T
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int col = n * 8 + 2 * t + (i & 1), query = query0 + col, key = i < 2 ? key0 : key1;
        const bool valid = key <= query && query < geo.steps;
        p[n][i] = valid ? exp2f(p[n][i] * scale_log2 - lse_tile[col]) : 0.f;
        ds[n][i] = p[n][i] * (ds[n][i] - d_tile[col]);
      }
    mma_fragments_by_tile(dv, p, tile(buf, 3));   // dV += P^T dO
    mma_fragments_by_tile(dk, ds, tile(buf, 1));  // dK += dS^T Q
    __syncthreads();
  }
  const int ld = 3 * geo.width;
  float* dk_out = dqkv + std::size_t(b) * geo.steps * ld + geo.width + h * kHead;
  store_rows(dk_out, ld, key_row0, geo.steps, dk, geo.scale, geo.scale);
  store_rows(dk_out + geo.width, ld, key_row0, geo.steps, dv, 1.f, 1.f);
}

/// dQ of one 64-query tile: each warp's 16 queries are the rows of S = Q K^T and dP = dO V^T;
/// dQ += dS K. Shared memory (dynamic, kDqSmem): K, K^T and V tiles, two of each.
template <int Head>
__global__ void __launch_bounds__(kThreads) backward_dq_kernel(float* __restrict__ dqkv, backward_operands in,
                                                               const float* __restrict__ lse,
                                                               const float* __restrict__ dterm, geometry geo) {
  static_assert(Head == kHead);
  extern __shared__ __align__(16) unsigned char smem[];
  bf16_t* tiles = reinterpret_cast<bf16_t*>(smem);  // [buffer][k, k^T, v]
  auto tile = [&](int buf, int which) { return tiles + (buf * 3 + which) * kTileElems; };
  const int tiles_n = geo.padded / kTile;
  const int qt = tiles_n - 1 - int(blockIdx.x);
  const int bh = blockIdx.y, b = bh / geo.heads, h = bh % geo.heads;
  const std::size_t head = std::size_t(bh) * geo.padded * kHead;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = qt * kTile + warp * 16;
  const int r0 = row0 + g, r1 = row0 + g + 8;
  const float scale_log2 = geo.scale * kLog2e;
  const float* row_lse = lse + std::size_t(bh) * geo.steps;
  const float* row_d = dterm + std::size_t(bh) * geo.steps;
  const float lse0 = r0 < geo.steps ? row_lse[r0] * kLog2e : 0.f, lse1 = r1 < geo.steps ? row_lse[r1] * kLog2e : 0.f;
  const float d0 = r0 < geo.steps ? row_d[r0] : 0.f, d1 = r1 < geo.steps ? row_d[r1] : 0.f;

  auto load = [&](int buf, int kt) {
    const int key0 = kt * kTile;
    load_tile_async(tile(buf, 0), in.k + head + std::size_t(key0) * kHead, kHead);
    load_tile_async(tile(buf, 1), in.kt + head + key0, geo.padded);
    load_tile_async(tile(buf, 2), in.v + head + std::size_t(key0) * kHead, kHead);
    cp_async_commit();
  };
  load(0, 0);
  std::uint32_t qa[4][4], doa[4][4];
  load_rows(qa, in.q + head, row0);
  load_rows(doa, in.dout + head, row0);
  float dq[8][4];
  zero(dq);

  for (int kt = 0; kt <= qt; ++kt) {
    const int buf = kt & 1, key0 = kt * kTile;
    if (kt < qt) {
      load(buf ^ 1, kt + 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    float p[8][4], ds[8][4];
    zero(p);
    zero(ds);
    mma_rows_by_tile(p, qa, tile(buf, 0));    // S = Q K^T
    mma_rows_by_tile(ds, doa, tile(buf, 2));  // dP = dO V^T
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int key = key0 + n * 8 + 2 * t + (i & 1), row = i < 2 ? r0 : r1;
        const bool valid = key <= row && row < geo.steps;
        const float pv = valid ? exp2f(p[n][i] * scale_log2 - (i < 2 ? lse0 : lse1)) : 0.f;
        ds[n][i] = pv * (ds[n][i] - (i < 2 ? d0 : d1));
      }
    mma_fragments_by_tile(dq, ds, tile(buf, 1));  // dQ += dS K
    __syncthreads();
  }
  store_rows(dqkv + std::size_t(b) * geo.steps * 3 * geo.width + h * kHead, 3 * geo.width, row0, geo.steps, dq,
             geo.scale, geo.scale);
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
  const int padded = (steps + flash::kTile - 1) / flash::kTile * flash::kTile;
  return {batch, steps, heads, heads * head_dim, scale, padded};
}

/// Elements of one per-head bf16 copy: [batch x heads][padded steps][64].
inline std::size_t head_copy_elems(const flash::geometry& geo) {
  return std::size_t(geo.batch) * geo.heads * geo.padded * flash::kHead;
}

/// One block per 64-row tile (x) and per (batch, head) (y): every kernel of this file but row_dot.
inline dim3 tile_grid(const flash::geometry& geo) {
  return {unsigned(geo.padded / flash::kTile), unsigned(geo.batch) * geo.heads};
}

/// Space for `count` per-head bf16 copies (and `floats` floats after them) in the attention
/// scratch buffer.
inline flash::bf16_t* attention_scratch(const flash::geometry& geo, int count, std::size_t floats = 0) {
  return static_cast<flash::bf16_t*>(
      scratch(ctx().attention, head_copy_elems(geo) * count * sizeof(flash::bf16_t) + floats * sizeof(float)));
}

/// Per-head bf16 copies of the 64 columns of each head (from column col0 of rows of width ld).
inline void split_heads(flash::bf16_t* rows_out, flash::bf16_t* cols_out, const float* src, int ld, int col0,
                        const flash::geometry& geo) {
  flash::split_heads_kernel<flash::kHead><<<tile_grid(geo), flash::kThreads, 0, ctx().stream>>>(rows_out, cols_out,
                                                                                                src, ld, col0, geo);
  check_launch("attention (per-head bf16 copies)");
}

/// out (batch, steps, C), lse (batch, heads, steps) from qkv (batch, steps, 3C).
inline void attention_forward(float* out, float* lse, const float* qkv, int batch, int steps, int heads,
                              int head_dim, float scale) {
  const auto geo = attention_geometry("attention_forward", batch, steps, heads, head_dim, scale, {out, lse, qkv});
  if (batch == 0 || steps == 0) return;
  const std::size_t per_copy = head_copy_elems(geo);
  flash::bf16_t* q16 = attention_scratch(geo, 3);
  flash::bf16_t* k16 = q16 + per_copy;
  flash::bf16_t* vt16 = k16 + per_copy;
  const int C = geo.width;
  split_heads(q16, nullptr, qkv, 3 * C, 0, geo);
  split_heads(k16, nullptr, qkv, 3 * C, C, geo);
  split_heads(nullptr, vt16, qkv, 3 * C, 2 * C, geo);
  flash::forward_kernel<flash::kHead><<<tile_grid(geo), flash::kThreads, 0, ctx().stream>>>(out, lse, q16, k16, vt16,
                                                                                           geo);
  check_launch("attention forward (flash)");
}

/// dqkv (batch, steps, 3C; overwritten) from dout and out (batch, steps, C), qkv, lse.
inline void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                               int batch, int steps, int heads, int head_dim, float scale) {
  const auto geo =
      attention_geometry("attention_backward", batch, steps, heads, head_dim, scale, {dqkv, dout, qkv, out, lse});
  if (batch == 0 || steps == 0) return;
  static const bool smem_configured = [] {
    THAW_CUDA_CHECK(cudaFuncSetAttribute(flash::backward_dkdv_kernel<flash::kHead>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, flash::kDkdvSmem));
    THAW_CUDA_CHECK(cudaFuncSetAttribute(flash::backward_dq_kernel<flash::kHead>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, flash::kDqSmem));
    return true;
  }();
  (void)smem_configured;
  const std::size_t rows = std::size_t(batch) * heads * steps;
  const std::size_t per_copy = head_copy_elems(geo);
  flash::bf16_t* copies = attention_scratch(geo, 7, rows);
  flash::bf16_t *q = copies, *qt = q + per_copy, *k = qt + per_copy, *kt = k + per_copy, *v = kt + per_copy,
                *d = v + per_copy, *dt = d + per_copy;
  auto* dterm = reinterpret_cast<float*>(dt + per_copy);
  const int C = geo.width;
  split_heads(q, qt, qkv, 3 * C, 0, geo);
  split_heads(k, kt, qkv, 3 * C, C, geo);
  split_heads(v, nullptr, qkv, 3 * C, 2 * C, geo);
  split_heads(d, dt, dout, C, 0, geo);
  flash::row_dot_kernel<flash::kHead><<<unsigned((rows * 32 + 255) / 256), 256, 0, ctx().stream>>>(dterm, dout, out, geo);
  check_launch("attention backward (row dot)");
  const flash::backward_operands in{q, qt, k, kt, v, d, dt};
  const dim3 grid = tile_grid(geo);
  flash::backward_dkdv_kernel<flash::kHead>
      <<<grid, flash::kThreads, flash::kDkdvSmem, ctx().stream>>>(dqkv, in, lse, dterm, geo);
  check_launch("attention backward dK dV (flash)");
  flash::backward_dq_kernel<flash::kHead><<<grid, flash::kThreads, flash::kDqSmem, ctx().stream>>>(dqkv, in, lse, dterm, geo);
  check_launch("attention backward dQ (flash)");
}

}  // namespace thaw::backend::cuda_detail
