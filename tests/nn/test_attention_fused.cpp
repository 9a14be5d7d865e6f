// nn::causal_self_attention's fused path (taken when the backend offers fused attention,
// nn::fused_attention_backend) against its materialised path, on the CPU: a test backend that
// is reference<double> plus a "fused" attention computed from the definition
// (support/attention_reference.hpp). The module's output, input gradient and parameter
// gradients must agree to rounding, which checks the fused path's plumbing (what it keeps
// for the backward, how it calls the backend) in CI, and checks the reference attention that
// the CUDA kernels are tested against.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/attention_reference.hpp"
#include "support/test_util.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/core/arena.hpp"
#include "thaw/nn/attention.hpp"

namespace {
using namespace thaw;
using dref = backend::reference<double>;
constexpr int kContext = 160;

/// reference<double> with fused attention, counting its calls.
struct fused_reference : dref {
  static inline int forward_calls = 0, backward_calls = 0;
  static bool fused_attention(int) { return true; }
  static void attention_forward(double* out, double* lse, const double* qkv, int batch, int steps, int heads,
                                int head_dim, double scale) {
    ++forward_calls;
    const test::attention_problem p{batch, steps, heads, head_dim};
    const std::vector<double> in(qkv, qkv + std::size_t(batch) * steps * 3 * p.width());
    const auto r = test::reference_attention(p, in, {}, scale);
    std::copy(r.out.begin(), r.out.end(), out);
    std::copy(r.lse.begin(), r.lse.end(), lse);
  }
  static void attention_backward(double* dqkv, const double* dout, const double* qkv, const double* out,
                                 const double* lse, int batch, int steps, int heads, int head_dim, double scale) {
    ++backward_calls;
    const test::attention_problem p{batch, steps, heads, head_dim};
    const std::size_t rows = std::size_t(batch) * steps;
    const std::vector<double> in(qkv, qkv + rows * 3 * p.width()), d(dout, dout + rows * p.width());
    const auto r = test::reference_attention(p, in, d, scale);
    // What the forward kept must be what it computed.
    REQUIRE(std::equal(r.out.begin(), r.out.end(), out));
    REQUIRE(std::equal(r.lse.begin(), r.lse.end(), lse));
    std::copy(r.dqkv.begin(), r.dqkv.end(), dqkv);
  }
};
static_assert(nn::fused_attention_backend<fused_reference>);
static_assert(!nn::fused_attention_backend<dref>);

/// Output, input gradient and parameter gradients of one forward + backward.
template <class B>
struct pass {
  std::vector<double> y, dx, grads;
};

template <class B>
pass<B> run(int heads, const std::vector<double>& params, const std::vector<double>& x, const std::vector<double>& dy,
            const shape& x_shape) {
  param_store<B> store;
  nn::causal_self_attention<B> m({&store, "attn.", 0},
                                 {.width = int(x_shape[2]), .heads = heads, .context = kContext});
  store.allocate();
  REQUIRE(store.numel() == params.size());
  std::copy(params.begin(), params.end(), store.values());
  store.zero_grads();
  arena<B> activations;
  nn::context<B> ctx{store, activations};
  auto y = m.forward(ctx, tensor_view<const double>{x.data(), x_shape});
  pass<B> r;
  r.y.assign(y.data, y.data + y.size());
  auto dx = m.backward(ctx, tensor_view<const double>{dy.data(), x_shape}, {.dx = true});
  r.dx.assign(dx.data, dx.data + dx.size());
  r.grads.assign(store.grads(), store.grads() + store.numel());
  return r;
}
}  // namespace

TEST_CASE("attention: a backend's fused attention is used, and matches the materialised path", "[nn][attention]") {
  // (batch, T, heads, head size): several heads, T below the context, a single step; T of 128
  // and 150 run the materialised path's causal products in blocks of 64 rows (two whole blocks;
  // two and a partial one), each block against only the keys it sees.
  struct case_t {
    int batch, steps, heads, head_dim;
  };
  const case_t c = GENERATE(case_t{2, 5, 2, 3}, case_t{1, 7, 3, 4}, case_t{2, 1, 1, 2},
                                case_t{2, 128, 2, 3}, case_t{1, 150, 3, 2});
  INFO("batch " << c.batch << ", T " << c.steps << ", heads " << c.heads << ", head size " << c.head_dim);
  const int width = c.heads * c.head_dim;
  const shape x_shape{c.batch, c.steps, width};
  const std::size_t numel = std::size_t(width) * 3 * width + 3 * width + std::size_t(width) * width + width;
  const auto params = test::random_values<double>(numel, 31, -0.7, 0.7);
  const auto x = test::random_values<double>(x_shape.size(), 32, -1.5, 1.5);
  const auto dy = test::random_values<double>(x_shape.size(), 33);

  fused_reference::forward_calls = fused_reference::backward_calls = 0;
  const auto fused = run<fused_reference>(c.heads, params, x, dy, x_shape);
  CHECK(fused_reference::forward_calls == 1);
  CHECK(fused_reference::backward_calls == 1);
  const auto materialised = run<dref>(c.heads, params, x, dy, x_shape);
  THAW_REQUIRE_CLOSE(fused.y, materialised.y, 1e-12);
  THAW_REQUIRE_CLOSE(fused.dx, materialised.dx, 1e-12);
  THAW_REQUIRE_CLOSE(fused.grads, materialised.grads, 1e-12);
}
