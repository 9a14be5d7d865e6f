// Helpers for the trainer tests: a temporary directory, two small synthetic byte-level
// datasets (an "english" and a "code" one), a tiny GPT and a complete training setup that can
// be built twice identically (for resume and determinism checks).
#pragma once

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_dir.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/data/builder.hpp"
#include "thaw/data/shuffled.hpp"
#include "thaw/data/spec.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/optim/adamw.hpp"
#include "thaw/train/trainer.hpp"

namespace thaw::test {

/// A learnable synthetic corpus: `docs` documents of words drawn from a small vocabulary with
/// a fixed order bias (English-like when code == false, Python-like lines when true).
inline data::corpus synthetic_corpus(bool code, int docs = 40, std::uint64_t seed = 7) {
  static const char* kWords[] = {"the", "lord", "said", "unto", "him", "and", "they", "went", "into", "land"};
  static const char* kCode[] = {"def f(x):\n", "    return x\n", "import os\n", "for i in range(3):\n",
                                "    print(i)\n", "class A:\n", "    pass\n", "x = 1\n"};
  data::corpus c{code ? "code" : "english", {}};
  for (int d = 0; d < docs; ++d) {
    std::string text;
    const int n = 30 + static_cast<int>(philox::bits_at({seed, std::uint64_t(d)}, 0) % 40);
    for (int i = 0; i < n; ++i) {
      const auto r = philox::bits_at({seed, std::uint64_t(d)}, std::uint64_t(i) + 1);
      if (code) text += kCode[(i + r % 2) % 8];
      else text += std::string(kWords[(i * 3 + r % 3) % 10]) + (i % 9 == 8 ? ".\n" : " ");
    }
    c.documents.push_back({c.name + "#" + std::to_string(d), c.name, text});
  }
  return c;
}

/// Builds (once per directory) the synthetic datasets under dir/english and dir/code.
inline void build_synthetic_datasets(const std::filesystem::path& dir) {
  data::build_dataset(synthetic_corpus(false), data::tokenizer{}, dir / "english", {.val_fraction = 0.2, .seed = 1, .metrics = false});
  data::build_dataset(synthetic_corpus(true), data::tokenizer{}, dir / "code", {.val_fraction = 0.2, .seed = 1, .metrics = false});
}

inline nn::gpt_config tiny_lm() {
  return {.vocab = 256, .context = 16, .layers = 2, .heads = 2, .width = 16};
}

/// Everything a run needs, built identically every time from the same arguments.
template <class B>
struct setup {
  data::token_dataset english, code, english_val, code_val;
  nn::gpt<B> model;
  optim::adamw<B> opt;
  data::batcher<data::any_sampler> batches;
  train::trainer<nn::gpt<B>, optim::adamw<B>, data::batcher<data::any_sampler>> run;

  setup(const std::filesystem::path& data_dir, train::trainer_cfg cfg,
        const std::string& sampler = "mixture(0.7: shuffled(seed=3, source=0), 0.3: shuffled(seed=4, source=1))",
        optim::adamw_cfg ocfg = {.lr = 3e-3, .weight_decay = 0.1, .max_grad_norm = 1.0},
        nn::gpt_config mcfg = tiny_lm())
      : english(data::token_dataset::open(data_dir / "english", "train")),
        code(data::token_dataset::open(data_dir / "code", "train")),
        english_val(data::token_dataset::open(data_dir / "english", "val")),
        code_val(data::token_dataset::open(data_dir / "code", "val")),
        model(mcfg, 5),
        opt(model, std::move(ocfg)),
        batches({&english, &code}, data::build_sampler(sampler, {{english.n_docs(), code.n_docs()}, {}}),
                {.batch = std::size_t(cfg.batch), .context = std::size_t(cfg.context)}),
        run(model, opt, batches, with_defaults(cfg)) {
    run.eval_on("english", english_val).eval_on("code", code_val);
  }

  static train::trainer_cfg with_defaults(train::trainer_cfg c) {
    c.progress.mode = train::progress_mode::none;
    return c;
  }

  /// The parameter values as bytes.
  std::vector<typename B::scalar> weights() const {
    std::vector<typename B::scalar> v(model.params().numel());
    B::to_host(v.data(), model.params().values(), v.size());
    return v;
  }
};

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// The losses of the step records of a log, in order.
inline std::vector<double> step_losses(const std::filesystem::path& log) {
  std::vector<double> out;
  for (const auto& r : train::read_jsonl(log))
    if (r.value("event", "") == "step") out.push_back(r["loss"].is_number() ? r["loss"].get<double>() : -1.0);
  return out;
}

}  // namespace thaw::test
