// Freeze masks: which parameters (group level) or which single elements (element level) of a
// model train, and their conversion into the sorted, compacted index ranges the optimizers
// and backend update ops work on.
//
//  - group_mask: one flag per parameter tensor. apply(store) sets the store's trainable flags,
//    which the modules honour (no weight-gradient GEMM for a frozen parameter, no input
//    gradient below the lowest trainable module): freezing a group saves compute.
//  - element_mask: one bit per element of the flat buffer (1 = trains). A parameter with at
//    least one trainable element is marked trainable, its gradient is computed in full and
//    then masked (the optimizer only reads the trainable ranges): an element mask saves
//    optimizer memory, not compute. Builders: random at a fraction (Philox, regenerable from
//    its key), top-k by magnitude |w|, and top-k by saliency |w * dL/dw| from one forward +
//    backward on one batch, as in "FreezeNet: Full Performance by Reduced Storage Costs"
//    (Wimmer, Mehnert, Condurache, ACCV 2020).
//
// An index set is a sorted list of disjoint, non-empty, non-adjacent ranges [begin, end) over
// the flat buffer (index_range, backend/ops.hpp); optimizer state is compacted along it.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "thaw/backend/ops.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/params/param_store.hpp"
#include "thaw/params/select.hpp"

namespace thaw {

// ---- index sets -----------------------------------------------------------------------------

/// Number of elements in an index set.
inline std::size_t element_count(std::span<const index_range> ranges) noexcept {
  std::size_t n = 0;
  for (const auto& r : ranges) n += r.size();
  return n;
}

/// Throws unless `ranges` is sorted, disjoint, with begin <= end <= numel; `what` names the set.
inline void check_index_set(std::span<const index_range> ranges, std::size_t numel, std::string_view what) {
  std::size_t previous_end = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const auto& r = ranges[i];
    THAW_CHECK(r.begin <= r.end, what, ": range ", i, " [", r.begin, ", ", r.end, ") has begin > end");
    THAW_CHECK(r.end <= numel, what, ": range ", i, " [", r.begin, ", ", r.end,
               ") runs past the end of the ", numel, "-element parameter buffer");
    THAW_CHECK(i == 0 || r.begin >= previous_end, what, ": range ", i, " [", r.begin, ", ", r.end,
               ") overlaps or precedes the range before it (ranges must be sorted and disjoint)");
    previous_end = r.end;
  }
}

/// Sorts ranges, drops empty ones and merges overlapping or adjacent ones: the canonical form.
inline std::vector<index_range> normalize(std::vector<index_range> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const index_range& a, const index_range& b) { return a.begin < b.begin; });
  std::vector<index_range> out;
  for (const auto& r : ranges) {
    if (r.begin >= r.end) continue;
    if (!out.empty() && r.begin <= out.back().end) out.back().end = std::max(out.back().end, r.end);
    else out.push_back(r);
  }
  return out;
}

/// Elements in both sets (both sorted and disjoint); the result is canonical if inputs are.
inline std::vector<index_range> intersect(std::span<const index_range> a, std::span<const index_range> b) {
  std::vector<index_range> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const std::size_t lo = std::max(a[i].begin, b[j].begin), hi = std::min(a[i].end, b[j].end);
    if (lo < hi) {
      if (!out.empty() && out.back().end == lo) out.back().end = hi;
      else out.push_back({lo, hi});
    }
    if (a[i].end < b[j].end) ++i;
    else ++j;
  }
  return out;
}

/// Elements of `a` not in `b` (both sorted and disjoint).
inline std::vector<index_range> subtract(std::span<const index_range> a, std::span<const index_range> b) {
  std::vector<index_range> out;
  std::size_t j = 0;
  for (const auto& r : a) {
    std::size_t cursor = r.begin;
    while (j < b.size() && b[j].end <= cursor) ++j;
    for (std::size_t k = j; k < b.size() && b[k].begin < r.end; ++k) {
      if (b[k].begin > cursor) out.push_back({cursor, b[k].begin});
      cursor = std::max(cursor, b[k].end);
    }
    if (cursor < r.end) out.push_back({cursor, r.end});
  }
  return out;
}

