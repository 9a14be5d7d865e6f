// The reference backend's backward ops against central finite differences in double: the
// ground truth every other backend is then compared with.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "support/test_util.hpp"
#include "thaw/backend/reference.hpp"

namespace {
using ref = thaw::backend::reference<double>;
using vec = std::vector<double>;

/// Checks d/dx of L(x) = sum(f(x) * probe) against `analytic`, by central differences.
/// Returns the worst relative error max|fd - analytic| / max(|analytic|, 1).
double gradient_error(vec x, const vec& analytic, const std::function<vec(const vec&)>& f,
                      const vec& probe) {
  const double h = 1e-6;
  double worst = 0, scale = 1e-3;
  for (double a : analytic) scale = std::max(scale, std::abs(a));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const vec up = f(x);
    x[i] = saved - h;
    const vec down = f(x);
    x[i] = saved;
    double fd = 0;
    for (std::size_t j = 0; j < probe.size(); ++j) fd += (up[j] - down[j]) * probe[j];
    fd /= 2 * h;
    worst = std::max(worst, std::abs(fd - analytic[i]) / scale);
  }
  return worst;
}
constexpr double kTol = 1e-6;
}  // namespace

TEST_CASE("reference softmax backward equals finite differences", "[reference][gradcheck]") {
  const int rows = 8, cols = 4;  // causal: rows are query positions 0..3 of two matrices
  for (bool causal : {false, true}) {
    auto x = thaw::test::random_values<double>(rows * cols, 1, -2, 2);
    auto probe = thaw::test::random_values<double>(rows * cols, 2);
    auto f = [&](const vec& in) {
      vec y(in.size());
      ref::softmax_forward(y.data(), in.data(), rows, cols, 0.7, causal);
      return y;
    };
    vec y = f(x), dx(x.size());
    ref::softmax_backward(dx.data(), y.data(), probe.data(), rows, cols, 0.7);
    REQUIRE(gradient_error(x, dx, f, probe) < kTol);
  }
}

TEST_CASE("reference layernorm and rmsnorm backward equal finite differences",
          "[reference][gradcheck]") {
  const int rows = 3, cols = 7;
  auto x = thaw::test::random_values<double>(rows * cols, 3, -2, 2);
  auto w = thaw::test::random_values<double>(cols, 4, 0.5, 1.5);
  auto b = thaw::test::random_values<double>(cols, 5);
  auto probe = thaw::test::random_values<double>(rows * cols, 6);
  const double eps = 1e-5;
  SECTION("layernorm: dx, dweight, dbias") {
    auto forward = [&](const vec& in, const vec& weight, const vec& bias) {
      vec y(in.size()), mean(rows), rstd(rows);
      ref::layernorm_forward(y.data(), mean.data(), rstd.data(), in.data(), weight.data(),
                             bias.data(), rows, cols, eps);
      return y;
    };
    vec y(x.size()), mean(rows), rstd(rows), dx(x.size()), dw(cols, 0.0), db(cols, 0.0);
    ref::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), rows,
                           cols, eps);
    ref::layernorm_backward(dx.data(), dw.data(), db.data(), probe.data(), x.data(), w.data(),
                            mean.data(), rstd.data(), rows, cols);
    REQUIRE(gradient_error(x, dx, [&](const vec& in) { return forward(in, w, b); }, probe) < kTol);
    REQUIRE(gradient_error(w, dw, [&](const vec& in) { return forward(x, in, b); }, probe) < kTol);
    REQUIRE(gradient_error(b, db, [&](const vec& in) { return forward(x, w, in); }, probe) < kTol);
  }
  SECTION("rmsnorm: dx, dweight") {
    auto forward = [&](const vec& in, const vec& weight) {
      vec y(in.size()), rstd(rows);
      ref::rmsnorm_forward(y.data(), rstd.data(), in.data(), weight.data(), rows, cols, eps);
      return y;
    };
    vec y(x.size()), rstd(rows), dx(x.size()), dw(cols, 0.0);
    ref::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), rows, cols, eps);
    ref::rmsnorm_backward(dx.data(), dw.data(), probe.data(), x.data(), w.data(), rstd.data(), rows,
                          cols);
    REQUIRE(gradient_error(x, dx, [&](const vec& in) { return forward(in, w); }, probe) < kTol);
    REQUIRE(gradient_error(w, dw, [&](const vec& in) { return forward(x, in); }, probe) < kTol);
  }
}

