// The main job: continual pre-training of a byte-level GPT from English to Python source under
// five recipes, from the same pre-trained checkpoint, with both domains evaluated throughout.
//
//   continual-pretraining [--out DIR] [--scale S] [--threads N] [--seed N]
//
// 1. Builds two byte-level datasets from Debian packages (nothing is downloaded): English, the
//    King James Bible (bible-kjv-text), and code, the python3 standard library.
// 2. Pre-trains a small GPT on English (warm-up + cosine), evaluating English and code.
// 3. From the pre-training checkpoint, continues on code under five recipes:
//      constant       the learning rate where pre-training ended, constant, no re-warming
//      rewarm-cosine  linear re-warming to the pre-training peak, then cosine ("Continual
//                     Pre-Training of Large Language Models: How to (re)warm your model?",
//                     Gupta et al. 2023)
//      infinite       the infinite schedule: warm-up, cosine cool-down to a constant, constant,
//                     exponential annealing at the end ("Simple and Scalable Strategies to
//                     Continually Pre-train Large Language Models", Ibrahim et al. 2024)
//      replay         rewarm-cosine with 25% English replay: 2 of the 8 rows of every batch
//      freeze-bottom  rewarm-cosine with the embeddings (and so the tied LM head) and the bottom
//                     half of the blocks frozen
// 4. Writes OUT/<run>/log.jsonl + summary.csv per run, OUT/results.md (final losses,
//    forgetting, stability gap, time, trainable parameters per recipe) and OUT/val_english.png,
//    OUT/val_code.png (both validation losses over steps, all recipes).
//
// Sizes: a 4-layer, width-128 GPT (0.84M parameters) on 8 x 128-byte batches, 600 steps of
// pre-training and 250 per recipe; on one thread of this project's 2-vCPU machine (busy with
// other builds) the whole job took about 4 minutes. --scale S multiplies every step count.
// One thread by default (--threads N for more): the numbers are then reproducible bit for bit.
#include <thaw/backend/cpu.hpp>
#include <thaw/data/builder.hpp>
#include <thaw/data/corpus.hpp>
#include <thaw/data/shuffled.hpp>
#include <thaw/io/model_io.hpp>
#include <thaw/io/plot.hpp>
#include <thaw/nn/gpt.hpp>
#include <thaw/optim/adamw.hpp>
#include <thaw/params/mask.hpp>
#include <thaw/params/select.hpp>
#include <thaw/schedule/schedule.hpp>
#include <thaw/train/checkpoint.hpp>
#include <thaw/train/continual.hpp>
#include <thaw/train/trainer.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace thaw;
// Eigen's GEMM kernel: on this project's 2-vCPU machine it ran the step ~1.6x faster than
// Debian's OpenBLAS, which falls back to generic (Prescott) kernels there unless
// OPENBLAS_CORETYPE is set. With a tuned OpenBLAS, backend::cpu<> is the one to use.
using B = backend::cpu<gemm_policy::eigen>;
namespace fs = std::filesystem;

namespace {

struct options {
  fs::path out = "continual-pretraining";
  double scale = 1.0;
  int threads = 1;  // see usage(): reproducible numbers, and safe on a busy machine
  std::uint64_t seed = 0;
};

// ---- sizes -------------------------------------------------------------------------------------

constexpr nn::gpt_config kModel{.vocab = 256, .context = 128, .layers = 4, .heads = 4, .width = 128};
constexpr int kBatch = 8, kContext = 128;
constexpr int kReplayRows = 2;  // of kBatch: 25% of the tokens are English in the replay recipe

struct plan {
  sched::step_t pretrain, cpt, eval_every;
  std::vector<sched::step_t> cpt_eval_at;  // dense evaluation right after the switch
  std::size_t eval_batches = 4;
  double peak = 2e-3, floor = 2e-4;
  sched::step_t pre_warmup() const { return std::max<sched::step_t>(1, pretrain / 10); }
  sched::step_t rewarm() const { return std::max<sched::step_t>(1, cpt / 10); }
};

plan make_plan(double scale) {
  auto steps = [&](double n) { return std::max<sched::step_t>(10, static_cast<sched::step_t>(std::llround(n * scale))); };
  plan p{steps(600), steps(250), steps(25), {}};
  for (double f : {0.01, 0.02, 0.03, 0.05, 0.075}) {
    const auto at = std::max<sched::step_t>(1, static_cast<sched::step_t>(std::llround(f * double(p.cpt))));
    if (p.cpt_eval_at.empty() || at > p.cpt_eval_at.back()) p.cpt_eval_at.push_back(at);
  }
  return p;
}

// ---- a batch source that mixes rows of two streams ---------------------------------------------

/// Rows [0, a_rows) of every batch come from stream `a`, the rest from `b`: an exact token share
/// (documents differ in length, so a document-level mixture would not give 25% of the tokens).
template <class A, class C>
struct row_mixture {
  A a;
  C b;
  std::size_t a_rows;
  data::token_batch ta, tb;

