// The quality filter: keep the documents whose metric passes a threshold (metric OP value, with
// OP one of < <= > >=). It narrows a pool; any sampler then draws from the narrowed pool, e.g.
// shuffled(filter(pool, compression_ratio >= 2.5)) — a "high-quality subset".
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

enum class compare { less, less_equal, greater, greater_equal };

inline std::string_view compare_text(compare op) {
  switch (op) {
    case compare::less: return "<";
    case compare::less_equal: return "<=";
    case compare::greater: return ">";
    case compare::greater_equal: return ">=";
  }
  return "?";
}

inline bool passes(double v, compare op, double threshold) {
  switch (op) {
    case compare::less: return v < threshold;
    case compare::less_equal: return v <= threshold;
    case compare::greater: return v > threshold;
    case compare::greater_equal: return v >= threshold;
  }
  return false;
}

/// The items of p whose metric[doc] passes `op threshold` (order kept). Throws when none does.
inline pool filter_pool(const pool& p, std::span<const double> metric, compare op, double threshold,
                        std::string_view metric_name = "metric") {
  THAW_CHECK(!std::isnan(threshold), "filter: threshold for ", std::string(metric_name), " is NaN");
  std::vector<std::uint64_t> kept;
  for (std::uint64_t i = 0; i < p.size(); ++i) {
    const auto d = p[i];
    THAW_CHECK(d < metric.size(), "filter: document ", d, " has no value of ",
               std::string(metric_name));
    if (passes(metric[d], op, threshold)) kept.push_back(d);
  }
  THAW_CHECK(!kept.empty(), "filter ", std::string(metric_name), " ", compare_text(op), " ",
             threshold, " keeps none of the ", p.size(), " documents");
  return pool::of(std::move(kept), p.source());
}

}  // namespace thaw::data
