// What every module shares: the per-step context, the `need` a caller passes to backward, and
// the naming scope parameters are registered under.
//
// A module has   forward(ctx, x) -> y   and   backward(ctx, dy, need) -> dx.
// Activations a module must keep for its backward live in ctx.activations (a bump arena reset
// once per step); the module remembers views of them between forward and backward. backward
// accumulates (+=) into the gradients of its trainable parameters in ctx.params and returns dx
// only if need.dx: the rules that make freezing save work are
//   1. no weight-gradient computation for a frozen parameter (the GEMM is skipped),
//   2. no dx when nobody below wants it (backward stops below the lowest trainable module),
// and they are applied inside each module, so a model with its bottom half frozen costs about a
// forward and half a backward.
//
// Activation memory follows the same rules: an activation is kept only when a backward that will
// run needs it. A Linear whose weight is frozen needs no input for backward (dx = dy W^T needs
// only W), so its parent writes that input (a LayerNorm or GELU output) into ctx.scratch, an
// arena for outputs consumed at once, and releases it as soon as the Linear has run; a model
// runs the modules below its lowest trainable one as a transient (no-grad) forward whose
// activations are released block by block. Modules report what they need with
// needs_input(params).
#pragma once

#include <string>
#include <utility>

#include "thaw/core/arena.hpp"
#include "thaw/core/shape.hpp"
#include "thaw/core/tensor.hpp"
#include "thaw/params/param_store.hpp"

namespace thaw::nn {

/// Per-step state: the parameters and the activation arena.
template <class B>
struct context {
  param_store<B>& params;
  arena<B>& activations;  ///< what backward needs, kept until the step's reset()
  /// Transient outputs that no backward reads (the input of a frozen Linear), released by the
  /// parent right after their consumer ran. Null: everything goes to `activations` (nn::gpt
  /// then uses an arena of its own). Must not be `activations` itself.
  arena<B>* scratch = nullptr;
};

/// Storage for a module's output: from `out` when the caller says it is transient, else from
/// the activation arena.
template <class B, class T = typename B::scalar>
tensor_view<T> allocate_output(context<B>& ctx, arena<B>* out, const thaw::shape& s) {
  return out ? out->template allocate<T>(s) : ctx.activations.template allocate<T>(s);
}

/// What the caller of backward wants back.
struct need {
  bool dx = true;  ///< the gradient with respect to the module's input
};

/// Where a module registers its parameters: a name prefix ("h.3.attn.") and a depth.
template <class B>
struct scope {
  param_store<B>* store;
  std::string prefix;
  int depth = 0;

  /// A child scope: "h" / "3" -> "h.3.".
  [[nodiscard]] scope child(const std::string& name) const { return {store, prefix + name + ".", depth}; }
  [[nodiscard]] scope at_depth(int d) const { return {store, prefix, d}; }
  param_id add(const std::string& name, thaw::shape s, param_kind kind, std::string module_type) const {
    return store->add(prefix + name, s, kind, depth, std::move(module_type));
  }
};

/// `s` with its last extent replaced: the output shape of a row-wise map from `s`.
inline thaw::shape with_last(const thaw::shape& s, std::int64_t last) {
  switch (s.rank()) {
    case 1: return {last};
    case 2: return {s[0], last};
    case 3: return {s[0], s[1], last};
    case 4: return {s[0], s[1], s[2], last};
    default: throw error(message("a row-wise module needs an input of rank 1 to 4, got ", s));
  }
}

/// Checks that the input's last extent is what the module was configured for.
inline void check_width(const char* module, const thaw::shape& s, std::int64_t want) {
  THAW_CHECK(s.rank() >= 1 && s.last() == want, module, " expects inputs whose last extent is ",
             want, ", got shape ", s);
}

}  // namespace thaw::nn