/// The elements of the parameters whose store flag is trainable, adjacent ones merged.
template <class B>
std::vector<index_range> trainable_ranges(const param_store<B>& store) {
  std::vector<index_range> out;
  for (param_id i = 0; i < store.count(); ++i) {
    if (!store.trainable(i) || store.ref(i).size() == 0) continue;
    const auto& r = store.ref(i);
    if (!out.empty() && out.back().end == r.offset) out.back().end = r.offset + r.size();
    else out.push_back({r.offset, r.offset + r.size()});
  }
  return out;
}

/// Number of elements whose parameter is trainable.
template <class B>
std::size_t trainable_elements(const param_store<B>& store) {
  std::size_t n = 0;
  for (param_id i = 0; i < store.count(); ++i)
    if (store.trainable(i)) n += store.ref(i).size();
  return n;
}

// ---- group level --------------------------------------------------------------------------

/// One trainable flag per parameter tensor.
class group_mask {
public:
  group_mask() = default;
  explicit group_mask(std::vector<bool> trainable) : train_(std::move(trainable)) {}

  /// Every parameter of the store trains.
  template <class B>
  static group_mask all_trainable(const param_store<B>& store) {
    return group_mask(std::vector<bool>(store.count(), true));
  }
  /// The store's current flags.
  template <class B>
  static group_mask from_store(const param_store<B>& store) {
    std::vector<bool> t(store.count());
    for (param_id i = 0; i < store.count(); ++i) t[i] = store.trainable(i);
    return group_mask(std::move(t));
  }
  /// Everything trains except what `s` selects (strict: `s` must match, see select::resolve).
  template <class B, select::selector S>
  static group_mask frozen(const param_store<B>& store, const S& s) {
    return all_trainable(store).freeze(store, s);
  }
  /// Only what `s` selects trains.
  template <class B, select::selector S>
  static group_mask training(const param_store<B>& store, const S& s) {
    group_mask m(std::vector<bool>(store.count(), false));
    return m.unfreeze(store, s);
  }

  /// Freezes what `s` selects (strict); returns *this for chaining.
  template <class B, select::selector S>
  group_mask& freeze(const param_store<B>& store, const S& s) {
    check_store(store.count());
    for (param_id i : select::resolve(s, store)) train_[i] = false;
    return *this;
  }
  /// Makes what `s` selects trainable (strict).
  template <class B, select::selector S>
  group_mask& unfreeze(const param_store<B>& store, const S& s) {
    check_store(store.count());
    for (param_id i : select::resolve(s, store)) train_[i] = true;
    return *this;
  }

  [[nodiscard]] bool trainable(param_id id) const { return train_.at(id); }
  void set(param_id id, bool on) { train_.at(id) = on; }
  [[nodiscard]] std::size_t size() const noexcept { return train_.size(); }
  [[nodiscard]] const std::vector<bool>& flags() const noexcept { return train_; }
  friend bool operator==(const group_mask&, const group_mask&) = default;

  /// Writes the flags into the store (what the modules read during backward).
  template <class B>
  void apply(param_store<B>& store) const {
    check_store(store.count());
    for (param_id i = 0; i < store.count(); ++i) store.set_trainable(i, train_[i]);
  }
  /// The trainable elements as an index set.
  template <class B>
  [[nodiscard]] std::vector<index_range> ranges(const param_store<B>& store) const {
    check_store(store.count());
    std::vector<index_range> out;
    for (param_id i = 0; i < store.count(); ++i) {
      const auto& r = store.ref(i);
      if (!train_[i] || r.size() == 0) continue;
      if (!out.empty() && out.back().end == r.offset) out.back().end = r.offset + r.size();
      else out.push_back({r.offset, r.offset + r.size()});
    }
    return out;
  }

private:
  void check_store(std::size_t count) const {
    THAW_CHECK(train_.size() == count, "group mask has ", train_.size(),
               " flags but the model has ", count, " parameters");
  }
  std::vector<bool> train_;
};

