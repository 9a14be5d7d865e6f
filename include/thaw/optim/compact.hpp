// Compacted state: buffers that hold one value per trainable element, range after range, and
// the operations over an index set that the optimizers, clipping and EMA share.
//
// When the trainable set changes (a freeze policy fires), remap() carries each buffer from the
// old index set to the new one: elements in both keep their state bit for bit, elements that
// start training get zeros (optimizer moments) or their current value (EMA), and elements that
// stop training are dropped — so state memory always follows the trainable count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "thaw/backend/concept.hpp"
#include "thaw/core/tensor.hpp"
#include "thaw/params/mask.hpp"

namespace thaw::optim::detail {

/// Ranges shorter than this are handled by a host loop on host-accessible backends (a backend
/// call per tiny range of a fragmented element mask would cost more than the work).
inline constexpr std::size_t kSmallRange = 256;

/// sum over the index set of x[e]^2, accumulated in double.
template <class B>
double sum_squares(const typename B::scalar* x, std::span<const index_range> ranges) {
  double total = 0;
  for (const auto& r : ranges) {
    if constexpr (B::host_accessible) {
      if (r.size() < kSmallRange) {
        for (std::size_t e = r.begin; e < r.end; ++e) total += static_cast<double>(x[e]) * static_cast<double>(x[e]);
        continue;
      }
    }
    total += static_cast<double>(B::sum_squares(x + r.begin, r.size()));
  }
  return total;
}

/// x[e] *= alpha over the index set (in the scalar type, as B::scale).
template <class B>
void scale(typename B::scalar* x, std::span<const index_range> ranges, typename B::scalar alpha) {
  for (const auto& r : ranges) {
    if constexpr (B::host_accessible) {
      if (r.size() < kSmallRange) {
        for (std::size_t e = r.begin; e < r.end; ++e) x[e] *= alpha;
        continue;
      }
    }
    B::scale(x + r.begin, r.size(), alpha);
  }
}

/// dst[s] = src[e] for the s-th element e of the index set (gather into compacted order).
template <class B>
void gather(typename B::scalar* dst, const typename B::scalar* src, std::span<const index_range> ranges) {
  std::size_t s = 0;
  for (const auto& r : ranges) {
    B::copy(dst + s, src + r.begin, r.size());
    s += r.size();
  }
}

/// dst[e] = src[s] for the s-th element e of the index set (scatter from compacted order).
template <class B>
void scatter(typename B::scalar* dst, const typename B::scalar* src, std::span<const index_range> ranges) {
  std::size_t s = 0;
  for (const auto& r : ranges) {
    B::copy(dst + r.begin, src + s, r.size());
    s += r.size();
  }
}

/// A compacted buffer for `to`, carried over from `old` (compacted along `from`): elements in
/// both sets keep their value; new elements get 0, or params[e] when `params` is not null.
template <class B>
tensor<B> remap(const tensor<B>& old, std::span<const index_range> from, std::span<const index_range> to,
                const typename B::scalar* params = nullptr) {
  using T = typename B::scalar;
  const std::size_t n = element_count(to);
  tensor<B> fresh(thaw::shape{static_cast<std::int64_t>(n)});
  auto fill_new = [&](std::size_t state, std::size_t element, std::size_t count) {
    if (params) B::copy(fresh.data() + state, params + element, count);
    else B::fill(fresh.data() + state, count, T(0));
  };
  std::size_t i = 0, old_offset = 0;  // old range i starts at old_offset in `old`
  std::size_t state = 0;
  for (const auto& r : to) {
    std::size_t cursor = r.begin;
    while (cursor < r.end) {
      while (i < from.size() && from[i].end <= cursor) old_offset += from[i++].size();
      if (i == from.size() || from[i].begin >= r.end) {  // no old range left in this one
        fill_new(state, cursor, r.end - cursor);
        state += r.end - cursor;
        cursor = r.end;
      } else if (from[i].begin > cursor) {  // a gap before the next old range
        const std::size_t count = from[i].begin - cursor;
        fill_new(state, cursor, count);
        state += count;
        cursor += count;
      } else {  // inside old range i
        const std::size_t count = std::min(r.end, from[i].end) - cursor;
        B::copy(fresh.data() + state, old.data() + old_offset + (cursor - from[i].begin), count);
        state += count;
        cursor += count;
      }
    }
  }
  return fresh;
}

/// The index set cut at parameter boundaries, so each piece lies in one parameter, plus the
/// parameter of each piece. The compacted order is unchanged.
template <class B>
void split_by_param(const param_store<B>& store, std::span<const index_range> ranges,
                    std::vector<index_range>& pieces, std::vector<param_id>& owner) {
  pieces.clear();
  owner.clear();
  param_id p = 0;
  for (const auto& r : ranges) {
    std::size_t cursor = r.begin;
    while (cursor < r.end) {
      while (p < store.count() && store.ref(p).offset + store.ref(p).size() <= cursor) ++p;
      THAW_CHECK(p < store.count(), "index range [", r.begin, ", ", r.end, ") runs past the last parameter");
      const std::size_t end = std::min(r.end, store.ref(p).offset + store.ref(p).size());
      pieces.push_back({cursor, end});
      owner.push_back(p);
      cursor = end;
    }
  }
}

}  // namespace thaw::optim::detail