TEST_CASE("reference gelu and cross-entropy backward equal finite differences",
          "[reference][gradcheck]") {
  SECTION("gelu") {
    auto x = thaw::test::random_values<double>(33, 7, -5, 5);
    auto probe = thaw::test::random_values<double>(33, 8);
    auto f = [](const vec& in) {
      vec y(in.size());
      ref::gelu_forward(y.data(), in.data(), in.size());
      return y;
    };
    vec dx(x.size());
    ref::gelu_backward(dx.data(), x.data(), probe.data(), x.size());
    REQUIRE(gradient_error(x, dx, f, probe) < kTol);
  }
  SECTION("cross-entropy with an ignored row") {
    const int rows = 4, vocab = 5;
    auto logits = thaw::test::random_values<double>(rows * vocab, 9, -3, 3);
    const std::vector<thaw::token_t> targets{2, -1, 0, 4};
    const vec probe(rows, 0.25);  // L = mean of the per-row losses
    auto f = [&](const vec& in) {
      vec losses(rows);
      ref::cross_entropy_forward(losses.data(), in.data(), targets.data(), rows, vocab, -1);
      return losses;
    };
    vec dlogits(logits.size());
    ref::cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), rows, vocab, -1,
                                0.25);
    REQUIRE(gradient_error(logits, dlogits, f, probe) < kTol);
    for (int c = 0; c < vocab; ++c) REQUIRE(dlogits[vocab + c] == 0.0);  // ignored row
    // The loss itself: log-sum-exp minus the target logit.
    vec losses = f(logits);
    double lse = 0;
    for (int c = 0; c < vocab; ++c) lse += std::exp(logits[c]);
    REQUIRE(losses[0] == Approx(std::log(lse) - logits[2]).epsilon(1e-12));
  }
}

TEST_CASE("reference AdamW follows torch.optim.AdamW's formula step by step", "[reference][optim]") {
  // One element, three steps, written out by hand from the paper's algorithm as PyTorch
  // implements it (decoupled decay applied before the moment update).
  double param = 0.5, m = 0, v = 0;
  const double grads[] = {0.1, -0.2, 0.3};
  double expected = 0.5, em = 0, ev = 0;
  for (long t = 1; t <= 3; ++t) {
    const thaw::adamw_args args{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                .weight_decay = 0.1, .step = t};
    const thaw::index_range all{0, 1};
    ref::adamw_update(&param, &grads[t - 1], &m, &v, {&all, 1}, args);
    expected *= 1 - 0.01 * 0.1;
    em = 0.9 * em + 0.1 * grads[t - 1];
    ev = 0.999 * ev + 0.001 * grads[t - 1] * grads[t - 1];
    const double mhat = em / (1 - std::pow(0.9, t)), vhat = ev / (1 - std::pow(0.999, t));
    expected -= 0.01 * mhat / (std::sqrt(vhat) + 1e-8);
    REQUIRE(param == Approx(expected).epsilon(1e-14));
  }
  // Bad ranges are named.
  const thaw::index_range bad[] = {{5, 9}, {3, 4}};
  double dummy[10] = {};
  REQUIRE_THROWS_WITH(ref::sgd_update(dummy, dummy, nullptr, bad, {}),
                      Catch::Contains("index range 1"));
  REQUIRE_THROWS_WITH(ref::adamw_update(dummy, dummy, dummy, dummy, {}, {.step = 0}),
                      Catch::Contains("step counts from 1"));
}
