// LoRA (nn/lora.hpp): backward against finite differences in double on `reference`, the cpu
// backend against `reference`, the GPT's adapter names and layout, the adapter starting as the
// identity change, and clear errors for bad ranks.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "nn/gradcheck.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/nn/lora.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/select.hpp"

using namespace thaw;
using thaw::test::dref;
constexpr double kLoraTol = 1e-6;

TEST_CASE("lora_linear backward equals finite differences", "[nn][lora][gradcheck]") {
  for (bool bias : {true, false}) {
    for (int rank : {1, 3}) {
      DYNAMIC_SECTION("bias " << bias << " rank " << rank) {
        param_store<dref> store;
        nn::lora_linear<dref> m({&store, "fc.", 0}, {.in = 5, .out = 4, .bias = bias, .rank = rank, .alpha = 3.0});
        store.allocate();
        test::randomize(store, 5);  // B != 0, so dA is not trivially zero
        auto x = test::random_values<double>(2 * 3 * 5, 6, -1.5, 1.5);
        auto r = test::gradcheck(
            store, x, {2, 3, 5}, [&](auto& ctx, auto in) { return m.forward(ctx, in); },
            [&](auto& ctx, auto dy) { return m.backward(ctx, dy, {.dx = true}); });
        INFO("input error " << r.input_error << ", parameter error " << r.param_error);
        REQUIRE(r.input_error < kLoraTol);
        REQUIRE(r.param_error < kLoraTol);
      }
    }
  }
}

TEST_CASE("attention and a whole GPT with LoRA adapters backward equal finite differences",
          "[nn][lora][gradcheck][gpt]") {
  {
    param_store<dref> store;
    nn::causal_self_attention<dref> m({&store, "attn.", 0},
                                      {.width = 6, .heads = 2, .context = 5, .lora_rank = 2, .lora_alpha = 5.0});
    store.allocate();
    test::randomize(store, 7);
    auto x = test::random_values<double>(2 * 4 * 6, 8, -1.5, 1.5);
    auto r = test::gradcheck(
        store, x, {2, 4, 6}, [&](auto& ctx, auto in) { return m.forward(ctx, in); },
        [&](auto& ctx, auto dy) { return m.backward(ctx, dy, {.dx = true}); });
    INFO("attention: input error " << r.input_error << ", parameter error " << r.param_error);
    REQUIRE(r.input_error < kLoraTol);
    REQUIRE(r.param_error < kLoraTol);
  }
  nn::gpt<dref> model({.vocab = 7, .context = 5, .layers = 2, .heads = 2, .width = 4, .lora_rank = 2}, 1);
  auto& store = model.params();
  test::randomize(store, 12);
  const std::vector<token_t> tokens{1, 2, 3, 4, 0, 6, 5, 5}, targets{2, 3, 4, 1, 6, 5, 5, 1};
  arena<dref> a;
  nn::context<dref> ctx{store, a};
  auto loss = [&] {
    a.reset();
    auto logits = model.forward(ctx, {tokens.data(), {2, 4}});
    return model.loss(ctx, logits, {targets.data(), {2, 4}});
  };
  // Only the adapters train (the LoRA setting): their gradients against finite differences.
  group_mask::training(store, select::module("lora")).apply(store);
  store.zero_grads();
  loss();
  model.backward(ctx);
  const std::vector<double> analytic(store.grads(), store.grads() + store.numel());
  double scale = 1e-3, worst = 0;
  for (double g : analytic) scale = std::max(scale, std::abs(g));
  std::size_t checked = 0;
  for (param_id p = 0; p < store.count(); ++p) {
    if (!store.trainable(p)) continue;
    for (std::size_t i = store.ref(p).offset; i < store.ref(p).offset + store.ref(p).size(); ++i, ++checked) {
      const double saved = store.values()[i];
      store.values()[i] = saved + 1e-6;
      const double up = loss();
      store.values()[i] = saved - 1e-6;
      const double down = loss();
      store.values()[i] = saved;
      worst = std::max(worst, std::abs((up - down) / 2e-6 - analytic[i]) / scale);
    }
  }
  INFO("GPT, adapters only: worst relative error " << worst);
  REQUIRE(checked == 2u * (4 * 2 + 2 * 12 + 4 * 2 + 2 * 4));  // 2 blocks x (c_attn A, B + c_proj A, B)
  REQUIRE(worst < kLoraTol);
}

namespace {
// One forward + backward of a lora_linear on backend B; returns y, dx and the whole gradient.
template <class B>
std::vector<std::vector<double>> lora_run(bool frozen_base) {
  using T = typename B::scalar;
  param_store<B> store;
  nn::lora_linear<B> m({&store, "fc.", 0}, {.in = 67, .out = 45, .bias = true, .rank = 6, .alpha = 12.0});
  store.allocate();
  const auto v = test::random_values<float>(store.numel(), 31, -0.5, 0.5);
  const std::vector<T> host(v.begin(), v.end());
  B::from_host(store.values(), host.data(), host.size());
  if (frozen_base) {
    store.set_trainable(store.find("fc.weight"), false);
    store.set_trainable(store.find("fc.bias"), false);
  }
  auto x = test::upload<B>(test::random_values<float>(3 * 29 * 67, 32, -1, 1));
  auto dy = test::upload<B>(test::random_values<float>(3 * 29 * 45, 33, -1, 1));
  arena<B> a;
  nn::context<B> ctx{store, a};
  store.zero_grads();
  auto y = m.forward(ctx, {x.data(), {3, 29, 67}});
  auto dx = m.backward(ctx, {dy.data(), {3, 29, 45}}, {.dx = true});
  auto host_of = [](const T* p, std::size_t n) {
    std::vector<T> h(n);
    B::to_host(h.data(), p, n);
    return std::vector<double>(h.begin(), h.end());
  };
  return {host_of(y.data, y.size()), host_of(dx.data, dx.size()), host_of(store.grads(), store.numel())};
}
}  // namespace

