// The shuffled sampler: every epoch a fresh permutation of the pool, drawn from (seed, epoch).
//
// The permutation is a keyed Feistel bijection (permutation.hpp) evaluated on demand, so the
// state is the position alone (no O(n) shuffled index is kept) and skip() is O(1). Each epoch
// visits every item of the pool exactly once.
#pragma once

#include <cstdint>

#include "thaw/core/error.hpp"
#include "thaw/data/permutation.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

class shuffled_sampler {
public:
  shuffled_sampler(pool p, std::uint64_t seed) : pool_(std::move(p)), seed_(seed) {
    THAW_CHECK(pool_.size() > 0, "shuffled sampler: the pool of documents is empty");
  }
  sample next() {
    const std::uint64_t n = pool_.size();
    const std::uint64_t e = pos_ / n;
    if (e != perm_epoch_) {
      perm_ = feistel_permutation(n, {seed_, e});
      perm_epoch_ = e;
    }
    const sample s{pool_[perm_(pos_ % n)], pool_.source(), 0};
    ++pos_;
    return s;
  }
  void skip(std::uint64_t n) { pos_ += n; }
  [[nodiscard]] std::uint64_t position() const { return pos_; }
  [[nodiscard]] std::uint64_t epoch() const { return pos_ / pool_.size(); }
  void save(state_writer& w) const {
    w.put(detail::tag("SHUFFLED"));
    w.put(seed_);
    w.put(pos_);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("SHUFFLED"), "shuffled");
    const auto seed = r.get();
    THAW_CHECK(seed == seed_, "shuffled sampler: the state was saved with seed ", seed,
               ", this sampler has seed ", seed_);
    pos_ = r.get();
  }

private:
  pool pool_;
  std::uint64_t seed_;
  std::uint64_t pos_ = 0;
  std::uint64_t perm_epoch_ = ~std::uint64_t{0};
  feistel_permutation perm_;
};

inline shuffled_sampler shuffled(pool p, std::uint64_t seed = 0) {
  return shuffled_sampler(std::move(p), seed);
}

}  // namespace thaw::data
