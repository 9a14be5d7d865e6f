// The curriculum sampler: a difficulty metric, an order (easy first or hard first) and a pacing
// function (pacing.hpp). At its draw t it samples uniformly, with replacement, from the first
// max(1, ceil(c(t) n)) items of the pool sorted by difficulty — the competence-based sampling of
// Platanios et al., "Competence-based Curriculum Learning for Neural Machine Translation"
// (NAACL 2019), with the metrics of "Beyond Random Sampling: Efficient Language Model
// Pretraining via Curriculum Learning" (metrics.hpp). Once c(t) = 1 it is uniform sampling with
// replacement over the whole pool.
//
// Randomness: draw t uses Philox (seed, stream "CURRICUL", t), so the state is the position and
// skip() is O(1). Sorting is stable with ties broken by document id, so the order is the same on
// every machine. For "curriculum as warm-up, then random", see then.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/data/pacing.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

enum class difficulty_order { easy_first, hard_first };

/// The pool sorted by difficulty: easy first means ascending difficulty, where difficulty is the
/// metric (higher_is_harder) or its negation. `metric[doc]` is indexed by document id.
inline std::vector<std::uint64_t> sort_by_difficulty(const pool& p, std::span<const double> metric,
                                                     bool higher_is_harder, difficulty_order order,
                                                     std::string_view metric_name = "metric") {
  std::vector<std::uint64_t> ids = p.ids();
  for (const auto d : ids) {
    THAW_CHECK(d < metric.size(), "curriculum: document ", d, " has no value of ",
               std::string(metric_name), " (", metric.size(), " values)");
    THAW_CHECK(!std::isnan(metric[d]), "curriculum: ", std::string(metric_name),
               " of document ", d, " is NaN");
  }
  const bool ascending = higher_is_harder == (order == difficulty_order::easy_first);
  std::stable_sort(ids.begin(), ids.end(), [&](std::uint64_t a, std::uint64_t b) {
    if (metric[a] != metric[b]) return ascending ? metric[a] < metric[b] : metric[a] > metric[b];
    return a < b;
  });
  return ids;
}

template <class Pace>
class curriculum_sampler {
public:
  /// `sorted`: the pool in curriculum order (sort_by_difficulty).
  curriculum_sampler(std::vector<std::uint64_t> sorted, std::uint32_t source, Pace pace, std::uint64_t seed)
      : sorted_(std::make_shared<const std::vector<std::uint64_t>>(std::move(sorted))),
        source_(source), pace_(std::move(pace)), seed_(seed) {
    THAW_CHECK(!sorted_->empty(), "curriculum sampler: the pool of documents is empty");
  }

  /// How many of the sorted items are available at draw t.
  [[nodiscard]] std::uint64_t available(std::uint64_t t) const {
    const auto n = static_cast<double>(sorted_->size());
    double c = static_cast<double>(pace_(t));
    THAW_CHECK(std::isfinite(c), "curriculum: pacing gave a non-finite value at draw ", t);
    c = std::clamp(c, 0.0, 1.0);
    // A relative nudge of a few ulps, so that 0.1 x 30 (= 3.0000000000000004) makes 3, not 4.
    const auto k = static_cast<std::uint64_t>(std::ceil(c * n * (1 - 4 * std::numeric_limits<double>::epsilon())));
    return std::clamp<std::uint64_t>(k, 1, sorted_->size());
  }

  sample next() {
    const std::uint64_t avail = available(pos_);
    const auto b = philox::block_at({seed_, kStream}, pos_);
    const std::uint64_t r = (static_cast<std::uint64_t>(b.v[0]) << 32) | b.v[1];
    const auto j = static_cast<std::uint64_t>((static_cast<unsigned __int128>(r) * avail) >> 64);
    ++pos_;
    return {(*sorted_)[j], source_, 0};
  }
  void skip(std::uint64_t n) { pos_ += n; }
  [[nodiscard]] std::uint64_t position() const { return pos_; }
  void save(state_writer& w) const {
    w.put(detail::tag("CURRICUL"));
    w.put(seed_);
    w.put(pos_);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("CURRICUL"), "curriculum");
    const auto seed = r.get();
    THAW_CHECK(seed == seed_, "curriculum sampler: the state was saved with seed ", seed,
               ", this sampler has seed ", seed_);
    pos_ = r.get();
  }
  [[nodiscard]] const std::vector<std::uint64_t>& order() const { return *sorted_; }

private:
  static constexpr std::uint64_t kStream = detail::tag("CURRICUL");
  std::shared_ptr<const std::vector<std::uint64_t>> sorted_;
  std::uint32_t source_;
  Pace pace_;
  std::uint64_t seed_;
  std::uint64_t pos_ = 0;
};

/// A curriculum over pool `p` by `metric` (values indexed by document id).
template <class Pace>
curriculum_sampler<Pace> curriculum(const pool& p, std::span<const double> metric, bool higher_is_harder,
                                    difficulty_order order, Pace pace, std::uint64_t seed = 0) {
  return curriculum_sampler<Pace>(sort_by_difficulty(p, metric, higher_is_harder, order), p.source(),
                                  std::move(pace), seed);
}

}  // namespace thaw::data
