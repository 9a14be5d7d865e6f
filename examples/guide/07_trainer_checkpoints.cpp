// Trainer and checkpoints: train::trainer composes a model, an optimizer and a batch stream (a
// freeze policy too: run.freeze_with(p)), evaluates named validation sets, logs JSON Lines and
// writes atomic checkpoints; a resumed run is bitwise the uninterrupted one. continual.hpp reads
// forgetting and the stability gap from the logs of a continual run.
#include <thaw/nn/gpt.hpp>
#include <thaw/optim/adamw.hpp>
#include <thaw/thaw.hpp>
#include <thaw/train/continual.hpp>
#include <thaw/train/trainer.hpp>

#include <cstdio>
#include <filesystem>
#include <vector>

using namespace thaw;
using B = backend::cpu<>;
namespace fs = std::filesystem;

int main() {
  const fs::path root = fs::temp_directory_path() / "thaw_guide_trainer";
  fs::remove_all(root);
  data::corpus python{"python", {}};  // Python's standard library, cut into 512-byte documents
  for (const auto& file : data::load_corpus("python-stdlib").documents)
    for (std::size_t at = 0; at < file.text.size(); at += 512)
      python.documents.push_back({file.name, file.domain, file.text.substr(at, 512)});
  data::build_dataset(python, data::tokenizer{}, root / "code", {.metrics = false});
  data::build_dataset(data::load_corpus("fortunes"), data::tokenizer{}, root / "english", {.metrics = false});
  const auto english = data::token_dataset::open(root / "english", "train");
  const auto code = data::token_dataset::open(root / "code", "train");

  // One run: 60 steps on `ds`, from `init` weights or resumed from a checkpoint; returns the weights.
  auto train_on = [&](const data::token_dataset& ds, const fs::path& dir, fs::path init = {},
                      fs::path resume = {}) {
    nn::gpt<B> model({.vocab = 256, .context = 64, .layers = 2, .heads = 4, .width = 64}, /*seed=*/0);
    if (!init.empty()) io::load_parameters(model.params(), init, io::load_options{{}, ""});
    optim::adamw opt(model, {.lr = sched::linear(0.0, 3e-3, 10) >> sched::cosine(3e-3, 3e-4, 50),
                             .weight_decay = 0.1});
    auto stream = data::make_batcher({&ds}, data::shuffled(ds, /*seed=*/1), {.batch = 8, .context = 64});
    train::trainer run(model, opt, stream, {.steps = 60, .batch = 8, .context = 64, .eval_every = 10,
                                            .eval_batches = 2, .log = dir / "log.jsonl",
                                            .progress = {.mode = train::progress_mode::none},
                                            .checkpoint = {.dir = dir / "checkpoints", .every = 30}});
    run.eval_on("english", english.validation()).eval_on("code", code.validation());
    if (!resume.empty()) run.resume(resume);
    run.fit();
    std::printf("%-10s step %lld: validation loss english %.3f, code %.3f\n", dir.filename().c_str(),
                (long long)run.step(), run.last_eval()->loss("english"), run.last_eval()->loss("code"));
    std::vector<float> w(model.params().numel());
    B::to_host(w.data(), model.params().values(), w.size());
    return w;
  };
  const auto pre = train_on(english, root / "pretrain");
  const auto step_30 = root / "pretrain" / "checkpoints" / train::checkpoint_name(30);
  const auto again = train_on(english, root / "resumed", {}, step_30);
  std::printf("resumed from step 30: final weights bitwise equal: %s\n", pre == again ? "yes" : "NO");

  // Continual pre-training on code from the pre-trained weights (the latest checkpoint).
  const auto last = train::checkpoint_reader::open(root / "pretrain" / "checkpoints");
  train_on(code, root / "continual", last.file("model.safetensors"));
  const auto m = train::measure_continual(root / "continual" / "log.jsonl", "english", "code");
  std::printf("forgetting (english): %+.3f; code %.3f -> %.3f\n", m.forgetting, m.downstream_at_switch,
              m.downstream_final);
  fs::remove_all(root);
  return pre == again && m.downstream_final < m.downstream_at_switch && m.forgetting > 0 ? 0 : 1;
}
