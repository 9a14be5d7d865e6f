// Containers that compose modules whose structure is a type: nn::sequential<M...>,
// nn::residual<M>, nn::repeat<M>. Sizes and names stay run-time values (a config per child).
//
//   using classifier = nn::sequential<nn::linear<B>, nn::relu<B>, nn::linear<B>>;
//   classifier net(scope, {{"fc1", {784, 256}}, {"act", {}}, {"fc2", {256, 10}}});
//
// The containers apply the freezing rules for their children: in backward, a child is asked for
// its input gradient only if the caller wants dx or something before it trains, so backward
// stops below the lowest trainable module.
#pragma once

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "thaw/nn/module.hpp"

namespace thaw::nn {

/// A child's name (the prefix its parameters get; empty for none) and config.
template <class M>
struct named {
  std::string name;
  typename M::config cfg{};
};

namespace detail {
template <class B>
scope<B> child_scope(const scope<B>& s, const std::string& name) {
  return name.empty() ? s : s.child(name);
}
}  // namespace detail

/// Runs its children one after the other; structure sequential<M1, M2, ...>.
template <class... Ms>
class sequential {
  static_assert(sizeof...(Ms) > 0, "sequential needs at least one module");
  using first = std::tuple_element_t<0, std::tuple<Ms...>>;

public:
  using B = typename first::backend_type;
  using backend_type = B;
  using T = typename B::scalar;
  using config = std::tuple<named<Ms>...>;

  sequential(const scope<B>& s, const config& c)
      // Braces: children are constructed (and register their parameters) left to right.
      : children_(std::apply([&](const auto&... n) { return std::tuple<Ms...>{Ms(detail::child_scope(s, n.name), n.cfg)...}; }, c)) {}

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    tensor_view<T> y{};
    tensor_view<const T> in = x;
    std::apply([&](auto&... m) { ((y = m.forward(ctx, in), in = y), ...); }, children_);
    return y;
  }

  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    return backward_from<sizeof...(Ms) - 1>(ctx, dy, n);
  }

  void init(param_store<B>& p, std::uint64_t seed, double std) const {
    std::apply([&](const auto&... m) { (m.init(p, seed, std), ...); }, children_);
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    return std::apply([&](const auto&... m) { return (m.any_trainable(p) || ...); }, children_);
  }
  template <std::size_t I>
  [[nodiscard]] auto& get() noexcept { return std::get<I>(children_); }

private:
  /// True if any child before I trains: then child I must pass a gradient down.
  template <std::size_t I>
  bool trains_before(const param_store<B>& p) const {
    if constexpr (I == 0) return false;
    else return std::get<I - 1>(children_).any_trainable(p) || trains_before<I - 1>(p);
  }
  template <std::size_t I>
  tensor_view<T> backward_from(context<B>& ctx, tensor_view<const T> dy, need n) {
    const bool want_dx = n.dx || trains_before<I>(ctx.params);
    auto dx = std::get<I>(children_).backward(ctx, dy, {.dx = want_dx});
    if constexpr (I == 0) return dx;
    else return want_dx ? backward_from<I - 1>(ctx, dx, n) : tensor_view<T>{};
  }

  std::tuple<Ms...> children_;
};

/// y = x + M(x); M must keep the shape.
template <class M>
class residual {
public:
  using B = typename M::backend_type;
  using backend_type = B;
  using T = typename B::scalar;
  using config = typename M::config;

  residual(const scope<B>& s, const config& c) : inner_(s, c) {}

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    auto y = inner_.forward(ctx, x);
    THAW_CHECK(y.shape == x.shape, "residual: the inner module maps ", x.shape, " to ", y.shape,
               "; it must keep the shape");
    B::add(y.data, y.data, x.data, x.size());
    return y;
  }
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    auto dinner = inner_.backward(ctx, dy, n);
    if (!n.dx) return {};
    B::add(dinner.data, dinner.data, dy.data, dy.size());  // dx = dy + d inner
    return dinner;
  }
  void init(param_store<B>& p, std::uint64_t seed, double std) const { inner_.init(p, seed, std); }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const { return inner_.any_trainable(p); }

private:
  M inner_;
};

/// `count` copies of M named "0", "1", ... at depths depth, depth + 1, ... (GPT's "h.{i}").
template <class M>
class repeat {
public:
  using B = typename M::backend_type;
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int count = 1;
    typename M::config cfg{};
  };

  repeat(const scope<B>& s, const config& c) {
    THAW_CHECK(c.count >= 1, "repeat '", s.prefix, "' needs count >= 1, got ", c.count);
    children_.reserve(c.count);
    for (int i = 0; i < c.count; ++i) children_.emplace_back(s.at_depth(s.depth + i).child(std::to_string(i)), c.cfg);
  }

  tensor_view<T> forward(context<B>& ctx, tensor_view<const T> x) {
    tensor_view<T> y{};
    for (auto& m : children_) {
      y = m.forward(ctx, x);
      x = y;
    }
    return y;
  }
  tensor_view<T> backward(context<B>& ctx, tensor_view<const T> dy, need n) {
    int lowest = static_cast<int>(children_.size());  // lowest trainable child
    for (int i = static_cast<int>(children_.size()) - 1; i >= 0; --i)
      if (children_[i].any_trainable(ctx.params)) lowest = i;
    tensor_view<T> d{};
    tensor_view<const T> grad = dy;
    for (int i = static_cast<int>(children_.size()) - 1; i >= 0; --i) {
      const bool want_dx = n.dx || i > lowest;
      d = children_[i].backward(ctx, grad, {.dx = want_dx});
      if (!want_dx) return {};
      grad = d;
    }
    return d;
  }
  void init(param_store<B>& p, std::uint64_t seed, double std) const {
    for (const auto& m : children_) m.init(p, seed, std);
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const {
    for (const auto& m : children_)
      if (m.any_trainable(p)) return true;
    return false;
  }
  [[nodiscard]] std::size_t size() const noexcept { return children_.size(); }
  [[nodiscard]] M& operator[](std::size_t i) { return children_.at(i); }

private:
  std::vector<M> children_;
};

}  // namespace thaw::nn
