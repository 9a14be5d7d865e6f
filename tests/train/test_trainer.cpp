// The training loop: it learns, evaluates on schedule, logs what it says it logs, calls hooks
// detected with `requires`, accumulates gradients, follows freeze policies, is deterministic,
// and handles non-finite losses and gradients as configured.
#include <omp.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "thaw/freeze/two_stage.hpp"
#include "thaw/nn/flops.hpp"
#include "thaw/params/select.hpp"
#include "thaw/schedule/schedule.hpp"
#include "train/train_util.hpp"

using namespace thaw;
using test::setup;
using cpu = backend::cpu<>;
using rd = backend::reference<double>;

namespace {

struct data_fixture {
  test::temp_dir dir{"trainer"};
  data_fixture() { test::build_synthetic_datasets(dir.path / "data"); }
  std::filesystem::path data() const { return dir.path / "data"; }
};

/// Counts the calls of every hook method.
struct counting_hook {
  int starts = 0, backwards = 0, steps = 0, evals = 0, ends = 0, checkpoints = 0;
  std::vector<train::step_t> eval_steps;
  template <class Trainer>
  void on_start(Trainer&) { ++starts; }
  void after_backward(train::step_t, param_store<cpu>&) { ++backwards; }
  void on_step(const train::step_record&) { ++steps; }
  void on_eval(const train::eval_record& r) {
    ++evals;
    eval_steps.push_back(r.step);
  }
  void on_checkpoint(const std::filesystem::path&) { ++checkpoints; }
  template <class Trainer>
  void on_end(Trainer&) { ++ends; }
};

/// Only one method: the others are not required.
struct measuring_hook {
  void measure(train::step_record& r) { r.extra.push_back({"my_metric", double(r.step) * 2}); }
};

}  // namespace

TEST_CASE("the trainer learns, evaluates every K steps and logs every step", "[train][trainer]") {
  data_fixture f;
  const auto log = f.dir.path / "run" / "log.jsonl";
  setup<cpu> s(f.data(), {.steps = 40, .batch = 4, .context = 16, .eval_every = 10, .eval_batches = 2,
                          .eval_at = {3}, .log = log, .csv = f.dir.path / "run" / "summary.csv"});
  s.run.track("replay", sched::constant(0.3));
  counting_hook counts;
  measuring_hook measure;
  s.run.fit(counts, measure);

  CHECK(counts.starts == 1);
  CHECK(counts.backwards == 40);
  CHECK(counts.steps == 40);
  CHECK(counts.ends == 1);
  CHECK(counts.eval_steps == std::vector<train::step_t>{0, 3, 10, 20, 30, 40});
  REQUIRE(s.run.step() == 40);
  CHECK(s.run.tokens() == 40u * 4 * 16);

  const auto records = train::read_jsonl(log);
  int steps = 0, evals = 0;
  double first_eval = 0, last_eval = 0;
  for (const auto& r : records) {
    const auto ev = r["event"].get<std::string>();
    if (ev == "step") {
      ++steps;
      CHECK(r["step"].get<int>() == steps);
      for (const char* key : {"loss", "lr", "weight_decay", "grad_norm", "trainable", "tokens", "tokens_per_s",
                              "gflops", "time", "replay", "my_metric"})
        CHECK(r.contains(key));
      CHECK(r["lr"].get<double>() == 3e-3);
      CHECK(r["replay"].get<double>() == 0.3);
      CHECK(r["my_metric"].get<double>() == 2.0 * steps);
      CHECK(r["trainable"].get<std::size_t>() == s.model.params().numel());
      CHECK(r["gflops"].get<double>() > 0);
      CHECK(std::isfinite(r["grad_norm"].get<double>()));
    } else if (ev == "eval") {
      const double e = r["val/english"].get<double>();
      CHECK(r.contains("val/code"));
      if (evals++ == 0) first_eval = e;
      last_eval = e;
    }
  }
  CHECK(steps == 40);
  CHECK(evals == 6);
  CHECK(records.front()["event"] == "start");
  CHECK(records.back()["event"] == "end");
  // It learns: the English validation loss falls well below its value at initialization
  // (ln 256 = 5.55 for a uniform byte model).
  CHECK(first_eval > 5.0);
  CHECK(last_eval < first_eval - 1.0);
  // The CSV summary has one row per evaluation.
  std::ifstream csv(f.dir.path / "run" / "summary.csv");
  std::string header, line;
  std::getline(csv, header);
  CHECK(header == "step,train_loss,lr,tokens,time,val/english,val/code");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  CHECK(rows == 6);
}