// ---- element level ------------------------------------------------------------------------

/// One bit per element of the flat parameter buffer; 1 = the element trains.
class element_mask {
public:
  element_mask() = default;
  /// `n` elements, all `value`.
  explicit element_mask(std::size_t n, bool value = false) : size_(n), words_((n + 63) / 64, value ? ~0ull : 0ull) {
    clear_tail();
  }

  /// The elements of an index set (checked against n).
  static element_mask from_ranges(std::size_t n, std::span<const index_range> ranges) {
    check_index_set(ranges, n, "element mask from ranges");
    element_mask m(n);
    for (const auto& r : ranges) m.set_range(r.begin, r.end, true);
    return m;
  }
  /// The elements of the parameters the store's flags mark trainable.
  template <class B>
  static element_mask from_store(const param_store<B>& store) {
    return from_ranges(store.numel(), trainable_ranges(store));
  }
  /// Packed bits (element e is bit e % 8 of byte e / 8), as to_bytes() writes them.
  static element_mask from_bytes(std::size_t n, std::span<const std::uint8_t> bytes) {
    THAW_CHECK(bytes.size() == (n + 7) / 8, "element mask of ", n, " elements needs ", (n + 7) / 8,
               " bytes, got ", bytes.size());
    element_mask m(n);
    for (std::size_t i = 0; i < bytes.size(); ++i)
      m.words_[i / 8] |= std::uint64_t(bytes[i]) << (8 * (i % 8));
    const bool tail_clean = m.tail_is_clean();
    THAW_CHECK(tail_clean, "element mask bytes set bits past element ", n);
    return m;
  }

  /// Each element of a parameter `scope` selects trains with probability `fraction`, drawn
  /// from Philox at (key, flat index): the same mask on every backend, regenerable from the key.
  /// Elements outside the scope are frozen.
  template <class B, select::selector S = select::all_params>
  static element_mask random(const param_store<B>& store, double fraction, philox_key key, const S& scope = {}) {
    THAW_CHECK(fraction >= 0.0 && fraction <= 1.0, "random element mask: fraction ", fraction,
               " is not in [0, 1]");
    element_mask m(store.numel());
    for (param_id id : select::resolve(scope, store)) {
      const auto& r = store.ref(id);
      for (std::size_t e = r.offset; e < r.offset + r.size(); ++e)
        if (philox::bernoulli_at(key, e, fraction)) m.set(e, true);
    }
    return m;
  }

  /// The k elements of `scope` with the largest |w| train (ties: the lower index).
  template <class B, select::selector S = select::all_params>
  static element_mask top_k_magnitude(const param_store<B>& store, std::size_t k, const S& scope = {}) {
    const auto values = host_copy<B>(store.values(), store.numel());
    return top_k(store, k, scope, "top-k by magnitude",
                 [&](std::size_t e) { return std::abs(static_cast<double>(values[e])); });
  }

  /// FreezeNet's saliency: the k elements of `scope` with the largest |w * dL/dw| train. The
  /// store's gradients must hold dL/dw from one forward + backward on one batch with every
  /// scoped parameter trainable; an all-zero gradient (no backward run) is an error.
  template <class B, select::selector S = select::all_params>
  static element_mask top_k_saliency(const param_store<B>& store, std::size_t k, const S& scope = {}) {
    const auto values = host_copy<B>(store.values(), store.numel());
    const auto grads = host_copy<B>(store.grads(), store.numel());
    bool any = false;
    for (param_id id : select::resolve(scope, store)) {
      const auto& r = store.ref(id);
      THAW_CHECK(store.trainable(id), "saliency mask: parameter '", r.name,
                 "' is frozen, so it has no gradient; make the scope trainable for the saliency batch");
      for (std::size_t e = r.offset; e < r.offset + r.size() && !any; ++e) any = grads[e] != 0;
    }
    THAW_CHECK(any, "saliency mask: the gradients of the scoped parameters are all zero; run one "
                    "forward + backward on a batch before computing saliency");
    return top_k(store, k, scope, "top-k by saliency", [&](std::size_t e) {
      return std::abs(static_cast<double>(values[e]) * static_cast<double>(grads[e]));
    });
  }

