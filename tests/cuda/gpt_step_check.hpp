// The GPT checks of tests/cuda/test_cuda_gpt.cu, written over any pair of backends so that
// the same code can be run on the CPU (with host backends in place of cuda<>) to check the
// checks themselves and size their tolerances:
//  - training_step: one full training step (forward + loss + backward + AdamW step) of a small
//    GPT on backend D against reference<double> from the same weights and tokens: the loss,
//    every parameter's gradient, every parameter's updated values, and the loss of the next
//    forward;
//  - freezing: with the embeddings and the bottom block frozen, frozen gradients are never
//    written, frozen values never move, the trainable gradients equal a full backward's from
//    the same weights, and the step's activation memory is the one the host backends use for
//    the same freeze state (the same modules ran without keeping activations).
// Only headers that compile under nvcc and need no OpenBLAS / OpenMP (the GPU binaries must
// not link them): nn/gpt.hpp, optim/adamw.hpp, params/{mask,select}.hpp, reference.hpp, and
// the freeze tests' helpers (freeze/freeze_util.hpp, which includes no more than those).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "freeze/freeze_util.hpp"
#include "support/test_util.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/core/arena.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/optim/adamw.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/select.hpp"

namespace thaw::test::gpt_check {

/// The small GPT of the checks: every dimension of the real model, 64 tokens per step.
inline nn::gpt_config small_config() {
  return {.vocab = 64, .context = 32, .layers = 2, .heads = 2, .width = 32};
}
inline constexpr int kBatch = 2;

/// AdamW's first step moves a weight by lr g / (|g| + eps), which is +-lr for any gradient
/// well above eps: a gradient within rounding noise of zero could move the same weight by +lr
/// in one run and -lr in the other, and with eps small against the gradients the update
/// compresses large gradients and magnifies the relative error of small ones. eps = 0.1, of the
/// order of the largest gradients of this model, keeps the update a smooth, nearly linear
/// function of the gradient, so the updated weights carry about the gradients' own relative
/// error (measured on the CPU: with eps 1e-3 the updated biases showed 7x the gradients'
/// error under emulated bf16 GEMMs, with eps 0.1 1x). The AdamW kernel itself is checked with
/// the usual eps by the op cases.
inline optim::adamw_cfg step_optimizer() {
  return {.lr = 1e-3, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95, .eps = 0.1};
}

/// Token ids of batch `index` (kBatch x context), stream 0 for inputs and 1 for targets.
inline std::vector<token_t> batch_ids(const nn::gpt_config& c, std::uint64_t index, std::uint64_t which) {
  std::vector<token_t> ids(std::size_t(kBatch) * c.context);
  for (std::size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<token_t>(philox::bits_at({2026 + index, which}, i) % std::uint32_t(c.vocab));
  return ids;
}

/// Forward + loss on batch `index`, returning the loss; with `backward`, the gradients are
/// zeroed first and the backward pass runs too (without, no gradient is touched: the loss
/// after an update).
template <class B>
double step_loss(nn::gpt<B>& model, arena<B>& activations, std::uint64_t index, bool backward) {
  const auto& c = model.config();
  auto tokens = tensor<B, token_t>::from_host(shape{kBatch, c.context}, batch_ids(c, index, 0));
  auto targets = tensor<B, token_t>::from_host(shape{kBatch, c.context}, batch_ids(c, index, 1));
  activations.reset();
  if (backward) model.params().zero_grads();
  nn::context<B> ctx{model.params(), activations};
  auto logits = model.forward(ctx, tokens.view());
  const double loss = model.loss(ctx, logits, targets.view());
  if (backward) model.backward(ctx);
  return loss;
}

template <class B>
double forward_backward(nn::gpt<B>& model, arena<B>& activations, std::uint64_t index) {
  return step_loss(model, activations, index, true);
}

template <class B>
double loss_only(nn::gpt<B>& model, arena<B>& activations, std::uint64_t index) {
  return step_loss(model, activations, index, false);
}

/// The store's values (or gradients) as doubles on the host (freeze_util.hpp's copies, widened).
template <class B>
std::vector<double> host_values(const param_store<B>& s) {
  const auto v = values_of(s);
  return {v.begin(), v.end()};
}
template <class B>
std::vector<double> host_grads(const param_store<B>& s) {
  const auto v = grads_of(s);
  return {v.begin(), v.end()};
}
/// Sets the store's values from doubles (rounded to the store's scalar).
template <class B>
void set_values(param_store<B>& s, const std::vector<double>& values) {
  REQUIRE(values.size() == s.numel());
  std::vector<typename B::scalar> v(values.begin(), values.end());
  B::from_host(s.values(), v.data(), v.size());
}

/// Relative error of one parameter's slice, normalised by that slice's own largest expected
/// magnitude (floor 1e-12: a parameter's gradient can be far below the test data's order 1,
/// and the default floor of 1e-2 would then hide its errors).
inline double slice_error(const std::vector<double>& actual, const std::vector<double>& expected, const param_ref& r) {
  const auto b = static_cast<std::ptrdiff_t>(r.offset), e = static_cast<std::ptrdiff_t>(r.offset + r.size());
  return relative_error(std::vector<double>(actual.begin() + b, actual.begin() + e),
                        std::vector<double>(expected.begin() + b, expected.begin() + e), 1e-12);
}

struct step_tolerances {
  double loss;     ///< relative error of the loss (before and after the update)
  double grads;    ///< per parameter, slice_error
  double weights;  ///< per parameter, slice_error of the updated values
};

/// The worst errors seen, for the log (the GPU run records what each policy achieves).
struct step_errors {
  double loss = 0, grads = 0, weights = 0, next_loss = 0;
  std::string worst_grad, worst_weight;
  [[nodiscard]] std::string describe() const {
    std::ostringstream o;
    o << "loss " << loss << ", gradients " << grads << " (" << worst_grad << "), updated weights " << weights
      << " (" << worst_weight << "), loss after the update " << next_loss;
    return o.str();
  }
};

/// One training step of gpt<D> against gpt<reference<double>> from D's initial weights.
template <class D>
step_errors training_step(const step_tolerances& tol, bool tied_head = true,
                          const optim::adamw_cfg& opt_cfg = step_optimizer(),
                          const nn::gpt_config& model = small_config()) {
  using R = backend::reference<double>;
  auto cfg = model;
  cfg.tied_head = tied_head;
  nn::gpt<D> dev(cfg, 11);
  nn::gpt<R> ref(cfg, 11);
  // The same starting point: D's initial values (float), widened exactly to double.
  set_values(ref.params(), host_values(dev.params()));
  REQUIRE(host_values(ref.params()) == host_values(dev.params()));
  arena<D> dev_act;
  arena<R> ref_act;
  step_errors err;

  const double loss_d = forward_backward(dev, dev_act, 0);
  const double loss_r = forward_backward(ref, ref_act, 0);
  err.loss = std::abs(loss_d - loss_r) / std::abs(loss_r);
  INFO("loss " << loss_d << " on " << D::name() << ", " << loss_r << " on reference<double>");
  REQUIRE(std::isfinite(loss_d));
  REQUIRE(err.loss <= tol.loss);

  // Every parameter's slice of a and b within `bound`; the worst error and its parameter are kept.
  auto compare_slices = [&](const auto& a, const auto& b, double bound, double& worst, std::string& worst_name,
                            const char* what) {
    for (const auto& r : ref.params().refs()) {
      const double e = slice_error(a, b, r);
      if (e >= worst) {
        worst = e;
        worst_name = r.name;
      }
      INFO(what << " of " << r.name << ": relative error " << e);
      REQUIRE(e <= bound);
    }
  };
  compare_slices(host_grads(dev.params()), host_grads(ref.params()), tol.grads, err.grads, err.worst_grad,
                 "gradient");

  optim::adamw<D> opt_d(dev.params(), opt_cfg);
  optim::adamw<R> opt_r(ref.params(), opt_cfg);
  opt_d.step();
  opt_r.step();
  compare_slices(host_values(dev.params()), host_values(ref.params()), tol.weights, err.weights, err.worst_weight,
                 "updated values");

  const double next_d = loss_only(dev, dev_act, 1), next_r = loss_only(ref, ref_act, 1);
  err.next_loss = std::abs(next_d - next_r) / std::abs(next_r);
  INFO("loss after the update " << next_d << " on " << D::name() << ", " << next_r << " on reference<double>");
  REQUIRE(err.next_loss <= tol.loss);
  return err;
}

/// Freezing on backend D, against a full backward on D and the host's activation memory (H: a
/// host backend with D's scalar type, so that arena sizes are comparable byte for byte).
template <class D, class H>
void freezing(int steps = 3) {
  static_assert(sizeof(typename D::scalar) == sizeof(typename H::scalar));
  const auto cfg = small_config();
  const char* frozen_sel = "wte.* | wpe.* | blocks[0:1)";  // embeddings (and the tied head) + bottom block
  nn::gpt<D> part(cfg, 5), full(cfg, 5);
  auto& s = part.params();
  const auto mask = group_mask::frozen(s, select::parse(frozen_sel));
  optim::adamw<D> opt(s, mask, {.lr = 1e-2, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95});
  REQUIRE(opt.trainable_count() == trainable_elements(s));
  REQUIRE(opt.trainable_count() < s.numel());
  std::size_t frozen_params = 0;
  for (param_id p = 0; p < s.count(); ++p) frozen_params += !s.trainable(p);
  REQUIRE(frozen_params == 2 + 12);  // wte, wpe and block 0's 12 tensors
  const auto initial = host_values(s);
  arena<D> part_act, full_act;

  // The host's activation peak for the same model and freeze state.
  std::size_t host_peak = 0;
  {
    nn::gpt<H> host(cfg, 5);
    group_mask::frozen(host.params(), select::parse(frozen_sel)).apply(host.params());
    arena<H> host_act;
    forward_backward(host, host_act, 0);
    host_peak = host_act.peak_bytes();
  }

  for (int step = 0; step < steps; ++step) {
    INFO("step " << step);
    // The full model starts each step from the frozen run's current values, so its (full)
    // backward is the reference for the frozen run's trainable gradients.
    D::copy(full.params().values(), s.values(), s.numel());
    const double loss_part = forward_backward(part, part_act, std::uint64_t(step));
    const double loss_full = forward_backward(full, full_act, std::uint64_t(step));
    REQUIRE(std::abs(loss_part - loss_full) <= 1e-6 * std::abs(loss_full));
    const auto g_part = host_grads(s), g_full = host_grads(full.params());
    for (param_id p = 0; p < s.count(); ++p) {
      const auto& r = s.ref(p);
      INFO(r.name << (s.trainable(p) ? " (trainable)" : " (frozen)"));
      if (s.trainable(p)) {
        CHECK(slice_error(g_part, g_full, r) <= 1e-5);
      } else {
        std::size_t nonzero = 0;
        for (std::size_t e = r.offset; e < r.offset + r.size(); ++e) nonzero += g_part[e] != 0;
        REQUIRE(nonzero == 0);  // never computed, never written
      }
    }
    // Less activation memory than the full step (block 0 ran without keeping activations), and
    // exactly what the host backend needs for the same freeze state.
    REQUIRE(part_act.peak_bytes() < full_act.peak_bytes());
    if (step == 0) REQUIRE(part_act.peak_bytes() == host_peak);
    opt.step();
  }

  const auto now = host_values(s);
  std::size_t moved = 0, trainable = 0;
  for (param_id p = 0; p < s.count(); ++p) {
    const auto& r = s.ref(p);
    INFO(r.name);
    for (std::size_t e = r.offset; e < r.offset + r.size(); ++e) {
      if (s.trainable(p)) {
        ++trainable;
        moved += now[e] != initial[e];
      } else {
        REQUIRE(now[e] == initial[e]);  // bitwise: doubles widened from the same floats
      }
    }
  }
  REQUIRE(trainable == opt.trainable_count());
  REQUIRE(moved > trainable / 2);
}

}  // namespace thaw::test::gpt_check
