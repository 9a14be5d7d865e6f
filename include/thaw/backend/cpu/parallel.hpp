// Threading helpers of the cpu backend: one pool of OpenMP threads runs every op (GEMMs
// included, see gemm_policy.hpp), so no second pool spins against it on a small machine.
//
// Work is split so that results never depend on the number of threads: elementwise and row ops
// are independent per element or row, and reductions over rows or elements sum fixed-size blocks
// and then combine the block partials in block order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "thaw/backend/cpu/math.hpp"
#include "thaw/backend/ops.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace thaw::backend::cpu_detail {

#ifdef _OPENMP
inline int max_threads() noexcept { return omp_get_max_threads(); }
inline bool in_parallel() noexcept { return omp_in_parallel() != 0; }
inline int thread_num() noexcept { return omp_get_thread_num(); }
inline int num_threads() noexcept { return omp_get_num_threads(); }
#else
inline int max_threads() noexcept { return 1; }
inline bool in_parallel() noexcept { return false; }
inline int thread_num() noexcept { return 0; }
inline int num_threads() noexcept { return 1; }
#endif

/// Below this many elements of cheap work a fork-join (~1-2 us for two threads) costs more than
/// it saves.
inline constexpr std::size_t kParallelMin = std::size_t{1} << 15;

/// Threads to use for `work` elements: 1 when small or when already inside a parallel region.
inline int threads_for(std::size_t work, std::size_t parallel_min = kParallelMin) noexcept {
  return work < parallel_min || in_parallel() ? 1 : max_threads();
}

/// [begin, end) of part `part` of `parts` near-equal parts of [0, n), boundaries rounded to
/// `align` elements (64 bytes of floats by default) so no two threads share a cache line.
inline std::pair<std::size_t, std::size_t> part_of(std::size_t n, int part, int parts,
                                                   std::size_t align = 16) noexcept {
  const std::size_t per = (n + parts - 1) / parts;
  const std::size_t chunk = (per + align - 1) / align * align;
  const std::size_t begin = std::min(n, chunk * part);
  return {begin, std::min(n, begin + chunk)};
}

/// Calls fn(begin, end) on contiguous pieces that cover [0, n), one piece per thread.
/// `element_cost` weighs an element against a cheap elementwise one for the fork decision.
template <class Fn>
void for_chunks(std::size_t n, Fn&& fn, std::size_t element_cost = 1) {
  const int threads = threads_for(n * element_cost);
  if (threads == 1) {
    if (n > 0) fn(std::size_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const auto [begin, end] = part_of(n, thread_num(), num_threads());
    if (begin < end) fn(begin, end);
  }
}

/// Calls fn(r) for every row; `row_work` is the elements per row, for the fork decision.
template <class Fn>
void for_rows(int rows, std::size_t row_work, Fn&& fn) {
  const int threads = threads_for(static_cast<std::size_t>(rows > 0 ? rows : 0) * row_work);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int r = 0; r < rows; ++r) fn(r);
}

/// Calls fn(param_begin, state_begin, count) on pieces that cover the optimizer's index ranges,
/// balanced over threads by element count. state_begin indexes the compacted state.
template <class Fn>
void for_ranges(std::span<const index_range> ranges, Fn&& fn) {
  std::size_t total = 0;
  for (const index_range& range : ranges) total += range.size();
  for_chunks(total, [&](std::size_t lo, std::size_t hi) {
    std::size_t state = 0;
    for (const index_range& range : ranges) {
      const std::size_t begin = std::max(lo, state), end = std::min(hi, state + range.size());
      if (begin < end) fn(range.begin + (begin - state), begin, end - begin);
      state += range.size();
      if (state >= hi) break;
    }
  });
}

/// A per-thread buffer of at least n elements, reused across calls: reductions keep their block
/// partials here instead of paying for a fresh (page-faulting) allocation on every call.
template <class T>
T* scratch(std::size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

/// Rows per block of a column reduction: the unit of work and of summation order.
inline constexpr int kRowBlock = 32;
/// Columns per task when a column reduction combines its block partials.
inline constexpr int kColumnSlice = 64;

/// Column sums over rows that do not depend on the thread count. accumulate(r0, r1, partial)
/// adds rows [r0, r1) into `sums` zeroed rows of `cols` floats (partial[s * cols + c]); the
/// block partials are then summed in block order and added to outs[s] (null outs are skipped).
template <int sums, class Accumulate>
void column_sums(int rows, int cols, float* const (&outs)[sums], Accumulate&& accumulate) {
  if (rows <= 0 || cols <= 0) return;
  const int blocks = (rows + kRowBlock - 1) / kRowBlock;
  const std::size_t block_size = static_cast<std::size_t>(sums) * cols;
  float* partials = scratch<float>(blocks * block_size);
  const int threads = threads_for(static_cast<std::size_t>(rows) * cols);
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int block = 0; block < blocks; ++block) {
      float* partial = partials + block * block_size;
      std::fill(partial, partial + block_size, 0.0f);
      accumulate(block * kRowBlock, std::min(rows, (block + 1) * kRowBlock), partial);
    }
    // Column slices of kColumnSlice, so that the sum over blocks vectorises across columns.
#pragma omp for schedule(static)
    for (int c0 = 0; c0 < cols; c0 += kColumnSlice) {
      const int width = std::min(kColumnSlice, cols - c0);
      for (int s = 0; s < sums; ++s) {
        if (outs[s] == nullptr) continue;
        float total[kColumnSlice] = {};
        for (int block = 0; block < blocks; ++block) {
          const float* partial =
              partials + block * block_size + static_cast<std::size_t>(s) * cols + c0;
          for (int c = 0; c < width; ++c) total[c] += partial[c];
        }
        for (int c = 0; c < width; ++c) outs[s][c0 + c] += total[c];
      }
    }
  }
}

/// Elements per block of a reduction to one double.
inline constexpr std::size_t kSumBlock = 8192;

/// sum over e of term(x[e]) in double: fixed blocks, each summed lane-wise, combined in order.
template <class Term>
double blocked_sum(const float* x, std::size_t n, Term term) {
  const std::size_t blocks = (n + kSumBlock - 1) / kSumBlock;
  double* partials = scratch<double>(blocks);
  const int threads = threads_for(n);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::size_t block = 0; block < blocks; ++block) {
    const float* xb = x + block * kSumBlock;
    partials[block] =
        lane_sum<double>(std::min(kSumBlock, n - block * kSumBlock),
                         [=](std::size_t e) { return term(static_cast<double>(xb[e])); });
  }
  double total = 0.0;
  for (std::size_t block = 0; block < blocks; ++block) total += partials[block];
  return total;
}

}  // namespace thaw::backend::cpu_detail
