// libFuzzer target: token dataset files (the header, offsets, domain table: dataset.hpp) and
// metrics caches (metrics.hpp). A file either parses into a layout whose every document can be
// read within bounds, or throws thaw::error.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "thaw/data/dataset.hpp"
#include "thaw/data/metrics.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const auto l = thaw::data::detail::parse_dataset(bytes, "fuzz.tokens");
    std::uint64_t sum = 0;
    for (std::uint64_t d = 0; d < l.n_docs; ++d) {
      const auto a = thaw::data::detail::load_le<std::uint64_t>(l.offsets + 8 * d);
      const auto b = thaw::data::detail::load_le<std::uint64_t>(l.offsets + 8 * (d + 1));
      for (std::uint64_t i = a; i < b && i < a + 4; ++i) {
        sum += l.token_bytes == 2 ? thaw::data::detail::load_le<std::uint16_t>(l.tokens + 2 * i)
                                  : thaw::data::detail::load_le<std::uint32_t>(l.tokens + 4 * i);
      }
    }
    if (sum == 0xFFFFFFFFFFFFFFFFull) __builtin_trap();  // keep the reads
  } catch (const thaw::error&) {
  }
  try {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::uint64_t docs = size >= 24 ? thaw::data::detail::load_le<std::uint64_t>(bytes.data() + 16) : 0;
    std::uint64_t fp = size >= 32 ? thaw::data::detail::load_le<std::uint64_t>(bytes.data() + 24) : 0;
    (void)thaw::data::parse_metrics(text, "fuzz.metrics", fp, docs);
  } catch (const thaw::error&) {
  }
  return 0;
}
