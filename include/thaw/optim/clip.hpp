// Global gradient-norm clipping over the trainable elements only (torch.nn.utils.
// clip_grad_norm_ semantics: coefficient max_norm / (norm + 1e-6), applied when below 1).
//
// Frozen elements do not count towards the norm — with an element mask their gradient is
// computed but is not part of what trains — so the norm is that of the update's gradient.
#pragma once

#include <cmath>
#include <span>

#include "thaw/optim/compact.hpp"
#include "thaw/params/param_store.hpp"

namespace thaw::optim {

/// The L2 norm of the gradient over the index set.
template <class B>
double grad_norm(const param_store<B>& store, std::span<const index_range> ranges) {
  return std::sqrt(detail::sum_squares<B>(store.grads(), ranges));
}

/// Scales the gradient over the index set so that its L2 norm is at most max_norm (> 0).
/// Returns the norm before clipping (a non-finite norm is returned and nothing is scaled).
template <class B>
double clip_grad_norm(param_store<B>& store, std::span<const index_range> ranges, double max_norm) {
  THAW_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be positive, got ", max_norm);
  const double norm = grad_norm(store, ranges);
  const double coef = max_norm / (norm + 1e-6);
  if (std::isfinite(norm) && coef < 1.0)
    detail::scale<B>(store.grads(), ranges, static_cast<typename B::scalar>(coef));
  return norm;
}

}  // namespace thaw::optim
