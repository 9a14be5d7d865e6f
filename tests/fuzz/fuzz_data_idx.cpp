// libFuzzer target: IDX arrays (idx.hpp), raw and gzip-compressed (inflated with a small limit).
#include <cstddef>
#include <cstdint>
#include <span>

#include "thaw/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const auto a = thaw::data::parse_idx(bytes, "fuzz.idx");
    if (a.data.size() != a.count() * thaw::data::detail::idx_type_size(a.type)) __builtin_trap();
  } catch (const thaw::error&) {
  }
  try {
    const auto raw = thaw::data::detail::gunzip(bytes, "fuzz.gz", 1 << 20);
    (void)thaw::data::parse_idx(std::as_bytes(std::span(raw.data(), raw.size())), "fuzz.gz");
  } catch (const thaw::error&) {
  }
  return 0;
}
