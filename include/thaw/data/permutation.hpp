// A random permutation of [0, n) evaluated at any index in O(1) time and O(1) memory: a
// balanced Feistel network on the smallest even-bit-width power of two >= n, with cycle
// walking (re-encrypt until the value falls below n; fewer than 4 rounds trips on average).
// Round keys come from Philox keyed by (seed, stream), so a shuffled sampler needs no O(n)
// state: epoch e's order is permutation(n, {seed, e}).
//
// Feistel networks are permutations whatever the round function (Luby and Rackoff, "How to
// construct pseudorandom permutations from pseudorandom functions", 1988); cycle walking keeps
// bijectivity on a sub-domain (Black and Rogaway, "Ciphers with Arbitrary Finite Domains", 2002).
#pragma once

#include <array>
#include <bit>
#include <cstdint>

#include "thaw/core/philox.hpp"

namespace thaw::data {

class feistel_permutation {
public:
  static constexpr int kRounds = 6;

  feistel_permutation() = default;
  feistel_permutation(std::uint64_t n, philox_key key) : n_(n) {
    const int bits = n <= 1 ? 0 : std::bit_width(n - 1);
    half_ = (bits + 1) / 2;
    if (half_ == 0) half_ = 1;
    mask_ = (std::uint64_t{1} << half_) - 1;
    for (int r = 0; r < kRounds; ++r) {
      const auto b = philox::block_at(key, static_cast<std::uint64_t>(r));
      keys_[r] = (static_cast<std::uint64_t>(b.v[0]) << 32) | b.v[1];
    }
  }

  /// The image of i (requires i < n).
  [[nodiscard]] std::uint64_t operator()(std::uint64_t i) const {
    if (n_ <= 1) return 0;
    std::uint64_t x = i;
    do {
      x = encrypt(x);
    } while (x >= n_);
    return x;
  }

  [[nodiscard]] std::uint64_t size() const { return n_; }

private:
  static constexpr std::uint64_t mix(std::uint64_t z) {  // splitmix64's finalizer
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  [[nodiscard]] std::uint64_t encrypt(std::uint64_t x) const {
    std::uint64_t left = x >> half_, right = x & mask_;
    for (int r = 0; r < kRounds; ++r) {
      const std::uint64_t f = mix(right ^ keys_[r]) & mask_;
      const std::uint64_t next = left ^ f;
      left = right;
      right = next;
    }
    return (left << half_) | right;
  }

  std::uint64_t n_ = 0;
  int half_ = 1;
  std::uint64_t mask_ = 1;
  std::array<std::uint64_t, kRounds> keys_{};
};

}  // namespace thaw::data
