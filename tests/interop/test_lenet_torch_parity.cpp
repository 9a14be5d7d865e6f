// LeNet-5 parity with PyTorch on a fixed batch: logits, loss and every parameter gradient, in
// float64 on `reference` (1e-9) and float32 on `cpu` (logits 1e-4, gradients 1e-3; see
// test_gpt_torch_parity.cpp for why these tolerances).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "support/test_util.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/io/model_io.hpp"
#include "thaw/nn/cross_entropy.hpp"
#include "thaw/nn/lenet.hpp"

namespace fs = std::filesystem;
using namespace thaw;

template <class B>
void check_lenet_parity(const std::string& dtype, double logits_tol, double grad_tol) {
  const fs::path dir = fs::temp_directory_path() / ("thaw_lenet_" + dtype + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd = "/usr/bin/python3 " + std::string(THAW_TEST_SCRIPTS) + "/lenet_torch.py " +
                          dir.string() + " " + dtype + " > " + (dir / "log").string() + " 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto expected = io::safetensors_file::open(dir / "expected.safetensors");

  param_store<B> store;
  nn::lenet5<B> net({&store, "", 0});
  store.allocate();
  io::load_parameters(store, dir / "weights.safetensors");
  using T = typename B::scalar;
  const auto images_d = expected.read<double>(expected.at("images"));
  std::vector<T> images(images_d.begin(), images_d.end());
  std::vector<token_t> labels;
  for (double l : expected.read<double>(expected.at("labels"))) labels.push_back(token_t(l));
  auto dimages = tensor<B>::from_host(shape{8, 1, 28, 28}, images);
  auto dlabels = tensor<B, token_t>::from_host(shape{8}, labels);

  arena<B> a;
  nn::context<B> ctx{store, a};
  store.zero_grads();
  auto logits = net.forward(ctx, dimages.view());
  std::vector<T> host_logits(logits.size());
  B::to_host(host_logits.data(), logits.data, logits.size());
  nn::cross_entropy<B> ce;
  const double loss = ce.forward(ctx, logits, dlabels.view());
  net.backward(ctx, ce.backward(ctx), {.dx = false});

  THAW_REQUIRE_CLOSE(std::vector<double>(host_logits.begin(), host_logits.end()),
                     expected.read<double>(expected.at("logits")), logits_tol);
  const double want_loss = expected.read<double>(expected.at("loss"))[0];
  REQUIRE(std::abs(loss - want_loss) <= logits_tol * want_loss);
  std::vector<T> grads(store.numel());
  B::to_host(grads.data(), store.grads(), grads.size());
  for (const auto& r : store.refs()) {
    INFO("gradient of " << r.name);
    THAW_REQUIRE_CLOSE(std::vector<double>(grads.begin() + r.offset, grads.begin() + r.offset + r.size()),
                       expected.read<double>(expected.at("grad." + r.name)), grad_tol);
  }
  fs::remove_all(dir);
}

TEST_CASE("LeNet-5 in double on reference matches PyTorch float64 to 1e-9", "[interop][torch][lenet]") {
  check_lenet_parity<backend::reference<double>>("float64", 1e-9, 1e-9);
}

TEST_CASE("LeNet-5 in float on cpu matches PyTorch float32 (logits 1e-4, gradients 1e-3)", "[interop][torch][lenet]") {
  check_lenet_parity<backend::cpu<>>("float32", 1e-4, 1e-3);
}
