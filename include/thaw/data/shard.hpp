// Sharding for data parallelism: rank r of N takes the global draws r, r + N, r + 2N, ... of a
// sampler. Shards are disjoint and together are the global stream.
//
// Elastic resumption: after each of its draws, a shard leaves the wrapped global sampler at the
// start of the next round (a multiple of N draws), so its saved state is the *global* state —
// the same on every rank of a synchronous job. Restoring that state under shard(r', M) for any
// M continues the global stream at the same point, split M ways: nothing lost or repeated.
#pragma once

#include <cstdint>
#include <utility>

#include "thaw/core/error.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

template <sampler C>
class shard_sampler {
public:
  shard_sampler(C global, std::uint64_t rank, std::uint64_t world)
      : c_(std::move(global)), rank_(rank), world_(world) {
    THAW_CHECK(world >= 1, "shard: world size must be >= 1, got ", world);
    THAW_CHECK(rank < world, "shard: rank ", rank, " is not below the world size ", world);
  }
  sample next() {
    c_.skip(rank_);
    const sample s = c_.next();
    c_.skip(world_ - 1 - rank_);
    return s;
  }
  void skip(std::uint64_t n) { c_.skip(n * world_); }
  /// This rank's draws so far since the global position 0 (global position / world).
  [[nodiscard]] std::uint64_t position() const { return c_.position() / world_; }
  [[nodiscard]] std::uint64_t global_position() const { return c_.position(); }
  void save(state_writer& w) const { c_.save(w); }  // the global state: rank-independent
  void restore(state_reader& r) { c_.restore(r); }
  [[nodiscard]] const C& global() const { return c_; }

private:
  C c_;
  std::uint64_t rank_, world_;
};

template <sampler C>
shard_sampler<C> shard(C global, std::uint64_t rank, std::uint64_t world) {
  return shard_sampler<C>(std::move(global), rank, world);
}

}  // namespace thaw::data
