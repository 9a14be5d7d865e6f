// Token datasets: a document-aware binary format, memory-mapped for reading, and the
// train / validation split by document (the builder is in builder.hpp).
//
// File format (`*.tokens`, little-endian, version 1):
//   [0, 64)     header: magic "THAWTOKS", u32 version = 1, u32 token width in bytes (2 = uint16,
//               4 = uint32), u64 documents, u64 tokens, u64 vocabulary size, i64 end-of-text
//               token (-1: none), u64 domains, u64 reserved (0)
//   offsets     (documents + 1) x u64: document d is tokens [offsets[d], offsets[d+1]);
//               offsets[0] = 0, non-decreasing, offsets[documents] = tokens
//   domain ids  documents x u32, then zero padding to a multiple of 8 bytes
//   tokens      tokens x (u16 | u32), then zero padding to a multiple of 8 bytes
//   domains     per domain: u32 name length, u32 prefix length, the name bytes, the prefix
//               tokens as u32 (the tokenized "NAME\n\n" that metadata conditioning puts before a
//               document); the file ends exactly there.
// `open` checks every field against the file size before reading anything, so a truncated or
// corrupt file is a thaw::error naming the file and the field, never a crash.
//
// Dataset directory written by `build_dataset` (each file written to a temporary and renamed):
//   train.tokens, val.tokens   the split, by document (val.tokens absent when val_fraction = 0)
//   train.metrics, val.metrics per-document difficulty metrics (metrics.hpp)
//   meta.json                  corpus, tokenizer spec, seed, fraction, counts
//   tokenizer.bpe              a copy of the BPE vocabulary when the tokenizer is bpe:FILE
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/detail/io.hpp"
#include "thaw/data/permutation.hpp"
#include "thaw/data/tokenizer.hpp"

