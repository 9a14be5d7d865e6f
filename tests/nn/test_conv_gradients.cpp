// Image modules' backward against finite differences in double on `reference`.
#include <catch2/catch.hpp>

#include "nn/gradcheck.hpp"
#include "thaw/nn/conv.hpp"
#include "thaw/nn/lenet.hpp"

using namespace thaw;
using thaw::test::dref;

template <class M>
void check_image_module(M& m, param_store<dref>& store, const shape& x_shape) {
  test::randomize(store, 21);
  auto x = test::random_values<double>(x_shape.size(), 22, -1, 1);
  auto r = test::gradcheck(store, x, x_shape, [&](auto& c, auto in) { return m.forward(c, in); },
                           [&](auto& c, auto dy) { return m.backward(c, dy, {.dx = true}); });
  INFO("input error " << r.input_error << ", parameter error " << r.param_error);
  REQUIRE(r.input_error < 1e-6);
  REQUIRE(r.param_error < 1e-6);
}

TEST_CASE("conv2d backward equals finite differences (stride, padding, bias)", "[nn][conv][gradcheck]") {
  for (auto [stride, pad, bias] : {std::tuple{1, 0, true}, std::tuple{2, 1, false}, std::tuple{1, 2, true}}) {
    param_store<dref> store;
    nn::conv2d<dref> conv({&store, "conv.", 0}, {.in_channels = 2, .out_channels = 3, .kernel = 3,
                                                 .stride = stride, .pad = pad, .bias = bias});
    store.allocate();
    INFO("stride " << stride << " pad " << pad);
    check_image_module(conv, store, {2, 2, 6, 5});
  }
}

TEST_CASE("max_pool2d, relu and flatten backward equal finite differences", "[nn][conv][gradcheck]") {
  param_store<dref> store;
  store.allocate();
  nn::max_pool2d<dref> pool({&store, "", 0}, {.kernel = 2, .stride = 2});
  check_image_module(pool, store, {2, 3, 5, 4});  // odd height: the last row is dropped
  nn::relu<dref> r;
  check_image_module(r, store, {3, 7});
  nn::flatten<dref> f;
  check_image_module(f, store, {2, 3, 2, 2});
}

TEST_CASE("conv output sizes and shape errors", "[nn][conv]") {
  param_store<dref> store;
  nn::conv2d<dref> conv({&store, "c.", 0}, {.in_channels = 1, .out_channels = 20, .kernel = 5});
  store.allocate();
  arena<dref> a;
  nn::context<dref> ctx{store, a};
  std::vector<double> img(2 * 28 * 28, 0.5);
  auto y = conv.forward(ctx, {img.data(), {2, 1, 28, 28}});
  REQUIRE(y.shape == shape{2, 20, 24, 24});
  REQUIRE_THROWS_WITH(conv.forward(ctx, {img.data(), {2, 28, 28}}), Catch::Contains("expects (N, 1, H, W)"));
  REQUIRE_THROWS_WITH(conv.forward(ctx, {img.data(), {1, 1, 4, 4}}), Catch::Contains("does not fit"));
  REQUIRE_THROWS_WITH((nn::conv2d<dref>({&store, "bad.", 0}, {.in_channels = 0})),
                      Catch::Contains("positive channels"));
}

TEST_CASE("LeNet-5 has Caffe's shapes and names", "[nn][lenet]") {
  param_store<dref> store;
  nn::lenet5<dref> net({&store, "", 0});
  store.allocate();
  REQUIRE(store.ref(store.find("conv1.weight")).shape == shape{20, 1, 5, 5});
  REQUIRE(store.ref(store.find("conv2.weight")).shape == shape{50, 20, 5, 5});
  REQUIRE(store.ref(store.find("fc1.weight")).shape == shape{800, 500});
  REQUIRE(store.ref(store.find("fc2.bias")).shape == shape{10});
  REQUIRE(store.numel() == 20 * 25 + 20 + 50 * 500 + 50 + 800 * 500 + 500 + 500 * 10 + 10);
  net.init(store, 1, 0.0);
  arena<dref> a;
  nn::context<dref> ctx{store, a};
  std::vector<double> img(3 * 28 * 28, 0.25);
  REQUIRE(net.forward(ctx, {img.data(), {3, 1, 28, 28}}).shape == shape{3, 10});
}
