// A subset of the pool to be repeated for several epochs: k items chosen by a seeded
// permutation (kept in their original order). Wrap it in a shuffled sampler to see the subset
// epoch after epoch, reshuffled each time — the "repeat a small subset for several epochs"
// setting (e.g. Muennighoff et al., "Scaling Data-Constrained Language Models", 2023).
// The sampler's epoch() tells how many times the subset has been seen.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/permutation.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

/// k items of p (1 <= k <= p.size()), chosen by `seed`.
inline pool subset_pool(const pool& p, std::uint64_t k, std::uint64_t seed) {
  THAW_CHECK(k >= 1 && k <= p.size(), "subset: size must be in 1..", p.size(), ", got ", k);
  const feistel_permutation perm(p.size(), {seed, 0x5355'4253'4554ull});  // "SUBSET"
  std::vector<std::uint64_t> idx(k);
  for (std::uint64_t i = 0; i < k; ++i) idx[i] = perm(i);
  std::sort(idx.begin(), idx.end());
  std::vector<std::uint64_t> ids(k);
  for (std::uint64_t i = 0; i < k; ++i) ids[i] = p[idx[i]];
  return pool::of(std::move(ids), p.source());
}

}  // namespace thaw::data
