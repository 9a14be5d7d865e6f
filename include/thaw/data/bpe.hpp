// Byte-level BPE: train a vocabulary on a corpus, save and load it, encode and decode; and load
// GPT-2's vocab.json + merges.txt and encode exactly as GPT-2 does.
//
// Model (the one of GPT-2, "Language Models are Unsupervised Multitask Learners", and of
// Sennrich et al., "Neural Machine Translation of Rare Words with Subword Units"): text is split
// by GPT-2's pre-tokenizer (pretokenize.hpp); each piece starts as one token per byte; merges
// are applied in rank order (at each round the adjacent pair of lowest rank is merged at every
// non-overlapping occurrence, left to right) until no adjacent pair has a merge. Since every
// byte has a token and pieces concatenate to the input, decode(encode(x)) == x for any bytes.
//
// Two file formats:
//  - thaw's own (`save` / `load`): a text file
//        thaw-bpe 1
//        merges M
//        a b            (M lines: token ids of the merged pair; the result is token 256 + line)
//    Tokens 0..255 are the bytes; ids in a line must name earlier tokens.
//  - GPT-2's (`load_gpt2`): vocab.json maps each token, written with GPT-2's bytes_to_unicode
//    alphabet, to its id; merges.txt lists the merges in rank order after a `#version` line.
//    `<|endoftext|>` (id 50256) is the end-of-text token; encode never produces it from text.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <queue>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "thaw/core/error.hpp"
#include "thaw/data/detail/io.hpp"
#include "thaw/data/pretokenize.hpp"
#include "thaw/data/unicode.hpp"

namespace thaw::data {

/// A token id.
using token_t = std::uint32_t;

namespace detail {
constexpr std::uint64_t pair_key(token_t a, token_t b) {
  return (static_cast<std::uint64_t>(a) << 32) | b;
}

/// GPT-2's bytes_to_unicode: byte b is written as code point table[b] in vocab.json/merges.txt.
inline const std::array<std::uint32_t, 256>& gpt2_byte_to_cp() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    std::array<bool, 256> printable{};
    for (int b = '!'; b <= '~'; ++b) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
    std::uint32_t extra = 0;
    for (int b = 0; b < 256; ++b) t[b] = printable[b] ? static_cast<std::uint32_t>(b) : 256 + extra++;
    return t;
  }();
  return table;
}

/// Decodes a token written in GPT-2's alphabet back to its bytes; throws on a character outside
/// the alphabet.
inline std::string gpt2_token_bytes(std::string_view text, std::string_view file) {
  static const std::unordered_map<std::uint32_t, unsigned char> inverse = [] {
    std::unordered_map<std::uint32_t, unsigned char> m;
    const auto& t = gpt2_byte_to_cp();
    for (int b = 0; b < 256; ++b) m.emplace(t[b], static_cast<unsigned char>(b));
    return m;
  }();
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto d = unicode::decode_utf8(text, i);
    const auto it = inverse.find(d.cp);
    THAW_CHECK(d.cp != unicode::kInvalid && it != inverse.end(), file, ": token \"",
               std::string(text), "\" has a character outside GPT-2's byte alphabet");
    out.push_back(static_cast<char>(it->second));
    i += d.len;
  }
  return out;
}
}  // namespace detail

/// Reusable memo of encoded pieces (words repeat a lot in real text). Not thread-safe: use one
/// per thread.
struct bpe_cache {
  std::unordered_map<std::string, std::vector<token_t>> pieces;
  std::size_t max_entries = 1u << 20;
};

struct bpe_train_cfg {
  std::size_t vocab_size = 4096;  // >= 256; training stops earlier if no pair occurs twice
};

class bpe_tokenizer {
public:
  /// A merge: tokens `a` and `b`, adjacent, become `result`. Index in merges() = rank.
  struct merge {
    token_t a, b, result;
  };

