// The sampler concept: what every sampler is, its state, and the pool of items it draws from.
//
// A sampler is a deterministic stream of samples (document ids, with the source dataset and a
// metadata-tag flag). Its interface:
//   sample next()                 the sample at the current position; advances by one
//   void skip(std::uint64_t n)    advances by n without producing (O(1) for stateless samplers)
//   std::uint64_t position()      samples produced or skipped so far
//   void save(state_writer&)      appends the state (a few 64-bit words)
//   void restore(state_reader&)   resumes from a saved state
//
// Resumption and sharding (docs/data.md): the *global* stream is defined independently of the
// number of ranks, and a state is a point in it. Restoring a state and continuing gives exactly
// the stream that would have followed (tested for every sampler at random points). shard.hpp
// gives rank r of N the global items r, r + N, r + 2N, ...; after each of its draws the wrapped
// global sampler stands at a multiple of N, so every rank saves the same state, and that state
// resumes on any number of ranks M with no sample lost or repeated.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"

namespace thaw::data {

/// One item of a sampler's stream.
struct sample {
  std::uint64_t doc = 0;      // document index in its dataset
  std::uint32_t source = 0;   // which dataset (index into the list given to a batcher)
  std::uint32_t tagged = 0;   // 1: prefix the document's domain tag (metadata conditioning)
  friend bool operator==(const sample&, const sample&) = default;
};

/// A saved sampler state: 64-bit words.
using sampler_state = std::vector<std::uint64_t>;

class state_writer {
public:
  explicit state_writer(sampler_state& out) : out_(out) {}
  void put(std::uint64_t v) { out_.push_back(v); }
  void put_double(double v) { out_.push_back(std::bit_cast<std::uint64_t>(v)); }

private:
  sampler_state& out_;
};

class state_reader {
public:
  explicit state_reader(std::span<const std::uint64_t> words) : words_(words) {}
  std::uint64_t get() {
    THAW_CHECK(pos_ < words_.size(), "sampler state is too short (", words_.size(),
               " words) for this sampler");
    return words_[pos_++];
  }
  double get_double() { return std::bit_cast<double>(get()); }
  /// Reads a kind tag and checks it names the sampler being restored.
  void expect(std::uint64_t tag, std::string_view who) {
    const auto t = get();
    THAW_CHECK(t == tag, "sampler state does not match the sampler: expected a ", std::string(who),
               " state at word ", pos_ - 1);
  }
  void finish() const {
    THAW_CHECK(pos_ == words_.size(), "sampler state has ", words_.size() - pos_,
               " words left over: it was saved by another sampler");
  }

private:
  std::span<const std::uint64_t> words_;
  std::size_t pos_ = 0;
};

template <class S>
concept sampler = std::move_constructible<S> &&
                  requires(S& s, const S& cs, std::uint64_t n, state_writer& w, state_reader& r) {
                    { s.next() } -> std::same_as<sample>;
                    s.skip(n);
                    { cs.position() } -> std::convertible_to<std::uint64_t>;
                    cs.save(w);
                    s.restore(r);
                  };

template <sampler S>
sampler_state save_state(const S& s) {
  sampler_state st;
  state_writer w(st);
  s.save(w);
  return st;
}

template <sampler S>
void restore_state(S& s, std::span<const std::uint64_t> st) {
  state_reader r(st);
  s.restore(r);
  r.finish();
}

/// The next n samples of s.
template <sampler S>
std::vector<sample> take(S& s, std::size_t n) {
  std::vector<sample> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(s.next());
  return out;
}

namespace detail {
/// Eight ASCII characters as a tag word ("SEQUENTL").
constexpr std::uint64_t tag(const char (&s)[9]) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
}  // namespace detail

/// The items a leaf sampler draws from: all documents 0..n-1 of a dataset, or a chosen list
/// (after a quality filter or a subset). Cheap to copy (shared).
class pool {
public:
  pool() = default;
  /// Documents 0 .. n-1 of `source`.
  static pool all(std::uint64_t n, std::uint32_t source = 0) {
    pool p;
    p.n_ = n;
    p.source_ = source;
    return p;
  }
  /// The given documents of `source`, in this order.
  static pool of(std::vector<std::uint64_t> ids, std::uint32_t source = 0) {
    pool p;
    p.n_ = ids.size();
    p.ids_ = std::make_shared<const std::vector<std::uint64_t>>(std::move(ids));
    p.source_ = source;
    return p;
  }
  [[nodiscard]] std::uint64_t size() const { return n_; }
  [[nodiscard]] std::uint64_t operator[](std::uint64_t i) const { return ids_ ? (*ids_)[i] : i; }
  [[nodiscard]] std::uint32_t source() const { return source_; }
  [[nodiscard]] std::vector<std::uint64_t> ids() const {
    if (ids_) return *ids_;
    std::vector<std::uint64_t> v(n_);
    for (std::uint64_t i = 0; i < n_; ++i) v[i] = i;
    return v;
  }

private:
  std::uint64_t n_ = 0;
  std::shared_ptr<const std::vector<std::uint64_t>> ids_;
  std::uint32_t source_ = 0;
};

}  // namespace thaw::data
