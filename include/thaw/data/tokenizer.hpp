// Tokenizers: the byte-level tokenizer (vocabulary 256, the default), and `tokenizer`, a value
// that is one of byte / thaw BPE / GPT-2 BPE, chosen at run time from a spec string:
//   "byte"        bytes are tokens 0..255
//   "bpe:FILE"    a BPE vocabulary in thaw's format (bpe.hpp), trained by `thaw-data train-bpe`
//   "gpt2:DIR"    GPT-2's DIR/vocab.json + DIR/merges.txt
// Every tokenizer satisfies decode(encode(x)) == x for any byte string x.
#pragma once

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/bpe.hpp"

namespace thaw::data {

/// What the dataset builder needs from a tokenizer.
template <class T>
concept text_tokenizer = requires(const T& t, std::string_view s, std::vector<token_t>& out,
                                  std::span<const token_t> ids) {
  t.encode(s, out);
  { t.decode(ids) } -> std::convertible_to<std::string>;
  { t.vocab_size() } -> std::convertible_to<std::size_t>;
};

/// Bytes as tokens: vocabulary 256, no end-of-text token.
struct byte_tokenizer {
  void encode(std::string_view text, std::vector<token_t>& out) const {
    // (no reserve(size + n) here: called per document it would defeat geometric growth)
    for (char c : text) out.push_back(static_cast<unsigned char>(c));
  }
  std::vector<token_t> encode(std::string_view text) const {
    std::vector<token_t> out;
    encode(text, out);
    return out;
  }
  std::string decode(std::span<const token_t> ids) const {
    std::string out;
    out.reserve(ids.size());
    for (const token_t id : ids) {
      THAW_CHECK(id < 256, "byte decode: token id ", id, " outside the vocabulary (size 256)");
      out.push_back(static_cast<char>(id));
    }
    return out;
  }
  [[nodiscard]] std::size_t vocab_size() const { return 256; }
  [[nodiscard]] std::int64_t eot() const { return -1; }
};

/// A tokenizer chosen at run time (see the top of this header for the spec strings).
class tokenizer {
public:
  tokenizer() = default;  // byte-level

  static tokenizer from_spec(std::string_view spec) {
    tokenizer t;
    t.spec_ = std::string(spec);
    if (spec == "byte") return t;
    if (spec.starts_with("bpe:")) {
      const std::filesystem::path file(std::string(spec.substr(4)));
      THAW_CHECK(!file.empty(), "tokenizer spec \"bpe:\" needs a file: bpe:FILE");
      t.bpe_ = std::make_shared<bpe_tokenizer>(bpe_tokenizer::load(file));
      return t;
    }
    if (spec.starts_with("gpt2:")) {
      const std::filesystem::path dir(std::string(spec.substr(5)));
      THAW_CHECK(!dir.empty(), "tokenizer spec \"gpt2:\" needs a directory: gpt2:DIR");
      t.bpe_ = std::make_shared<bpe_tokenizer>(
          bpe_tokenizer::load_gpt2(dir / "vocab.json", dir / "merges.txt"));
      return t;
    }
    throw thaw::error(thaw::message("unknown tokenizer \"", std::string(spec),
                                    "\": expected byte, bpe:FILE or gpt2:DIR"));
  }

  static tokenizer from_bpe(bpe_tokenizer bpe, std::string spec) {
    tokenizer t;
    t.spec_ = std::move(spec);
    t.bpe_ = std::make_shared<bpe_tokenizer>(std::move(bpe));
    return t;
  }

  void encode(std::string_view text, std::vector<token_t>& out) const {
    if (bpe_) {
      bpe_->encode(text, out, &cache_);
    } else {
      byte_tokenizer{}.encode(text, out);
    }
  }
  std::vector<token_t> encode(std::string_view text) const {
    std::vector<token_t> out;
    encode(text, out);
    return out;
  }
  std::string decode(std::span<const token_t> ids) const {
    return bpe_ ? bpe_->decode(ids) : byte_tokenizer{}.decode(ids);
  }
  [[nodiscard]] std::size_t vocab_size() const { return bpe_ ? bpe_->vocab_size() : 256; }
  [[nodiscard]] std::int64_t eot() const { return bpe_ ? bpe_->eot() : -1; }
  /// The spec it was made from ("byte", "bpe:FILE", "gpt2:DIR").
  [[nodiscard]] const std::string& spec() const { return spec_; }
  [[nodiscard]] const bpe_tokenizer* bpe() const { return bpe_.get(); }

private:
  std::string spec_ = "byte";
  std::shared_ptr<const bpe_tokenizer> bpe_;
  mutable bpe_cache cache_;  // encode memo; makes one tokenizer object single-threaded
};

}  // namespace thaw::data
