// Every module's backward against finite differences in double on `reference` (max relative
// error < 1e-6), through the shared checker in gradcheck.hpp.
#include <catch2/catch.hpp>

#include "nn/gradcheck.hpp"
#include "thaw/nn/activation.hpp"
#include "thaw/nn/attention.hpp"
#include "thaw/nn/embedding.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/nn/linear.hpp"
#include "thaw/nn/mlp.hpp"
#include "thaw/nn/norm.hpp"

using namespace thaw;
using thaw::test::dref;
constexpr double kTol = 1e-6;

template <class M>
void check_module(M& module, param_store<dref>& store, const shape& x_shape) {
  test::randomize(store, 5);
  auto x = test::random_values<double>(x_shape.size(), 6, -1.5, 1.5);
  auto r = test::gradcheck(
      store, x, x_shape, [&](auto& ctx, auto in) { return module.forward(ctx, in); },
      [&](auto& ctx, auto dy) { return module.backward(ctx, dy, {.dx = true}); });
  INFO("input error " << r.input_error << ", parameter error " << r.param_error);
  REQUIRE(r.input_error < kTol);
  REQUIRE(r.param_error < kTol);
}

TEST_CASE("linear (with and without bias) backward equals finite differences", "[nn][gradcheck]") {
  for (bool bias : {true, false}) {
    param_store<dref> store;
    nn::linear<dref> m({&store, "fc.", 0}, {.in = 5, .out = 3, .bias = bias});
    store.allocate();
    check_module(m, store, {2, 3, 5});
  }
}

TEST_CASE("layer_norm and rms_norm backward equal finite differences", "[nn][gradcheck]") {
  {
    param_store<dref> store;
    nn::layer_norm<dref> m({&store, "ln.", 0}, {.width = 6});
    store.allocate();
    check_module(m, store, {4, 6});
  }
  {
    param_store<dref> store;
    nn::rms_norm<dref> m({&store, "rms.", 0}, {.width = 6});
    store.allocate();
    check_module(m, store, {4, 6});
  }
}

TEST_CASE("gelu, mlp and causal attention backward equal finite differences", "[nn][gradcheck]") {
  {
    param_store<dref> store;
    nn::gelu<dref> m;
    store.allocate();
    check_module(m, store, {3, 7});
  }
  {
    param_store<dref> store;
    nn::mlp<dref> m({&store, "mlp.", 0}, {.width = 4, .hidden = 8});
    store.allocate();
    check_module(m, store, {2, 3, 4});
  }
  {
    param_store<dref> store;
    nn::causal_self_attention<dref> m({&store, "attn.", 0}, {.width = 6, .heads = 2, .context = 5});
    store.allocate();
    check_module(m, store, {2, 4, 6});  // T = 4 < context: shorter sequences work
  }
}

TEST_CASE("transformer block backward equals finite differences", "[nn][gradcheck]") {
  param_store<dref> store;
  const nn::gpt_config c{.vocab = 5, .context = 4, .layers = 1, .heads = 2, .width = 4};
  nn::transformer_block<dref> m({&store, "h.0.", 1}, c);
  store.allocate();
  check_module(m, store, {2, 3, 4});
}

TEST_CASE("position embedding and embedding backward equal finite differences", "[nn][gradcheck]") {
  param_store<dref> store;
  nn::embedding<dref> tok({&store, "wte.", 0}, {.rows = 5, .width = 3});
  nn::position_embedding<dref> pos({&store, "wpe.", 0}, {.context = 4, .width = 3});
  store.allocate();
  test::randomize(store, 9);
  const std::vector<token_t> ids{1, 4, 4, 0, 2, 1};  // (2, 3), with repeats
  // L(table) = sum(probe * (embed(ids) + pos)); d/d table by finite differences.
  arena<dref> a;
  nn::context<dref> ctx{store, a};
  auto forward = [&] {
    a.reset();
    auto y = tok.forward(ctx, {ids.data(), {2, 3}});
    pos.forward(ctx, y);
    return y;
  };
  auto y = forward();
  const auto probe = test::random_values<double>(y.size(), 10);
  store.zero_grads();
  const tensor_view<const double> dy{probe.data(), y.shape};
  pos.backward(ctx, dy);
  tok.backward(ctx, dy);
  double worst = 0;
  for (std::size_t i = 0; i < store.numel(); ++i) {
    const double saved = store.values()[i];
    auto loss = [&] {
      auto out = forward();
      double l = 0;
      for (std::size_t j = 0; j < probe.size(); ++j) l += out.data[j] * probe[j];
      return l;
    };
    store.values()[i] = saved + 1e-6;
    const double up = loss();
    store.values()[i] = saved - 1e-6;
    const double down = loss();
    store.values()[i] = saved;
    worst = std::max(worst, std::abs((up - down) / 2e-6 - store.grads()[i]));
  }
  REQUIRE(worst < kTol);
  // Out-of-range ids are errors naming the id.
  const std::vector<token_t> bad{7};
  REQUIRE_THROWS_WITH(tok.forward(ctx, {bad.data(), {1}}), Catch::Contains("embedding id 7"));
}

TEST_CASE("a whole GPT (tied and untied head) backward equals finite differences", "[nn][gradcheck][gpt]") {
  for (bool tied : {true, false}) {
    nn::gpt<dref> model({.vocab = 7, .context = 5, .layers = 2, .heads = 2, .width = 4, .tied_head = tied}, 1);
    auto& store = model.params();
    test::randomize(store, 11);
    const std::vector<token_t> tokens{1, 2, 3, 4, 0, 6, 5, 5};    // (2, 4)
    const std::vector<token_t> targets{2, 3, 4, -1, 6, 5, 5, 1};  // one ignored
    arena<dref> a;
    nn::context<dref> ctx{store, a};
    auto loss = [&] {
      a.reset();
      auto logits = model.forward(ctx, {tokens.data(), {2, 4}});
      return model.loss(ctx, logits, {targets.data(), {2, 4}});
    };
    store.zero_grads();
    const double l0 = loss();
    REQUIRE(l0 > 0);
    model.backward(ctx);
    const std::vector<double> analytic(store.grads(), store.grads() + store.numel());
    double scale = 1e-3, worst = 0;
    for (double g : analytic) scale = std::max(scale, std::abs(g));
    for (std::size_t i = 0; i < store.numel(); ++i) {
      const double saved = store.values()[i];
      store.values()[i] = saved + 1e-6;
      const double up = loss();
      store.values()[i] = saved - 1e-6;
      const double down = loss();
      store.values()[i] = saved;
      worst = std::max(worst, std::abs((up - down) / 2e-6 - analytic[i]) / scale);
    }
    INFO("tied " << tied << ": worst relative error " << worst);
    REQUIRE(worst < kTol);
  }
}

TEST_CASE("GPT config errors name the numbers", "[nn][gpt]") {
  REQUIRE_THROWS_WITH(nn::gpt<dref>({.vocab = 7, .context = 5, .layers = 1, .heads = 3, .width = 4}),
                      Catch::Contains("n_embd (width) 4") && Catch::Contains("n_head (heads) 3"));
  REQUIRE_THROWS_WITH(nn::gpt<dref>({.vocab = 0}), Catch::Contains("vocab 0"));
  nn::gpt<dref> model({.vocab = 7, .context = 5, .layers = 1, .heads = 2, .width = 4});
  arena<dref> a;
  nn::context<dref> ctx{model.params(), a};
  const std::vector<token_t> tokens(12, 1);
  REQUIRE_THROWS_WITH(model.forward(ctx, {tokens.data(), {2, 6}}), Catch::Contains("T <= 5"));
}
