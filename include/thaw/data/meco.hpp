// Metadata conditioning then cool-down, after Gao et al., "Metadata Conditioning Accelerates
// Language Model Pre-training" (MeCo, 2025): for the first `cooldown_at` draws every sample is
// tagged, and the batcher puts the document's domain tag (the tokens of "DOMAIN\n\n", stored in
// the dataset) before its tokens, with no loss on the tag; from draw `cooldown_at` on, samples
// are plain (MeCo's final 10% cool-down). State: the position and the child's state.
#pragma once

#include <cstdint>
#include <utility>

#include "thaw/data/sampler.hpp"

namespace thaw::data {

template <sampler C>
class meco_sampler {
public:
  meco_sampler(C child, std::uint64_t cooldown_at) : c_(std::move(child)), cooldown_(cooldown_at) {}
  sample next() {
    sample s = c_.next();
    s.tagged = pos_ < cooldown_ ? 1 : 0;
    ++pos_;
    return s;
  }
  void skip(std::uint64_t n) {
    c_.skip(n);
    pos_ += n;
  }
  [[nodiscard]] std::uint64_t position() const { return pos_; }
  void save(state_writer& w) const {
    w.put(detail::tag("MECO____"));
    w.put(cooldown_);
    w.put(pos_);
    c_.save(w);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("MECO____"), "meco");
    THAW_CHECK(r.get() == cooldown_, "meco sampler: the state was saved with another cool-down point");
    pos_ = r.get();
    c_.restore(r);
  }

private:
  C c_;
  std::uint64_t cooldown_;
  std::uint64_t pos_ = 0;
};

template <sampler C>
meco_sampler<C> meco(C child, std::uint64_t cooldown_at) {
  return meco_sampler<C>(std::move(child), cooldown_at);
}

}  // namespace thaw::data