TEST_CASE("two runs with the same seeds give the same weights bit for bit", "[train][trainer]") {
  data_fixture f;
  setup<cpu> a(f.data(), {.steps = 12, .batch = 4, .context = 16, .eval_every = 4, .eval_batches = 1});
  setup<cpu> b(f.data(), {.steps = 12, .batch = 4, .context = 16, .eval_every = 0, .eval_batches = 1});
  a.run.fit();
  b.run.fit();  // different evaluation schedule: evaluation must not disturb training
  CHECK(test::same_bits(a.weights(), b.weights()));
  setup<cpu> c(f.data(), {.steps = 12, .batch = 4, .context = 16}, "shuffled(seed=99, source=0)");
  c.run.fit();
  CHECK_FALSE(test::same_bits(a.weights(), c.weights()));
}

TEST_CASE("training gives the same weights bit for bit on 1, 2, 3 and 7 threads", "[train][trainer][threads]") {
  // Large enough that every op and GEMM of the step is split over the threads (the fork
  // thresholds are 2^15 elements and 2^18 multiply-adds): the exactness claim end to end.
  data_fixture f;
  const nn::gpt_config wide{.vocab = 256, .context = 64, .layers = 2, .heads = 4, .width = 128};
  const auto weights_with = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    setup<cpu> s(f.data(), {.steps = 3, .batch = 8, .context = 64, .eval_batches = 1},
                 "shuffled(seed=3, source=0)",
                 {.lr = 3e-3, .weight_decay = 0.1, .max_grad_norm = 1.0}, wide);
    s.run.fit();
    omp_set_num_threads(saved);
    return s.weights();
  };
  const auto one = weights_with(1);
  CHECK(test::same_bits(one, weights_with(2)));
  CHECK(test::same_bits(one, weights_with(3)));
  CHECK(test::same_bits(one, weights_with(7)));
}

TEST_CASE("gradient accumulation over k micro-batches equals one batch k times larger", "[train][trainer]") {
  data_fixture f;
  // The sequential sampler makes the k micro-batches of 2 rows the rows of one 4-row batch.
  setup<rd> big(f.data(), {.steps = 5, .batch = 4, .context = 16, .accumulation = 1}, "sequential(source=0)");
  setup<rd> small(f.data(), {.steps = 5, .batch = 2, .context = 16, .accumulation = 2}, "sequential(source=0)");
  big.run.fit();
  small.run.fit();
  const auto wa = big.weights(), wb = small.weights();
  double worst = 0;
  for (std::size_t i = 0; i < wa.size(); ++i) worst = std::max(worst, std::abs(wa[i] - wb[i]));
  CHECK(worst < 1e-10);
  CHECK(small.run.tokens() == big.run.tokens());
  // Against a run without accumulation on 2 rows, the weights differ: accumulation did something.
  setup<rd> half(f.data(), {.steps = 5, .batch = 2, .context = 16, .accumulation = 1}, "sequential(source=0)");
  half.run.fit();
  const auto wc = half.weights();
  double diff = 0;
  for (std::size_t i = 0; i < wa.size(); ++i) diff = std::max(diff, std::abs(wa[i] - wc[i]));
  CHECK(diff > 1e-6);
}

