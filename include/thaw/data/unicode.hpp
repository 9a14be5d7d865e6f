// UTF-8 decoding and the Unicode classes the GPT-2 pre-tokenizer needs (letter, number,
// whitespace, other).
//
// The classes come from generated range tables (detail/unicode_tables.hpp, Unicode 14.0 from
// Python's unicodedata; regenerate with tests/data/gen_unicode_tables.py):
//   letter  = General Category L* (\p{L}),  number = General Category N* (\p{N}),
//   space   = the White_Space property (\s of a Unicode regex engine), other = everything else.
// Bytes that are not valid UTF-8 (stray continuation bytes, overlong forms, surrogates, code
// points above U+10FFFF, truncated sequences) are decoded one byte at a time as class `other`,
// so every byte string has exactly one segmentation and byte-level tokenizers round-trip it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "thaw/data/detail/unicode_tables.hpp"

namespace thaw::data::unicode {

/// The code point of an invalid byte (not a Unicode scalar value).
inline constexpr std::uint32_t kInvalid = 0xFFFFFFFFu;

enum class char_class : std::uint8_t { letter, number, space, other };

/// One decoded code point: its value (kInvalid for a byte that is not valid UTF-8) and its
/// length in bytes (1 to 4; always 1 for an invalid byte).
struct decoded {
  std::uint32_t cp;
  std::uint32_t len;
};

/// Decodes the code point starting at s[i] (requires i < s.size()), strictly: no overlong
/// forms, no surrogates, nothing above U+10FFFF.
constexpr decoded decode_utf8(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1};
  const std::size_t left = s.size() - i;
  auto cont = [&](std::size_t k) {
    return k < left && (static_cast<unsigned char>(s[i + k]) & 0xC0u) == 0x80u;
  };
  auto bits = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + k]) & 0x3Fu);
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (cont(1)) return {((b0 & 0x1Fu) << 6) | bits(1), 2};
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (cont(1) && cont(2)) {
      const std::uint32_t cp = ((b0 & 0x0Fu) << 12) | (bits(1) << 6) | bits(2);
      if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return {cp, 3};
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (cont(1) && cont(2) && cont(3)) {
      const std::uint32_t cp = ((b0 & 0x07u) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3);
      if (cp >= 0x10000 && cp <= 0x10FFFF) return {cp, 4};
    }
  }
  return {kInvalid, 1};
}

namespace detail {
template <std::size_t N>
constexpr bool in_ranges(const thaw::data::detail::code_range (&table)[N], std::uint32_t cp) {
  const auto* it = std::upper_bound(std::begin(table), std::end(table), cp,
                                    [](std::uint32_t v, const auto& r) { return v < r.lo; });
  return it != std::begin(table) && cp <= std::prev(it)->hi;
}

constexpr char_class ascii_class(unsigned char c) {
  if ((c | 0x20u) >= 'a' && (c | 0x20u) <= 'z') return char_class::letter;
  if (c >= '0' && c <= '9') return char_class::number;
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return char_class::space;
  return char_class::other;
}
}  // namespace detail

/// The class of a code point (kInvalid is `other`).
constexpr char_class classify(std::uint32_t cp) noexcept {
  if (cp < 0x80) return detail::ascii_class(static_cast<unsigned char>(cp));
  if (cp == kInvalid) return char_class::other;
  if (detail::in_ranges(thaw::data::detail::kLetterRanges, cp)) return char_class::letter;
  if (detail::in_ranges(thaw::data::detail::kNumberRanges, cp)) return char_class::number;
  if (detail::in_ranges(thaw::data::detail::kSpaceRanges, cp)) return char_class::space;
  return char_class::other;
}

/// Appends the UTF-8 encoding of a scalar value to out.
template <class String>
void append_utf8(String& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace thaw::data::unicode
