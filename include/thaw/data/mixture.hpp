// Mixtures: K samplers drawn from in proportions given by schedules (anything callable with a
// step: thaw::sched schedules, any_schedule, lambdas), so a replay ratio of pre-training data can
// change during continual pre-training.
//
// Selection is deterministic and low-discrepancy: draw i is at step s = i / per_step; with
// weights w_k(s) (finite, >= 0, not all zero — else thaw::error naming the component and step),
// it goes to the component k whose cumulative-weight interval holds u_i * sum(w), where
// u_i = frac(seed_offset + i * phi) is the golden-ratio Weyl sequence in 64-bit fixed point.
// For constant weights the count of component k after n draws stays within O(log n) of
// n w_k / sum(w) (no random drift), and it follows changing weights step by step. A child
// advances only when chosen, so a curriculum inside a mixture paces by its own draws.
//
// State: the position plus every child's state — no per-component counters are needed, since a
// child's position is its count. Restoring gives exactly the uninterrupted stream.
#pragma once

#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/data/detail/children.hpp"
#include "thaw/data/sampler.hpp"
#include "thaw/schedule/concept.hpp"

namespace thaw::data {

struct mixture_cfg {
  std::uint64_t per_step = 1;  // draws per schedule step (e.g. the global batch size)
  std::uint64_t seed = 0;      // offsets the Weyl sequence
};

namespace detail {

template <sched::step_function... Ws>
struct tuple_weights {
  std::tuple<Ws...> w;
  [[nodiscard]] static constexpr std::size_t size() { return sizeof...(Ws); }
  template <class Out>
  void eval(sched::step_t s, Out& out) const {
    std::size_t k = 0;
    std::apply([&](const auto&... f) { ((out[k++] = static_cast<double>(f(s))), ...); }, w);
  }
};

template <sched::step_function W>
struct vector_weights {
  std::vector<W> w;
  [[nodiscard]] std::size_t size() const { return w.size(); }
  template <class Out>
  void eval(sched::step_t s, Out& out) const {
    for (std::size_t k = 0; k < w.size(); ++k) out[k] = static_cast<double>(w[k](s));
  }
};

/// Two components: the first gets r(s), the second 1 - r(s).
template <sched::step_function R>
struct ratio_weights {
  R r;
  [[nodiscard]] static constexpr std::size_t size() { return 2; }
  template <class Out>
  void eval(sched::step_t s, Out& out) const {
    const double v = static_cast<double>(r(s));
    THAW_CHECK(std::isfinite(v) && v >= 0 && v <= 1, "mixture ratio at step ", s, " is ", v,
               ": a two-way ratio must be in [0, 1]");
    out[0] = v;
    out[1] = 1 - v;
  }
};

}  // namespace detail

template <class Weights, class Children>
class mixture_sampler {
public:
  mixture_sampler(Weights w, Children c, mixture_cfg cfg = {})
      : w_(std::move(w)), c_(std::move(c)), cfg_(cfg), buf_(c_.size()) {
    THAW_CHECK(c_.size() >= 1, "mixture: needs at least one sampler");
    THAW_CHECK(w_.size() == c_.size(), "mixture: ", w_.size(), " weights for ", c_.size(),
               " samplers");
    THAW_CHECK(cfg_.per_step >= 1, "mixture: per_step must be >= 1");
    const auto b = philox::block_at({cfg_.seed, detail::tag("MIXTURE_")}, 0);
    offset_ = (static_cast<std::uint64_t>(b.v[0]) << 32) | b.v[1];
    (void)choose(0);  // a bad weight at step 0 fails here, not at the first draw
  }

