// Backends: a backend is a type whose static functions are the operations; the same code runs
// on every backend that satisfies thaw::backend_for. Here Y = softmax(X W) on two of them.
#include <thaw/thaw.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

using ref = thaw::backend::reference<double>;  // plain loops in double: the executable contract
using cpu = thaw::backend::cpu<>;                // Eigen + OpenMP; GEMM by OpenBLAS or Eigen
// thaw::backend::cuda<> is the third (cuBLAS + kernels): include <thaw/backend/cuda.hpp> in a .cu.

static_assert(thaw::backend_for<ref> && thaw::backend_for<cpu>);
static_assert(!thaw::backend_for<int>);  // thaw::assert_backend<B>() names each missing op

template <class B>
std::vector<double> softmax_of_product(int rows, int in, int out) {
  using T = typename B::scalar;
  // Tensors own backend memory (move-only); Philox fills give the same numbers on every backend.
  thaw::tensor<B> x(thaw::shape{rows, in}), w(thaw::shape{in, out});
  B::fill_normal(x.data(), x.size(), {.seed = 7, .stream = 0}, 0, 0.0, 1.0);
  B::fill_normal(w.data(), w.size(), {.seed = 7, .stream = 1}, 0, 0.0, 0.1);
  // Per-step temporaries come from a bump arena: allocation is a pointer increment.
  thaw::arena<B> scratch;
  thaw::tensor_view<T> y = scratch.template allocate<T>(thaw::shape{rows, out});
  B::gemm(false, false, rows, out, in, T(1), x.data(), in, w.data(), out, T(0), y.data, out);
  B::softmax_forward(y.data, y.data, rows, out, T(1), /*causal=*/false);
  std::printf("%-12s y %s, arena peak %zu bytes\n", B::name(), thaw::message(y.shape).c_str(),
              scratch.peak_bytes());
  std::vector<T> host(y.size());
  B::to_host(host.data(), y.data, host.size());
  return {host.begin(), host.end()};
}

int main() {
  const auto a = softmax_of_product<ref>(64, 128, 32);
  const auto b = softmax_of_product<cpu>(64, 128, 32);
  double worst = 0, row_sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  for (int j = 0; j < 32; ++j) row_sum += b[j];
  std::printf("max |cpu - reference| = %.2e (float vs double); row 0 sums to %.6f\n", worst, row_sum);
  return worst < 1e-5 && std::abs(row_sum - 1.0) < 1e-5 ? 0 : 1;
}
