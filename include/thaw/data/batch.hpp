// Batching: samples -> token batches of shape (B, T + 1), inputs = tokens[:, :T] and
// targets = tokens[:, 1:], with document boundaries handled as configured:
//
//   layout::pack  documents are concatenated (with the separator token between them when there
//                 is one: by default the dataset's end-of-text token, none for byte datasets)
//                 and cut into rows; a document continues in the next row. Consecutive rows
//                 overlap by one token (a row's last token is the next row's first), as llm.c's
//                 loader does, so every token after the first is a target exactly once.
//   layout::pad   a row never holds two documents: it starts at a document start (or continues
//                 a long document, again overlapping by one token); a short last piece is filled
//                 with pad_id and its targets are ignore_index.
//
// A tagged sample (meco.hpp) is preceded by its domain's prefix tokens; with mask_tags (default)
// the targets that are prefix tokens are ignore_index (no loss on metadata).
//
// The batcher's state is its sampler's state plus the carried partial document; save/restore
// resumes the exact token stream. (Elastic N -> M resumption is exact at the sampler level; a
// batcher's carry is per rank, see docs/data.md.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/dataset.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

enum class layout { pack, pad };

/// Separator value meaning "the dataset's end-of-text token, if it has one".
inline constexpr std::int64_t kDatasetEot = -2;

struct batch_cfg {
  std::size_t batch = 8;                 // B
  std::size_t context = 256;             // T
  layout mode = layout::pack;
  std::int64_t separator = kDatasetEot;  // pack: token between documents; -1 none
  std::int32_t pad_id = 0;               // pad: filler token
  std::int32_t ignore_index = -100;      // target of padding / metadata positions
  bool mask_tags = true;                 // no loss on metadata-conditioning prefixes
};

struct token_batch {
  std::size_t B = 0, T = 0;
  std::vector<std::int32_t> tokens;   // (B, T + 1)
  std::vector<std::int32_t> targets;  // (B, T): tokens[:, 1:], ignore_index where masked

  [[nodiscard]] std::span<const std::int32_t> row(std::size_t b) const {
    return std::span(tokens).subspan(b * (T + 1), T + 1);
  }
};

template <sampler S>
class batcher {
public:
  batcher(std::vector<const token_dataset*> sources, S s, batch_cfg cfg)
      : src_(std::move(sources)), s_(std::move(s)), cfg_(cfg) {
    THAW_CHECK(!src_.empty(), "batcher: no dataset given");
    THAW_CHECK(cfg_.batch >= 1, "batcher: batch size must be >= 1");
    THAW_CHECK(cfg_.context >= 1, "batcher: context must be >= 1");
    for (const auto* ds : src_) {
      THAW_CHECK(ds != nullptr, "batcher: null dataset");
      THAW_CHECK(ds->n_tokens() >= cfg_.context + 1, "dataset ", ds->path().string(), " has ",
                 ds->n_tokens(), " tokens, shorter than one context of T + 1 = ", cfg_.context + 1);
    }
  }

  /// Fills `out` (resized to (B, T + 1) and (B, T)).
  void next(token_batch& out) {
    const std::size_t B = cfg_.batch, T = cfg_.context, W = T + 1;
    out.B = B;
    out.T = T;
    out.tokens.resize(B * W);
    out.targets.resize(B * T);
    mask_.resize(W);
    for (std::size_t b = 0; b < B; ++b) {
      std::int32_t* row = out.tokens.data() + b * W;
      std::size_t filled = 0;
      if (cfg_.mode == layout::pack) {
        if (has_prev_) {
          row[0] = prev_token_;
          mask_[0] = prev_mask_;
          filled = 1;
        }
        while (filled < W) filled += take(row + filled, mask_.data() + filled, W - filled);
        has_prev_ = true;
        prev_token_ = row[W - 1];
        prev_mask_ = mask_[W - 1];
      } else {
        if (!active_) begin_doc();
        const std::uint64_t start = off_;
        filled = copy_virtual(start, std::min<std::uint64_t>(W, len_ - start), row, mask_.data());
        if (start + W >= len_) {
          active_ = false;  // the document ends in this row
        } else {
          off_ = start + T;  // continue, overlapping by one token
        }
        std::fill(row + filled, row + W, cfg_.pad_id);
        std::fill(mask_.begin() + static_cast<std::ptrdiff_t>(filled), mask_.end(), std::uint8_t{1});
      }
      std::int32_t* tgt = out.targets.data() + b * T;
      for (std::size_t j = 0; j < T; ++j) tgt[j] = mask_[j + 1] ? cfg_.ignore_index : row[j + 1];
    }
  }

  token_batch next() {
    token_batch b;
    next(b);
    return b;
  }