  /// The component that draw i goes to.
  [[nodiscard]] std::size_t choose(std::uint64_t i) const {
    const auto s = static_cast<sched::step_t>(i / cfg_.per_step);
    w_.eval(s, buf_);
    double total = 0;
    for (std::size_t k = 0; k < buf_.size(); ++k) {
      THAW_CHECK(std::isfinite(buf_[k]) && buf_[k] >= 0, "mixture weight of component ", k,
                 " at step ", s, " is ", buf_[k], ": weights must be finite and >= 0");
      total += buf_[k];
    }
    THAW_CHECK(total > 0, "mixture weights are all zero at step ", s);
    const std::uint64_t x = offset_ + i * 0x9E3779B97F4A7C15ull;  // golden-ratio Weyl sequence
    const double target = static_cast<double>(x >> 11) * 0x1p-53 * total;
    double acc = 0;
    std::size_t last = 0;
    for (std::size_t k = 0; k < buf_.size(); ++k) {
      if (buf_[k] <= 0) continue;
      acc += buf_[k];
      last = k;
      if (target < acc) return k;
    }
    return last;  // rounding at the top end
  }

  sample next() {
    const auto k = choose(pos_);
    ++pos_;
    return c_.next(k);
  }
  void skip(std::uint64_t n) {
    if (n == 0) return;  // shards skip 0 draws on every rank-0 / last-rank draw
    counts_.assign(c_.size(), 0);
    for (std::uint64_t i = 0; i < n; ++i) ++counts_[choose(pos_ + i)];
    for (std::size_t k = 0; k < counts_.size(); ++k) {
      if (counts_[k] > 0) c_.skip(k, counts_[k]);
    }
    pos_ += n;
  }
  [[nodiscard]] std::uint64_t position() const { return pos_; }
  void save(state_writer& w) const {
    w.put(detail::tag("MIXTURE_"));
    w.put(pos_);
    c_.save(w);
  }
  void restore(state_reader& r) {
    r.expect(detail::tag("MIXTURE_"), "mixture");
    pos_ = r.get();
    c_.restore(r);
  }

private:
  Weights w_;
  Children c_;
  mixture_cfg cfg_;
  std::uint64_t offset_ = 0;
  std::uint64_t pos_ = 0;
  mutable std::vector<double> buf_;
  std::vector<std::uint64_t> counts_;
};

/// A component of a mixture: a weight schedule and a sampler.
template <sched::step_function W, sampler C>
struct weighted_sampler {
  W weight;
  C sampler;
};
template <sched::step_function W, sampler C>
weighted_sampler<W, C> weighted(W w, C c) {
  return {std::move(w), std::move(c)};
}

/// Two samplers: `a` gets ratio(s), `b` gets 1 - ratio(s) (DESIGN.md's
/// mixture(sched::constant(0.25), shuffled(english), curriculum(code, ...))).
template <sched::step_function R, sampler A, sampler B>
auto mixture(R ratio, A a, B b, mixture_cfg cfg = {}) {
  using children = detail::tuple_children<A, B>;
  return mixture_sampler<detail::ratio_weights<R>, children>(
      detail::ratio_weights<R>{std::move(ratio)}, children(std::move(a), std::move(b)), cfg);
}

/// K samplers with their own weight schedules (normalized at every step).
template <sched::step_function... Ws, sampler... Cs>
auto mixture_of(mixture_cfg cfg, weighted_sampler<Ws, Cs>... parts) {
  using children = detail::tuple_children<Cs...>;
  using weights = detail::tuple_weights<Ws...>;
  return mixture_sampler<weights, children>(weights{std::tuple<Ws...>(std::move(parts.weight)...)},
                                            children(std::move(parts.sampler)...), cfg);
}

/// A run-time list of samplers of one type with weights of one type.
template <sched::step_function W, sampler C>
auto mixture(std::vector<W> weights, std::vector<C> samplers, mixture_cfg cfg = {}) {
  return mixture_sampler<detail::vector_weights<W>, detail::vector_children<C>>(
      detail::vector_weights<W>{std::move(weights)}, detail::vector_children<C>(std::move(samplers)), cfg);
}

}  // namespace thaw::data
