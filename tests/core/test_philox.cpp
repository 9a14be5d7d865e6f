// Philox4x32-10 against the published known-answer vectors (Random123's kat_vectors), and the
// properties thaw's fills rely on.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "thaw/core/philox.hpp"

using thaw::philox::block4;

TEST_CASE("Philox4x32-10 reproduces the Random123 known-answer vectors", "[core][philox]") {
  struct kat {
    block4 counter;
    std::uint32_t key0, key1;
    block4 expected;
  };
  const kat vectors[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const kat& v : vectors) {
    const block4 out = thaw::philox::philox4x32_10(v.counter, v.key0, v.key1);
    for (int i = 0; i < 4; ++i) REQUIRE(out.v[i] == v.expected.v[i]);
  }
}

TEST_CASE("Philox streams are keyed by seed, stream and offset", "[core][philox]") {
  const thaw::philox_key a{1, 0}, b{2, 0}, c{1, 1};
  // Element e of a stream is block e/4, lane e%4: the same value however it is reached.
  for (std::uint64_t e : {0ull, 3ull, 4ull, 1000003ull}) {
    REQUIRE(thaw::philox::bits_at(a, e) == thaw::philox::block_at(a, e / 4).v[e % 4]);
  }
  // The seed's and the stream's high words matter (64-bit keys).
  REQUIRE(thaw::philox::bits_at({1, 0}, 0) != thaw::philox::bits_at({1 + (1ull << 32), 0}, 0));
  REQUIRE(thaw::philox::bits_at({1, 0}, 0) != thaw::philox::bits_at({1, 1ull << 32}, 0));
  std::set<std::uint32_t> seen;
  for (std::uint64_t e = 0; e < 64; ++e) {
    seen.insert(thaw::philox::bits_at(a, e));
    seen.insert(thaw::philox::bits_at(b, e));
    seen.insert(thaw::philox::bits_at(c, e));
  }
  REQUIRE(seen.size() == 3 * 64);  // no collisions among 192 32-bit outputs
}

TEST_CASE("uniform, normal and Bernoulli values have the right distribution", "[core][philox]") {
  const thaw::philox_key key{2026, 11};
  const int n = 200000;
  double sum_u = 0, sum_n = 0, sum_n2 = 0, hits = 0;
  double min_u = 1, max_u = 0;
  for (int e = 0; e < n; ++e) {
    const double u = thaw::philox::uniform_at(key, e, 0.0, 1.0);
    min_u = std::min(min_u, u);
    max_u = std::max(max_u, u);
    sum_u += u;
    const double g = thaw::philox::normal_at(key, e, 0.0, 1.0);
    REQUIRE(std::isfinite(g));
    sum_n += g;
    sum_n2 += g * g;
    hits += thaw::philox::bernoulli_at(key, e, 0.25);
  }
  REQUIRE(min_u >= 0.0);
  REQUIRE(max_u < 1.0);
  // 5-sigma bounds: these fail for a biased generator, not by chance.
  REQUIRE(std::abs(sum_u / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  REQUIRE(std::abs(sum_n / n) < 5 / std::sqrt(double(n)));
  REQUIRE(std::abs(sum_n2 / n - 1.0) < 5 * std::sqrt(2.0 / n));
  REQUIRE(std::abs(hits / n - 0.25) < 5 * std::sqrt(0.25 * 0.75 / n));
  // Uniform values are exact in float: the same number in float and double backends.
  for (int e = 0; e < 1000; ++e) {
    const double u = thaw::philox::uniform_at(key, e, 0.0, 1.0);
    REQUIRE(static_cast<double>(static_cast<float>(u)) == u);
  }
  REQUIRE(thaw::philox::bernoulli_at(key, 5, 0.0) == false);
  REQUIRE(thaw::philox::bernoulli_at(key, 5, 1.0) == true);
}
