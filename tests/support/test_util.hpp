// Helpers shared by the test executables: random host data, moving data into any backend, and
// tolerant comparisons that report the worst element.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "thaw/backend/ops.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/core/tensor.hpp"

namespace thaw::test {

/// Deterministic host data in [lo, hi), rounded through Scalar so that a float backend and the
/// double reference see exactly the same inputs.
template <class Scalar = float>
std::vector<double> random_values(std::size_t n, std::uint64_t stream, double lo = -1.0,
                                  double hi = 1.0) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<double>(static_cast<Scalar>(philox::uniform_at({1234, stream}, i, lo, hi)));
  return v;
}

/// A tensor in backend B holding `values` converted to B's scalar.
template <class B>
tensor<B> upload(const std::vector<double>& values) {
  using T = typename B::scalar;
  std::vector<T> host(values.begin(), values.end());
  return tensor<B>::from_host(shape{static_cast<std::int64_t>(host.size())}, host);
}

template <class B>
tensor<B, token_t> upload_ids(const std::vector<token_t>& ids) {
  return tensor<B, token_t>::from_host(shape{static_cast<std::int64_t>(ids.size())}, ids);
}

/// Contents of a backend tensor as doubles.
template <class B>
std::vector<double> download(const tensor<B>& t) {
  auto host = t.to_host();
  return {host.begin(), host.end()};
}

/// Relative error of `actual` against `expected`: max_i |a_i - e_i| / max(max_i |e_i|, floor).
/// Normalising by the largest expected magnitude (not elementwise) is the right measure for
/// sums of many products (GEMM, reductions), where small elements carry absolute, not
/// relative, rounding error. The floor (test data are of order 1) keeps outputs that are zero
/// in exact arithmetic (the dx of a 1-wide norm) from turning rounding noise into failures.
inline double relative_error(const std::vector<double>& actual, const std::vector<double>& expected,
                             double floor = 1e-2) {
  REQUIRE(actual.size() == expected.size());
  double worst = 0, scale = floor;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    scale = std::max(scale, std::abs(expected[i]));
    const double d = std::abs(actual[i] - expected[i]);
    if (std::isnan(actual[i]) != std::isnan(expected[i])) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst / scale;
}

/// Tolerance for a backend's scalar: `for_float` when it computes in float, 1e-12 in double.
template <class B>
constexpr double tolerance(double for_float) {
  return sizeof(typename B::scalar) >= sizeof(double) ? 1e-12 : for_float;
}

/// The relative error a backend's GEMMs may add by rounding their inputs below the storage
/// scalar's precision (tensor-core policies: TF32, bf16), measured as relative_error measures
/// it. 0 for backends that multiply in their scalar's precision. Test files specialise it for
/// such backends before including op_cases.hpp (tests/cuda/test_cuda_ops.cu does for
/// cuda<tf32> and cuda<bf16>); only the GEMM cases use it, every other op keeps the scalar's
/// tolerance.
template <class B>
inline constexpr double gemm_input_rounding = 0.0;

/// Tolerance of a GEMM result: the scalar's, or the backend's GEMM input rounding when larger.
template <class B>
constexpr double gemm_tolerance(double for_float) {
  return std::max(tolerance<B>(for_float), gemm_input_rounding<B>);
}

#define THAW_REQUIRE_CLOSE(actual, expected, tol)                                    \
  do {                                                                               \
    const double thaw_err_ = ::thaw::test::relative_error((actual), (expected));     \
    INFO("relative error " << thaw_err_ << " (tolerance " << (tol) << ")");         \
    REQUIRE(thaw_err_ <= (tol));                                                     \
  } while (false)

}  // namespace thaw::test
