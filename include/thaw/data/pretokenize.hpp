// GPT-2's pre-tokenizer: splits text into the pieces that byte-level BPE merges within.
//
// It implements, without a regex engine, exactly the pattern of GPT-2's encoder.py (also the
// default of Hugging Face's ByteLevel pre-tokenizer):
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// with leftmost-first alternation as in Python's `regex`: at each position the first
// alternative that matches wins. The optional prefix is the ASCII space U+0020 only; the
// contractions are case-sensitive. Letter, number and whitespace classes are the Unicode ones of
// unicode.hpp (L*, N*, White_Space). `\s+(?!\S)` takes a run of whitespace but leaves its last
// character to the next piece when a non-space follows (so " world" keeps its space). Bytes that
// are not valid UTF-8 count as `other` characters, so any byte string splits into pieces whose
// concatenation is the input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/data/unicode.hpp"

namespace thaw::data {

/// Calls emit(std::string_view piece) for each piece of `text`, in order; the pieces
/// concatenate to `text`.
template <class Emit>
void gpt2_pretokenize(std::string_view text, Emit&& emit) {
  using unicode::char_class;
  const std::size_t n = text.size();
  auto cls_at = [&](std::size_t i) -> char_class {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) return unicode::detail::ascii_class(c);
    return unicode::classify(unicode::decode_utf8(text, i).cp);
  };
  auto len_at = [&](std::size_t i) -> std::size_t {
    return static_cast<unsigned char>(text[i]) < 0x80 ? 1 : unicode::decode_utf8(text, i).len;
  };
  // End of the maximal run of class `c` starting at i (i itself may not be of that class).
  auto run_end = [&](std::size_t i, char_class c) {
    while (i < n && cls_at(i) == c) i += len_at(i);
    return i;
  };

  std::size_t p = 0;
  while (p < n) {
    // 1. Contractions.
    if (text[p] == '\'' && p + 1 < n) {
      const char a = text[p + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        emit(text.substr(p, 2));
        p += 2;
        continue;
      }
      if (p + 2 < n) {
        const char b = text[p + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
          emit(text.substr(p, 3));
          p += 3;
          continue;
        }
      }
    }
    // 2. ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a run.
    const std::size_t r = p + (text[p] == ' ' ? 1 : 0);
    if (r < n) {
      const char_class c = cls_at(r);
      if (c != char_class::space) {
        const std::size_t e = run_end(r, c);
        emit(text.substr(p, e - p));
        p = e;
        continue;
      }
    }
    // 3. `\s+(?!\S)` then `\s+`: here text[p] is whitespace (a lone ' ' at the end included).
    std::size_t e = p, last = p;
    while (e < n && cls_at(e) == char_class::space) {
      last = e;
      e += len_at(e);
    }
    if (e == p) {  // unreachable: every non-space was taken by rule 2; kept for safety
      e = p + len_at(p);
    } else if (e < n && last > p) {
      e = last;  // a non-space follows: leave the run's last character to it
    }
    emit(text.substr(p, e - p));
    p = e;
  }
}

/// The pieces of `text` as a vector (for tests and tools).
inline std::vector<std::string> gpt2_pieces(std::string_view text) {
  std::vector<std::string> out;
  gpt2_pretokenize(text, [&](std::string_view piece) { out.emplace_back(piece); });
  return out;
}

}  // namespace thaw::data
