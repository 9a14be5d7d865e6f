// Difficulty and quality metrics per document, computed once and cached beside the dataset.
//
// The signals that "Beyond Random Sampling: Efficient Language Model Pretraining via Curriculum
// Learning" found useful as curriculum difficulty: compression ratio,
// lexical diversity and readability; plus length and, once a trainer exists, model loss.
//
//   length             tokens in the document                                   (harder: higher)
//   compression_ratio  raw bytes / zlib-compressed bytes (level 6); redundant
//                      text compresses well                                     (harder: lower)
//   ttr                type-token ratio: distinct words / words                 (harder: higher)
//   mtld               Measure of Textual Lexical Diversity (McCarthy and Jarvis,
//                      2010), threshold 0.72, mean of the forward and backward
//                      passes; the mean length of word runs whose TTR stays above
//                      the threshold                                            (harder: higher)
//   flesch             Flesch reading ease 206.835 - 1.015 words/sentences
//                      - 84.6 syllables/words (Flesch, 1948)                    (harder: lower)
//   loss:NAME          mean token loss under checkpoint NAME (add_model_loss)   (harder: higher)
//
// Words are maximal runs of letters, digits and inner apostrophes, lower-cased (ASCII case
// folding); sentences end at runs of . ! ? (at least one per document with words); syllables are
// vowel groups (a e i o u y) less a silent final "e", at least one per word.
//
// Cache file (`train.metrics` beside `train.tokens`): magic "THAWMETR", u32 version 1, u32
// metric count, u64 documents, u64 dataset fingerprint, then per metric: u32 name length, the
// name, documents x f64. A cache whose fingerprint or size does not match the dataset is stale
// and is an error (never silently used).
//
// Needs zlib at link time (-lz, CMake ZLIB::ZLIB).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/dataset.hpp"
#include "thaw/data/detail/io.hpp"
#include "thaw/data/unicode.hpp"

namespace thaw::data {

/// What a metric name means for curriculum order.
struct metric_info {
  std::string_view name;
  bool higher_is_harder;
};

inline constexpr metric_info kMetrics[] = {{"length", true},
                                           {"compression_ratio", false},
                                           {"ttr", true},
                                           {"mtld", true},
                                           {"flesch", false}};

/// Direction of a metric (loss:* metrics are higher-is-harder); throws on an unknown name.
inline bool higher_is_harder(std::string_view name) {
  if (name.starts_with("loss:")) return true;
  for (const auto& m : kMetrics) {
    if (m.name == name) return m.higher_is_harder;
  }
  throw thaw::error(thaw::message("unknown metric \"", std::string(name),
                                  "\": expected length, compression_ratio, ttr, mtld, flesch or loss:NAME"));
}

// ---- the metrics ---------------------------------------------------------------------------

/// raw bytes / zlib-compressed bytes (level 6); 1 for empty text.
inline double compression_ratio(std::string_view text) {
  if (text.empty()) return 1.0;
  uLongf bound = compressBound(static_cast<uLong>(text.size()));
  std::vector<Bytef> buf(bound);
  const int rc = compress2(buf.data(), &bound, reinterpret_cast<const Bytef*>(text.data()),
                           static_cast<uLong>(text.size()), 6);
  THAW_CHECK(rc == Z_OK, "zlib compress2 failed with code ", rc);
  return static_cast<double>(text.size()) / static_cast<double>(bound);
}

/// The words of a text, lower-cased (see the top of this header).
inline std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < text.size();) {
    const auto d = unicode::decode_utf8(text, i);
    const auto c = unicode::classify(d.cp);
    const bool inner_apostrophe = d.cp == '\'' && !cur.empty() && i + 1 < text.size() &&
                                  std::isalpha(static_cast<unsigned char>(text[i + 1]));
    if (c == unicode::char_class::letter || c == unicode::char_class::number || inner_apostrophe) {
      if (d.cp < 0x80) {
        cur.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(d.cp))));
      } else {
        cur.append(text.substr(i, d.len));
      }
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
    i += d.len;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

/// Distinct words / words; 0 without words.
inline double type_token_ratio(std::span<const std::string> words) {
  if (words.empty()) return 0.0;
  const std::unordered_set<std::string_view> types(words.begin(), words.end());
  return static_cast<double>(types.size()) / static_cast<double>(words.size());
}

namespace detail {
template <class It>
double mtld_pass(It first, It last, double threshold) {
  double factors = 0;
  std::unordered_set<std::string_view> types;
  std::size_t count = 0;
  double ttr = 1.0;
  for (auto it = first; it != last; ++it) {
    ++count;
    types.insert(*it);
    ttr = static_cast<double>(types.size()) / static_cast<double>(count);
    if (ttr <= threshold) {
      factors += 1;
      types.clear();
      count = 0;
      ttr = 1.0;
    }
  }
  if (count > 0) factors += (1.0 - ttr) / (1.0 - threshold);
  const auto n = static_cast<double>(std::distance(first, last));
  return factors > 0 ? n / factors : n;  // no factor at all: the text never repeats itself
}
}  // namespace detail

