// GPT parity with PyTorch (Debian's python3-torch): the same GPT-2-architecture model with the
// same random weights, under Hugging Face's names, on the same tokens. thaw loads PyTorch's
// safetensors file and must reproduce its logits, loss and every parameter gradient.
//
// Tolerances. In float64 both sides compute the same formulas in a different order: agreement
// to ~1e-12 relative is expected, we require 1e-9. In float32 the reduction orders differ (a
// blocked GEMM against PyTorch's OpenBLAS, fused softmax + cross-entropy), so each value carries
// rounding error of order sqrt(k) * 2^-24 relative to the largest value of its tensor; logits and
// the loss go through ~15 such steps (1e-4 relative is ~100x that), gradients through twice as
// many, with cancellations in the backward of norms and softmax (1e-3).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/test_util.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/io/model_io.hpp"
#include "thaw/nn/gpt.hpp"

namespace fs = std::filesystem;
using namespace thaw;

namespace {
fs::path run_torch(const std::string& dtype, bool tied) {
  const fs::path dir = fs::temp_directory_path() /
                       ("thaw_parity_" + dtype + (tied ? "_tied_" : "_untied_") + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd = "/usr/bin/python3 " + std::string(THAW_TEST_SCRIPTS) + "/gpt2_torch.py " +
                          dir.string() + " " + dtype + (tied ? " tied" : " untied") + " > " +
                          (dir / "torch.log").string() + " 2>&1";
  INFO(cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
  return dir;
}

template <class B>
void check_parity(const std::string& dtype, bool tied, double logits_tol, double grad_tol) {
  const fs::path dir = run_torch(dtype, tied);
  auto expected = io::safetensors_file::open(dir / "expected.safetensors");
  nn::gpt<B> model({.vocab = 50, .context = 16, .layers = 2, .heads = 2, .width = 32, .tied_head = tied});
  io::load_parameters(model.params(), dir / "weights.safetensors");

  std::vector<token_t> tokens, targets;
  for (double t : expected.read<double>(expected.at("tokens"))) tokens.push_back(token_t(t));
  for (double t : expected.read<double>(expected.at("targets"))) targets.push_back(token_t(t));
  auto dtokens = tensor<B, token_t>::from_host(shape{2, 16}, tokens);
  auto dtargets = tensor<B, token_t>::from_host(shape{2, 16}, targets);
  arena<B> activations;
  nn::context<B> ctx{model.params(), activations};
  auto logits = model.forward(ctx, dtokens.view());
  std::vector<typename B::scalar> host_logits(logits.size());
  B::to_host(host_logits.data(), logits.data, logits.size());
  const double loss = model.loss(ctx, logits, dtargets.view());
  model.backward(ctx);

  const auto want_logits = expected.read<double>(expected.at("logits"));
  THAW_REQUIRE_CLOSE(std::vector<double>(host_logits.begin(), host_logits.end()), want_logits, logits_tol);
  const double want_loss = expected.read<double>(expected.at("loss"))[0];
  REQUIRE(std::abs(loss - want_loss) <= logits_tol * std::abs(want_loss));

  std::vector<typename B::scalar> grads(model.params().numel());
  B::to_host(grads.data(), model.params().grads(), grads.size());
  for (const auto& r : model.params().refs()) {
    const auto want = expected.read<double>(expected.at("grad." + r.name));
    const std::vector<double> got(grads.begin() + r.offset, grads.begin() + r.offset + r.size());
    INFO("gradient of " << r.name);
    THAW_REQUIRE_CLOSE(got, want, grad_tol);
  }
  fs::remove_all(dir);
}
}  // namespace

TEST_CASE("GPT in double on reference matches PyTorch float64 to 1e-9", "[interop][torch][gpt]") {
  check_parity<backend::reference<double>>("float64", true, 1e-9, 1e-9);
  check_parity<backend::reference<double>>("float64", false, 1e-9, 1e-9);
}

TEST_CASE("GPT in float on cpu matches PyTorch float32 (logits 1e-4, gradients 1e-3)", "[interop][torch][gpt]") {
  check_parity<backend::cpu<>>("float32", true, 1e-4, 1e-3);
  check_parity<backend::cpu<>>("float32", false, 1e-4, 1e-3);
}