  /// The plain byte vocabulary (256 tokens, no merges).
  bpe_tokenizer() { init_bytes(); }

  // ---- training ----------------------------------------------------------------------------

  /// Learns merges on `texts` until the vocabulary has cfg.vocab_size tokens or no adjacent
  /// pair occurs at least twice. Deterministic: the most frequent pair wins, ties go to the
  /// smaller (a, b). Cost: one pass to count pieces, then work proportional to the occurrences
  /// touched by each merge (HF tokenizers' incremental scheme).
  template <class Texts>
  static bpe_tokenizer train(const Texts& texts, bpe_train_cfg cfg = {}) {
    THAW_CHECK(cfg.vocab_size >= 256, "bpe: vocab_size must be >= 256, got ", cfg.vocab_size);
    THAW_CHECK(cfg.vocab_size <= (std::size_t{1} << 31), "bpe: vocab_size too large: ",
               cfg.vocab_size);
    // 1. Count the distinct pieces.
    std::unordered_map<std::string_view, std::uint64_t> counts;
    for (const auto& t : texts) {
      gpt2_pretokenize(std::string_view(t), [&](std::string_view p) { ++counts[p]; });
    }
    struct word {
      std::vector<token_t> sym;
      std::uint64_t count;
    };
    std::vector<std::pair<std::string_view, std::uint64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end());  // deterministic word order
    std::vector<word> words;
    words.reserve(sorted.size());
    for (const auto& [p, c] : sorted) {
      if (p.size() < 2) continue;  // a one-byte piece never takes part in a merge
      word w{{}, c};
      w.sym.reserve(p.size());
      for (char ch : p) w.sym.push_back(static_cast<unsigned char>(ch));
      words.push_back(std::move(w));
    }
    // 2. Pair counts and where each pair occurs.
    std::unordered_map<std::uint64_t, std::int64_t> pair_count;
    std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> where;
    for (std::uint32_t wi = 0; wi < words.size(); ++wi) {
      const auto& s = words[wi].sym;
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        const auto k = detail::pair_key(s[i], s[i + 1]);
        pair_count[k] += static_cast<std::int64_t>(words[wi].count);
        auto& v = where[k];
        if (v.empty() || v.back() != wi) v.push_back(wi);
      }
    }
    // Max-heap on (count, then smaller key); entries are checked against pair_count lazily.
    using entry = std::pair<std::int64_t, std::uint64_t>;
    auto worse = [](const entry& x, const entry& y) {
      return x.first != y.first ? x.first < y.first : x.second > y.second;
    };
    std::priority_queue<entry, std::vector<entry>, decltype(worse)> heap(worse);
    for (const auto& [k, c] : pair_count) heap.emplace(c, k);

    bpe_tokenizer tok;
    while (tok.vocab_.size() < cfg.vocab_size && !heap.empty()) {
      const auto [c, k] = heap.top();
      heap.pop();
      const auto it = pair_count.find(k);
      if (it == pair_count.end() || it->second != c) continue;  // stale entry
      if (c < 2) break;
      const auto a = static_cast<token_t>(k >> 32), b = static_cast<token_t>(k & 0xFFFFFFFFu);
      const token_t r = tok.add_merge(a, b);
      pair_count.erase(it);
      std::unordered_map<std::uint64_t, std::int64_t> delta;
      auto occurrences = std::move(where[k]);
      where.erase(k);
      for (const std::uint32_t wi : occurrences) {
        auto& s = words[wi].sym;
        const auto wc = static_cast<std::int64_t>(words[wi].count);
        bool touched = false;
        for (std::size_t i = 0; i + 1 < s.size();) {
          if (s[i] == a && s[i + 1] == b) {
            if (i > 0) {
              delta[detail::pair_key(s[i - 1], a)] -= wc;
              delta[detail::pair_key(s[i - 1], r)] += wc;
            }
            if (i + 2 < s.size()) {
              delta[detail::pair_key(b, s[i + 2])] -= wc;
              delta[detail::pair_key(r, s[i + 2])] += wc;
            }
            s[i] = r;
            s.erase(s.begin() + static_cast<std::ptrdiff_t>(i) + 1);
            touched = true;
            ++i;
          } else {
            ++i;
          }
        }
        if (touched) {
          for (std::size_t i = 0; i + 1 < s.size(); ++i) {
            if (s[i] == r || s[i + 1] == r) {
              auto& v = where[detail::pair_key(s[i], s[i + 1])];
              if (v.empty() || v.back() != wi) v.push_back(wi);
            }
          }
        }
      }
      for (const auto& [dk, dc] : delta) {
        if (dc == 0 || dk == k) continue;
        auto& cur = pair_count[dk];
        cur += dc;
        if (cur <= 0) {
          pair_count.erase(dk);
        } else {
          heap.emplace(cur, dk);  // the entry with the old count goes stale
        }
      }
    }
    return tok;
  }

  // ---- thaw's file format ------------------------------------------------------------------

  /// Writes the merges in thaw's format (see the top of this header).
  void save(const std::filesystem::path& path) const {
    std::ostringstream out;
    out << "thaw-bpe 1\nmerges " << merges_.size() << '\n';
    for (const auto& m : merges_) out << m.a << ' ' << m.b << '\n';
    detail::write_file_atomic(path, out.str());
  }

  /// Parses thaw's format from memory; `name` is used in error messages.
  static bpe_tokenizer parse(std::string_view text, std::string_view name) {
    std::size_t pos = 0;
    std::size_t line_no = 0;
    auto next_line = [&](std::string_view& line) {
      if (pos >= text.size()) return false;
      const auto e = text.find('\n', pos);
      line = text.substr(pos, e == std::string_view::npos ? text.size() - pos : e - pos);
      pos = e == std::string_view::npos ? text.size() : e + 1;
      ++line_no;
      return true;
    };
    std::string_view line;
    THAW_CHECK(next_line(line) && line == "thaw-bpe 1", name,
               ": not a thaw BPE file (first line must be \"thaw-bpe 1\")");
    THAW_CHECK(next_line(line) && line.starts_with("merges "), name,
               ": line 2 must be \"merges M\"");
    const auto m = detail::parse_u64(line.substr(7), name, "merge count");
    THAW_CHECK(m <= (std::uint64_t{1} << 31) - 256, name, ": merge count too large: ", m);
    bpe_tokenizer tok;
    tok.merges_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(m, text.size())));
    for (std::uint64_t i = 0; i < m; ++i) {
      THAW_CHECK(next_line(line), name, ": expected ", m, " merges, found ", i);
      const auto sp = line.find(' ');
      THAW_CHECK(sp != std::string_view::npos, name, ":", line_no, ": expected \"a b\", got \"",
                 std::string(line), '"');
      const auto a = detail::parse_u64(line.substr(0, sp), name, "token id");
      const auto b = detail::parse_u64(line.substr(sp + 1), name, "token id");
      const auto limit = 256 + i;
      THAW_CHECK(a < limit && b < limit, name, ":", line_no, ": merge (", a, ", ", b,
                 ") names a token not defined before it (tokens so far: ", limit, ')');
      THAW_CHECK(!tok.merge_rank_.contains(detail::pair_key(static_cast<token_t>(a),
                                                            static_cast<token_t>(b))),
                 name, ":", line_no, ": duplicate merge (", a, ", ", b, ')');
      tok.add_merge(static_cast<token_t>(a), static_cast<token_t>(b));
    }
    while (next_line(line)) {
      THAW_CHECK(line.empty(), name, ":", line_no, ": unexpected text after the last merge");
    }
    return tok;
  }

  static bpe_tokenizer load(const std::filesystem::path& path) {
    return parse(detail::read_file(path, "BPE file"), path.string());
  }

  // ---- GPT-2's format ------------------------------------------------------------------------

  /// Parses GPT-2's vocab.json and merges.txt (contents given; names for messages).
  static bpe_tokenizer parse_gpt2(std::string_view vocab_json, std::string_view merges_txt,
                                  std::string_view vocab_name = "vocab.json",
                                  std::string_view merges_name = "merges.txt") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(vocab_json);
    } catch (const nlohmann::json::exception& e) {
      throw thaw::error(thaw::message(vocab_name, ": not valid JSON: ", e.what()));
    }
    THAW_CHECK(j.is_object() && !j.empty(), vocab_name, ": expected a JSON object token -> id");
    bpe_tokenizer tok;
    tok.vocab_.clear();
    tok.vocab_.resize(j.size());
    std::vector<bool> seen(j.size(), false);
    std::unordered_map<std::string, token_t> id_of;
    id_of.reserve(j.size());
    for (const auto& [key, value] : j.items()) {
      THAW_CHECK(value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0),
                 vocab_name, ": id of token \"", key, "\" is not a non-negative integer");
      const auto id = value.get<std::uint64_t>();
      THAW_CHECK(id < j.size(), vocab_name, ": id ", id, " of token \"", key,
                 "\" is out of range (ids must be 0..", j.size() - 1, ")");
      THAW_CHECK(!seen[id], vocab_name, ": id ", id, " is used twice");
      seen[id] = true;
      auto bytes = detail::gpt2_token_bytes(key, vocab_name);
      THAW_CHECK(!bytes.empty(), vocab_name, ": empty token for id ", id);
      tok.vocab_[id] = bytes;
      id_of.emplace(std::move(bytes), static_cast<token_t>(id));
    }
    const auto& b2c = detail::gpt2_byte_to_cp();
    for (int b = 0; b < 256; ++b) {
      const auto it = id_of.find(std::string(1, static_cast<char>(b)));
      std::string shown;
      unicode::append_utf8(shown, b2c[b]);
      THAW_CHECK(it != id_of.end(), vocab_name, ": no token for byte ", b, " (\"", shown, "\")");
      tok.byte_id_[b] = it->second;
    }
    // merges.txt
    std::size_t pos = 0, line_no = 0;
    while (pos < merges_txt.size()) {
      const auto e = merges_txt.find('\n', pos);
      std::string_view line = merges_txt.substr(
          pos, e == std::string_view::npos ? merges_txt.size() - pos : e - pos);
      pos = e == std::string_view::npos ? merges_txt.size() : e + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
      const auto sp = line.find(' ');
      THAW_CHECK(sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
                     line.find(' ', sp + 1) == std::string_view::npos,
                 merges_name, ":", line_no, ": expected two tokens separated by one space");
      const auto left = detail::gpt2_token_bytes(line.substr(0, sp), merges_name);
      const auto right = detail::gpt2_token_bytes(line.substr(sp + 1), merges_name);
      const auto ia = id_of.find(left), ib = id_of.find(right), ir = id_of.find(left + right);
      THAW_CHECK(ia != id_of.end() && ib != id_of.end() && ir != id_of.end(), merges_name, ":",
                 line_no, ": merge \"", std::string(line), "\" names a token missing from ",
                 vocab_name);
      const auto k = detail::pair_key(ia->second, ib->second);
      if (tok.merge_rank_.contains(k)) continue;  // GPT-2's bpe() keeps the first rank
      tok.merge_rank_.emplace(k, static_cast<std::uint32_t>(tok.merges_.size()));
      tok.merges_.push_back({ia->second, ib->second, ir->second});
    }
    if (const auto it = id_of.find("<|endoftext|>"); it != id_of.end()) tok.eot_ = it->second;
    return tok;
  }

  static bpe_tokenizer load_gpt2(const std::filesystem::path& vocab_json,
                                 const std::filesystem::path& merges_txt) {
    const auto vocab = detail::read_file(vocab_json, "GPT-2 vocab.json");  // checked first
    const auto merges = detail::read_file(merges_txt, "GPT-2 merges.txt");
    return parse_gpt2(vocab, merges, vocab_json.string(), merges_txt.string());
  }

  // ---- encode / decode ---------------------------------------------------------------------

  /// Appends the tokens of one pre-tokenized piece.
  void encode_piece(std::string_view piece, std::vector<token_t>& out) const {
    std::vector<token_t> s;
    s.reserve(piece.size());
    for (char c : piece) s.push_back(byte_id_[static_cast<unsigned char>(c)]);
    while (s.size() >= 2) {
      std::uint32_t best = std::numeric_limits<std::uint32_t>::max();
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        const auto it = merge_rank_.find(detail::pair_key(s[i], s[i + 1]));
        if (it != merge_rank_.end() && it->second < best) best = it->second;
      }
      if (best == std::numeric_limits<std::uint32_t>::max()) break;
      const auto& m = merges_[best];
      std::size_t w = 0;
      for (std::size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == m.a && s[i + 1] == m.b) {
          s[w++] = m.result;
          i += 2;
        } else {
          s[w++] = s[i++];
        }
      }
      s.resize(w);
    }
    out.insert(out.end(), s.begin(), s.end());
  }

  /// Appends the tokens of `text` to out; `cache` (optional) memoizes pieces.
  void encode(std::string_view text, std::vector<token_t>& out, bpe_cache* cache = nullptr) const {
    gpt2_pretokenize(text, [&](std::string_view piece) {
      if (cache == nullptr || piece.size() == 1) {
        encode_piece(piece, out);
        return;
      }
      const auto it = cache->pieces.find(std::string(piece));
      if (it != cache->pieces.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
      const auto start = out.size();
      encode_piece(piece, out);
      if (cache->pieces.size() < cache->max_entries) {
        cache->pieces.emplace(std::string(piece),
                              std::vector<token_t>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
      }
    });
  }

  std::vector<token_t> encode(std::string_view text) const {
    std::vector<token_t> out;
    encode(text, out);
    return out;
  }

  /// The bytes of the tokens; throws on an id outside the vocabulary.
  std::string decode(std::span<const token_t> ids) const {
    std::string out;
    for (const token_t id : ids) {
      THAW_CHECK(id < vocab_.size(), "bpe decode: token id ", id, " outside the vocabulary (size ",
                 vocab_.size(), ')');
      out += vocab_[id];
    }
    return out;
  }

  [[nodiscard]] std::size_t vocab_size() const { return vocab_.size(); }
  [[nodiscard]] const std::vector<merge>& merges() const { return merges_; }
  [[nodiscard]] const std::string& token_bytes(token_t id) const { return vocab_.at(id); }
  /// The end-of-text token, or -1 when the vocabulary has none (thaw's own BPE).
  [[nodiscard]] std::int64_t eot() const { return eot_; }

private:
  void init_bytes() {
    vocab_.clear();
    for (int b = 0; b < 256; ++b) {
      vocab_.emplace_back(1, static_cast<char>(b));
      byte_id_[b] = static_cast<token_t>(b);
    }
  }

  token_t add_merge(token_t a, token_t b) {
    const auto r = static_cast<token_t>(vocab_.size());
    vocab_.push_back(vocab_[a] + vocab_[b]);
    merge_rank_.emplace(detail::pair_key(a, b), static_cast<std::uint32_t>(merges_.size()));
    merges_.push_back({a, b, r});
    return r;
  }

  std::vector<std::string> vocab_;           // id -> bytes
  std::array<token_t, 256> byte_id_{};       // byte -> id
  std::vector<merge> merges_;                // by rank
  std::unordered_map<std::uint64_t, std::uint32_t> merge_rank_;  // (a, b) -> rank
  std::int64_t eot_ = -1;
};

}  // namespace thaw::data
