// Philox 4x32-10 counter-based random numbers, keyed by (seed, stream, offset).
//
// From "Parallel Random Numbers: As Easy as 1, 2, 3" (Salmon, Moraes, Dror, Shaw, SC 2011).
// A counter-based generator has no sequential state: element i of a fill is a pure function of
// (seed, stream, offset + i), so the same numbers come out on the CPU and the GPU, in any
// thread order, and a random mask or an initializer can be regenerated from its seed alone.
//
// Layout of one Philox call: key = (seed low 32 bits, seed high 32 bits); counter =
// (block low, block high, stream low, stream high), where `block` indexes groups of four
// 32-bit outputs. The element-level helpers below define how fills consume those outputs:
//  - uniform / bernoulli: element e uses output lane e % 4 of block e / 4;
//  - normal: element e uses lanes 2(e % 2) and 2(e % 2) + 1 of block e / 2 (Box–Muller).
// Bernoulli fills are bit-identical on every backend (integer arithmetic and an exact
// comparison); uniform fills are too, because the one rounding step is a fused multiply-add
// (see uniform_from_bits). Normal fills use double-precision log/sqrt/cos rounded to the
// fill's scalar, identical on CPU and GPU up to the last bit of those functions (libm vs CUDA,
// both within 1 ulp of double).
//
// Why std::fma: `lo + (hi - lo) * u` is two roundings when compiled as written and one when a
// compiler contracts it into an FMA. Whether it does depends on flags (g++ contracts in GNU
// mode and at -ffp-contract=fast, not in ISO mode; nvcc contracts by default), so the same
// expression could give a different last bit on the CPU and the GPU. std::fma is one
// correctly rounded operation everywhere (hardware FMA or glibc's exact software fma; CUDA's
// double fma on the device), so there is exactly one definition of each value.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "thaw/core/host_device.hpp"

namespace thaw {

/// Where a stream of random numbers comes from: a run's seed and a named stream inside it
/// (initializer of parameter group k, dropout of layer l, a mask, ...).
struct philox_key {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;
};

namespace philox {

inline constexpr std::uint32_t kMul0 = 0xD2511F53u;
inline constexpr std::uint32_t kMul1 = 0xCD9E8D57u;
inline constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
inline constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1
inline constexpr int kRounds = 10;

struct block4 {
  std::uint32_t v[4];
};

/// One Philox4x32-10 evaluation: the published function, checked against the Random123
/// known-answer vectors in tests/core/test_philox.cpp.
THAW_HOST_DEVICE block4 philox4x32_10(block4 counter, std::uint32_t key0, std::uint32_t key1) {
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * counter.v[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * counter.v[2];
    const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    counter = block4{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
  }
  return counter;
}

/// The four outputs of block `block` of stream (seed, stream).
THAW_HOST_DEVICE block4 block_at(philox_key key, std::uint64_t block) {
  const block4 counter{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                        static_cast<std::uint32_t>(key.stream),
                        static_cast<std::uint32_t>(key.stream >> 32)}};
  return philox4x32_10(counter, static_cast<std::uint32_t>(key.seed),
                       static_cast<std::uint32_t>(key.seed >> 32));
}

/// 32 random bits for element e of the stream.
THAW_HOST_DEVICE std::uint32_t bits_at(philox_key key, std::uint64_t e) {
  return block_at(key, e / 4).v[e % 4];
}

/// Top 24 bits as a float-exact value in [0, 1): the same number in float and double.
THAW_HOST_DEVICE double to_unit(std::uint32_t bits) {
  return static_cast<double>(bits >> 8) * (1.0 / 16777216.0);
}

/// lo + (hi - lo) u for the unit value of `bits`, as one fused multiply-add: the single
/// definition of a uniform value, shared by uniform_at and the CUDA fill kernel (which has the
/// block's four outputs at hand and calls this per lane).
THAW_HOST_DEVICE double uniform_from_bits(std::uint32_t bits, double lo, double hi) {
  return std::fma(hi - lo, to_unit(bits), lo);
}

/// Uniform in [lo, hi) for element e (computed in double, rounded once more to the caller's
/// scalar).
THAW_HOST_DEVICE double uniform_at(philox_key key, std::uint64_t e, double lo, double hi) {
  return uniform_from_bits(bits_at(key, e), lo, hi);
}

/// 1 with probability p, else 0, for element e: compares 24 bits against p exactly.
THAW_HOST_DEVICE bool bernoulli_at(philox_key key, std::uint64_t e, double p) {
  return to_unit(bits_at(key, e)) < p;
}

/// Standard-normal value for element e by Box–Muller on two lanes of block e / 2.
THAW_HOST_DEVICE double normal_at(philox_key key, std::uint64_t e, double mean, double stddev) {
  const block4 b = block_at(key, e / 2);
  const int lane = static_cast<int>(e % 2) * 2;
  // u1 in (0, 1] so the log is finite; u2 in [0, 1).
  const double u1 = (static_cast<double>(b.v[lane] >> 8) + 1.0) * (1.0 / 16777216.0);
  const double u2 = to_unit(b.v[lane + 1]);
  const double radius = std::sqrt(-2.0 * std::log(u1));
  // mean + (stddev radius) cos(.) as one FMA, for the same reason as uniform_from_bits.
  return std::fma(stddev * radius, std::cos(6.283185307179586476925286766559 * u2), mean);
}

}  // namespace philox
}  // namespace thaw