namespace thaw::data {

inline constexpr char kDatasetMagic[8] = {'T', 'H', 'A', 'W', 'T', 'O', 'K', 'S'};
inline constexpr std::uint32_t kDatasetVersion = 1;
inline constexpr std::size_t kDatasetHeaderBytes = 64;

namespace detail {

inline std::uint64_t pad8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }

template <class T>
T load_le(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // the format is little-endian, as is every supported host
  return v;
}

/// a * b + c with overflow checks (sizes read from an untrusted header).
inline bool mul_add(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t& out) {
  if (b != 0 && a > (~std::uint64_t{0} - c) / b) return false;
  out = a * b + c;
  return true;
}

/// The parsed, validated layout of a dataset file held in memory (spans into the bytes).
struct dataset_layout {
  std::uint32_t token_bytes = 2;
  std::uint64_t n_docs = 0, n_tokens = 0, vocab_size = 0, n_domains = 0;
  std::int64_t eot = -1;
  const std::byte* offsets = nullptr;     // (n_docs + 1) u64
  const std::byte* domain_ids = nullptr;  // n_docs u32
  const std::byte* tokens = nullptr;      // n_tokens x token_bytes
  std::vector<std::string> domain_names;
  std::vector<std::vector<std::uint32_t>> domain_prefix;
};

/// Validates and parses the whole layout (not the token values: see token_dataset::verify).
inline dataset_layout parse_dataset(std::span<const std::byte> b, std::string_view name) {
  THAW_CHECK(b.size() >= kDatasetHeaderBytes, "dataset ", name, ": too short for a header (",
             b.size(), " bytes, need ", kDatasetHeaderBytes, ")");
  THAW_CHECK(std::memcmp(b.data(), kDatasetMagic, 8) == 0, "dataset ", name,
             ": bad magic (not a thaw token dataset)");
  const auto version = load_le<std::uint32_t>(b.data() + 8);
  THAW_CHECK(version == kDatasetVersion, "dataset ", name, ": unsupported version ", version,
             " (this build reads version ", kDatasetVersion, ")");
  dataset_layout l;
  l.token_bytes = load_le<std::uint32_t>(b.data() + 12);
  THAW_CHECK(l.token_bytes == 2 || l.token_bytes == 4, "dataset ", name, ": bad token width ",
             l.token_bytes, " (dtype must be 2 = uint16 or 4 = uint32)");
  l.n_docs = load_le<std::uint64_t>(b.data() + 16);
  l.n_tokens = load_le<std::uint64_t>(b.data() + 24);
  l.vocab_size = load_le<std::uint64_t>(b.data() + 32);
  l.eot = load_le<std::int64_t>(b.data() + 40);
  l.n_domains = load_le<std::uint64_t>(b.data() + 48);
  const auto reserved = load_le<std::uint64_t>(b.data() + 56);
  THAW_CHECK(reserved == 0, "dataset ", name, ": reserved header field is not zero");
  THAW_CHECK(l.vocab_size >= 1 && l.vocab_size <= (std::uint64_t{1} << (8 * l.token_bytes)),
             "dataset ", name, ": vocabulary size ", l.vocab_size, " does not fit ",
             l.token_bytes, "-byte tokens");
  THAW_CHECK(l.eot >= -1 && l.eot < static_cast<std::int64_t>(l.vocab_size), "dataset ", name,
             ": end-of-text token ", l.eot, " outside the vocabulary");
  THAW_CHECK(l.n_domains >= 1 || l.n_docs == 0, "dataset ", name, ": no domain table");
  std::uint64_t at = kDatasetHeaderBytes, end = 0;
  const std::uint64_t size = b.size();
  THAW_CHECK(mul_add(l.n_docs + 1, 8, at, end) && l.n_docs < (std::uint64_t{1} << 56) && end <= size,
             "dataset ", name, ": header says ", l.n_docs, " documents, more than the file holds");
  l.offsets = b.data() + at;
  at = end;
  THAW_CHECK(mul_add(l.n_docs, 4, at, end) && pad8(end) <= size, "dataset ", name,
             ": truncated document domain ids");
  l.domain_ids = b.data() + at;
  at = pad8(end);
  THAW_CHECK(mul_add(l.n_tokens, l.token_bytes, at, end) && pad8(end) <= size, "dataset ", name,
             ": header says ", l.n_tokens, " tokens, the file is too short (", size, " bytes)");
  l.tokens = b.data() + at;
  at = pad8(end);
  // Offsets: from 0, non-decreasing, ending at n_tokens.
  std::uint64_t prev = 0;
  for (std::uint64_t d = 0; d <= l.n_docs; ++d) {
    const auto o = load_le<std::uint64_t>(l.offsets + 8 * d);
    THAW_CHECK((d == 0 && o == 0) || (d > 0 && o >= prev), "dataset ", name,
               ": document offsets are corrupt at document ", d);
    prev = o;
  }
  THAW_CHECK(prev == l.n_tokens, "dataset ", name, ": the last document ends at token ", prev,
             " but the header says ", l.n_tokens, " tokens");
  // Domain table.
  THAW_CHECK(l.n_domains <= size, "dataset ", name, ": header says ", l.n_domains,
             " domains, more than the file holds");
  for (std::uint64_t k = 0; k < l.n_domains; ++k) {
    THAW_CHECK(at + 8 <= size, "dataset ", name, ": truncated domain table at domain ", k);
    const auto name_len = load_le<std::uint32_t>(b.data() + at);
    const auto prefix_len = load_le<std::uint32_t>(b.data() + at + 4);
    at += 8;
    THAW_CHECK(at + name_len + 4ull * prefix_len <= size, "dataset ", name,
               ": truncated domain table at domain ", k);
    l.domain_names.emplace_back(reinterpret_cast<const char*>(b.data() + at), name_len);
    at += name_len;
    std::vector<std::uint32_t> prefix(prefix_len);
    for (std::uint32_t i = 0; i < prefix_len; ++i) {
      prefix[i] = load_le<std::uint32_t>(b.data() + at + 4ull * i);
      THAW_CHECK(prefix[i] < l.vocab_size, "dataset ", name, ": domain ", k,
                 " prefix token outside the vocabulary");
    }
    at += 4ull * prefix_len;
    l.domain_prefix.push_back(std::move(prefix));
  }
  THAW_CHECK(at == size, "dataset ", name, ": ", size - at,
             " unexpected bytes after the domain table");
  for (std::uint64_t d = 0; d < l.n_docs; ++d) {
    THAW_CHECK(load_le<std::uint32_t>(l.domain_ids + 4 * d) < l.n_domains, "dataset ", name,
               ": document ", d, " has a domain id outside the domain table");
  }
  return l;
}

/// Serializes a dataset file.
inline std::string serialize_dataset(std::span<const std::uint32_t> tokens,
                                     std::span<const std::uint64_t> offsets,
                                     std::span<const std::uint32_t> doc_domain,
                                     std::span<const std::string> domain_names,
                                     std::span<const std::vector<std::uint32_t>> domain_prefix,
                                     std::uint64_t vocab_size, std::int64_t eot) {
  const std::uint32_t width = vocab_size <= 65536 ? 2 : 4;
  const std::uint64_t n_docs = offsets.size() - 1;
  std::string out;
  auto put = [&](const auto& v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  auto pad = [&] { out.resize(pad8(out.size()), '\0'); };
  out.append(kDatasetMagic, 8);
  put(kDatasetVersion);
  put(width);
  put(n_docs);
  put(static_cast<std::uint64_t>(tokens.size()));
  put(vocab_size);
  put(eot);
  put(static_cast<std::uint64_t>(domain_names.size()));
  put(std::uint64_t{0});
  for (const auto o : offsets) put(o);
  for (const auto d : doc_domain) put(d);
  pad();
  out.reserve(out.size() + tokens.size() * width + 4096);
  for (const auto t : tokens) {
    if (width == 2) {
      put(static_cast<std::uint16_t>(t));
    } else {
      put(t);
    }
  }
  pad();
  for (std::size_t k = 0; k < domain_names.size(); ++k) {
    put(static_cast<std::uint32_t>(domain_names[k].size()));
    put(static_cast<std::uint32_t>(domain_prefix[k].size()));
    out += domain_names[k];
    for (const auto t : domain_prefix[k]) put(t);
  }
  return out;
}

}  // namespace detail

/// A memory-mapped token dataset (see the top of this header for the format).
class token_dataset {
public:
  token_dataset() = default;

