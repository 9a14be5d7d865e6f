// sequential / residual / repeat: gradients by finite differences, parameter names and depths,
// and the `need` rules (no weight gradient for a frozen parameter; no dx below the lowest
// trainable module; the gradients that are computed are bitwise those of a full backward).
#include <catch2/catch.hpp>

#include "nn/gradcheck.hpp"
#include "thaw/nn/activation.hpp"
#include "thaw/nn/containers.hpp"
#include "thaw/nn/linear.hpp"
#include "thaw/nn/mlp.hpp"
#include "thaw/nn/norm.hpp"

using namespace thaw;
using thaw::test::dref;
using lin = nn::linear<dref>;
using act = nn::gelu<dref>;
using net_t = nn::sequential<lin, act, lin>;
using block_t = nn::residual<nn::sequential<nn::layer_norm<dref>, nn::mlp<dref>>>;
using tower_t = nn::repeat<block_t>;

TEST_CASE("sequential, residual and repeat backward equal finite differences", "[nn][containers][gradcheck]") {
  SECTION("sequential") {
    param_store<dref> store;
    net_t net({&store, "", 0}, {{"fc1", {5, 7}}, {"act", {}}, {"fc2", {7, 3}}});
    store.allocate();
    test::randomize(store, 1);
    auto x = test::random_values<double>(4 * 5, 2);
    auto r = test::gradcheck(store, x, {4, 5}, [&](auto& c, auto in) { return net.forward(c, in); },
                             [&](auto& c, auto dy) { return net.backward(c, dy, {}); });
    REQUIRE(r.input_error < 1e-6);
    REQUIRE(r.param_error < 1e-6);
    REQUIRE(store.ref(0).name == "fc1.weight");
    REQUIRE(store.ref(3).name == "fc2.bias");
  }
  SECTION("repeat of residual blocks, with names and depths") {
    param_store<dref> store;
    tower_t tower({&store, "h.", 1}, {.count = 3, .cfg = {{"ln", {.width = 4}}, {"mlp", {.width = 4, .hidden = 8}}}});
    store.allocate();
    test::randomize(store, 3);
    REQUIRE(store.find("h.2.mlp.c_fc.weight") > store.find("h.0.ln.bias"));
    REQUIRE(store.ref(store.find("h.0.ln.weight")).depth == 1);
    REQUIRE(store.ref(store.find("h.2.mlp.c_proj.bias")).depth == 3);
    REQUIRE(store.ref(store.find("h.1.ln.weight")).kind == param_kind::norm);
    auto x = test::random_values<double>(2 * 3 * 4, 4);
    auto r = test::gradcheck(store, x, {2, 3, 4}, [&](auto& c, auto in) { return tower.forward(c, in); },
                             [&](auto& c, auto dy) { return tower.backward(c, dy, {}); });
    REQUIRE(r.input_error < 1e-6);
    REQUIRE(r.param_error < 1e-6);
  }
}

TEST_CASE("backward honours need: frozen parameters get no gradient, dx stops at the lowest trainable module",
          "[nn][containers][freeze]") {
  param_store<dref> store;
  tower_t tower({&store, "h.", 1}, {.count = 3, .cfg = {{"ln", {.width = 4}}, {"mlp", {.width = 4, .hidden = 8}}}});
  store.allocate();
  test::randomize(store, 5);
  const auto x = test::random_values<double>(2 * 3 * 4, 6);
  const auto dy = test::random_values<double>(2 * 3 * 4, 7);
  arena<dref> a;
  nn::context<dref> ctx{store, a};

  // Full backward, everything trainable.
  store.zero_grads();
  tower.forward(ctx, {x.data(), {2, 3, 4}});
  tower.backward(ctx, {dy.data(), {2, 3, 4}}, {.dx = true});
  const std::vector<double> full(store.grads(), store.grads() + store.numel());

  // Freeze block 0 entirely and block 1's ln; nothing below wants dx.
  for (param_id i = 0; i < store.count(); ++i) {
    const auto& name = store.ref(i).name;
    store.set_trainable(i, !(name.rfind("h.0.", 0) == 0 || name.rfind("h.1.ln.", 0) == 0));
  }
  store.zero_grads();
  a.reset();
  a.reset_peak();
  tower.forward(ctx, {x.data(), {2, 3, 4}});
  auto dx = tower.backward(ctx, {dy.data(), {2, 3, 4}}, {.dx = false});
  REQUIRE(dx.data == nullptr);  // no input gradient was computed
  for (param_id i = 0; i < store.count(); ++i) {
    const auto& r = store.ref(i);
    for (std::size_t e = r.offset; e < r.offset + r.size(); ++e) {
      if (store.trainable(i)) REQUIRE(store.grads()[e] == full[e]);  // bitwise the same
      else REQUIRE(store.grads()[e] == 0.0);                         // never computed
    }
  }
}
