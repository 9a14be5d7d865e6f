// `thaw-lm train`: runs an experiment described by one JSON config (thaw/train/config.hpp,
// docs/training.md) — builds the datasets it names when they are missing, the GPT, the sampler,
// the optimizer with its schedules, the freeze policy and the evaluation sets, then trains
// with logs, progress and checkpoints; `--resume DIR` continues from a checkpoint.
//
//   thaw-lm train --config C.json [--resume DIR]
//
// Writes into the config's "out" directory: config.json (a copy of the config), log.jsonl,
// summary.csv, checkpoints/step-*/ and, at the end, model.safetensors. Errors are one line on
// stderr ("thaw-lm train: error: ..."), exit status 1 (2 for a bad command line).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "thaw/backend/cpu.hpp"
#include "thaw/core/error.hpp"
#include "thaw/data/builder.hpp"
#include "thaw/data/corpus.hpp"
#include "thaw/data/metrics.hpp"
#include "thaw/data/spec.hpp"
#include "thaw/freeze/grades.hpp"
#include "thaw/freeze/progressive.hpp"
#include "thaw/freeze/subtuning.hpp"
#include "thaw/freeze/two_stage.hpp"
#include "thaw/freeze/unfreezing.hpp"
#include "thaw/io/model_io.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/optim/adamw.hpp"
#include "thaw/optim/sgd.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/select.hpp"
#include "thaw/schedule/spec.hpp"
#include "thaw/train/checkpoint.hpp"
#include "thaw/train/config.hpp"
#include "thaw/train/trainer.hpp"

namespace thaw::cli {

inline constexpr const char* kLmTrainHelp =
    R"(usage: thaw-lm train --config C.json [--resume DIR]

Trains a GPT as the JSON config C.json describes (model, datasets, sampler, optimizer and
schedules, freezing, evaluation, checkpoints; see docs/training.md for a complete commented
example). Missing datasets that name a "corpus" are built first.

  --config   the experiment's config (JSON; // and /* */ comments allowed)
  --resume   a checkpoint directory (OUT/checkpoints/step-00000500) or a directory of them
             (OUT/checkpoints: the latest); the run continues exactly where it was

Writes OUT/config.json, OUT/log.jsonl (one JSON object per step, evaluation and event),
OUT/summary.csv (one row per evaluation), OUT/checkpoints/ and OUT/model.safetensors.
)";

namespace detail {

/// Prefixes an error from building part of the run with the config key it comes from.
template <class F>
auto with_key(const train::lm_train_config& c, const std::string& key, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const train::nonfinite_error&) {
    throw;
  } catch (const error& e) {
    throw error(message("config '", c.origin, "': '", key, "': ", e.what()));
  }
}

/// The datasets of a run: opened (built first when missing and a corpus is named).
struct run_data {
  std::vector<std::unique_ptr<data::token_dataset>> train, val;  // by dataset index
  std::vector<std::optional<data::metrics_table>> metrics;
};