TEST_CASE("a freeze policy drives what trains, and the log follows it", "[train][trainer][freeze]") {
  data_fixture f;
  const auto log = f.dir.path / "log.jsonl";
  setup<cpu> s(f.data(), {.steps = 8, .batch = 4, .context = 16, .eval_batches = 1, .log = log});
  freeze::two_stage<cpu> policy(s.model.params(), {.frozen = select::parse("wte.* | wpe.* | blocks[0:1)"), .unfreeze_at = 4});
  s.run.freeze_with(policy);
  const auto before = s.weights();
  const auto& store = s.model.params();
  const auto wpe = store.ref(store.find("wpe.weight"));
  std::vector<float> wpe_after_4;
  struct snapshot {
    setup<cpu>* s;
    std::vector<float>* out;
    std::size_t off, n;
    void on_step(const train::step_record& r) {
      if (r.step == 4) {
        auto w = s->weights();
        out->assign(w.begin() + off, w.begin() + off + n);
      }
    }
  } snap{&s, &wpe_after_4, wpe.offset, wpe.size()};
  s.run.fit(snap);
  // Frozen for steps 0..3: wpe unchanged after 4 steps, changed at the end.
  CHECK(std::memcmp(wpe_after_4.data(), before.data() + wpe.offset, wpe.size() * sizeof(float)) == 0);
  const auto after = s.weights();
  CHECK(std::memcmp(after.data() + wpe.offset, before.data() + wpe.offset, wpe.size() * sizeof(float)) != 0);
  std::vector<std::size_t> trainable;
  int freeze_events = 0;
  for (const auto& r : train::read_jsonl(log)) {
    if (r["event"] == "step") trainable.push_back(r["trainable"].get<std::size_t>());
    if (r["event"] == "freeze") ++freeze_events;
  }
  REQUIRE(trainable.size() == 8);
  CHECK(trainable[0] < store.numel());
  CHECK(trainable[3] == trainable[0]);
  CHECK(trainable[4] == store.numel());
  CHECK(freeze_events > 0);
}

TEST_CASE("the freeze-aware FLOP model equals nn::gpt_training_flops when everything trains", "[train][flops]") {
  nn::gpt<rd> model({.vocab = 64, .context = 16, .layers = 3, .heads = 2, .width = 8});
  const double all = train::detail::step_flops(model.params(), 4, 16);
  CHECK(all == Approx(nn::gpt_training_flops(model.config(), 4, 16).total()).epsilon(1e-12));
  // Freezing the bottom half saves backward work, never forward work.
  auto mask = group_mask::frozen(model.params(), select::parse("wte.* | wpe.* | blocks[0:2)"));
  mask.apply(model.params());
  const double frozen = train::detail::step_flops(model.params(), 4, 16);
  CHECK(frozen < all);
  CHECK(frozen > nn::gpt_training_flops(model.config(), 4, 16).forward);
  model.params().set_all_trainable(false);
  CHECK(train::detail::step_flops(model.params(), 4, 16) == Approx(nn::gpt_training_flops(model.config(), 4, 16).forward));
}

namespace {
/// Writes a non-finite value into a gradient or a weight at one step.
struct poison {
  train::step_t at;
  std::string param;
  bool into_weights = false;
  double value = std::numeric_limits<double>::quiet_NaN();
  void after_backward(train::step_t s, param_store<cpu>& store) {
    if (s != at) return;
    const auto id = store.find(param);
    float v = static_cast<float>(value);
    float* p = (into_weights ? store.value(id) : store.grad(id)) + 1;
    std::memcpy(p, &v, sizeof v);
  }
};
}  // namespace

TEST_CASE("a non-finite gradient stops the run, naming the step and the first parameter group", "[train][nonfinite]") {
  data_fixture f;
  const auto log = f.dir.path / "log.jsonl";
  setup<cpu> s(f.data(), {.steps = 10, .batch = 4, .context = 16, .eval_batches = 1, .log = log});
  poison p{3, "h.1.mlp.c_fc.weight", false, std::numeric_limits<double>::infinity()};
  try {
    s.run.fit(p);
    FAIL("no error");
  } catch (const train::nonfinite_error& e) {
    CHECK(e.step() == 3);
    CHECK(e.group() == "h.1.mlp.c_fc.weight");
    CHECK_THAT(e.what(), Catch::Contains("non-finite gradient at step 3") && Catch::Contains("'h.1.mlp.c_fc.weight'"));
  }
  CHECK(s.run.step() == 3);  // the bad step was not counted
  bool logged = false;
  for (const auto& r : train::read_jsonl(log))
    if (r["event"] == "nonfinite") {
      logged = true;
      CHECK(r["step"] == 3);
      CHECK(r["group"] == "h.1.mlp.c_fc.weight");
      CHECK(r["action"] == "stop");
      CHECK(r["grad_norm"].is_null());
    }
  CHECK(logged);
}

