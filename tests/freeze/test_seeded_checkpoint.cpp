// Seed + mask + trainable values (thaw/freeze/seeded_checkpoint.hpp): a FreezeNet-trained GPT
// restores bit-exactly from its seed, and the file is a small fraction of a full checkpoint.
#include <catch2/catch.hpp>

#include <filesystem>

#include "freeze/freeze_util.hpp"
#include "thaw/freeze/freeze.hpp"
#include "thaw/io/model_io.hpp"
#include "thaw/optim/optim.hpp"

using namespace thaw;
using thaw::test::rd;
using thaw::test::rf;

namespace {
std::filesystem::path seeded_temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("thaw_freeze_" + std::to_string(::getpid()) + "_" + name);
}
}  // namespace

TEMPLATE_TEST_CASE("a FreezeNet model restores bit-exactly from seed + mask + trainable values", "[freeze][seeded]",
                   rf, rd) {
  using B = TestType;
  const nn::gpt_config cfg{.vocab = 64, .context = 16, .layers = 4, .heads = 4, .width = 64};
  const std::uint64_t seed = 1234;
  nn::gpt<B> model(cfg, seed);
  auto& s = model.params();
  arena<B> a;
  auto policy = freeze::freezenet<B>::by_saliency(s, 0.01, [&] { test::forward_backward(model, a, 0); });
  policy.update(0, s);
  optim::adamw<B> opt(s, policy.mask(), {.lr = 0.01});
  for (int t = 0; t < 5; ++t) {
    test::forward_backward(model, a, std::uint64_t(t));
    opt.step();
  }
  const auto trained = test::values_of(s);

  const auto seeded = seeded_temp_path("model.seeded");
  const auto full = seeded_temp_path("model.safetensors");
  const auto seeded_bytes = freeze::save_seeded(s, policy.mask(), seed, seeded);
  io::save_parameters(s, full);
  const double ratio = double(seeded_bytes) / double(std::filesystem::file_size(full));
  // 1/8 byte per element for the mask + 4 bytes per trained element (1%), against 4 bytes per
  // element (the full F32 checkpoint; the double model stores F64 values: a bit more).
  const double predicted = (1.0 / 8 + 0.01 * sizeof(typename B::scalar)) / 4.0;
  INFO("seeded " << seeded_bytes << " bytes, full " << std::filesystem::file_size(full) << " bytes, ratio " << ratio
                 << " (predicted " << predicted << ")");
  REQUIRE(ratio < predicted * 1.25);
  REQUIRE(ratio > predicted * 0.75);
  if constexpr (sizeof(typename B::scalar) == 4) REQUIRE(ratio < 0.05);

  // A fresh model with another seed: the checkpoint brings back the exact trained values.
  nn::gpt<B> restored(cfg, 999);
  const auto info = freeze::load_seeded(restored.params(), seeded, [&](std::uint64_t sd) { restored.init(sd); });
  REQUIRE(info.seed == seed);
  REQUIRE(info.trainable == policy.mask().count());
  const auto back = test::values_of(restored.params());
  REQUIRE(test::same_bits(back.data(), trained.data(), trained.size()));

  // The wrong initializer (here: another seed) is detected, not silently loaded.
  nn::gpt<B> wrong(cfg, 0);
  REQUIRE_THROWS_WITH(freeze::load_seeded(wrong.params(), seeded, [&](std::uint64_t sd) { wrong.init(sd + 1); }),
                      Catch::Contains("does not reproduce the frozen values"));
  // Another architecture is refused before anything is written.
  nn::gpt<B> other({.vocab = 64, .context = 16, .layers = 3, .heads = 4, .width = 64});
  REQUIRE_THROWS_WITH(freeze::load_seeded(other.params(), seeded, [&](std::uint64_t sd) { other.init(sd); }),
                      Catch::Contains("was saved from another model"));
  REQUIRE_THROWS_WITH(freeze::load_seeded(other.params(), full, [&](std::uint64_t) {}),
                      Catch::Contains("is not a seeded checkpoint"));
  std::filesystem::remove(seeded);
  std::filesystem::remove(full);
}

TEST_CASE("group-level freezing stores the mask as ranges", "[freeze][seeded]") {
  const nn::gpt_config cfg{.vocab = 64, .context = 16, .layers = 4, .heads = 4, .width = 64, .tied_head = false};
  nn::gpt<rf> model(cfg, 7);
  auto& s = model.params();
  const auto m = group_mask::training(s, select::parse("ln_f.* | lm_head.*"));
  m.apply(s);
  // Pretend the head was trained.
  const auto& head = s.ref(s.find("lm_head.weight"));
  std::vector<float> v = test::values_of(s);
  for (std::size_t e = head.offset; e < head.offset + head.size(); ++e) v[e] += 0.5f;
  rf::from_host(s.values(), v.data(), v.size());
  const auto path = std::filesystem::temp_directory_path() / ("thaw_freeze_ranges_" + std::to_string(::getpid()));
  const auto bytes = freeze::save_seeded(s, element_mask::from_store(s), 7, path);
  REQUIRE(load_state(path).count("mask_ranges") == 1);
  REQUIRE(bytes < 4 * (trainable_elements(s) + 2 * 64) + 1024);  // values + a header
  nn::gpt<rf> back(cfg, 1);
  freeze::load_seeded(back.params(), path, [&](std::uint64_t sd) { back.init(sd); });
  const auto got = test::values_of(back.params());
  REQUIRE(test::same_bits(got.data(), v.data(), v.size()));
  std::filesystem::remove(path);
}