inline run_data open_datasets(const train::lm_train_config& c, std::ostream& log) {
  run_data d;
  d.train.resize(c.datasets.size());
  d.val.resize(c.datasets.size());
  d.metrics.resize(c.datasets.size());
  auto used = [&](const std::string& name, const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  for (std::size_t i = 0; i < c.datasets.size(); ++i) {
    const auto& ds = c.datasets[i];
    const bool as_source = used(ds.name, c.sources), for_eval = used(ds.name, c.eval_sets);
    if (!as_source && !for_eval) continue;
    const std::string key = "data.datasets." + ds.name;
    std::error_code ec;
    if (!std::filesystem::exists(ds.dir / "train.tokens", ec)) {
      if (ds.corpus.empty())
        throw error(message("config '", c.origin, "': dataset '", ds.name, "': '", ds.dir.string(),
                            "' has no train.tokens (give '", key, ".corpus' to build it, or run thaw-data build)"));
      log << "building dataset '" << ds.name << "' from " << ds.corpus << " into " << ds.dir.string() << "\n" << std::flush;
      with_key(c, key, [&] {
        return data::build_dataset(data::load_corpus(ds.corpus), data::tokenizer::from_spec(ds.tokenizer), ds.dir,
                                   {.val_fraction = ds.val_fraction, .seed = ds.split_seed});
      });
    }
    with_key(c, key, [&] {
      d.train[i] = std::make_unique<data::token_dataset>(data::token_dataset::open(ds.dir, "train"));
      THAW_CHECK(d.train[i]->vocab_size() <= static_cast<std::uint64_t>(c.model.vocab), "the dataset's vocabulary has ",
                 d.train[i]->vocab_size(), " tokens, more than the model's vocab ", c.model.vocab);
      if (for_eval) {
        THAW_CHECK(std::filesystem::exists(ds.dir / "val.tokens", ec), "it is an evaluation set but '", ds.dir.string(),
                   "' has no validation split (val.tokens; build it with val_fraction > 0)");
        d.val[i] = std::make_unique<data::token_dataset>(data::token_dataset::open(ds.dir, "val"));
      }
      return 0;
    });
  }
  return d;
}

inline std::size_t dataset_index(const train::lm_train_config& c, const std::string& name) {
  for (std::size_t i = 0; i < c.datasets.size(); ++i)
    if (c.datasets[i].name == name) return i;
  throw error(message("no dataset named '", name, "'"));
}

template <class B>
using policy_variant = std::variant<std::monostate, freeze::two_stage<B>, freeze::progressive_freezing<B>,
                                    freeze::gradual_unfreezing<B>, freeze::subtuning<B>, freeze::grades<B>>;

/// Builds the freeze policy (or applies a static mask) the config asks for.
template <class B>
void make_policy(const train::lm_train_config& c, param_store<B>& store, policy_variant<B>& out) {
  const auto& f = c.freeze;
  auto scope_or = [&](select::any_selector fallback) {
    return f.scope.empty() ? fallback : select::parse(f.scope);
  };
  const auto granularity = f.unit == "module" ? freeze::unit::module : freeze::unit::depth;
  with_key(c, "freeze", [&] {
    if (f.policy == "frozen") group_mask::frozen(store, select::parse(f.frozen)).apply(store);
    else if (f.policy == "two_stage")
      out.template emplace<freeze::two_stage<B>>(store, freeze::two_stage_cfg{select::parse(f.frozen), f.unfreeze_at});
    else if (f.policy == "progressive")
      out.template emplace<freeze::progressive_freezing<B>>(
          store, freeze::progressive_cfg{.total_steps = f.total_steps > 0 ? f.total_steps : c.steps,
                                         .freeze_start = f.freeze_start, .freeze_level = f.freeze_level,
                                         .every = f.every, .granularity = granularity,
                                         .scope = scope_or(select::all())});
    else if (f.policy == "unfreezing")
      out.template emplace<freeze::gradual_unfreezing<B>>(
          store, freeze::unfreezing_cfg{.every = f.every, .granularity = granularity, .scope = scope_or(select::all())});
    else if (f.policy == "subtuning")
      out.template emplace<freeze::subtuning<B>>(store, select::parse(f.trainable));
    else if (f.policy == "grades") {
      freeze::grades_cfg g{.tau = f.tau, .grace_steps = f.grace_steps, .patience = f.patience};
      if (!f.scope.empty()) g.scope = select::parse(f.scope);
      out.template emplace<freeze::grades<B>>(store, g);
    }
    return 0;
  });
}

template <class Cfg>
void set_groups(const train::lm_train_config& c, Cfg& o) {
  const auto& oc = c.optimizer;
  if (!oc.default_no_decay)
    o.no_decay = oc.no_decay ? std::optional<select::any_selector>(select::parse(*oc.no_decay)) : std::nullopt;
  o.layer_decay = oc.layer_decay;
  o.max_grad_norm = oc.max_grad_norm;
  for (const auto& g : oc.groups) o.groups.push_back({select::parse(g.select), g.lr_scale, g.decay_scale});
}

}  // namespace detail

