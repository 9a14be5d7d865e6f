// Element-wise kernels of the cpu backend whose bits do not depend on where a range starts or
// ends: every element goes through the same vector instructions, the last partial vector too.
//
// Why not a plain loop or an Eigen array expression: a compiler-vectorised loop computes its tail
// in scalar code, and an Eigen expression peels unaligned elements off the front in scalar code.
// Scalar and vector code can differ in their bits: Eigen's packet sqrt under its default
// EIGEN_FAST_MATH is rsqrt plus one Newton step (12 + 11 bits on AVX2, not correctly rounded)
// while its scalar sqrt is std::sqrt, and a compiler may fuse a multiply into an add in one and
// not the other. Then the element at a thread's chunk boundary, or at the start of an unaligned
// range, gets other bits than with another thread count or alignment (issue 13: AdamW on an AVX2
// build). Here the tail is copied into a zero-padded vector, run through the same kernel, and
// copied back, so "any thread count, any alignment, any chunking" holds by construction, on any
// ISA the build targets (SSE2, AVX2, AVX-512: xsimd picks the widest one compiled for).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <tuple>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace thaw::backend::cpu_detail {

#if XSIMD_WITH_SSE2 || XSIMD_WITH_NEON64
/// The widest float vector of the target ISA.
using float_batch = xsimd::batch<float>;
#define THAW_CPU_SIMD 1
#else
/// No vector unit known to xsimd: one float at a time (body and tail are then the same code).
using float_batch = float;
#define THAW_CPU_SIMD 0
#endif

/// Floats per vector.
inline constexpr std::size_t kBatchFloats = sizeof(float_batch) / sizeof(float);

namespace simd_detail {
template <class Ptr>
float_batch load(Ptr p) {
#if THAW_CPU_SIMD
  return float_batch::load_unaligned(p);
#else
  return *p;
#endif
}
template <class Ptr>
void store_if_mutable(Ptr p, const float_batch& value) {
  if constexpr (!std::is_const_v<std::remove_pointer_t<Ptr>>) {
#if THAW_CPU_SIMD
    value.store_unaligned(p);
#else
    *p = value;
#endif
  }
}
}  // namespace simd_detail

/// Runs kernel(batches&...) over elements [0, count) of the arrays `ptrs` (float* or
/// const float*), kBatchFloats elements at a time; the batches of the mutable arrays are stored
/// back after each call. The last count % kBatchFloats elements go through the same kernel in
/// zero-padded vectors (the padding lanes' results are dropped), so an element's result depends
/// only on its inputs, never on its position in the range.
template <class Kernel, class... Ptr>
void simd_for_each(std::size_t count, Kernel&& kernel, Ptr... ptrs) {
  static_assert((std::is_same_v<std::remove_const_t<std::remove_pointer_t<Ptr>>, float> && ...),
                "simd_for_each takes float arrays");
  // One instantiation for both the body and the tail: the same instructions for every element.
  const auto block = [&kernel](auto... at) {
    std::tuple<decltype(simd_detail::load(at))...> batches{simd_detail::load(at)...};
    std::apply(kernel, batches);
    std::apply([&](const auto&... b) { (simd_detail::store_if_mutable(at, b), ...); }, batches);
  };
  std::size_t i = 0;
  for (; i + kBatchFloats <= count; i += kBatchFloats) block(ptrs + i...);
  const std::size_t rest = count - i;
  if (rest == 0) return;
  float padded[sizeof...(Ptr)][kBatchFloats] = {};
  std::size_t a = 0;
  ((std::copy(ptrs + i, ptrs + count, padded[a++])), ...);
  a = 0;
  // The padded copies, const where the array is: only mutable ones are stored back below.
  const auto padded_ptr = [&](auto p) {
    using target = std::conditional_t<std::is_const_v<std::remove_pointer_t<decltype(p)>>,
                                      const float*, float*>;
    return static_cast<target>(padded[a++]);
  };
  std::apply(block, std::tuple<Ptr...>{padded_ptr(ptrs)...});
  a = 0;
  const auto copy_back = [&](auto p) {
    const float* from = padded[a++];
    if constexpr (!std::is_const_v<std::remove_pointer_t<decltype(p)>>)
      std::copy(from, from + rest, p + i);
  };
  (copy_back(ptrs), ...);
}

/// Correctly rounded square root of every lane (IEEE sqrt, as std::sqrt).
inline float_batch sqrt_exact(const float_batch& x) {
#if THAW_CPU_SIMD
  return xsimd::sqrt(x);
#else
  return std::sqrt(x);
#endif
}

}  // namespace thaw::backend::cpu_detail
