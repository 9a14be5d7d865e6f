// Modules: forward(ctx, x) -> y; backward(ctx, dy, need) accumulates parameter gradients and returns
// dx only if need.dx. Containers (sequential, residual, repeat) apply this to their children.
#include <thaw/nn/gpt.hpp>
#include <thaw/nn/lenet.hpp>
#include <thaw/thaw.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using namespace thaw;
using B = backend::cpu<>;

int main() {
  param_store<B> store;                // every parameter of the model in one flat buffer
  nn::lenet5<B> net({&store, "", 0});  // sequential<conv2d, max_pool2d, ..., linear, relu, linear>
  store.allocate(), net.init(store, /*seed=*/1, /*std=*/0.03);
  tensor<B> images(shape{32, 1, 28, 28});  // random images, arbitrary labels: a memorization task
  B::fill_normal(images.data(), images.size(), {.seed = 2}, 0, 0.0, 1.0);
  std::vector<token_t> y(32);
  for (int i = 0; i < 32; ++i) y[i] = i % 10;
  auto labels = tensor<B, token_t>::from_host(shape{32}, y);

  arena<B> activations;
  nn::cross_entropy<B> xent;
  auto step = [&] {  // forward + backward: the gradients land in store.grads()
    activations.reset(), store.zero_grads();
    nn::context<B> ctx{store, activations};
    const double loss = xent.forward(ctx, net.forward(ctx, images.view()), labels.view());
    net.backward(ctx, xent.backward(ctx), {.dx = false});  // nobody wants d(images)
    return loss;
  };
  double first = step(), loss = first;
  for (int s = 1; s <= 40; ++s) {
    B::axpy(store.values(), -0.05f, store.grads(), store.numel());  // plain gradient descent
    loss = step();
    if (s % 8 == 0) std::printf("LeNet-5 step %2d  loss %.4f (at start %.4f)\n", s, loss, first);
  }

  // Freeze the convolutions: no dW for them, and backward stops at fc1 (less memory, too).
  const std::size_t full_peak = activations.peak_bytes();
  for (param_id p = 0; p < store.count(); ++p) store.set_trainable(p, store.ref(p).name.starts_with("fc"));
  activations.reset(), activations.reset_peak(), step();
  if (activations.peak_bytes() >= full_peak) return 1;  // the frozen step must need less
  const double conv_grad = B::sum_squares(store.grad(store.find("conv2.weight")), 50 * 20 * 5 * 5);
  std::printf("convs frozen: |dW conv2|^2 = %g, activation peak %zu -> %zu bytes\n", conv_grad, full_peak,
              activations.peak_bytes());

  // GPT-2's architecture. Untrained, it predicts bytes about uniformly: loss ~ ln 256.
  nn::gpt<B> gpt({.vocab = 256, .context = 16, .layers = 2, .heads = 2, .width = 32}, /*seed=*/0);
  const std::string s = "staged training!!";
  const std::vector<token_t> text(s.begin(), s.end());  // bytes are tokens
  auto tokens = tensor<B, token_t>::from_host(shape{1, 16}, std::span(text).first(16));
  auto next = tensor<B, token_t>::from_host(shape{1, 16}, std::span(text).last(16));  // targets
  nn::context<B> ctx{gpt.params(), activations};
  const double gpt_loss = gpt.loss(ctx, gpt.forward(ctx, tokens.view()), next.view());
  std::printf("GPT: %zu parameters in %zu tensors, loss %.3f (ln 256 = %.3f)\n", gpt.params().numel(),
              gpt.params().count(), gpt_loss, std::log(256.0));
  return loss < 0.5 * first && conv_grad == 0 && std::abs(gpt_loss - std::log(256.0)) < 0.1 ? 0 : 1;
}
