// Causal multi-head self-attention in double, straight from its definition, for checking the
// fused attention kernels (tests/cuda/test_cuda_attention.cu) and the attention module's fused
// path (tests/nn/test_attention_fused.cpp). Layout as nn::causal_self_attention's: q|k|v rows
// of width 3C (head h of q at columns [h hd, (h+1) hd), k at C + that, v at 2C + that); the
// heads' output and its gradient in rows of width C; the log-sum-exp as (batch, heads, T).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace thaw::test {

struct attention_problem {
  int batch, steps, heads, head_dim;
  [[nodiscard]] int width() const { return heads * head_dim; }
};

struct attention_result {
  std::vector<double> out, lse, dqkv;  // dqkv empty when no dout was given
};

/// out = softmax(scale q k^T + causal mask) v per head, lse = log sum exp of the scaled scores,
/// and (when dout is not empty) the gradient of sum(out * dout) with respect to q|k|v.
inline attention_result reference_attention(const attention_problem& pr, const std::vector<double>& qkv,
                                            const std::vector<double>& dout, double scale) {
  const int T = pr.steps, C = pr.width(), ld = 3 * C, hd = pr.head_dim;
  const bool backward = !dout.empty();
  attention_result r{std::vector<double>(std::size_t(pr.batch) * T * C),
                     std::vector<double>(std::size_t(pr.batch) * pr.heads * T),
                     std::vector<double>(backward ? qkv.size() : 0, 0.0)};
  for (int b = 0; b < pr.batch; ++b)
    for (int h = 0; h < pr.heads; ++h) {
      auto at = [&](int row, int part, int d) { return (std::size_t(b) * T + row) * ld + part * C + h * hd + d; };
      auto out_at = [&](int row, int d) { return (std::size_t(b) * T + row) * C + h * hd + d; };
      for (int i = 0; i < T; ++i) {
        std::vector<double> p(std::size_t(i) + 1);
        double mx = -INFINITY;
        for (int j = 0; j <= i; ++j) {
          double s = 0;
          for (int d = 0; d < hd; ++d) s += qkv[at(i, 0, d)] * qkv[at(j, 1, d)];
          p[j] = s * scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (double& x : p) x /= sum;
        r.lse[(std::size_t(b) * pr.heads + h) * T + i] = mx + std::log(sum);
        for (int d = 0; d < hd; ++d) {
          double o = 0;
          for (int j = 0; j <= i; ++j) o += p[j] * qkv[at(j, 2, d)];
          r.out[out_at(i, d)] = o;
        }
        if (!backward) continue;
        // Row i: dP_j = dO_i . v_j, dS_j = P_j (dP_j - sum_j' P_j' dP_j'), scores scaled by `scale`.
        std::vector<double> dp(p.size());
        double dot = 0;
        for (int j = 0; j <= i; ++j) {
          double x = 0;
          for (int d = 0; d < hd; ++d) x += dout[out_at(i, d)] * qkv[at(j, 2, d)];
          dp[j] = x;
          dot += p[j] * x;
        }
        for (int j = 0; j <= i; ++j) {
          const double ds = p[j] * (dp[j] - dot) * scale;
          for (int d = 0; d < hd; ++d) {
            r.dqkv[at(i, 0, d)] += ds * qkv[at(j, 1, d)];
            r.dqkv[at(j, 1, d)] += ds * qkv[at(i, 0, d)];
            r.dqkv[at(j, 2, d)] += p[j] * dout[out_at(i, d)];
          }
        }
      }
    }
  return r;
}

}  // namespace thaw::test
