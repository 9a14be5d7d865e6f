// Interleaving: K samplers in strict rotation (draw i comes from child i mod K) — e.g. several
// curricula (by different metrics, or over different domains) advanced side by side. Each child
// advances only on its own turns. State: the position and every child's state.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/detail/children.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data {

template <class Children>
class interleave_sampler {
public:
  explicit interleave_sampler(Children c) : c_(std::move(c)) {
    THAW_CHECK(c_.size() >= 1, "interleave: needs at least one sampler");
  }
  sample next() {
    const auto k = static_cast<std::size_t>(pos_ % c_.size());
    ++pos_;
    return c_.next(k);
  }
  void skip(std::uint64_t n) {
    const std::uint64_t K = c_.size();
    for (std::uint64_t k = 0; k < K; ++k) {
      // draws i in [pos, pos + n) with i mod K == k
      const std::uint64_t first = pos_ + ((k + K - pos_ % K) % K);
      const std::uint64_t count = first >= pos_ + n ? 0 : (pos_ + n - first + K - 1) / K;
      c_.skip(static_cast<std::size_t>(k), count);
    }
    pos_ += n;
  }
  [[nodiscard]] std::uint64_t position() const { return pos_; }
  void save(state_writer& w) const {
    w.put(detail::tag("INTERLEV"));
    w.put(pos_);
    c_.save(w);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("INTERLEV"), "interleave");
    pos_ = r.get();
    c_.restore(r);
  }

private:
  Children c_;
  std::uint64_t pos_ = 0;
};

/// interleave(a, b, c): a, b, c, a, b, c, ...
template <sampler... Cs>
auto interleave(Cs... cs) {
  return interleave_sampler<detail::tuple_children<Cs...>>(detail::tuple_children<Cs...>(std::move(cs)...));
}

/// Interleaving of a run-time list of samplers of one type.
template <sampler C>
auto interleave(std::vector<C> cs) {
  return interleave_sampler<detail::vector_children<C>>(detail::vector_children<C>(std::move(cs)));
}

}  // namespace thaw::data