/// Entry point of `thaw-lm train` (argv without "thaw-lm train"); returns the exit status.
inline int lm_train(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  std::string config_path, resume;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out << kLmTrainHelp;
      return 0;
    }
    if ((a == "--config" || a == "--resume") && i + 1 < argc) {
      (a == "--config" ? config_path : resume) = argv[++i];
      continue;
    }
    err << "thaw-lm train: error: "
        << (a == "--config" || a == "--resume" ? "option " + a + " needs a value" : "unknown argument '" + a + "'")
        << " (see thaw-lm train --help)\n";
    return 2;
  }
  if (config_path.empty()) {
    err << "thaw-lm train: error: missing --config (see thaw-lm train --help)\n";
    return 2;
  }
  try {
    using B = backend::cpu<>;
    const auto c = train::load_lm_train_config(config_path);
#ifdef _OPENMP
    if (c.threads > 0) omp_set_num_threads(c.threads);
#endif
    auto d = detail::open_datasets(c, err);

    // The training stream.
    std::vector<const data::token_dataset*> sources;
    data::spec_context ctx;
    std::vector<std::size_t> source_index;
    for (const auto& name : c.sources) {
      const auto i = detail::dataset_index(c, name);
      source_index.push_back(i);
      sources.push_back(d.train[i].get());
      ctx.n_docs.push_back(d.train[i]->n_docs());
    }
    ctx.metric = [&](std::uint32_t s, const std::string& metric) -> std::span<const double> {
      const auto i = source_index.at(s);
      if (!d.metrics[i]) d.metrics[i] = data::load_metrics(*d.train[i]);
      return d.metrics[i]->get(metric);
    };
    auto batches = detail::with_key(c, "data.sampler", [&] {
      return data::make_batcher(sources, data::build_sampler(c.sampler, ctx),
                                {.batch = std::size_t(c.batch), .context = std::size_t(c.context), .mode = c.layout,
                                 .ignore_index = -1});
    });

    // The model, its starting weights and what trains.
    nn::gpt<B> model(c.model, c.seed);
    if (c.init) {
      detail::with_key(c, "init", [&] {
        std::error_code ec;
        const auto file = std::filesystem::is_directory(*c.init, ec)
                              ? train::checkpoint_reader::open(*c.init).file("model.safetensors")
                              : *c.init;
        io::load_parameters(model.params(), file, io::load_options{{}, ""});
        return 0;
      });
    }
    detail::policy_variant<B> policy;
    detail::make_policy(c, model.params(), policy);

    std::error_code ec;
    std::filesystem::create_directories(c.out, ec);
    THAW_CHECK(std::filesystem::is_directory(c.out, ec), "cannot create the output directory '", c.out.string(), "'");
    if (resume.empty()) std::filesystem::copy_file(config_path, c.out / "config.json",
                                                   std::filesystem::copy_options::overwrite_existing, ec);

    train::trainer_cfg tc{.steps = c.steps, .batch = c.batch, .context = c.context, .accumulation = c.accumulation,
                          .eval_every = c.eval_every, .eval_batches = c.eval_batches, .on_nonfinite = c.nonfinite,
                          .log = c.out / "log.jsonl", .csv = c.out / "summary.csv",
                          .progress = {.mode = c.progress}, .progress_to = &err,
                          .checkpoint = {.dir = c.out / "checkpoints", .every = c.checkpoint_every,
                                         .keep_last = c.checkpoint_keep},
                          .seed = c.seed};

    auto go = [&](auto& opt) {
      train::trainer run(model, opt, batches, tc);
      std::visit([&](auto& p) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(p)>, std::monostate>) run.freeze_with(p);
      }, policy);
      for (const auto& name : c.eval_sets) run.eval_on(name, *d.val[detail::dataset_index(c, name)]);
      for (const auto& [name, spec] : c.track) run.track(name, sched::parse(spec));
      if (!resume.empty()) run.resume(resume);
      run.fit();
      io::save_parameters(model.params(), c.out / "model.safetensors", {{"format", "thaw.model"}});
      char line[160];
      const auto& last = run.last_step();
      std::snprintf(line, sizeof line, "steps %lld  tokens %llu  time %.1fs  train loss %.4f\n",
                    static_cast<long long>(run.step()), static_cast<unsigned long long>(run.tokens()), run.elapsed(),
                    last ? last->loss : std::nan(""));
      out << line;
      if (const auto& e = run.last_eval())
        for (const auto& [name, v] : e->losses) {
          std::snprintf(line, sizeof line, "val %s %.4f\n", name.c_str(), v);
          out << line;
        }
      out << "weights " << (c.out / "model.safetensors").string() << "\n";
    };
    if (c.optimizer.type == "sgd") {
      optim::sgd_cfg oc{.lr = sched::parse(c.optimizer.lr), .weight_decay = sched::parse(c.optimizer.weight_decay),
                        .momentum = c.optimizer.momentum, .dampening = c.optimizer.dampening,
                        .nesterov = c.optimizer.nesterov};
      detail::with_key(c, "optimizer", [&] {
        detail::set_groups(c, oc);
        return 0;
      });
      auto opt = detail::with_key(c, "optimizer", [&] { return std::make_unique<optim::sgd<B>>(model.params(), oc); });
      go(*opt);
    } else {
      optim::adamw_cfg oc{.lr = sched::parse(c.optimizer.lr), .weight_decay = sched::parse(c.optimizer.weight_decay),
                          .beta1 = sched::parse(c.optimizer.beta1), .beta2 = sched::parse(c.optimizer.beta2),
                          .eps = c.optimizer.eps};
      detail::with_key(c, "optimizer", [&] {
        detail::set_groups(c, oc);
        return 0;
      });
      auto opt = detail::with_key(c, "optimizer", [&] { return std::make_unique<optim::adamw<B>>(model.params(), oc); });
      go(*opt);
    }
    return 0;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& ch : msg)
      if (ch == '\n') ch = ';';
    err << "thaw-lm train: error: " << msg << '\n';
    return 1;
  }
}

}  // namespace thaw::cli