  void save(state_writer& w) const {
    w.put(detail::tag("BATCHER_"));
    w.put(active_);
    w.put(cur_.doc);
    w.put(cur_.source);
    w.put(cur_.tagged);
    w.put(off_);
    w.put(has_prev_);
    w.put(static_cast<std::uint32_t>(prev_token_));
    w.put(prev_mask_);
    s_.save(w);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("BATCHER_"), "batcher");
    active_ = r.get() != 0;
    cur_.doc = r.get();
    cur_.source = static_cast<std::uint32_t>(r.get());
    cur_.tagged = static_cast<std::uint32_t>(r.get());
    off_ = r.get();
    has_prev_ = r.get() != 0;
    prev_token_ = static_cast<std::int32_t>(static_cast<std::uint32_t>(r.get()));
    prev_mask_ = static_cast<std::uint8_t>(r.get());
    s_.restore(r);
    if (active_) {
      check_sample(cur_);
      set_lengths();
      THAW_CHECK(off_ < len_, "batcher state: offset ", off_, " beyond its document");
    }
  }
  [[nodiscard]] const S& sampler_ref() const { return s_; }

private:
  void check_sample(const sample& s) const {
    THAW_CHECK(s.source < src_.size(), "sampler produced source ", s.source, " but the batcher has ",
               src_.size(), " dataset(s)");
    THAW_CHECK(s.doc < src_[s.source]->n_docs(), "sampler produced document ", s.doc, " but dataset ",
               src_[s.source]->path().string(), " has ", src_[s.source]->n_docs());
  }
  void set_lengths() {
    const auto& ds = *src_[cur_.source];
    prefix_ = cur_.tagged ? ds.domain_prefix(ds.domain(cur_.doc)) : std::span<const std::uint32_t>{};
    doc_len_ = ds.doc_size(cur_.doc);
    std::int64_t sep = cfg_.separator == kDatasetEot ? ds.eot() : cfg_.separator;
    sep_ = cfg_.mode == layout::pack ? sep : -1;
    len_ = prefix_.size() + doc_len_ + (sep_ >= 0 ? 1 : 0);
  }
  void begin_doc() {
    do {
      cur_ = s_.next();
      check_sample(cur_);
      set_lengths();
    } while (len_ == 0);
    off_ = 0;
    active_ = true;
  }
  /// Copies virtual-document positions [from, from + n) into out / mask; returns n.
  std::size_t copy_virtual(std::uint64_t from, std::uint64_t n, std::int32_t* out, std::uint8_t* mask) {
    const auto& ds = *src_[cur_.source];
    std::uint64_t i = from, done = 0;
    const std::uint64_t P = prefix_.size();
    while (done < n && i < P) {
      out[done] = static_cast<std::int32_t>(prefix_[i]);
      mask[done] = cfg_.mask_tags ? 1 : 0;
      ++done;
      ++i;
    }
    if (done < n && i < P + doc_len_) {
      const std::uint64_t k = std::min(n - done, P + doc_len_ - i);
      ds.copy(cur_.doc, i - P, k, out + done);
      std::fill(mask + done, mask + done + k, std::uint8_t{0});
      done += k;
      i += k;
    }
    if (done < n && sep_ >= 0 && i == P + doc_len_) {
      out[done] = static_cast<std::int32_t>(sep_);
      mask[done] = 0;
      ++done;
    }
    return static_cast<std::size_t>(done);
  }
  /// Pack mode: takes up to `room` tokens of the current (or a new) document.
  std::size_t take(std::int32_t* out, std::uint8_t* mask, std::size_t room) {
    if (!active_) begin_doc();
    const std::uint64_t n = std::min<std::uint64_t>(room, len_ - off_);
    copy_virtual(off_, n, out, mask);
    off_ += n;
    if (off_ == len_) active_ = false;
    return static_cast<std::size_t>(n);
  }

  std::vector<const token_dataset*> src_;
  S s_;
  batch_cfg cfg_;
  // The carried document.
  bool active_ = false;
  sample cur_{};
  std::uint64_t off_ = 0, len_ = 0, doc_len_ = 0;
  std::span<const std::uint32_t> prefix_;
  std::int64_t sep_ = -1;
  // Pack mode: the token shared with the previous row.
  bool has_prev_ = false;
  std::int32_t prev_token_ = 0;
  std::uint8_t prev_mask_ = 0;
  std::vector<std::uint8_t> mask_;
};

template <sampler S>
batcher<S> make_batcher(std::vector<const token_dataset*> sources, S s, batch_cfg cfg) {
  return batcher<S>(std::move(sources), std::move(s), cfg);
}

}  // namespace thaw::data