TEST_CASE("a non-finite loss stops the run and names the parameter with non-finite values", "[train][nonfinite]") {
  data_fixture f;
  setup<cpu> s(f.data(), {.steps = 10, .batch = 4, .context = 16, .eval_batches = 1});
  poison p{2, "h.0.attn.c_proj.weight", true};  // a NaN weight: from the next forward on, the loss is NaN
  try {
    s.run.fit(p);
    FAIL("no error");
  } catch (const train::nonfinite_error& e) {
    CHECK(e.step() == 3);
    CHECK_THAT(e.what(), Catch::Contains("non-finite loss at step 3") &&
                             Catch::Contains("first parameter with non-finite values: 'h.0.attn.c_proj.weight'"));
    CHECK_FALSE(e.group().empty());
  }
}

TEST_CASE("with the skip policy a non-finite step leaves the weights alone and the run goes on", "[train][nonfinite]") {
  data_fixture f;
  const auto log = f.dir.path / "log.jsonl";
  setup<cpu> s(f.data(), {.steps = 6, .batch = 4, .context = 16, .eval_batches = 1,
                          .on_nonfinite = train::nonfinite_policy::skip, .log = log});
  poison p{2, "wte.weight", false};
  std::vector<float> before_3, after_3;
  struct watch {
    setup<cpu>* s;
    std::vector<float>*a, *b;
    void after_backward(train::step_t st, param_store<cpu>&) {
      if (st == 2) *a = s->weights();
    }
    void on_step(const train::step_record& r) {
      if (r.step == 3) *b = s->weights();
    }
  } w{&s, &before_3, &after_3};
  s.run.fit(p, w);
  CHECK(s.run.step() == 6);
  CHECK(s.run.skipped_steps() == 1);
  CHECK(s.opt.steps() == 5);
  CHECK(test::same_bits(before_3, after_3));
  int skipped = 0;
  for (const auto& r : train::read_jsonl(log))
    if (r["event"] == "step" && r.value("skipped", false)) {
      ++skipped;
      CHECK(r["step"] == 3);
    }
  CHECK(skipped == 1);
}

TEST_CASE("configuration and data that do not fit are errors naming them", "[train][trainer]") {
  data_fixture f;
  CHECK_THAT(test::error_of([&] { setup<cpu> s(f.data(), {.steps = 1, .batch = 4, .context = 32}); }),
             Catch::Contains("context 32 is longer than the model's context 16"));
  CHECK_THAT(test::error_of([&] { setup<cpu> s(f.data(), {.steps = 1, .batch = 4, .context = 16, .accumulation = 0}); }),
             Catch::Contains("accumulation must be >= 1"));
  CHECK_THAT(test::error_of([&] {
               setup<cpu> s(f.data(), {.steps = 1, .batch = 4, .context = 16, .checkpoint = {.every = 5}});
             }),
             Catch::Contains("checkpoint.dir is empty"));
  // Data whose batches are not what the trainer was told.
  setup<cpu> s(f.data(), {.steps = 2, .batch = 4, .context = 16});
  auto other = data::make_batcher({&s.english}, data::any_sampler(data::sequential(data::pool::all(s.english.n_docs()))),
                                  {.batch = 3, .context = 16});
  train::trainer run(s.model, s.opt, other, {.steps = 2, .batch = 4, .context = 16, .progress = {.mode = train::progress_mode::none}});
  CHECK_THAT(test::error_of([&] { run.fit(); }), Catch::Contains("gives batches of 3 x 16 tokens, the trainer is configured for 4 x 16"));
  CHECK_THAT(test::error_of([&] { s.run.eval_on("english", s.english_val); }), Catch::Contains("validation set 'english' is added twice"));
  CHECK_THAT(test::error_of([&] { s.run.eval_on("empty", std::vector<data::token_batch>{}); }),
             Catch::Contains("validation set 'empty' has no batches"));
  CHECK_THAT(test::error_of([&] { s.run.eval_on("wrong", std::vector<data::token_batch>{data::token_batch{.B = 4, .T = 8, .tokens = {}, .targets = {}}}); }),
             Catch::Contains("validation set 'wrong' gives batches of 4 x 8 tokens"));
  CHECK_THAT(test::error_of([&] { setup<cpu> t(f.data(), {.steps = -1, .batch = 4, .context = 16}); }),
             Catch::Contains("steps must be >= 0"));
  CHECK_THAT(test::error_of([&] { setup<cpu> t(f.data(), {.steps = 1, .batch = 4, .context = 16, .eval_every = -2}); }),
             Catch::Contains("eval_every must be >= 0"));
}