  /// Opens a dataset file, or the split ("train" / "val") of a dataset directory.
  static token_dataset open(const std::filesystem::path& path, std::string_view split = "train") {
    std::error_code ec;
    std::filesystem::path file = path;
    std::filesystem::path dir;
    if (std::filesystem::is_directory(path, ec)) {
      THAW_CHECK(split == "train" || split == "val", "dataset split must be train or val, got \"",
                 std::string(split), '"');
      dir = path;
      file = path / (std::string(split) + ".tokens");
      THAW_CHECK(std::filesystem::exists(file, ec), "dataset directory ", path.string(),
                 " has no ", file.filename().string(),
                 split == "val" ? " (built with --val-fraction 0?)" : " (not built by thaw-data build?)");
    }
    token_dataset ds;
    ds.file_ = std::make_shared<detail::mapped_file>(file, "dataset");
    ds.layout_ = detail::parse_dataset(ds.file_->bytes(), file.string());
    ds.dir_ = dir;
    ds.split_ = std::string(split);
    return ds;
  }

  /// The validation split beside this one (requires a dataset opened from a directory).
  [[nodiscard]] token_dataset validation() const {
    THAW_CHECK(!dir_.empty(), "dataset ", path().string(),
               " was opened as a file; open its directory to reach the validation split");
    return open(dir_, "val");
  }

  [[nodiscard]] std::uint64_t n_docs() const { return layout_.n_docs; }
  [[nodiscard]] std::uint64_t n_tokens() const { return layout_.n_tokens; }
  [[nodiscard]] std::uint64_t vocab_size() const { return layout_.vocab_size; }
  [[nodiscard]] std::int64_t eot() const { return layout_.eot; }
  [[nodiscard]] std::uint32_t token_bytes() const { return layout_.token_bytes; }
  [[nodiscard]] const std::filesystem::path& path() const { return file_->path(); }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] const std::string& split() const { return split_; }

