// The LZW decoder of Unix compress(1) (".Z", codes of 9..maxbits bits, block mode with CLEAR =
// 256), as the bible-kjv-text package stores its text (one compressed stream per 64 KiB window,
// decoded independently). Corrupt input raises thaw::error instead of reading out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/core/error.hpp"

namespace thaw::data::detail {

/// Decodes one compress(1) stream body (no 3-byte header); `maxbits` in 9..16, `block` says
/// whether code 256 clears the table. At most `limit` output bytes; `name` is for messages.
inline std::string lzw_decode(std::span<const unsigned char> in, int maxbits, bool block,
                              std::size_t limit, std::string_view name) {
  THAW_CHECK(maxbits >= 9 && maxbits <= 16, name, ": LZW max code width ", maxbits,
             " is outside 9..16");
  const std::uint32_t maxmaxcode = 1u << maxbits;
  std::vector<std::uint16_t> prefix(maxmaxcode, 0);
  std::vector<unsigned char> suffix(maxmaxcode, 0);
  for (std::uint32_t c = 0; c < 256; ++c) suffix[c] = static_cast<unsigned char>(c);
  std::vector<unsigned char> stack;
  stack.reserve(maxmaxcode);

  int n_bits = 9;
  std::uint32_t maxcode = (1u << n_bits) - 1;
  std::uint32_t free_ent = block ? 257 : 256;
  bool clear = false;
  // compress reads codes in groups of n_bits bytes; a group's unused tail is skipped whenever
  // the code width changes or the table is cleared.
  std::size_t pos = 0;
  std::uint64_t group_bits = 0, bit_off = 0;
  std::size_t group_start = 0;
  auto getcode = [&]() -> std::int64_t {
    if (clear || bit_off >= group_bits || free_ent > maxcode) {
      if (free_ent > maxcode) {
        ++n_bits;
        maxcode = n_bits == maxbits ? maxmaxcode : (1u << n_bits) - 1;
      }
      if (clear) {
        n_bits = 9;
        maxcode = (1u << n_bits) - 1;
        clear = false;
      }
      const std::size_t size = std::min<std::size_t>(static_cast<std::size_t>(n_bits), in.size() - pos);
      if (size == 0) return -1;
      group_start = pos;
      pos += size;
      bit_off = 0;
      group_bits = size * 8 >= static_cast<std::size_t>(n_bits - 1) ? size * 8 - static_cast<std::size_t>(n_bits - 1) : 0;
      if (group_bits == 0) return -1;
    }
    std::uint32_t code = 0;
    for (int b = 0; b < n_bits; ++b) {
      const std::uint64_t bit = bit_off + static_cast<std::uint64_t>(b);
      const std::size_t byte = group_start + static_cast<std::size_t>(bit >> 3);
      if (byte < pos && ((in[byte] >> (bit & 7)) & 1u)) code |= 1u << b;
    }
    bit_off += static_cast<std::uint64_t>(n_bits);
    return code;
  };

  std::string out;
  std::int64_t old = getcode();
  if (old < 0) return out;
  THAW_CHECK(old < 256, name, ": corrupt LZW data (first code ", old, " is not a byte)");
  unsigned char finchar = static_cast<unsigned char>(old);
  out.push_back(static_cast<char>(finchar));
  for (;;) {
    std::int64_t code = getcode();
    if (code < 0) break;
    if (code == 256 && block) {
      free_ent = 256;
      clear = true;
      code = getcode();
      if (code < 0) break;
    }
    const std::int64_t incode = code;
    stack.clear();
    if (code >= static_cast<std::int64_t>(free_ent)) {
      THAW_CHECK(code == static_cast<std::int64_t>(free_ent), name, ": corrupt LZW data (code ",
                 code, " beyond the table size ", free_ent, ')');
      stack.push_back(finchar);
      code = old;
    }
    while (code >= 256) {
      stack.push_back(suffix[static_cast<std::size_t>(code)]);
      code = prefix[static_cast<std::size_t>(code)];
    }
    finchar = suffix[static_cast<std::size_t>(code)];
    stack.push_back(finchar);
    THAW_CHECK(out.size() + stack.size() <= limit, name, ": LZW data expands beyond ", limit,
               " bytes");
    out.append(stack.rbegin(), stack.rend());
    if (free_ent < maxmaxcode) {
      prefix[free_ent] = static_cast<std::uint16_t>(old);
      suffix[free_ent] = finchar;
      ++free_ent;
    }
    old = incode;
  }
  return out;
}

}  // namespace thaw::data::detail