  /// k = round(fraction * n), for the builders that take a count.
  static std::size_t count_for(double fraction, std::size_t n) {
    THAW_CHECK(fraction >= 0.0 && fraction <= 1.0, "element mask: fraction ", fraction, " is not in [0, 1]");
    return static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  }
  /// Number of elements of the parameters `scope` selects.
  template <class B, select::selector S = select::all_params>
  static std::size_t scope_size(const param_store<B>& store, const S& scope = {}) {
    std::size_t n = 0;
    for (param_id id : select::resolve(scope, store)) n += store.ref(id).size();
    return n;
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Number of trainable elements.
  [[nodiscard]] std::size_t count() const noexcept {
    std::size_t n = 0;
    for (auto w : words_) n += static_cast<std::size_t>(std::popcount(w));
    return n;
  }
  [[nodiscard]] bool test(std::size_t e) const {
    THAW_CHECK(e < size_, "element ", e, " is outside the ", size_, "-element mask");
    return (words_[e / 64] >> (e % 64)) & 1u;
  }
  void set(std::size_t e, bool on) {
    THAW_CHECK(e < size_, "element ", e, " is outside the ", size_, "-element mask");
    if (on) words_[e / 64] |= 1ull << (e % 64);
    else words_[e / 64] &= ~(1ull << (e % 64));
  }
  void set_range(std::size_t begin, std::size_t end, bool on) {
    THAW_CHECK(begin <= end && end <= size_, "range [", begin, ", ", end, ") is outside the ", size_,
               "-element mask");
    for (std::size_t e = begin; e < end;) {
      const std::size_t w = e / 64, bit = e % 64, n = std::min<std::size_t>(64 - bit, end - e);
      const std::uint64_t bits = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
      if (on) words_[w] |= bits;
      else words_[w] &= ~bits;
      e += n;
    }
  }
  /// True if any element of [begin, end) trains.
  [[nodiscard]] bool any_in(std::size_t begin, std::size_t end) const {
    for (std::size_t e = begin; e < end;) {
      const std::size_t w = e / 64, bit = e % 64, n = std::min<std::size_t>(64 - bit, end - e);
      const std::uint64_t bits = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
      if (words_[w] & bits) return true;
      e += n;
    }
    return false;
  }
  friend bool operator==(const element_mask&, const element_mask&) = default;

  /// The trainable elements as a canonical index set.
  [[nodiscard]] std::vector<index_range> ranges() const {
    std::vector<index_range> out;
    bool in = false;
    std::size_t start = 0;
    for (std::size_t w = 0; w < words_.size(); ++w) {
      const std::uint64_t word = words_[w];
      const std::size_t base = w * 64, bits = std::min<std::size_t>(64, size_ - base);
      if (bits == 64 && ((!in && word == 0) || (in && word == ~0ull))) continue;
      for (std::size_t b = 0; b < bits; ++b) {
        const bool on = (word >> b) & 1u;
        if (on && !in) {
          start = base + b;
          in = true;
        } else if (!on && in) {
          out.push_back({start, base + b});
          in = false;
        }
      }
    }
    if (in) out.push_back({start, size_});
    return out;
  }
  /// The trainable elements of the parameters the store marks trainable.
  template <class B>
  [[nodiscard]] std::vector<index_range> ranges(const param_store<B>& store) const {
    check_store(store.numel());
    const auto mine = ranges();
    const auto groups = trainable_ranges(store);
    return intersect(mine, groups);
  }

  /// Marks each parameter trainable iff it has a trainable element, so its gradient is
  /// computed (then masked by the optimizer's ranges) and fully frozen tensors cost nothing.
  template <class B>
  void apply(param_store<B>& store) const {
    check_store(store.numel());
    for (param_id i = 0; i < store.count(); ++i) {
      const auto& r = store.ref(i);
      store.set_trainable(i, any_in(r.offset, r.offset + r.size()));
    }
  }

  /// Zeroes the gradient of every frozen element of a trainable parameter (the optimizers do
  /// not need it: they read only the trainable ranges; this is for code that inspects grads).
  template <class B>
  void mask_grads(param_store<B>& store) const {
    check_store(store.numel());
    using T = typename B::scalar;
    for (const auto& r : subtract(trainable_ranges(store), ranges()))
      B::fill(store.grads() + r.begin, r.size(), T(0));
  }

  /// Packed bits, element e in bit e % 8 of byte e / 8 (what checkpoints store).
  [[nodiscard]] std::vector<std::uint8_t> to_bytes() const {
    std::vector<std::uint8_t> out((size_ + 7) / 8);
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<std::uint8_t>(words_[i / 8] >> (8 * (i % 8)));
    return out;
  }

private:
  template <class B>
  static std::vector<typename B::scalar> host_copy(const typename B::scalar* p, std::size_t n) {
    std::vector<typename B::scalar> h(n);
    B::to_host(h.data(), p, n);
    return h;
  }

  template <class B, class S, class Score>
  static element_mask top_k(const param_store<B>& store, std::size_t k, const S& scope, const char* what,
                            Score score) {
    // The scope's tensors in buffer order (resolve's contract), so that ties go to the lower index.
    const std::vector<param_id> ids = select::resolve(scope, store);
    std::size_t count = 0;
    for (param_id id : ids) count += store.ref(id).size();
    THAW_CHECK(k <= count, what, ": k = ", k, " is more than the ", count, " elements of the scope '",
               scope.describe(), "'");
    element_mask m(store.numel());
    if (k == 0) return m;
    // The chosen set is the first k in the total order (score descending, then index ascending).
    // Found in two passes holding one double per candidate (not an index too): the k-th largest
    // score t, then, in index order, every element above t and the lowest-indexed ones equal
    // to it. (For FreezeNet on GPT-2 small that is 1 GB of host memory instead of 2.)
    std::vector<double> scores;
    scores.reserve(count);
    for (param_id id : ids) {
      const auto& r = store.ref(id);
      for (std::size_t e = r.offset; e < r.offset + r.size(); ++e) {
        const double x = score(e);
        THAW_CHECK(!std::isnan(x), what, ": the score of element ", e - r.offset, " of '", r.name,
                   "' is NaN (a non-finite weight or gradient)");
        scores.push_back(x);
      }
    }
    std::nth_element(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(k - 1), scores.end(),
                     std::greater<>());
    const double threshold = scores[k - 1];
    std::size_t ties = k;  // how many elements scoring exactly `threshold` are taken
    for (double x : scores) ties -= x > threshold;
    std::vector<double>().swap(scores);
    for (param_id id : ids) {
      const auto& r = store.ref(id);
      for (std::size_t e = r.offset; e < r.offset + r.size(); ++e) {
        const double x = score(e);
        if (x > threshold) {
          m.set(e, true);
        } else if (x == threshold && ties > 0) {
          m.set(e, true);
          --ties;
        }
      }
    }
    return m;
  }

  void check_store(std::size_t numel) const {
    THAW_CHECK(size_ == numel, "element mask has ", size_, " elements but the model has ", numel);
  }
  void clear_tail() {
    if (size_ % 64 && !words_.empty()) words_.back() &= (1ull << (size_ % 64)) - 1;
  }
  [[nodiscard]] bool tail_is_clean() const {
    return size_ % 64 == 0 || words_.empty() || (words_.back() >> (size_ % 64)) == 0;
  }

  std::size_t size_ = 0;
  std::vector<std::uint64_t> words_;
};

}  // namespace thaw