  void next(data::token_batch& out) {
    a.next(ta);
    b.next(tb);
    THAW_CHECK(ta.T == tb.T, "row_mixture: the two streams have different contexts");
    out.B = ta.B + tb.B;
    out.T = ta.T;
    out.tokens = ta.tokens;
    out.tokens.insert(out.tokens.end(), tb.tokens.begin(), tb.tokens.end());
    out.targets = ta.targets;
    out.targets.insert(out.targets.end(), tb.targets.begin(), tb.targets.end());
  }
  void save(data::state_writer& w) const {
    a.save(w);
    b.save(w);
  }
  void restore(data::state_reader& r) {
    a.restore(r);
    b.restore(r);
  }
};

using stream = data::batcher<data::shuffled_sampler>;

stream make_stream(const data::token_dataset& ds, std::size_t rows, std::uint64_t seed) {
  return data::make_batcher({&ds}, data::shuffled(data::pool::all(ds.n_docs()), seed),
                            {.batch = rows, .context = std::size_t(kContext), .ignore_index = -1});
}

// ---- one run -----------------------------------------------------------------------------------

struct run_result {
  std::string name, description;
  fs::path log;
  double seconds = 0;
  std::size_t trainable = 0;
  train::continual_measures m;
};

struct datasets {
  data::token_dataset en, code, en_val, code_val;
};

template <class Data>
double train_run(nn::gpt<B>& model, optim::adamw<B>& opt, Data& data, const datasets& d, const plan& p,
                 sched::step_t steps, const fs::path& dir, const std::string& label, bool pretraining) {
  train::trainer_cfg cfg{.steps = steps, .batch = kBatch, .context = kContext, .eval_every = p.eval_every,
                         .eval_batches = p.eval_batches, .eval_at = pretraining ? std::vector<sched::step_t>{} : p.cpt_eval_at,
                         .log = dir / "log.jsonl", .csv = dir / "summary.csv", .progress = {.label = label}};
  const bool checkpoint_at_end = pretraining;
  if (checkpoint_at_end) cfg.checkpoint = {.dir = dir / "checkpoints", .keep_last = 1};
  train::trainer run(model, opt, data, cfg);
  run.eval_on("english", d.en_val).eval_on("code", d.code_val);
  const auto t0 = std::chrono::steady_clock::now();
  run.fit();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

optim::adamw_cfg adamw_with(optim::step_scalar lr) {
  return {.lr = std::move(lr), .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95, .max_grad_norm = 1.0};
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string gap_text(const train::stability_gap& g) {
  if (g.rise <= 0) return "none";
  return fmt("+%.3f", g.rise) + " at " + std::to_string(g.peak) + ", " +
         (g.recovery ? "back after " + std::to_string(*g.recovery) : std::string("not back"));
}

std::string duration(double s) { return train::format_duration(s); }

void usage(std::ostream& o) {
  o << "usage: continual-pretraining [--out DIR] [--scale S] [--threads N] [--seed N]\n"
       "  --out DIR     where everything goes (default: continual-pretraining)\n"
       "  --scale S     multiplies every step count (default 1: under 10 minutes on 2 cores)\n"
       "  --threads N   OpenMP threads (default 1: the results are then the same bit for bit on\n"
       "                any machine, and a busy machine does not stall the threads' barriers)\n"
       "  --seed N      model initialization and data order (default 0)\n";
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "continual-pretraining: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--help" || a == "-h") {
        usage(std::cout);
        return 0;
      } else if (a == "--out") {
        o.out = value();
      } else if (a == "--scale") {
        o.scale = std::stod(value());
        if (!(o.scale > 0 && o.scale <= 1000)) throw std::invalid_argument("scale");
      } else if (a == "--threads") {
        o.threads = std::stoi(value());
        if (o.threads < 1) throw std::invalid_argument("threads");
      } else if (a == "--seed") {
        o.seed = std::stoull(value());
      } else {
        std::cerr << "continual-pretraining: unknown argument '" << a << "'\n";
        usage(std::cerr);
        return 2;
      }
    } catch (const std::logic_error&) {
      std::cerr << "continual-pretraining: bad value for " << a << "\n";
      return 2;
    }
  }
#ifdef _OPENMP
  omp_set_num_threads(o.threads);
#endif
  try {
    const auto t_start = std::chrono::steady_clock::now();
    const plan p = make_plan(o.scale);
    fs::create_directories(o.out);

    // 1. Data: byte-level datasets from the Debian corpora, built once.
    auto build = [&](const char* corpus, const fs::path& dir) {
      if (fs::exists(dir / "train.tokens") && fs::exists(dir / "val.tokens")) return;
      std::cerr << "building " << dir.string() << " from " << corpus << "\n";
      data::build_dataset(data::load_corpus(corpus), data::tokenizer{}, dir,
                          {.val_fraction = 0.05, .seed = 0, .metrics = false});
    };
    build("kjv", o.out / "data" / "english");
    build("python-stdlib", o.out / "data" / "code");
    const datasets d{data::token_dataset::open(o.out / "data" / "english", "train"),
                     data::token_dataset::open(o.out / "data" / "code", "train"),
                     data::token_dataset::open(o.out / "data" / "english", "val"),
                     data::token_dataset::open(o.out / "data" / "code", "val")};
    std::cerr << "english: " << d.en.n_docs() << " documents, " << d.en.n_tokens() << " tokens; code: "
              << d.code.n_docs() << " documents, " << d.code.n_tokens() << " tokens\n";
    std::cerr << "plan: pre-train " << p.pretrain << " steps, then " << p.cpt << " steps per recipe; "
              << kBatch << " x " << kContext << " tokens per step; evaluation every " << p.eval_every << " steps\n";

    // 2. Pre-training on English.
    const fs::path pre_dir = o.out / "pretrain";
    double pre_seconds = 0;
    {
      nn::gpt<B> model(kModel, o.seed);
      const auto lr = sched::linear(0.0, p.peak, p.pre_warmup()) >> sched::cosine(p.peak, p.floor, p.pretrain - p.pre_warmup());
      optim::adamw opt(model, adamw_with(lr));
      auto data = make_stream(d.en, kBatch, 100 + o.seed);
      pre_seconds = train_run(model, opt, data, d, p, p.pretrain, pre_dir, "pretrain", true);
    }
    const auto pretrained = train::checkpoint_reader::open(pre_dir / "checkpoints").file("model.safetensors");
    const auto pre_curves = train::eval_curves(pre_dir / "log.jsonl");

    // 3. Continual pre-training on code, five recipes from the same weights.
    const sched::step_t C = p.cpt, W = p.rewarm();
    const auto rewarm_cosine = sched::linear(0.0, p.peak, W) >> sched::cosine(p.peak, p.floor, C - W);
    const auto inf_cfg = sched::infinite_cfg{.peak = p.peak, .constant = p.peak / 2, .min = p.floor, .warmup = W,
                                             .cooldown = std::max<sched::step_t>(1, C / 4),
                                             .anneal = std::max<sched::step_t>(1, C / 5)};
    const auto infinite = sched::infinite(inf_cfg).anneal_at(C - inf_cfg.anneal);
    const std::string frozen_spec = "wte.* | wpe.* | blocks[0:" + std::to_string(kModel.layers / 2) + ")";

    struct recipe {
      std::string name, description;
      optim::step_scalar lr;
      bool replay = false;
      bool freeze = false;
    };
    const std::vector<recipe> recipes{
        {"constant", "constant LR " + fmt("%.0e", p.floor) + " (where pre-training ended), no re-warming",
         sched::constant(p.floor)},
        {"rewarm-cosine", "re-warm 0 -> " + fmt("%.0e", p.peak) + " over " + std::to_string(W) + " steps, cosine to " +
                              fmt("%.0e", p.floor), rewarm_cosine},
        {"infinite", "infinite: warm-up, cool-down to " + fmt("%.0e", inf_cfg.constant) + ", constant, anneal over the last " +
                         std::to_string(inf_cfg.anneal) + " steps", infinite},
        {"replay", "rewarm-cosine + 25% English replay (" + std::to_string(kReplayRows) + " of " +
                       std::to_string(kBatch) + " rows)", rewarm_cosine, true},
        {"freeze-bottom", "rewarm-cosine, frozen: " + frozen_spec, rewarm_cosine, false, true},
    };

    std::vector<run_result> results;
    for (const auto& r : recipes) {
      nn::gpt<B> model(kModel, o.seed);
      io::load_parameters(model.params(), pretrained, io::load_options{{}, ""});
      if (r.freeze) group_mask::frozen(model.params(), select::parse(frozen_spec)).apply(model.params());
      optim::adamw opt(model, adamw_with(r.lr));
      const fs::path dir = o.out / r.name;
      double seconds = 0;
      if (r.replay) {
        row_mixture<stream, stream> mix{make_stream(d.code, kBatch - kReplayRows, 200 + o.seed),
                                        make_stream(d.en, kReplayRows, 300 + o.seed), kBatch - kReplayRows, {}, {}};
        seconds = train_run(model, opt, mix, d, p, C, dir, r.name, false);
      } else {
        auto data = make_stream(d.code, kBatch, 200 + o.seed);
        seconds = train_run(model, opt, data, d, p, C, dir, r.name, false);
      }
      run_result res{r.name, r.description, dir / "log.jsonl", seconds, opt.trainable_count(), {}};
      res.m = train::measure_continual(res.log, "english", "code");
      results.push_back(std::move(res));
    }

    // 4. Results: a markdown table and two plots.
    const auto& pre_en = train::get_curve(pre_curves, "english");
    const auto& pre_code = train::get_curve(pre_curves, "code");
    std::string table;
    table += "| recipe | final English loss | final code loss | forgetting (English) | English max rise | "
             "code stability gap | time | trainable params |\n";
    table += "|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : results) {
      table += "| " + r.name + " | " + fmt("%.3f", r.m.upstream_final) + " | " + fmt("%.3f", r.m.downstream_final) + " | " +
               fmt("%+.3f", r.m.forgetting) + " | " + fmt("%+.3f", r.m.upstream_gap.rise) + " at " +
               std::to_string(r.m.upstream_gap.peak) + " | " +
               gap_text(r.m.downstream_gap) + " | " + duration(r.seconds) + " | " + std::to_string(r.trainable) + " |\n";
    }
    std::string md = "# Continual pre-training: English (KJV) -> Python source, five recipes\n\n";
    md += "Model: GPT, " + std::to_string(kModel.layers) + " layers, width " + std::to_string(kModel.width) + ", " +
          std::to_string(kModel.heads) + " heads, context " + std::to_string(kModel.context) + ", byte-level (" +
          std::to_string(nn::gpt<B>(kModel).params().numel()) + " parameters). Batches of " + std::to_string(kBatch) +
          " x " + std::to_string(kContext) + " bytes.\n\n";
    md += "Pre-training: " + std::to_string(p.pretrain) + " steps on English, LR warm-up to " + fmt("%.0e", p.peak) +
          " then cosine to " + fmt("%.0e", p.floor) + " (" + duration(pre_seconds) + "). At its end: English " +
          fmt("%.3f", pre_en.last()) + ", code " + fmt("%.3f", pre_code.last()) + " (validation loss, nats per byte).\n\n";
    md += "Continual pre-training: " + std::to_string(C) + " steps on Python per recipe, AdamW (0.9, 0.95), weight decay "
          "0.1, clipping 1.0, fresh optimizer state; both domains evaluated every " + std::to_string(p.eval_every) +
          " steps (and after steps";
    for (auto s : p.cpt_eval_at) md += " " + std::to_string(s);
    md += ") on " + std::to_string(p.eval_batches) + " fixed validation batches of each.\n\n";
    for (const auto& r : results) md += "- **" + r.name + "**: " + r.description + "\n";
    md += "\n" + table + "\n";
    md += "Forgetting: final English loss minus its value at the switch (the end of pre-training); English max rise: "
          "the largest such difference at any evaluation, and the step where it was (the English loss's stability "
          "gap, when it then comes down again). Code stability gap: "
          "the largest rise of the code loss above its value at the switch before it first gets back below it "
          "(\"+rise at step, back after steps\"); \"none\" when it falls from the first evaluation on. Time: wall time "
          "of the recipe's training and evaluation.\n";
    {
      std::ofstream f(o.out / "results.md");
      f << md;
    }

