// Sequencing: sampler A for its first W draws, then sampler B — "curriculum as warm-up, then
// random": then(curriculum(...), W, shuffled(...)). B's stream starts at its own position 0
// when A's phase ends. State: the position and both children's states.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "thaw/data/sampler.hpp"

namespace thaw::data {

template <sampler A, sampler B>
class then_sampler {
public:
  then_sampler(A a, std::uint64_t w, B b) : a_(std::move(a)), b_(std::move(b)), w_(w) {}
  sample next() {
    return pos_++ < w_ ? a_.next() : b_.next();
  }
  void skip(std::uint64_t n) {
    const std::uint64_t in_a = pos_ < w_ ? std::min(n, w_ - pos_) : 0;
    a_.skip(in_a);
    b_.skip(n - in_a);
    pos_ += n;
  }
  [[nodiscard]] std::uint64_t position() const { return pos_; }
  void save(state_writer& w) const {
    w.put(detail::tag("THEN____"));
    w.put(w_);
    w.put(pos_);
    a_.save(w);
    b_.save(w);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("THEN____"), "then");
    THAW_CHECK(r.get() == w_, "then sampler: the state was saved with another switch point");
    pos_ = r.get();
    a_.restore(r);
    b_.restore(r);
  }

private:
  A a_;
  B b_;
  std::uint64_t w_;
  std::uint64_t pos_ = 0;
};

template <sampler A, sampler B>
then_sampler<A, B> then(A a, std::uint64_t w, B b) {
  return then_sampler<A, B>(std::move(a), w, std::move(b));
}

}  // namespace thaw::data
