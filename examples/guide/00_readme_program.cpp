// A staged-training run: a GPT with its bottom frozen, scheduled learning rate and data mixture.
#include <thaw/nn/gpt.hpp>
#include <thaw/optim/adamw.hpp>
#include <thaw/thaw.hpp>
#include <thaw/train/trainer.hpp>

using namespace thaw;
using B = backend::cpu<>;  // or backend::reference<double>, or backend::cuda<> in a .cu file

int main() {
  // Two byte-level datasets from Debian packages: the King James Bible and the fortunes.
  for (const std::string corpus : {"kjv", "fortunes"})
    data::build_dataset(data::load_corpus(corpus), data::tokenizer{}, "data/" + corpus, {.metrics = false});
  const auto bible = data::token_dataset::open("data/kjv"), fortunes = data::token_dataset::open("data/fortunes");

  // A small GPT whose position embedding and bottom block are frozen (no gradients, no optimizer state).
  nn::gpt<B> model({.vocab = 256, .context = 64, .layers = 4, .heads = 4, .width = 64}, /*seed=*/0);
  group_mask::frozen(model.params(), select::parse("wpe.* | blocks[0:1)")).apply(model.params());
  optim::adamw opt(model, {.lr = sched::linear(0.0, 2e-3, 20) >> sched::cosine(2e-3, 2e-4, 180), .weight_decay = 0.1});

  // Documents drawn 90% from the Bible at first, 50% after 2000 documents: a scheduled mixture.
  auto mix = data::mixture(sched::linear(0.9, 0.5, 2'000), data::shuffled(bible, 1), data::shuffled(fortunes, 2, 1));
  auto batches = data::make_batcher({&bible, &fortunes}, mix, {.batch = 8, .context = 64});

  train::trainer run(model, opt, batches, {.steps = 200, .batch = 8, .context = 64, .eval_every = 50,
                                           .log = "run/log.jsonl", .checkpoint = {.dir = "run/checkpoints"}});
  run.eval_on("bible", bible.validation()).eval_on("fortunes", fortunes.validation());
  run.fit();  // logs every step, evaluates every 50, checkpoints at the end (resume: run.resume(dir))
  return run.last_eval()->loss("bible") < 3.0 ? 0 : 1;
}