TEST_CASE("lora_linear on the cpu backend matches reference", "[nn][lora][cpu]") {
  for (bool frozen_base : {false, true}) {
    const auto want = lora_run<backend::reference<double>>(frozen_base);
    const auto got = lora_run<backend::cpu<>>(frozen_base);
    for (int k = 0; k < 3; ++k) {
      INFO("frozen base " << frozen_base << ", output " << k << " (y, dx, grads)");
      REQUIRE(test::relative_error(got[k], want[k]) < 1e-5);
    }
  }
}

TEST_CASE("GPT LoRA adapters: names, layout, selectors, identity at initialisation", "[nn][lora][gpt]") {
  const nn::gpt_config plain{.vocab = 9, .context = 6, .layers = 3, .heads = 2, .width = 8};
  nn::gpt_config adapted = plain;
  adapted.lora_rank = 2;
  nn::gpt<dref> base(plain, 4), lora(adapted, 4);
  const auto& s = lora.params();
  // The default has no adapter parameter; rank 2 adds 4 per block, right after each base Linear.
  for (const auto& r : base.params().refs()) REQUIRE(r.name.find("lora") == std::string::npos);
  const int d = 8, r = 2;
  REQUIRE(s.numel() == base.params().numel() + 3u * (d * r + r * 3 * d + d * r + r * d));
  const auto& a = s.ref(s.find("h.1.attn.c_attn.lora_A"));
  REQUIRE(a.shape == shape{d, r});
  REQUIRE(a.kind == param_kind::weight);
  REQUIRE(a.module_type == "lora");
  REQUIRE(a.depth == 2);
  REQUIRE(s.ref(s.find("h.1.attn.c_attn.lora_B")).shape == shape{r, 3 * d});
  REQUIRE(s.ref(s.find("h.2.attn.c_proj.lora_B")).shape == shape{r, d});
  REQUIRE(a.offset == s.ref(s.find("h.1.attn.c_attn.bias")).offset + 3 * d);
  REQUIRE(select::resolve(select::parse("module(lora)"), s).size() == 12);
  REQUIRE(select::resolve(select::parse("name(*.lora_*)"), s).size() == 12);
  // GradES's default scope (Linear weights) does not include the adapters.
  REQUIRE(select::resolve(select::module("linear") & select::kind(param_kind::weight), s).size() ==
          select::resolve(select::module("linear") & select::kind(param_kind::weight), base.params()).size());

  // B = 0 at initialisation: with the base model's values, the logits are the base model's.
  std::map<std::string, const param_ref*> by_name;
  for (const auto& ref : base.params().refs()) by_name[ref.name] = &ref;
  for (const auto& ref : s.refs()) {
    if (ref.module_type == "lora") continue;
    const auto* src = by_name.at(ref.name);
    REQUIRE(src->shape == ref.shape);
    std::copy_n(base.params().value(base.params().find(ref.name)), ref.size(), lora.params().values() + ref.offset);
  }
  const double* b0 = s.value(s.find("h.0.attn.c_proj.lora_B"));
  REQUIRE(std::all_of(b0, b0 + r * d, [](double v) { return v == 0; }));
  const std::vector<token_t> tokens{1, 2, 3, 4, 0, 6, 5, 8, 7, 3};
  arena<dref> a1, a2;
  nn::context<dref> c1{base.params(), a1}, c2{lora.params(), a2};
  auto l1 = base.forward(c1, {tokens.data(), {2, 5}});
  auto l2 = lora.forward(c2, {tokens.data(), {2, 5}});
  REQUIRE(std::vector<double>(l1.data, l1.data + l1.size()) == std::vector<double>(l2.data, l2.data + l2.size()));
}

TEST_CASE("LoRA errors name the numbers", "[nn][lora]") {
  param_store<dref> store;
  REQUIRE_THROWS_WITH(nn::lora_linear<dref>({&store, "fc.", 0}, {.in = 4, .out = 3, .rank = 4}),
                      Catch::Contains("'fc.'") && Catch::Contains("rank 4") && Catch::Contains("min(in, out) = 3"));
  REQUIRE_THROWS_WITH(nn::lora_linear<dref>({&store, "fc.", 0}, {.in = 4, .out = 3, .rank = -1}),
                      Catch::Contains("rank -1"));
  REQUIRE_THROWS_WITH(nn::lora_linear<dref>({&store, "fc.", 0}, {.in = 4, .out = 3, .rank = 2, .alpha = 0}),
                      Catch::Contains("alpha must be positive"));
  REQUIRE_THROWS_WITH(nn::gpt<dref>({.vocab = 7, .context = 5, .layers = 1, .heads = 2, .width = 4, .lora_rank = -2}),
                      Catch::Contains("lora_rank must be in [0, width = 4], got -2"));
  nn::lora_linear<dref> plain({&store, "p.", 0}, {.in = 4, .out = 3});
  REQUIRE_THROWS_WITH(plain.lora_a(), Catch::Contains("rank 0 has no lora_A"));
}