    auto plot = [&](const std::string& set, const fs::path& png, const std::string& title) {
      std::vector<io::series> lines;
      const auto& pre = train::get_curve(pre_curves, set);
      io::series pre_s{"pretrain (English)", {}, {}};
      for (std::size_t i = 0; i < pre.size(); ++i) {
        pre_s.x.push_back(double(pre.steps[i]) - double(p.pretrain));
        pre_s.y.push_back(pre.losses[i]);
      }
      lines.push_back(std::move(pre_s));
      for (const auto& r : results) {
        const auto curves = train::eval_curves(r.log);
        const auto& c = train::get_curve(curves, set);
        lines.push_back({r.name, std::vector<double>(c.steps.begin(), c.steps.end()), c.losses});
      }
      io::plot_png(png, lines, {.title = title, .xlabel = "steps of continual pre-training (pre-training before 0)",
                                .ylabel = "validation loss (nats / byte)"});
    };
    try {
      plot("english", o.out / "val_english.png", "English (KJV) validation loss: forgetting");
      plot("code", o.out / "val_code.png", "Python validation loss: learning the new domain");
    } catch (const error& e) {
      std::cerr << "plots skipped: " << e.what() << "\n";
    }

    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::cout << md << "\nwritten: " << (o.out / "results.md").string() << ", " << (o.out / "val_english.png").string()
              << ", " << (o.out / "val_code.png").string() << "\ntotal time " << duration(total) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "continual-pretraining: error: " << e.what() << "\n";
    return 1;
  }
}
