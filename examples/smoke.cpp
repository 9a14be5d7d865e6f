// thaw-smoke: the foundation end to end on the CPU backend.
//
// A softmax classifier (one Linear layer, 64 features -> 10 classes) learns a random teacher's
// labels with AdamW, using only backend ops: Philox-initialised tensors, GEMM, bias, fused
// softmax + cross-entropy, the bias gradient and an AdamW step over a compacted index set that
// leaves the bias frozen for the first half of training. It prints the loss (which should fall
// from about ln 10 = 2.30 to near 0), checks that the frozen bias did not move while frozen,
// and reports the GEMM speed of the machine at one of the reference GPT shapes.
#include <thaw/thaw.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

using B = thaw::backend::cpu<>;
using thaw::shape;

int main() {
  const int n = 512, features = 64, classes = 10, steps = 200;
  // Data: x ~ N(0, 1); labels are the argmax of a fixed random teacher's scores.
  thaw::tensor<B> x(shape{n, features}), teacher(shape{features, classes}), scores(shape{n, classes});
  B::fill_normal(x.data(), x.size(), {.seed = 1, .stream = 0}, 0, 0.0, 1.0);
  B::fill_normal(teacher.data(), teacher.size(), {.seed = 1, .stream = 1}, 0, 0.0, 1.0);
  B::gemm(false, false, n, classes, features, 1.0f, x.data(), features, teacher.data(), classes,
          0.0f, scores.data(), classes);
  std::vector<float> host_scores = scores.to_host();
  std::vector<thaw::token_t> labels(n);
  for (int i = 0; i < n; ++i) {
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (host_scores[i * classes + c] > host_scores[i * classes + best]) best = c;
    labels[i] = best;
  }
  auto targets = thaw::tensor<B, thaw::token_t>::from_host(shape{n}, labels);

  // One flat parameter buffer: weight (features x classes) then bias (classes).
  const std::size_t weight_size = std::size_t(features) * classes, total = weight_size + classes;
  thaw::tensor<B> params(shape{static_cast<std::int64_t>(total)}), grads(params.shape());
  B::fill_normal(params.data(), weight_size, {.seed = 1, .stream = 2}, 0, 0.0, 0.02);
  B::fill(params.data() + weight_size, classes, 0.0f);
  float* weight = params.data();
  float* bias = params.data() + weight_size;

  // Optimizer state only for what trains: the weight alone first, then weight and bias. The
  // compacted state of {weight} is a prefix of that of {weight, bias}, so on unfreezing the
  // weight keeps its moments and the bias's start at zero.
  const std::vector<thaw::index_range> weight_only{{0, weight_size}}, everything{{0, total}};
  thaw::tensor<B> m(params.shape(), 0.0f), v(params.shape(), 0.0f);

  thaw::arena<B> activations;
  std::printf("step  loss     trainable\n");
  for (int step = 1; step <= steps; ++step) {
    const bool bias_frozen = step <= steps / 2;
    activations.reset();
    float* logits = activations.allocate<float>(std::size_t(n) * classes);
    float* losses = activations.allocate<float>(n);
    B::gemm(false, false, n, classes, features, 1.0f, x.data(), features, weight, classes, 0.0f,
            logits, classes);
    B::add_bias(logits, bias, n, classes);
    B::cross_entropy_forward(losses, logits, targets.data(), n, classes, -1);
    const double loss = B::sum(losses, n) / n;

    B::fill(grads.data(), grads.size(), 0.0f);
    B::cross_entropy_backward(logits, logits, targets.data(), n, classes, -1, 1.0f / n);
    B::gemm(true, false, features, classes, n, 1.0f, x.data(), features, logits, classes, 1.0f,
            grads.data(), classes);
    if (!bias_frozen) B::sum_rows(grads.data() + weight_size, logits, n, classes);  // frozen: skipped
    const auto& ranges = bias_frozen ? weight_only : everything;
    B::adamw_update(params.data(), grads.data(), m.data(), v.data(), ranges,
                    {.lr = 0.02, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0,
                     .step = step});
    if (step == 1 || step % 25 == 0)
      std::printf("%4d  %.4f   %zu\n", step, loss, bias_frozen ? weight_size : total);
    if (step == steps / 2) {
      const double bias_norm = B::sum_squares(bias, classes);
      std::printf("      bias while frozen: sum of squares %.1f (must be 0)\n", bias_norm);
      if (bias_norm != 0.0) return 1;
    }
  }

  // GEMM speed at the reference GPT's MLP shape (2048 x 384) @ (384 x 1536).
  const int M = 2048, K = 384, N = 1536;
  thaw::tensor<B> a(shape{M, K}), b(shape{K, N}), c(shape{M, N});
  B::fill_uniform(a.data(), a.size(), {.seed = 2}, 0, -1, 1);
  B::fill_uniform(b.data(), b.size(), {.seed = 3}, 0, -1, 1);
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    B::gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("backend %s: GEMM (%d x %d) @ (%d x %d) at %.1f GFLOP/s (best of 5)\n", B::name(), M,
              K, K, N, 2.0 * M * N * K / best / 1e9);
  return 0;
}
