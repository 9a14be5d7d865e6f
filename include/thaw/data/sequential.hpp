// The sequential sampler: the pool's items in order, epoch after epoch (0, 1, ..., n-1, 0, ...).
// State: the position alone.
#pragma once

#include <cstdint>

#include "thaw/core/error.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

class sequential_sampler {
public:
  explicit sequential_sampler(pool p) : pool_(std::move(p)) {
    THAW_CHECK(pool_.size() > 0, "sequential sampler: the pool of documents is empty");
  }
  sample next() {
    const sample s{pool_[pos_ % pool_.size()], pool_.source(), 0};
    ++pos_;
    return s;
  }
  void skip(std::uint64_t n) { pos_ += n; }
  [[nodiscard]] std::uint64_t position() const { return pos_; }
  [[nodiscard]] std::uint64_t epoch() const { return pos_ / pool_.size(); }
  void save(state_writer& w) const {
    w.put(detail::tag("SEQUENTL"));
    w.put(pos_);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("SEQUENTL"), "sequential");
    pos_ = r.get();
  }

private:
  pool pool_;
  std::uint64_t pos_ = 0;
};

inline sequential_sampler sequential(pool p) { return sequential_sampler(std::move(p)); }

}  // namespace thaw::data
