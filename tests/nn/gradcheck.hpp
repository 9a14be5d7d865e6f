// One finite-difference checker for every module (as dlib's test_layer): L = sum(y * probe),
// the analytic gradients from backward(probe) against central differences in double, for the
// input and for every parameter element.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "support/test_util.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/nn/module.hpp"

namespace thaw::test {

using dref = backend::reference<double>;

struct gradcheck_result {
  double input_error = 0;  // max |fd - analytic| / max(|analytic|, 1e-3) over the input
  double param_error = 0;  // the same over every parameter element
};

/// `forward(ctx, x) -> y view`, `backward(ctx, dy) -> dx view` wrap the module under test.
inline gradcheck_result gradcheck(
    param_store<dref>& params, std::vector<double> x, const shape& x_shape,
    const std::function<tensor_view<double>(nn::context<dref>&, tensor_view<const double>)>& forward,
    const std::function<tensor_view<double>(nn::context<dref>&, tensor_view<const double>)>& backward) {
  arena<dref> activations;
  nn::context<dref> ctx{params, activations};
  auto loss_of = [&](const std::vector<double>& in, const std::vector<double>& probe) {
    activations.reset();
    auto y = forward(ctx, tensor_view<const double>{in.data(), x_shape});
    double l = 0;
    for (std::size_t i = 0; i < probe.size(); ++i) l += y.data[i] * probe[i];
    return l;
  };
  // The probe must have y's size: run once to learn it.
  activations.reset();
  const std::size_t y_size = forward(ctx, tensor_view<const double>{x.data(), x_shape}).size();
  const auto probe = random_values<double>(y_size, 777);

  activations.reset();
  params.zero_grads();
  auto y = forward(ctx, tensor_view<const double>{x.data(), x_shape});
  auto dx = backward(ctx, tensor_view<const double>{probe.data(), y.shape});
  const std::vector<double> analytic_dx(dx.data, dx.data + dx.size());
  const std::vector<double> analytic_dp(params.grads(), params.grads() + params.numel());

  const double h = 1e-6;
  auto worst = [&](std::vector<double>& v, const std::vector<double>& analytic) {
    double scale = 1e-3, err = 0;
    for (double a : analytic) scale = std::max(scale, std::abs(a));
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double saved = v[i];
      v[i] = saved + h;
      const double up = loss_of(x, probe);
      v[i] = saved - h;
      const double down = loss_of(x, probe);
      v[i] = saved;
      err = std::max(err, std::abs((up - down) / (2 * h) - analytic[i]) / scale);
    }
    return err;
  };
  gradcheck_result r;
  r.input_error = analytic_dx.empty() ? 0 : worst(x, analytic_dx);
  std::vector<double> p(params.values(), params.values() + params.numel());
  // Perturb parameters in place through the store.
  double scale = 1e-3, err = 0;
  for (double a : analytic_dp) scale = std::max(scale, std::abs(a));
  for (std::size_t i = 0; i < params.numel(); ++i) {
    const double saved = params.values()[i];
    params.values()[i] = saved + h;
    const double up = loss_of(x, probe);
    params.values()[i] = saved - h;
    const double down = loss_of(x, probe);
    params.values()[i] = saved;
    err = std::max(err, std::abs((up - down) / (2 * h) - analytic_dp[i]) / scale);
  }
  r.param_error = err;
  return r;
}

/// Random parameter values (not the module's init: norms at 1 would hide weight-gradient bugs).
inline void randomize(param_store<dref>& params, std::uint64_t stream) {
  auto v = random_values<double>(params.numel(), stream, -0.8, 0.8);
  std::copy(v.begin(), v.end(), params.values());
}

}  // namespace thaw::test
