// nn::embedding<B> (token table lookup) and nn::position_embedding<B> (learned absolute
// positions, added in place, as GPT-2's wpe).
#pragma once

#include "thaw/backend/ops.hpp"
#include "thaw/nn/module.hpp"

namespace thaw::nn {

template <class B>
class embedding {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int rows = 0;   ///< vocabulary size
    int width = 0;  ///< embedding dimension
  };

  embedding(const scope<B>& s, config c) : cfg_(c) {
    THAW_CHECK(c.rows > 0 && c.width > 0, "embedding '", s.prefix, "' needs positive sizes, got ",
               c.rows, " x ", c.width);
    table_ = s.add("weight", {c.rows, c.width}, param_kind::embedding, "embedding");
  }

  /// ids: (...) token ids in backend memory -> (..., width)
  tensor_view<T> forward(context<B>& ctx, tensor_view<const token_t> ids) {
    const int n = static_cast<int>(ids.numel());
    thaw::shape out = ids.shape.rank() == 1 ? thaw::shape{ids.shape[0], cfg_.width}
                      : ids.shape.rank() == 2 ? thaw::shape{ids.shape[0], ids.shape[1], cfg_.width}
                                              : throw error(message("embedding expects ids of rank 1 or 2, got ", ids.shape));
    auto y = ctx.activations.template allocate<T>(out);
    B::embedding_forward(y.data, ctx.params.value(table_), ids.data, n, cfg_.width, cfg_.rows);
    ids_ = ids;
    return y;
  }
  /// Scatter-adds dy into the table's gradient (if it trains). Token ids have no gradient.
  void backward(context<B>& ctx, tensor_view<const T> dy) {
    if (ctx.params.trainable(table_))
      B::embedding_backward(ctx.params.grad(table_), dy.data, ids_.data, static_cast<int>(ids_.numel()),
                            cfg_.width);
  }

  void init(param_store<B>& p, std::uint64_t seed, double std) const {
    B::fill_normal(p.value(table_), p.ref(table_).size(), {seed, table_}, 0, 0.0, std);
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const { return p.trainable(table_); }
  [[nodiscard]] param_id table() const noexcept { return table_; }
  [[nodiscard]] const config& cfg() const noexcept { return cfg_; }

private:
  config cfg_;
  param_id table_{};
  tensor_view<const token_t> ids_{};
};

template <class B>
class position_embedding {
public:
  using backend_type = B;
  using T = typename B::scalar;
  struct config {
    int context = 0;  ///< the longest sequence
    int width = 0;
  };

  position_embedding(const scope<B>& s, config c) : cfg_(c) {
    THAW_CHECK(c.context > 0 && c.width > 0, "position_embedding '", s.prefix,
               "' needs positive sizes, got ", c.context, " x ", c.width);
    table_ = s.add("weight", {c.context, c.width}, param_kind::embedding, "position_embedding");
  }

  /// x: (batch, T, width), modified in place: x[b, t] += table[t].
  void forward(context<B>& ctx, tensor_view<T> x) {
    THAW_CHECK(x.shape.rank() == 3 && x.shape[2] == cfg_.width && x.shape[1] <= cfg_.context,
               "position_embedding expects (batch, T <= ", cfg_.context, ", ", cfg_.width,
               "), got ", x.shape);
    batch_ = static_cast<int>(x.shape[0]);
    steps_ = static_cast<int>(x.shape[1]);
    const std::size_t n = std::size_t(steps_) * cfg_.width;
    for (int b = 0; b < batch_; ++b) B::add(x.data + b * n, x.data + b * n, ctx.params.value(table_), n);
  }
  /// d table[t] += sum_b dy[b, t]; the input gradient is dy itself.
  void backward(context<B>& ctx, tensor_view<const T> dy) {
    if (!ctx.params.trainable(table_)) return;
    const std::size_t n = std::size_t(steps_) * cfg_.width;
    for (int b = 0; b < batch_; ++b) B::axpy(ctx.params.grad(table_), T(1), dy.data + b * n, n);
  }

  void init(param_store<B>& p, std::uint64_t seed, double std) const {
    B::fill_normal(p.value(table_), p.ref(table_).size(), {seed, table_}, 0, 0.0, std);
  }
  [[nodiscard]] bool any_trainable(const param_store<B>& p) const { return p.trainable(table_); }

private:
  config cfg_;
  param_id table_{};
  int batch_ = 0, steps_ = 0;
};

}  // namespace thaw::nn
