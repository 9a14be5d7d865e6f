// Child samplers of a combinator (interleave, mixture), addressed by a run-time index: a tuple of
// distinct sampler types (composed at compile time) or a vector of one type (built at run time,
// e.g. of any_sampler).
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/sampler.hpp"

namespace thaw::data::detail {

template <sampler... Cs>
class tuple_children {
public:
  explicit tuple_children(Cs... cs) : c_(std::move(cs)...) {}
  [[nodiscard]] static constexpr std::size_t size() { return sizeof...(Cs); }
  sample next(std::size_t k) {
    return dispatch(k, [](auto& c) { return c.next(); });
  }
  void skip(std::size_t k, std::uint64_t n) {
    dispatch(k, [n](auto& c) {
      c.skip(n);
      return sample{};
    });
  }
  void save(state_writer& w) const {
    std::apply([&](const auto&... c) { (c.save(w), ...); }, c_);
  }
  void restore(state_reader& r) {
    std::apply([&](auto&... c) { (c.restore(r), ...); }, c_);
  }
  std::tuple<Cs...>& get() { return c_; }

private:
  template <class F>
  sample dispatch(std::size_t k, F&& f) {
    return dispatch_impl(k, f, std::index_sequence_for<Cs...>{});
  }
  template <class F, std::size_t... I>
  sample dispatch_impl(std::size_t k, F& f, std::index_sequence<I...>) {
    sample out{};
    ((k == I ? (out = f(std::get<I>(c_)), true) : false) || ...);
    return out;
  }
  std::tuple<Cs...> c_;
};

template <sampler C>
class vector_children {
public:
  explicit vector_children(std::vector<C> cs) : c_(std::move(cs)) {}
  [[nodiscard]] std::size_t size() const { return c_.size(); }
  sample next(std::size_t k) { return c_[k].next(); }
  void skip(std::size_t k, std::uint64_t n) { c_[k].skip(n); }
  void save(state_writer& w) const {
    w.put(c_.size());
    for (const auto& c : c_) c.save(w);
  }
  void restore(state_reader& r) {
    const auto n = r.get();
    THAW_CHECK(n == c_.size(), "sampler state has ", n, " children, this sampler has ", c_.size());
    for (auto& c : c_) c.restore(r);
  }
  std::vector<C>& get() { return c_; }

private:
  std::vector<C> c_;
};

}  // namespace thaw::data::detail