/// MTLD (McCarthy and Jarvis 2010): mean of forward and backward passes; 0 without words.
inline double mtld(std::span<const std::string> words, double threshold = 0.72) {
  if (words.empty()) return 0.0;
  return 0.5 * (detail::mtld_pass(words.begin(), words.end(), threshold) +
                detail::mtld_pass(words.rbegin(), words.rend(), threshold));
}

/// Vowel groups less a silent final "e", at least 1.
inline int syllables(std::string_view word) {
  auto vowel = [](char c) {
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
  };
  int n = 0;
  bool prev = false;
  for (char c : word) {
    const bool v = vowel(c);
    if (v && !prev) ++n;
    prev = v;
  }
  if (word.size() > 2 && word.back() == 'e' && !vowel(word[word.size() - 2]) && n > 1) --n;
  return std::max(n, 1);
}

/// Flesch reading ease; 0 for a text without words.
inline double flesch_reading_ease(std::string_view text, std::span<const std::string> words) {
  if (words.empty()) return 0.0;
  std::size_t sentences = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '.' || c == '!' || c == '?') &&
        (i + 1 == text.size() || (text[i + 1] != '.' && text[i + 1] != '!' && text[i + 1] != '?'))) {
      ++sentences;
    }
  }
  sentences = std::max<std::size_t>(sentences, 1);
  std::size_t syl = 0;
  for (const auto& w : words) syl += static_cast<std::size_t>(syllables(w));
  const double nw = static_cast<double>(words.size());
  return 206.835 - 1.015 * (nw / static_cast<double>(sentences)) - 84.6 * (static_cast<double>(syl) / nw);
}

// ---- tables and the cache ------------------------------------------------------------------

/// Named per-document metric columns.
struct metrics_table {
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;  // values[k][doc]

  [[nodiscard]] bool has(std::string_view name) const {
    return std::find(names.begin(), names.end(), name) != names.end();
  }
  [[nodiscard]] const std::vector<double>& get(std::string_view name) const {
    const auto it = std::find(names.begin(), names.end(), name);
    THAW_CHECK(it != names.end(), "metric \"", std::string(name),
               "\" is not in the metrics cache (has: ", join(), ")");
    return values[static_cast<std::size_t>(it - names.begin())];
  }
  void set(std::string name, std::vector<double> column) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it != names.end()) {
      values[static_cast<std::size_t>(it - names.begin())] = std::move(column);
    } else {
      names.push_back(std::move(name));
      values.push_back(std::move(column));
    }
  }
  [[nodiscard]] std::string join() const {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
  }
};

/// The text metrics of documents (texts[d], with lengths[d] tokens).
inline metrics_table compute_text_metrics(std::span<const std::string_view> texts,
                                          std::span<const std::uint64_t> lengths) {
  THAW_CHECK(texts.size() == lengths.size(), "compute_text_metrics: ", texts.size(), " texts but ",
             lengths.size(), " lengths");
  const std::size_t n = texts.size();
  std::vector<double> len(n), cr(n), ttr(n), mt(n), fl(n);
  for (std::size_t d = 0; d < n; ++d) {
    const auto w = words_of(texts[d]);
    len[d] = static_cast<double>(lengths[d]);
    cr[d] = compression_ratio(texts[d]);
    ttr[d] = type_token_ratio(w);
    mt[d] = mtld(w);
    fl[d] = flesch_reading_ease(texts[d], w);
  }
  metrics_table t;
  t.set("length", std::move(len));
  t.set("compression_ratio", std::move(cr));
  t.set("ttr", std::move(ttr));
  t.set("mtld", std::move(mt));
  t.set("flesch", std::move(fl));
  return t;
}

/// Where a dataset file's metrics cache lives: beside it, `.tokens` -> `.metrics`.
inline std::filesystem::path metrics_path(const token_dataset& ds) {
  auto p = ds.path();
  p.replace_extension(".metrics");
  return p;
}

inline constexpr char kMetricsMagic[8] = {'T', 'H', 'A', 'W', 'M', 'E', 'T', 'R'};

