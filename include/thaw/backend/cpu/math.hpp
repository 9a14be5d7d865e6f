// Vectorisable math for the cpu backend's row ops: exp, tanh and reductions written as plain
// loops that GCC turns into AVX-512 (or AVX2) code.
//
// They are written out here rather than taken from libm or Eigen for two reasons. Speed:
// glibc's expf/tanhf are scalar calls without -ffast-math. Reproducibility: a result must not
// depend on where a row sits in memory. Eigen's array expressions peel unaligned elements off
// the front and compute them with std::exp (not its SIMD exp) and start their reductions at
// the first aligned element, so the same row at another address gives other bits. Here every
// element goes through the same arithmetic, and sums are kept in kLanes interleaved partial
// sums combined in a fixed order, whatever the alignment, vector width or thread.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#if defined(__GNUC__) || defined(__clang__)
/// Forces inlining where a loop's vectorisation depends on it: GCC's size limits left exp out of
/// the large functions that the single-threaded GELU was inlined into (a scalar call per
/// element).
#define THAW_CPU_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define THAW_CPU_ALWAYS_INLINE inline
#endif

namespace thaw::backend::cpu_detail {

/// Partial sums per reduction: one AVX-512 vector of floats.
inline constexpr int kLanes = 16;

/// e^x for x <= 0 (every use takes the exp of a value minus its maximum, or of -2|u|); below
/// -87.3 the result flushes to 0, as e^x leaves the normal floats. Cephes' expf: x = n ln2 + r
/// with |r| <= ln2 / 2, a degree-5 polynomial for e^r, 2^n from the exponent bits; relative
/// error within 2 ulp. NaN propagates.
THAW_CPU_ALWAYS_INLINE float exp_nonpositive(float x) {
  constexpr float kLowest = -87.3f;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln2 = hi + lo, hi exact
  // Adding and removing 1.5 * 2^23 rounds to the nearest integer; unlike std::floor, this
  // vectorises without -fno-trapping-math.
  constexpr float kRound = 12582912.0f;
  // No branch and no float select anywhere: for floats <= 0 the bit patterns as unsigned
  // integers grow as the value falls, so the clamp to kLowest is an unsigned min and the flush
  // below kLowest an integer mask. With float selects (x < kLowest ? ...) GCC threads the
  // constant clamped path into a branch with the polynomial on one side, and without AVX-512's
  // masked arithmetic it cannot if-convert that: every loop calling this stayed scalar on AVX2
  // builds (GELU was 9% of the reference GPT's step on x86-64-v3). A NaN comes back through
  // x - x (a negative NaN's pattern is above kLowest's and is clamped).
  const auto bits = std::bit_cast<std::uint32_t>(x);
  const auto lowest_bits = std::bit_cast<std::uint32_t>(kLowest);
  const float xc = std::bit_cast<float>(bits < lowest_bits ? bits : lowest_bits);
  const float n = (xc * kLog2e + kRound) - kRound;
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;
  const float two_n = std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
  const float scaled = er * two_n + (x - x);
  // All ones where x >= kLowest (or x is NaN), zero where x < kLowest: flush to +0.
  const std::uint32_t keep = bits > lowest_bits && bits <= 0xFF800000u ? 0u : ~0u;
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(scaled) & keep);
}

/// tanh(u) = sign(u) (1 - e) / (1 + e) with e = e^(-2|u|): absolute error within a few ulp of 1,
/// which is what GELU's 1 + tanh and 1 - tanh^2 need.
THAW_CPU_ALWAYS_INLINE float tanh_approx(float u) {
  const float e = exp_nonpositive(-2.0f * std::abs(u));
  return std::copysign((1.0f - e) / (1.0f + e), u);
}

/// Adds the kLanes partial sums in a fixed tree order.
template <class Acc>
inline Acc combine_lanes(Acc (&acc)[kLanes]) {
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0];
}

/// Sum over i < n of term(i) in Acc: element i goes to partial sum i % kLanes. (The tail loop
/// runs over all kLanes lanes so that every index into acc is a constant and acc stays in a
/// vector register instead of memory.)
template <class Acc, class Term>
inline Acc lane_sum(std::size_t n, Term term) {
  Acc acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(i + l);
  for (int l = 0; l < kLanes; ++l)
    if (i + l < n) acc[l] += term(i + l);
  return combine_lanes(acc);
}

/// max over i < n of term(i) (n >= 1); exact, so the order does not matter, but written lane-wise
/// like the sums so that it vectorises without -ffast-math.
template <class Term>
inline float lane_max(std::size_t n, Term term) {
  float acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = term(0);
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float v = term(i + l);
      acc[l] = v > acc[l] ? v : acc[l];
    }
  for (int l = 0; l < kLanes; ++l) {
    if (i + l >= n) continue;
    const float v = term(i + l);
    acc[l] = v > acc[l] ? v : acc[l];
  }
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) acc[l] = acc[l + width] > acc[l] ? acc[l + width] : acc[l];
  return acc[0];
}

}  // namespace thaw::backend::cpu_detail
