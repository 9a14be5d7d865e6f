// The CUDA backend's fused causal attention (backend/cuda/attention.cuh, FlashAttention-2 on the
// bf16 tensor cores) against attention in double (support/attention_reference.hpp, which
// tests/nn/test_attention_fused.cpp checks against the materialised attention module): the
// output, the row log-sum-exp, and d(q|k|v) for a given dO, over shapes with partial 64-row
// tiles, one step, and several tiles.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/attention_reference.hpp"
#include "support/test_util.hpp"
#include "thaw/backend/cuda.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/nn/attention.hpp"

// nn::causal_self_attention takes the fused path with cuda<bf16> only.
static_assert(thaw::nn::fused_attention_backend<thaw::backend::cuda<thaw::backend::bf16>>);
static_assert(thaw::nn::fused_attention_backend<thaw::backend::cuda<>>);  // offered, but fused_attention() is false

namespace {
using namespace thaw;
using B = backend::cuda<backend::bf16>;
constexpr int kHd = 64;

struct problem {
  int batch, steps, heads;
  [[nodiscard]] int width() const { return heads * kHd; }
};

/// Uniform values in [-amp, amp) from Philox stream `stream`.
std::vector<double> uniform(std::size_t n, std::uint64_t stream, double amp) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = philox::uniform_at({99, stream}, i, -amp, amp);
  return v;
}

std::vector<double> to_host_doubles(const float* device, std::size_t n) {
  std::vector<float> host(n);
  B::to_host(host.data(), device, n);
  return {host.begin(), host.end()};
}

float* to_device(const std::vector<double>& values) {
  const std::vector<float> host(values.begin(), values.end());
  float* d = B::allocate<float>(host.size());
  B::from_host(d, host.data(), host.size());
  return d;
}

}  // namespace

TEST_CASE("cuda attention: fused causal attention matches attention in double", "[cuda][attention][bf16]") {
  // (batch, T, heads): partial tiles, a single step, exact tiles, several tiles of keys.
  const problem p = GENERATE(problem{2, 100, 2}, problem{1, 1, 1}, problem{1, 64, 3}, problem{1, 200, 1});
  INFO("batch " << p.batch << ", T " << p.steps << ", heads " << p.heads);
  const double scale = 1.0 / std::sqrt(double(kHd));
  const std::size_t n_qkv = std::size_t(p.batch) * p.steps * 3 * p.width();
  const std::size_t n_out = std::size_t(p.batch) * p.steps * p.width();
  const std::size_t n_lse = std::size_t(p.batch) * p.heads * p.steps;
  // q and k of amplitude 2: scores up to ~|64 x 4 / 8| = 32 before the softmax, so the
  // probabilities are far from uniform and the online softmax's rescaling matters.
  auto qkv = uniform(n_qkv, 1, 2.0);
  const auto dout = uniform(n_out, 2, 1.0);
  // The GPU computes from values rounded to float; so does the reference.
  for (double& x : qkv) x = double(float(x));
  const auto expected = test::reference_attention({p.batch, p.steps, p.heads, kHd}, qkv, dout, scale);

  float* d_qkv = to_device(qkv);
  float* d_dout = to_device(dout);
  float* d_out = B::allocate<float>(n_out);
  float* d_lse = B::allocate<float>(n_lse);
  float* d_dqkv = B::allocate<float>(n_qkv);
  B::fill(d_dqkv, n_qkv, 123.0f);  // every element must be overwritten
  B::attention_forward(d_out, d_lse, d_qkv, p.batch, p.steps, p.heads, kHd, float(scale));
  B::attention_backward(d_dqkv, d_dout, d_qkv, d_out, d_lse, p.batch, p.steps, p.heads, kHd, float(scale));
  const auto out = to_host_doubles(d_out, n_out);
  const auto lse = to_host_doubles(d_lse, n_lse);
  const auto dqkv = to_host_doubles(d_dqkv, n_qkv);
  for (float* ptr : {d_qkv, d_dout, d_out, d_lse, d_dqkv}) B::deallocate(ptr);

  // bf16 operands (8-bit mantissas) with fp32 accumulation: a few 1e-3 relative.
  const double e_out = test::relative_error(out, expected.out);
  const double e_lse = test::relative_error(lse, expected.lse);
  const double e_dqkv = test::relative_error(dqkv, expected.dqkv);
  WARN("fused attention (batch " << p.batch << ", T " << p.steps << ", heads " << p.heads
                                 << "): relative error out " << e_out << ", lse " << e_lse << ", dqkv " << e_dqkv);
  CHECK(e_out <= 2e-2);
  CHECK(e_lse <= 1e-2);
  CHECK(e_dqkv <= 3e-2);
}

TEST_CASE("cuda attention: a head size other than 64 is refused with a clear error", "[cuda][attention]") {
  float* buf = B::allocate<float>(3 * 32);
  REQUIRE_THROWS_WITH(B::attention_forward(buf, buf, buf, 1, 1, 1, 32, 1.0f),
                      Catch::Contains("head size 64") && Catch::Contains("got 32"));
  B::deallocate(buf);
}
