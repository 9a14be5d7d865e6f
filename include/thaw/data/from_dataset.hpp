// Leaf samplers over a whole token dataset, for programs written in C++ (DESIGN.md's
//   data::mixture(sched::constant(0.25), data::shuffled(english),
//                 data::curriculum(code, data::metric::compression_ratio, data::pace::root(2'000)))
// ). Several datasets in one stream are told apart by `source`: the index of the dataset in the
// list given to the batcher.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "thaw/data/curriculum.hpp"
#include "thaw/data/dataset.hpp"
#include "thaw/data/metrics.hpp"
#include "thaw/data/sequential.hpp"
#include "thaw/data/shuffled.hpp"

namespace thaw::data {

/// Metric names (metrics.hpp), as constants.
namespace metric {
inline constexpr std::string_view length = "length";
inline constexpr std::string_view compression_ratio = "compression_ratio";
inline constexpr std::string_view ttr = "ttr";
inline constexpr std::string_view mtld = "mtld";
inline constexpr std::string_view flesch = "flesch";
}  // namespace metric

/// Every document of ds, as source `source`.
inline pool all_docs(const token_dataset& ds, std::uint32_t source = 0) { return pool::all(ds.n_docs(), source); }

inline sequential_sampler sequential(const token_dataset& ds, std::uint32_t source = 0) {
  return sequential_sampler(all_docs(ds, source));
}

inline shuffled_sampler shuffled(const token_dataset& ds, std::uint64_t seed = 0, std::uint32_t source = 0) {
  return shuffled_sampler(all_docs(ds, source), seed);
}

/// A curriculum over ds by a cached metric (the dataset's metrics cache must exist: built by
/// build_dataset or `thaw-data stats`).
template <class Pace>
curriculum_sampler<Pace> curriculum(const token_dataset& ds, std::string_view metric_name, Pace pace,
                                    difficulty_order order = difficulty_order::easy_first, std::uint64_t seed = 0,
                                    std::uint32_t source = 0) {
  const auto table = load_metrics(ds);
  const auto& values = table.get(metric_name);
  return curriculum_sampler<Pace>(
      sort_by_difficulty(all_docs(ds, source), values, higher_is_harder(metric_name), order, metric_name), source,
      std::move(pace), seed);
}

}  // namespace thaw::data
