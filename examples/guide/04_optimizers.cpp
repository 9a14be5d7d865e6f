// Optimizers: AdamW and SGD update only the trainable elements, with state compacted to them;
// every scalar (lr, weight decay, betas) is a number or a schedule of the optimizer's step;
// group rules scale the learning rate or the decay per parameter (selected by a selector).
#include <thaw/nn/gpt.hpp>
#include <thaw/optim/optim.hpp>
#include <thaw/params/select.hpp>
#include <thaw/thaw.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace thaw;
using B = backend::cpu<>;

int main() {
  nn::gpt<B> model({.vocab = 256, .context = 32, .layers = 2, .heads = 2, .width = 32}, /*seed=*/1);
  const std::string s = "to be or not to be, that is the question; whether 'tis nobler in the mind";
  const std::vector<token_t> text(s.begin(), s.end());  // one fixed batch of 2 x 32 bytes
  std::vector<token_t> in, next;
  for (int row = 0; row < 2; ++row)
    for (int t = 0; t < 32; ++t) in.push_back(text[row * 32 + t]), next.push_back(text[row * 32 + t + 1]);
  auto tokens = tensor<B, token_t>::from_host(shape{2, 32}, in);
  auto targets = tensor<B, token_t>::from_host(shape{2, 32}, next);

  // Embeddings frozen; warm-up then cosine; the final norm at 10x the learning rate.
  optim::adamw opt(model, group_mask::frozen(model.params(), select::parse("wte.* | wpe.*")),
                   {.lr = sched::linear(0.0, 1e-2, 5) >> sched::cosine(1e-2, 1e-3, 55), .weight_decay = 0.1,
                    .groups = {{.select = select::parse("ln_f.*"), .lr_scale = 10.0}}, .max_grad_norm = 1.0});
  const float* wte = model.params().value(model.params().find("wte.weight"));
  const std::vector<float> wte_before(wte, wte + 256 * 32);
  arena<B> activations;
  double first = 0, loss = 0;
  for (int step = 0; step < 60; ++step) {
    activations.reset(), model.params().zero_grads();
    nn::context<B> ctx{model.params(), activations};
    loss = model.loss(ctx, model.forward(ctx, tokens.view()), targets.view());
    model.backward(ctx);
    const double lr = opt.cfg().lr(opt.steps());  // the value this update uses
    opt.step();
    if (step == 0) first = loss;
    if (step % 10 == 0 || step == 59)
      std::printf("step %2d  lr %.5f  loss %.4f  |g| %.3f\n", step, lr, loss, opt.last_grad_norm());
  }
  const bool wte_same = std::equal(wte_before.begin(), wte_before.end(), wte);
  std::printf("AdamW state: %zu bytes = 2 moments x 4 bytes x %zu trainable of %zu; wte unchanged: %s\n",
              opt.state_bytes(), opt.trainable_count(), model.params().numel(), wte_same ? "yes" : "NO");

  // Thawing the embeddings: the optimizer follows the store's flags; old elements keep their state.
  model.params().set_all_trainable(true);
  opt.sync();
  optim::sgd sgd(model, {.lr = 0.1, .momentum = 0.9});  // one momentum buffer per trainable element
  std::printf("after thawing: AdamW %zu bytes, SGD with momentum %zu bytes\n", opt.state_bytes(), sgd.state_bytes());
  return loss < first - 2.0 && wte_same && opt.state_bytes() == 2 * 4 * model.params().numel() &&
                 sgd.state_bytes() == 4 * model.params().numel() ? 0 : 1;
}