  [[nodiscard]] std::uint64_t doc_begin(std::uint64_t d) const {
    return detail::load_le<std::uint64_t>(layout_.offsets + 8 * d);
  }
  /// Tokens in document d (requires d < n_docs()).
  [[nodiscard]] std::uint64_t doc_size(std::uint64_t d) const {
    return doc_begin(d + 1) - doc_begin(d);
  }
  /// Token i of the whole file.
  [[nodiscard]] std::uint32_t token(std::uint64_t i) const {
    return layout_.token_bytes == 2
               ? detail::load_le<std::uint16_t>(layout_.tokens + 2 * i)
               : detail::load_le<std::uint32_t>(layout_.tokens + 4 * i);
  }
  /// Copies `count` tokens of document d from `offset` into out, widened to T.
  template <class T>
  void copy(std::uint64_t d, std::uint64_t offset, std::uint64_t count, T* out) const {
    const std::uint64_t start = doc_begin(d) + offset;
    if (layout_.token_bytes == 2) {
      const auto* p = reinterpret_cast<const std::uint16_t*>(layout_.tokens) + start;
      for (std::uint64_t i = 0; i < count; ++i) out[i] = static_cast<T>(p[i]);
    } else {
      const auto* p = reinterpret_cast<const std::uint32_t*>(layout_.tokens) + start;
      for (std::uint64_t i = 0; i < count; ++i) out[i] = static_cast<T>(p[i]);
    }
  }
  [[nodiscard]] std::vector<token_t> doc_tokens(std::uint64_t d) const {
    std::vector<token_t> out(doc_size(d));
    copy(d, 0, out.size(), out.data());
    return out;
  }

  [[nodiscard]] std::uint32_t domain(std::uint64_t d) const {
    return detail::load_le<std::uint32_t>(layout_.domain_ids + 4 * d);
  }
  [[nodiscard]] std::uint64_t n_domains() const { return layout_.n_domains; }
  [[nodiscard]] const std::string& domain_name(std::uint32_t k) const { return layout_.domain_names.at(k); }
  [[nodiscard]] std::span<const std::uint32_t> domain_prefix(std::uint32_t k) const {
    return layout_.domain_prefix.at(k);
  }

  /// Identifies the contents (header + offsets), for caches kept beside the file.
  [[nodiscard]] std::uint64_t fingerprint() const {
    const auto b = file_->bytes();
    return detail::fnv1a(b.first(kDatasetHeaderBytes + 8 * (layout_.n_docs + 1)));
  }

  /// Checks every token against the vocabulary (O(tokens)); throws naming the first bad one.
  void verify() const {
    for (std::uint64_t i = 0; i < layout_.n_tokens; ++i) {
      THAW_CHECK(token(i) < layout_.vocab_size, "dataset ", path().string(), ": token ", i,
                 " has id ", token(i), " outside the vocabulary (", layout_.vocab_size, ")");
    }
  }

private:
  std::shared_ptr<detail::mapped_file> file_;
  detail::dataset_layout layout_;
  std::filesystem::path dir_;
  std::string split_;
};

/// Which documents of n go to validation: round(fraction * n) of them (at least 1 when
/// fraction > 0 and n >= 2, never all), chosen by a seeded permutation. Sorted.
inline std::vector<std::uint64_t> validation_docs(std::uint64_t n, double fraction, std::uint64_t seed) {
  THAW_CHECK(fraction >= 0 && fraction < 1, "validation fraction must be in [0, 1), got ", fraction);
  std::uint64_t k = static_cast<std::uint64_t>(fraction * static_cast<double>(n) + 0.5);
  if (fraction > 0 && n >= 2 && k == 0) k = 1;
  if (n >= 1 && k >= n) k = n - 1;
  const feistel_permutation perm(n, {seed, 0x5350'4C49'5400ull});  // "SPLIT"
  std::vector<std::uint64_t> out;
  out.reserve(k);
  for (std::uint64_t i = 0; i < k; ++i) out.push_back(perm(i));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace thaw::data
