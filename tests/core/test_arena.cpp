// The bump arena: alignment, marks, chaining blocks, reset to one block of the peak size.
#include <catch2/catch.hpp>

#include <cstdint>

#include "thaw/backend/reference.hpp"
#include "thaw/core/arena.hpp"

using B = thaw::backend::reference<float>;

TEST_CASE("arena: aligned bump allocations and peak tracking", "[core][arena]") {
  thaw::arena<B> a(4096);
  float* x = a.allocate<float>(3);
  double* y = a.allocate<double>(5);
  REQUIRE(reinterpret_cast<std::uintptr_t>(x) % 64 == 0);
  REQUIRE(reinterpret_cast<std::uintptr_t>(y) % 64 == 0);
  REQUIRE(reinterpret_cast<std::byte*>(y) - reinterpret_cast<std::byte*>(x) == 64);
  REQUIRE(a.used_bytes() == 128);
  auto v = a.allocate(thaw::shape{4, 8});
  REQUIRE(v.shape == thaw::shape{4, 8});
  REQUIRE(a.used_bytes() == 256);
  for (int i = 0; i < 32; ++i) v.data[i] = float(i);  // writable (ASan checks the bounds)
  a.reset();
  REQUIRE(a.used_bytes() == 0);
  REQUIRE(a.peak_bytes() == 256);
  REQUIRE(a.allocate<float>(1) == x);  // the same memory again after reset
}

TEST_CASE("arena: marks release everything allocated after them", "[core][arena]") {
  thaw::arena<B> a(1024);
  a.allocate<float>(16);
  const auto m = a.mark();
  float* first = a.allocate<float>(16);
  a.allocate<float>(16);
  a.release(m);
  REQUIRE(a.used_bytes() == 64);
  REQUIRE(a.allocate<float>(16) == first);
  REQUIRE(a.peak_bytes() == 192);
}

TEST_CASE("arena: grows by chaining blocks, then consolidates at reset", "[core][arena]") {
  thaw::arena<B> a(256);
  float* small = a.allocate<float>(32);  // 128 bytes
  float* big = a.allocate<float>(256);   // 1024 bytes: does not fit, a new block
  small[31] = 1.0f;
  big[255] = 2.0f;  // both remain valid (ASan would flag a dangling block)
  REQUIRE(small[31] == 1.0f);
  REQUIRE(a.capacity_bytes() >= 256 + 1024);
  REQUIRE(a.peak_bytes() == 128 + 1024);
  a.reset();
  REQUIRE(a.capacity_bytes() == 128 + 1024);  // one block of the peak
  float* again = a.allocate<float>(32);
  float* big_again = a.allocate<float>(256);
  REQUIRE(reinterpret_cast<std::byte*>(big_again) - reinterpret_cast<std::byte*>(again) == 128);
  thaw::arena<B> lazy;  // no initial block
  REQUIRE(lazy.allocate<double>(0) != nullptr);
  auto m = lazy.mark();
  lazy.reset();
  REQUIRE_THROWS_WITH(lazy.release({m.block + 1, 0, 1}), Catch::Contains("marker"));
}