inline std::string serialize_metrics(const metrics_table& t, std::uint64_t fingerprint, std::uint64_t n_docs) {
  std::string out;
  auto put = [&](const auto& v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  out.append(kMetricsMagic, 8);
  put(std::uint32_t{1});
  put(static_cast<std::uint32_t>(t.names.size()));
  put(n_docs);
  put(fingerprint);
  for (std::size_t k = 0; k < t.names.size(); ++k) {
    THAW_CHECK(t.values[k].size() == n_docs, "metric ", t.names[k], " has ", t.values[k].size(),
               " values for ", n_docs, " documents");
    put(static_cast<std::uint32_t>(t.names[k].size()));
    out += t.names[k];
    for (const double v : t.values[k]) put(v);
  }
  return out;
}

inline void save_metrics(const std::filesystem::path& path, const metrics_table& t,
                         std::uint64_t fingerprint, std::uint64_t n_docs) {
  detail::write_file_atomic(path, serialize_metrics(t, fingerprint, n_docs));
}

/// Parses a metrics cache; throws when it is corrupt or does not belong to the dataset
/// (fingerprint / document count).
inline metrics_table parse_metrics(std::string_view b, std::string_view name,
                                   std::uint64_t fingerprint, std::uint64_t n_docs) {
  THAW_CHECK(b.size() >= 32 && std::memcmp(b.data(), kMetricsMagic, 8) == 0, "metrics cache ", name,
             ": bad magic or too short");
  std::uint32_t version = 0, count = 0;
  std::uint64_t docs = 0, fp = 0;
  std::memcpy(&version, b.data() + 8, 4);
  std::memcpy(&count, b.data() + 12, 4);
  std::memcpy(&docs, b.data() + 16, 8);
  std::memcpy(&fp, b.data() + 24, 8);
  THAW_CHECK(version == 1, "metrics cache ", name, ": unsupported version ", version);
  THAW_CHECK(docs == n_docs && fp == fingerprint, "metrics cache ", name,
             " is stale: it was computed for another dataset (rebuild it)");
  std::size_t at = 32;
  metrics_table t;
  for (std::uint32_t k = 0; k < count; ++k) {
    THAW_CHECK(at + 4 <= b.size(), "metrics cache ", name, ": truncated");
    std::uint32_t len = 0;
    std::memcpy(&len, b.data() + at, 4);
    at += 4;
    THAW_CHECK(len <= b.size() - at && docs <= (b.size() - at - len) / 8, "metrics cache ", name,
               ": truncated");
    std::string metric(b.substr(at, len));
    at += len;
    std::vector<double> col(static_cast<std::size_t>(docs));
    if (!col.empty()) std::memcpy(col.data(), b.data() + at, 8 * col.size());
    at += 8 * col.size();
    t.set(std::move(metric), std::move(col));
  }
  THAW_CHECK(at == b.size(), "metrics cache ", name, ": unexpected bytes at the end");
  return t;
}

/// The cached metrics of a dataset file (throws when the cache is missing or stale).
inline metrics_table load_metrics(const token_dataset& ds) {
  const auto p = metrics_path(ds);
  const auto bytes = detail::read_file(p, "metrics cache");
  return parse_metrics(bytes, p.string(), ds.fingerprint(), ds.n_docs());
}

/// Computes the text metrics of a dataset by decoding its documents with `decode`
/// (std::span<const token_t> -> std::string), stores them beside it and returns them.
template <class Decode>
metrics_table compute_and_cache_metrics(const token_dataset& ds, Decode&& decode) {
  std::vector<std::string> texts(ds.n_docs());
  std::vector<std::uint64_t> lengths(ds.n_docs());
  for (std::uint64_t d = 0; d < ds.n_docs(); ++d) {
    const auto toks = ds.doc_tokens(d);
    texts[d] = decode(std::span<const token_t>(toks));
    lengths[d] = toks.size();
  }
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  auto t = compute_text_metrics(views, lengths);
  save_metrics(metrics_path(ds), t, ds.fingerprint(), ds.n_docs());
  return t;
}

/// The model-loss metric: score(tokens of document d) for every document, stored as
/// "loss:NAME" in the dataset's cache (the trainer provides `score`, e.g. the mean token
/// cross-entropy of a checkpoint). Returns the updated table.
template <class Score>
  requires std::invocable<Score&, std::span<const token_t>>
metrics_table add_model_loss(const token_dataset& ds, std::string_view checkpoint, Score&& score) {
  THAW_CHECK(!checkpoint.empty(), "add_model_loss: the checkpoint name must not be empty");
  metrics_table t;
  std::error_code ec;
  if (std::filesystem::exists(metrics_path(ds), ec)) t = load_metrics(ds);
  std::vector<double> col(ds.n_docs());
  for (std::uint64_t d = 0; d < ds.n_docs(); ++d) {
    const auto toks = ds.doc_tokens(d);
    col[d] = static_cast<double>(score(std::span<const token_t>(toks)));
  }
  t.set("loss:" + std::string(checkpoint), std::move(col));
  save_metrics(metrics_path(ds), t, ds.fingerprint(), ds.n_docs());
  return t;
}

}  // namespace thaw::data
