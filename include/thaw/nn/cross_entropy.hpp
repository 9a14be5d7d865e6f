// nn::cross_entropy<B> — mean softmax cross-entropy over logits with an ignore index (positions
// whose target equals it do not count), fused: the backward writes dlogits over the logits.
#pragma once

#include <vector>

#include "thaw/backend/ops.hpp"
#include "thaw/nn/module.hpp"

namespace thaw::nn {

template <class B>
class cross_entropy {
public:
  using T = typename B::scalar;

  explicit cross_entropy(token_t ignore_index = -1) : ignore_(ignore_index) {}

  /// logits: (..., vocab); targets: (...) in backend memory. Returns the mean loss over the
  /// non-ignored targets (0 when all are ignored).
  double forward(context<B>& ctx, tensor_view<T> logits, tensor_view<const token_t> targets) {
    rows_ = static_cast<int>(logits.shape.rows());
    vocab_ = static_cast<int>(logits.shape.last());
    THAW_CHECK(targets.numel() == rows_, "cross-entropy got ", targets.numel(), " targets for ",
               rows_, " rows of logits ", logits.shape);
    T* losses = ctx.activations.template allocate<T>(rows_);
    B::cross_entropy_forward(losses, logits.data, targets.data, rows_, vocab_, ignore_);
    std::vector<token_t> host(rows_);  // counting on the host keeps the op set small
    B::to_host(host.data(), targets.data, host.size());
    counted_ = 0;
    for (token_t t : host) counted_ += t != ignore_;
    logits_ = logits;
    targets_ = targets;
    return counted_ ? B::sum(losses, rows_) / counted_ : 0.0;
  }

  /// Overwrites the logits with d(mean loss)/d logits (times `scale`, e.g. 1/accumulation).
  tensor_view<T> backward(context<B>&, double scale = 1.0) {
    const T dloss = counted_ ? T(scale / counted_) : T(0);
    B::cross_entropy_backward(logits_.data, logits_.data, targets_.data, rows_, vocab_, ignore_, dloss);
    return logits_;
  }
  [[nodiscard]] int counted() const noexcept { return counted_; }

private:
  token_t ignore_;
  int rows_ = 0, vocab_ = 0, counted_ = 0;
  tensor_view<T> logits_{};
  tensor_view<const token_t> targets_{};
};

}  // namespace thaw::nn
