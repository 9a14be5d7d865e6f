// train::trainer — the training loop: a model, an optimizer, a stream of token batches, an
// optional freeze policy, named validation sets, logs, progress, checkpoints and hooks.
//
//   nn::gpt<B> model(cfg, seed);
//   optim::adamw opt(model, {.lr = sched::linear(0, 1e-3, 100) >> sched::cosine(1e-3, 1e-4, 900)});
//   auto data = data::make_batcher({&train_set}, data::shuffled(data::pool::all(n), 1),
//                                  {.batch = 8, .context = 128});
//   train::trainer run(model, opt, data, {.steps = 1000, .batch = 8, .context = 128,
//                                         .eval_every = 50, .log = "run/log.jsonl"});
//   run.eval_on("english", english_val).eval_on("code", code_val);
//   run.fit();
//
// One step: the freeze policy sets the trainable set for the step (the optimizer follows it),
// the gradients are zeroed, `accumulation` micro-batches run forward + backward with the loss
// scaled by 1/accumulation (gradients accumulate), hooks see the gradients, the gradient norm is
// taken over the trainable elements, a non-finite loss or gradient stops the run (or skips the
// update: nonfinite_policy::skip), and the optimizer updates. Steps count from 0; the
// optimizer's schedules are evaluated at its own update count (equal to the step unless steps
// were skipped). Every `eval_every` steps, after the steps listed in `eval_at`, before the
// first step and after the last, every validation set is evaluated on the same fixed batches.
//
// Hooks are any objects passed to fit(hooks...); each method is called only if the hook has
// it (detected with `requires`), so a hook writes just what it needs:
//   on_start(trainer&)                     before the first step of fit()
//   after_backward(step_t, param_store<B>&) after backward, before the norm and the update
//   measure(step_record&)                  before a step is logged: add to record.extra
//   on_step(const step_record&)            after a step is logged
//   on_eval(const eval_record&)            after an evaluation is logged
//   on_checkpoint(const std::filesystem::path&)  after a checkpoint is committed
//   on_end(trainer&)                       after the last step
//   state() -> state_dict, load_state(const state_dict&)  checkpointed with the run (keys must
//                                          be unique across hooks: prefix them)
//
// Checkpoints (checkpoint.hpp for the directory protocol) hold the weights, the optimizer
// state, the freeze policy's state, the data stream's state (sampler + batcher), the trainer's
// counters and RNG, the hooks' states and the log's length. resume(dir) on freshly built
// objects of the same configuration, then fit(), reproduces the uninterrupted run bit for bit
// (same losses, same final weights) for the same thread count; a checkpoint that does not fit
// the run is an error naming what differs. Deterministic for a given seed and thread count
// (nothing here depends on time or on the order threads finish).
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "thaw/core/arena.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/core/tensor.hpp"
#include "thaw/data/batch.hpp"
#include "thaw/data/dataset.hpp"
#include "thaw/data/sequential.hpp"
#include "thaw/freeze/policy.hpp"
#include "thaw/io/model_io.hpp"
#include "thaw/nn/module.hpp"
#include "thaw/optim/clip.hpp"
#include "thaw/optim/scalar.hpp"
#include "thaw/optim/state_dict.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/param_store.hpp"
#include "thaw/train/checkpoint.hpp"
#include "thaw/train/log.hpp"
#include "thaw/train/progress.hpp"

namespace thaw::train {

using sched::step_t;

// ---- what the trainer composes ----------------------------------------------------------------

/// A language model over backend B: forward(ctx, tokens (B, T)) -> logits, loss(ctx, logits,
/// targets) -> mean loss, backward(ctx, loss_scale), params(). nn::gpt is one.
template <class M>
concept language_model = requires(M& m, nn::context<typename M::backend_type>& ctx,
                                  tensor_view<const token_t> tokens,
                                  tensor_view<typename M::backend_type::scalar> logits) {
  typename M::backend_type;
  { m.forward(ctx, tokens) } -> std::convertible_to<tensor_view<typename M::backend_type::scalar>>;
  { m.loss(ctx, logits, tokens) } -> std::convertible_to<double>;
  m.backward(ctx, 1.0);
  { m.params() } -> std::same_as<param_store<typename M::backend_type>&>;
};

/// An optimizer over the compacted trainable set (optim::adamw, optim::sgd).
template <class O>
concept trainer_optimizer = requires(O& o, const O& co, const state_dict& d) {
  o.step();
  { co.state() } -> std::same_as<state_dict>;
  o.load_state(d);
  { co.steps() } -> std::convertible_to<step_t>;
  { co.ranges() } -> std::convertible_to<const std::vector<index_range>&>;
  { co.trainable_count() } -> std::convertible_to<std::size_t>;
};

/// A stream of token batches with a checkpointable state (data::batcher<S>).
template <class D>
concept batch_source = requires(D& d, const D& cd, data::token_batch& b, data::state_writer& w,
                                data::state_reader& r) {
  d.next(b);
  cd.save(w);
  d.restore(r);
};

// ---- configuration ------------------------------------------------------------------------------

/// What to do when a step's loss or gradient is not finite.
enum class nonfinite_policy {
  stop,  ///< log it and throw train::nonfinite_error (the default)
  skip,  ///< log it, skip the update (the data moves on), continue
};

struct checkpoint_cfg {
  std::filesystem::path dir = {};  ///< where checkpoints go ("": none)
  step_t every = 0;                ///< every this many steps (0: only at the end)
  std::size_t keep_last = 3;       ///< the newest N are kept (0: all)
  bool at_end = true;              ///< also after the last step
  /// Called after each file of a checkpoint is written and after the commit: a test's point
  /// of fault injection.
  std::function<void(std::string_view)> on_stage = {};
};

struct trainer_cfg {
  step_t steps = 0;               ///< the run ends when this many steps are done
  int batch = 8;                  ///< rows per micro-batch; the data must give this many
  int context = 256;              ///< tokens per row (T); the data must give this many
  int accumulation = 1;           ///< micro-batches per optimizer step
  step_t eval_every = 0;          ///< evaluate every this many steps (0: at start and end only)
  std::size_t eval_batches = 8;   ///< fixed batches per validation set (fewer if the set is small)
  bool eval_at_start = true;      ///< evaluate before the first step (step 0)
  std::vector<step_t> eval_at = {};  ///< also after these steps (dense evaluation after a switch)
  nonfinite_policy on_nonfinite = nonfinite_policy::stop;
  std::filesystem::path log = {};  ///< JSON Lines log ("": none)
  std::filesystem::path csv = {};  ///< CSV summary, rewritten at every checkpoint and at the end
  progress_cfg progress = {};
  std::ostream* progress_to = nullptr;  ///< where progress goes (nullptr: std::cerr)
  checkpoint_cfg checkpoint = {};
  std::uint64_t seed = 0;          ///< the trainer's RNG (rng()), for hooks that need randomness
};

/// One logged step.
struct step_record {
  step_t step = 0;              ///< steps done, this one included
  double loss = 0;              ///< mean over the micro-batches
  double grad_norm = 0;         ///< L2 norm over the trainable elements, before clipping
  std::size_t trainable = 0;    ///< trainable elements
  std::uint64_t tokens = 0;     ///< tokens trained on so far
  double tokens_per_s = 0;      ///< this step's throughput (forward, backward, update)
  double gflops = 0;            ///< achieved GFLOP/s by the FLOP model (NaN: no model)
  double seconds = 0;           ///< elapsed time of the run (resumes included)
  bool skipped = false;         ///< non-finite, update skipped
  std::vector<std::pair<std::string, double>> scalars;  ///< lr, weight_decay, tracked values
  std::vector<std::pair<std::string, double>> extra;    ///< hooks' measurements (measure())
};

/// One evaluation: the mean loss per validation set after `step` steps.
struct eval_record {
  step_t step = 0;
  std::vector<std::pair<std::string, double>> losses;
  double seconds = 0;
  [[nodiscard]] double loss(std::string_view name) const {
    for (const auto& [n, v] : losses)
      if (n == name) return v;
    throw error(message("no validation set named '", name, "'"));
  }
};

/// A non-finite loss or gradient stopped the run.
class nonfinite_error : public error {
public:
  nonfinite_error(const std::string& what, step_t step, std::string group)
      : error(what), step_(step), group_(std::move(group)) {}
  [[nodiscard]] step_t step() const noexcept { return step_; }
  /// The first parameter group (in buffer order) with a non-finite gradient ("" if none).
  [[nodiscard]] const std::string& group() const noexcept { return group_; }

private:
  step_t step_;
  std::string group_;
};

/// A counter-based random stream (Philox): a key and how many numbers were drawn.
struct trainer_rng {
  philox_key key{};
  std::uint64_t offset = 0;
  std::uint32_t next_u32() { return philox::bits_at(key, offset++); }
  double uniform() { return philox::uniform_at(key, offset++, 0.0, 1.0); }
};

namespace detail {

/// A freeze policy behind virtual calls, so that the trainer's type does not depend on it.
template <class B>
class policy_handle {
public:
  template <class P>
    requires freeze::policy<P, B>
  explicit policy_handle(P& p) : impl_(std::make_unique<model<P>>(p)) {}

  bool update(step_t s, param_store<B>& st) { return impl_->update(s, st); }
  std::vector<index_range> ranges(const param_store<B>& st) const { return impl_->ranges(st); }
  state_dict state() const { return impl_->state(); }
  void load_state(const state_dict& d) { impl_->load_state(d); }
  void restore(param_store<B>& st) const { impl_->restore(st); }
  const std::vector<freeze::freeze_event>& events() const { return impl_->events(); }
  void observe(step_t s, param_store<B>& st) { impl_->observe(s, st); }

private:
  struct iface {
    virtual ~iface() = default;
    virtual bool update(step_t, param_store<B>&) = 0;
    virtual std::vector<index_range> ranges(const param_store<B>&) const = 0;
    virtual state_dict state() const = 0;
    virtual void load_state(const state_dict&) = 0;
    virtual void restore(param_store<B>&) const = 0;
    virtual const std::vector<freeze::freeze_event>& events() const = 0;
    virtual void observe(step_t, param_store<B>&) = 0;
  };
  template <class P>
  struct model final : iface {
    explicit model(P& p) : p(&p) {}
    bool update(step_t s, param_store<B>& st) override { return p->update(s, st); }
    std::vector<index_range> ranges(const param_store<B>& st) const override { return p->ranges(st); }
    state_dict state() const override { return p->state(); }
    void load_state(const state_dict& d) override { p->load_state(d); }
    void restore(param_store<B>& st) const override { p->restore(st); }
    const std::vector<freeze::freeze_event>& events() const override { return p->events(); }
    void observe(step_t s, param_store<B>& st) override { freeze::observe(*p, s, st); }
    P* p;
  };
  std::unique_ptr<iface> impl_;
};

/// FLOPs of one training micro-step of `tokens` = batch x T tokens, from the parameters'
/// trainable flags (matmuls only, the model of nn/flops.hpp made freeze-aware): forward 2 n per
/// token for every Linear weight (n = in x out) and for a tied LM head (wte, when there is no
/// lm_head.weight), 4 T^2 d per row for each attention core ("*.attn.c_attn.weight", d = its
/// input width); backward 2 n per token for dW of a trainable weight, 2 n per token for dX
/// where anything earlier in the buffer (= lower in the model) trains, and twice the attention
/// forward where anything at or below the attention trains. All trainable, this equals
/// nn::gpt_training_flops.
template <class B>
double step_flops(const param_store<B>& store, int batch, int T) {
  const double tokens = double(batch) * T;
  double f = 0;
  bool earlier_trains = false;
  bool has_head = false;
  for (const auto& r : store.refs()) has_head |= r.name == "lm_head.weight";
  for (param_id i = 0; i < store.count(); ++i) {
    const auto& r = store.ref(i);
    const bool trains = store.trainable(i);
    if (r.module_type == "linear" && r.kind == param_kind::weight && r.shape.rank() == 2) {
      const double n = double(r.shape[0]) * double(r.shape[1]);
      f += 2 * n * tokens;                    // forward
      if (trains) f += 2 * n * tokens;        // dW
      if (earlier_trains) f += 2 * n * tokens;  // dX
      if (r.name.ends_with(".attn.c_attn.weight")) {
        const double attention = 4.0 * double(T) * T * double(r.shape[0]) * batch;
        f += attention;
        if (earlier_trains || trains) f += 2 * attention;
      }
    }
    earlier_trains |= trains && r.size() > 0;
  }
  if (!has_head) {  // a tied head: logits = x wte^T, after everything else
    for (param_id i = 0; i < store.count(); ++i) {
      const auto& r = store.ref(i);
      if (r.name != "wte.weight" || r.shape.rank() != 2) continue;
      const double n = double(r.shape[0]) * double(r.shape[1]);
      f += 2 * n * tokens;
      if (store.trainable(i)) f += 2 * n * tokens;
      if (earlier_trains) f += 2 * n * tokens;
    }
  }
  return f;
}

/// A layout fingerprint of a store: names, shapes, kinds.
template <class B>
std::string layout_hash(const param_store<B>& store) {
  std::uint64_t h = fnv1a64("thaw.layout");
  for (const auto& r : store.refs()) {
    h = fnv1a64(r.name, h);
    for (int d = 0; d < r.shape.rank(); ++d) h = fnv1a64(std::to_string(r.shape[d]) + ",", h);
    h = fnv1a64(kind_name(r.kind), h);
  }
  return hex64(h);
}

inline int thread_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// The component name of a state dict ("adamw" of "adamw.m").
inline std::string state_owner(const state_dict& d) {
  if (d.empty()) return "";
  const auto& k = d.begin()->first;
  return k.substr(0, k.find('.'));
}

}  // namespace detail

// ---- the trainer ---------------------------------------------------------------------------------

template <language_model Model, trainer_optimizer Optimizer, batch_source Data>
class trainer {
public:
  using B = typename Model::backend_type;
  using T = typename B::scalar;

  /// The trainer keeps references: model, optimizer and data must outlive it.
  trainer(Model& model, Optimizer& opt, Data& data, trainer_cfg cfg)
      : model_(model), opt_(opt), data_(data), cfg_(std::move(cfg)),
        rng_{{cfg_.seed, 0x7452'4149'4E45'5221ull}, 0} {
    THAW_CHECK(cfg_.steps >= 0, "trainer: steps must be >= 0, got ", cfg_.steps);
    THAW_CHECK(cfg_.batch >= 1 && cfg_.context >= 1, "trainer: batch and context must be >= 1, got ", cfg_.batch,
               " and ", cfg_.context);
    THAW_CHECK(cfg_.accumulation >= 1, "trainer: accumulation must be >= 1, got ", cfg_.accumulation);
    THAW_CHECK(cfg_.eval_every >= 0, "trainer: eval_every must be >= 0, got ", cfg_.eval_every);
    THAW_CHECK(cfg_.checkpoint.every >= 0, "trainer: checkpoint.every must be >= 0, got ", cfg_.checkpoint.every);
    THAW_CHECK(cfg_.checkpoint.every == 0 || !cfg_.checkpoint.dir.empty(),
               "trainer: checkpoint.every is set but checkpoint.dir is empty");
    if constexpr (requires { model.config().context; })
      THAW_CHECK(cfg_.context <= model.config().context, "trainer: context ", cfg_.context,
                 " is longer than the model's context ", model.config().context);
  }
  trainer(const trainer&) = delete;
  trainer& operator=(const trainer&) = delete;

  // ---- composition ----

  /// Drives the trainable set with a freeze policy (freeze::policy<P, B>), kept by reference.
  /// Before each step policy.update(step, store) sets the flags and, when they change, the
  /// optimizer is retargeted to policy.ranges(store).
  template <class P>
    requires freeze::policy<P, B>
  trainer& freeze_with(P& policy) {
    static_assert(requires(Optimizer& o, std::vector<index_range> r) { o.retarget(std::move(r)); },
                  "a freeze policy needs an optimizer with retarget(ranges) (optim::adamw, optim::sgd)");
    policy_.emplace(policy);
    return *this;
  }

  /// Logs a scheduled scalar (a replay ratio, a freeze depth...) with every step, evaluated at
  /// the optimizer's step. The optimizer's own lr and weight_decay are logged without this.
  template <class F>
    requires sched::step_function<F>
  trainer& track(std::string name, F f) {
    tracked_.push_back({std::move(name), optim::step_scalar(std::move(f))});
    return *this;
  }

  /// A validation set: the first `eval_batches` batches (batch x context, documents packed in
  /// order) of `ds`, fixed for the whole run. Fewer when the set is small; at least one.
  trainer& eval_on(std::string name, const data::token_dataset& ds) {
    const std::uint64_t per_batch = std::uint64_t(cfg_.batch) * std::uint64_t(cfg_.context);
    const std::uint64_t n = std::max<std::uint64_t>(
        1, std::min<std::uint64_t>(cfg_.eval_batches, ds.n_tokens() / std::max<std::uint64_t>(per_batch, 1)));
    auto b = data::make_batcher({&ds}, data::sequential(data::pool::all(ds.n_docs())),
                                {.batch = std::size_t(cfg_.batch), .context = std::size_t(cfg_.context)});
    std::vector<data::token_batch> batches(n);
    for (auto& x : batches) b.next(x);
    return eval_on(std::move(name), std::move(batches));
  }
  /// A validation set from given batches (each batch x context).
  trainer& eval_on(std::string name, std::vector<data::token_batch> batches) {
    THAW_CHECK(!batches.empty(), "validation set '", name, "' has no batches");
    for (const auto& e : evals_) THAW_CHECK(e.name != name, "validation set '", name, "' is added twice");
    for (const auto& b : batches) check_batch(b, "validation set '" + name + "'");
    evals_.push_back({std::move(name), std::move(batches)});
    return *this;
  }

  // ---- running ----

  /// Trains until cfg.steps steps are done (continuing from a resume), with the given hooks.
  template <class... H>
  void fit(H&&... hooks) {
    open_log();
    auto& out = cfg_.progress_to ? *cfg_.progress_to : std::cerr;
    progress bar(out, step_, cfg_.steps, cfg_.progress);
    bar_ = &bar;
    session_start_ = clock();
    struct session_end {  // also when a step throws
      trainer& t;
      ~session_end() {
        t.elapsed_before_ = t.elapsed();
        t.session_start_ = 0;
        t.bar_ = nullptr;
      }
    } end_session{*this};
    if (resumed_) {
      (give_state(hooks), ...);
      json r{{"event", "resume"}, {"step", step_}, {"from", resumed_from_.string()}};
      if (resumed_threads_ != detail::thread_count()) {
        r["warning"] = message("the checkpoint ran with ", resumed_threads_, " threads, this run has ",
                               detail::thread_count(), ": results may differ in the last bits");
        bar.message(r["warning"].template get<std::string>());
      }
      log_.write(r);
    } else if (step_ == 0) {
      log_.write(start_record());
    }
    (call_on_start(hooks), ...);
    if (!resumed_ && step_ == 0 && cfg_.eval_at_start && !evals_.empty()) run_eval(hooks...);
    resumed_ = false;
    while (step_ < cfg_.steps) {
      train_step(hooks...);
      const bool last = step_ == cfg_.steps;
      const bool due = last || (cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0) ||
                       std::find(cfg_.eval_at.begin(), cfg_.eval_at.end(), step_) != cfg_.eval_at.end();
      if (!evals_.empty() && due) run_eval(hooks...);
      if (!cfg_.checkpoint.dir.empty() &&
          ((cfg_.checkpoint.every > 0 && step_ % cfg_.checkpoint.every == 0) || (last && cfg_.checkpoint.at_end)))
        write_checkpoint(cfg_.checkpoint.dir, hooks...);
    }
    bar.finish();
    log_.write(json{{"event", "end"}, {"step", step_}, {"tokens", tokens_}, {"time", elapsed()}});
    log_.sync();
    write_csv();
    (call_on_end(hooks), ...);
  }

  /// Mean loss of every validation set on the current weights (nothing is logged).
  [[nodiscard]] eval_record evaluate() {
    eval_record rec{step_, {}, elapsed()};
    for (auto& e : evals_) {
      double sum = 0;
      for (const auto& b : e.batches) {
        upload(b);
        activations_.reset();
        nn::context<B> ctx{model_.params(), activations_};
        auto logits = model_.forward(ctx, inputs_.view());
        sum += model_.loss(ctx, logits, targets_.view());
      }
      rec.losses.push_back({e.name, sum / static_cast<double>(e.batches.size())});
    }
    return rec;
  }

  /// Writes a checkpoint of the current state under `root` now (hooks' states not included;
  /// inside fit() checkpoints include them). Returns its directory.
  std::filesystem::path save_checkpoint(const std::filesystem::path& root) { return write_checkpoint(root); }

  /// Restores a checkpoint (a checkpoint directory, or a directory of them: the latest) into
  /// this trainer and the objects it references, which must be configured as when it was
  /// written. Then fit() continues the run. Throws thaw::error naming what does not fit; after
  /// a failed resume the objects must not be used.
  void resume(const std::filesystem::path& path) {
    const auto ck = checkpoint_reader::open(path);
    const std::string where = message("checkpoint '", ck.dir().string(), "'");
    const auto t = ck.read_json("trainer.json");
    auto need = [&](const char* key) -> const nlohmann::json& {
      THAW_CHECK(t.is_object() && t.contains(key), where, ": trainer.json has no '", key, "'");
      return t[key];
    };
    auto count = [&](const char* key) -> std::int64_t {
      const auto& v = need(key);
      THAW_CHECK(v.is_number_integer() && v.template get<std::int64_t>() >= 0, where, ": trainer.json '", key,
                 "' should be a non-negative integer, it is ", v.dump());
      return v.template get<std::int64_t>();
    };
    THAW_CHECK(need("format") == "thaw.trainer", where, ": trainer.json is not a thaw trainer state");
    // What must match this run for the resumed run to be the same run.
    auto same = [&](const char* key, std::int64_t mine, const char* what) {
      const auto theirs = count(key);
      THAW_CHECK(theirs == mine, where, " was written with ", what, " ", theirs, ", this run has ", mine,
                 " (resuming would not continue the same run)");
    };
    same("batch", cfg_.batch, "batch");
    same("context", cfg_.context, "context");
    same("accumulation", cfg_.accumulation, "accumulation");
    auto& store = model_.params();
    const auto& m = need("model");
    THAW_CHECK(m.is_object() && m.contains("layout") && m.contains("parameters") && m.contains("elements"), where,
               ": trainer.json 'model' is malformed");
    if (m["layout"] != detail::layout_hash(store)) {
      std::string detail;
      try {  // the weight loader says which parameters differ (it writes nothing unless all match)
        io::load_parameters(store, ck.file("model.safetensors"), io::load_options{{}, ""});
      } catch (const error& e) {
        detail = message(": ", e.what());
      }
      throw error(message(where, " is for another model (", m["parameters"].dump(), " parameters, ",
                          m["elements"].dump(), " elements; this one has ", store.count(), ", ", store.numel(),
                          ")", detail));
    }
    const auto opt_state = load_file_state(ck, "optimizer.safetensors", where);
    const std::string theirs = detail::state_owner(opt_state), mine = detail::state_owner(opt_.state());
    THAW_CHECK(theirs == mine, where, " holds ", theirs.empty() ? std::string("no") : theirs,
               " optimizer state, this run uses ", mine.empty() ? std::string("an optimizer without state") : mine);
    const bool had_policy = need("freeze_policy").is_boolean() && need("freeze_policy").template get<bool>();
    THAW_CHECK(had_policy == policy_.has_value(), where, had_policy ? " was trained with a freeze policy, this run has none"
                                                                    : " was trained without a freeze policy, this run has one");
    const auto& words = need("data_state");
    THAW_CHECK(words.is_array(), where, ": trainer.json 'data_state' is malformed");
    data::sampler_state st;
    for (const auto& w : words) {
      const std::string hex = w.is_string() ? w.template get<std::string>() : std::string();
      std::uint64_t v = 0;
      const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
      THAW_CHECK(hex.size() == 16 && ec == std::errc() && end == hex.data() + hex.size(), where,
                 ": trainer.json 'data_state' is malformed");
      st.push_back(v);
    }
    const auto& flags = need("trainable");
    THAW_CHECK(flags.is_array() && flags.size() == store.count(), where, ": trainer.json 'trainable' is malformed");

    // Load: weights, the freeze state (it sets the flags the optimizer state needs), the
    // optimizer, the data stream, the counters.
    try {
      io::load_parameters(store, ck.file("model.safetensors"), io::load_options{{}, ""});
    } catch (const error& e) {
      throw error(message(where, ": model.safetensors: ", e.what()));
    }
    if (policy_) {
      const auto d = load_file_state(ck, "freeze.safetensors", where);
      try {
        policy_->load_state(d);
        policy_->restore(store);
      } catch (const error& e) {
        throw error(message(where, ": freeze.safetensors does not fit this run's freeze policy: ", e.what()));
      }
    }
    for (param_id p = 0; p < store.count(); ++p) {
      const bool saved = flags[p] == 1;
      THAW_CHECK(saved == store.trainable(p), where, (saved ? " trains '" : " freezes '"), store.ref(p).name,
                 (saved ? "' but this run freezes it" : "' but this run trains it"),
                 " (a different freeze configuration)");
    }
    try {
      opt_.load_state(opt_state);
    } catch (const error& e) {
      throw error(message(where, ": optimizer.safetensors does not fit this run's optimizer: ", e.what()));
    }
    try {
      data::state_reader r(st);
      data_.restore(r);
      r.finish();
    } catch (const error& e) {
      throw error(message(where, ": the data state does not fit this run's data stream (another sampler or "
                                 "datasets?): ", e.what()));
    }
    pending_hook_state_.clear();
    if (ck.has("hooks.safetensors")) pending_hook_state_ = load_file_state(ck, "hooks.safetensors", where);
    step_ = count("step");
    tokens_ = static_cast<std::uint64_t>(count("tokens"));
    skipped_ = count("skipped_steps");
    rng_.offset = static_cast<std::uint64_t>(count("rng_offset"));
    const auto& el = need("elapsed_s");
    THAW_CHECK(el.is_number(), where, ": trainer.json 'elapsed_s' is malformed");
    elapsed_before_ = el.template get<double>();
    resumed_threads_ = static_cast<int>(count("threads"));
    log_keep_ = static_cast<std::uint64_t>(count("log_bytes"));
    events_logged_ = policy_ ? policy_->events().size() : 0;
    flops_valid_ = false;
    resumed_ = true;
    resumed_from_ = ck.dir();
  }

  // ---- state ----

  [[nodiscard]] step_t step() const noexcept { return step_; }
  [[nodiscard]] std::uint64_t tokens() const noexcept { return tokens_; }
  [[nodiscard]] step_t skipped_steps() const noexcept { return skipped_; }
  [[nodiscard]] const trainer_cfg& cfg() const noexcept { return cfg_; }
  [[nodiscard]] Model& model() noexcept { return model_; }
  [[nodiscard]] Optimizer& optimizer() noexcept { return opt_; }
  [[nodiscard]] trainer_rng& rng() noexcept { return rng_; }
  [[nodiscard]] const std::optional<step_record>& last_step() const noexcept { return last_step_; }
  [[nodiscard]] const std::optional<eval_record>& last_eval() const noexcept { return last_eval_; }
  /// Seconds of training so far (earlier sessions included).
  [[nodiscard]] double elapsed() const { return elapsed_before_ + (session_start_ > 0 ? clock() - session_start_ : 0.0); }
  /// The model's FLOPs per optimizer step by the FLOP model (detail::step_flops).
  [[nodiscard]] double flops_per_step() {
    if (!flops_valid_) {
      flops_ = detail::step_flops(model_.params(), cfg_.batch, cfg_.context) * cfg_.accumulation;
      flops_valid_ = true;
    }
    return flops_;
  }

private:
  struct eval_set {
    std::string name;
    std::vector<data::token_batch> batches;
  };

  static double clock() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  void check_batch(const data::token_batch& b, const std::string& what) const {
    THAW_CHECK(b.B == std::size_t(cfg_.batch) && b.T == std::size_t(cfg_.context), what, " gives batches of ", b.B,
               " x ", b.T, " tokens, the trainer is configured for ", cfg_.batch, " x ", cfg_.context);
  }

  /// Inputs tokens[:, :T] and targets (negative targets: ignored, as the model's -1) to the backend.
  void upload(const data::token_batch& b) {
    const std::size_t Bn = b.B, Tn = b.T;
    host_in_.resize(Bn * Tn);
    host_tg_.resize(Bn * Tn);
    for (std::size_t r = 0; r < Bn; ++r)
      for (std::size_t j = 0; j < Tn; ++j) {
        host_in_[r * Tn + j] = b.tokens[r * (Tn + 1) + j];
        const auto t = b.targets[r * Tn + j];
        host_tg_[r * Tn + j] = t < 0 ? token_t(-1) : t;
      }
    const thaw::shape s{static_cast<std::int64_t>(Bn), static_cast<std::int64_t>(Tn)};
    if (inputs_.shape() != s) {
      inputs_ = tensor<B, token_t>(s);
      targets_ = tensor<B, token_t>(s);
    }
    B::from_host(inputs_.data(), host_in_.data(), host_in_.size());
    B::from_host(targets_.data(), host_tg_.data(), host_tg_.size());
  }

  template <class... H>
  void train_step(H&... hooks) {
    auto& store = model_.params();
    const step_t s = step_;
    if (policy_) {
      if (policy_->update(s, store)) {
        if constexpr (requires(std::vector<index_range> r) { opt_.retarget(std::move(r)); })
          opt_.retarget(policy_->ranges(store));
        flops_valid_ = false;
      }
      const auto& ev = policy_->events();
      for (; events_logged_ < ev.size(); ++events_logged_) {
        const auto& e = ev[events_logged_];
        log_.write(json{{"event", "freeze"}, {"step", e.step}, {"param", e.name}, {"frozen", e.frozen}});
      }
    }
    const double t0 = clock();
    store.zero_grads();
    double loss = 0;
    for (int k = 0; k < cfg_.accumulation; ++k) {
      data_.next(batch_);
      check_batch(batch_, "the training data");
      upload(batch_);
      activations_.reset();
      nn::context<B> ctx{store, activations_};
      auto logits = model_.forward(ctx, inputs_.view());
      const double l = model_.loss(ctx, logits, targets_.view());
      model_.backward(ctx, 1.0 / cfg_.accumulation);  // gradients accumulate (+=) over micro-batches
      loss += cfg_.accumulation == 1 ? l : l / cfg_.accumulation;
    }
    (call_after_backward(hooks, s), ...);
    if (policy_) policy_->observe(s, store);
    const double norm = optim::grad_norm(store, std::span<const index_range>(opt_.ranges()));

    step_record rec;
    const step_t at = opt_.steps();
    if constexpr (requires { opt_.cfg().lr(at); }) rec.scalars.push_back({"lr", opt_.cfg().lr(at)});
    if constexpr (requires { opt_.cfg().weight_decay(at); })
      rec.scalars.push_back({"weight_decay", opt_.cfg().weight_decay(at)});
    if constexpr (requires { opt_.cfg().beta1.is_constant(); }) {
      if (!opt_.cfg().beta1.is_constant()) rec.scalars.push_back({"beta1", opt_.cfg().beta1(at)});
      if (!opt_.cfg().beta2.is_constant()) rec.scalars.push_back({"beta2", opt_.cfg().beta2(at)});
    }
    for (const auto& [name, f] : tracked_) rec.scalars.push_back({name, f(at)});

    const bool bad = !std::isfinite(loss) || !std::isfinite(norm);
    if (bad) {
      const auto [group, values] = first_nonfinite();
      const std::string what = !std::isfinite(loss) ? "loss" : "gradient";
      const std::string text = message(
          "non-finite ", what, " at step ", s, " (loss ", loss, ", gradient norm ", norm, ")",
          group.empty() ? std::string("; every gradient is finite") : message("; first parameter group with a non-finite gradient: '", group, "'"),
          values.empty() ? std::string() : message("; first parameter with non-finite values: '", values, "'"));
      log_.write(json{{"event", "nonfinite"}, {"step", s}, {"what", what}, {"loss", number(loss)},
                      {"grad_norm", number(norm)}, {"group", group}, {"values", values},
                      {"action", cfg_.on_nonfinite == nonfinite_policy::stop ? "stop" : "skip"}});
      if (bar_) bar_->message(text + (cfg_.on_nonfinite == nonfinite_policy::stop ? "; stopping" : "; update skipped"));
      if (cfg_.on_nonfinite == nonfinite_policy::stop) {
        log_.sync();
        throw nonfinite_error(text, s, group);
      }
      ++skipped_;
    } else {
      opt_.step();
    }
    const double dt = clock() - t0;
    ++step_;
    const std::uint64_t step_tokens = std::uint64_t(cfg_.batch) * cfg_.context * cfg_.accumulation;
    tokens_ += step_tokens;

    rec.step = step_;
    rec.loss = loss;
    rec.grad_norm = norm;
    rec.trainable = opt_.trainable_count();
    rec.tokens = tokens_;
    rec.tokens_per_s = dt > 0 ? double(step_tokens) / dt : 0.0;
    rec.gflops = dt > 0 ? flops_per_step() / dt / 1e9 : 0.0;
    rec.seconds = elapsed();
    rec.skipped = bad;
    (call_measure(hooks, rec), ...);
    json j{{"event", "step"}, {"step", rec.step}, {"loss", number(rec.loss)}};
    for (const auto& [k, v] : rec.scalars) j[k] = number(v);
    j["grad_norm"] = number(rec.grad_norm);
    j["trainable"] = rec.trainable;
    j["tokens"] = rec.tokens;
    j["tokens_per_s"] = number(rec.tokens_per_s);
    j["gflops"] = number(rec.gflops);
    j["time"] = rec.seconds;
    if (rec.skipped) j["skipped"] = true;
    for (const auto& [k, v] : rec.extra) j[k] = number(v);
    log_.write(j);
    if (bar_) bar_->update(step_, loss, rec.tokens_per_s);
    last_step_ = rec;
    (call_on_step(hooks, *last_step_), ...);
  }

  /// The first parameter (buffer order) with a non-finite gradient in the trainable set, and
  /// the first with non-finite values; "" where there is none.
  std::pair<std::string, std::string> first_nonfinite() const {
    const auto& store = model_.params();
    std::vector<T> g(store.numel()), v(store.numel());
    B::to_host(g.data(), store.grads(), g.size());
    B::to_host(v.data(), store.values(), v.size());
    const auto& ranges = opt_.ranges();
    std::string grad_group, value_group;
    for (const auto& r : ranges)
      for (std::size_t e = r.begin; e < r.end && grad_group.empty(); ++e)
        if (!std::isfinite(static_cast<double>(g[e]))) grad_group = owner(e);
    for (std::size_t e = 0; e < v.size() && value_group.empty(); ++e)
      if (!std::isfinite(static_cast<double>(v[e]))) value_group = owner(e);
    return {grad_group, value_group};
  }
  std::string owner(std::size_t e) const {
    for (const auto& r : model_.params().refs())
      if (e >= r.offset && e < r.offset + r.size()) return r.name;
    return "?";
  }

  template <class... H>
  void run_eval(H&... hooks) {
    auto rec = evaluate();
    json j{{"event", "eval"}, {"step", rec.step}};
    std::string line = message("eval at step ", rec.step, ":");
    for (const auto& [name, v] : rec.losses) {
      j["val/" + name] = number(v);
      char buf[64];
      std::snprintf(buf, sizeof buf, " %s %.4f", name.c_str(), v);
      line += buf;
    }
    j["time"] = rec.seconds;
    log_.write(j);
    if (bar_) bar_->message(line);
    last_eval_ = rec;
    (call_on_eval(hooks, *last_eval_), ...);
  }

  json start_record() {
    auto& store = model_.params();
    json j{{"event", "start"}, {"step", step_}, {"parameters", store.numel()},
           {"trainable", opt_.trainable_count()}, {"steps", cfg_.steps}, {"batch", cfg_.batch},
           {"context", cfg_.context}, {"accumulation", cfg_.accumulation}, {"threads", detail::thread_count()},
           {"flops_per_step", flops_per_step()}};
    if constexpr (requires { model_.config().width; }) {
      const auto& c = model_.config();
      j["model"] = json{{"vocab", c.vocab}, {"context", c.context}, {"layers", c.layers}, {"heads", c.heads},
                        {"width", c.width}, {"mlp_ratio", c.mlp_ratio}, {"tied_head", c.tied_head}};
    }
    std::vector<std::string> sets;
    for (const auto& e : evals_) sets.push_back(e.name);
    j["eval_sets"] = sets;
    return j;
  }

  /// A fresh run starts a new log (an old file there is replaced); a resumed run cuts the log
  /// back to what the checkpoint recorded and continues it (or starts one if there is none);
  /// a second fit() of the same trainer continues its log.
  void open_log() {
    if (cfg_.log.empty()) return;
    std::error_code ec;
    if (resumed_) {
      if (std::filesystem::exists(cfg_.log, ec)) log_ = jsonl_log::open(cfg_.log, log_keep_);
      else log_ = jsonl_log::open(cfg_.log);
    } else if (!log_.enabled()) {
      log_ = step_ == 0 ? jsonl_log::open(cfg_.log, 0) : jsonl_log::open(cfg_.log);
    }
  }

  void write_csv() {
    if (cfg_.csv.empty() || cfg_.log.empty()) return;
    write_csv_summary(cfg_.log, cfg_.csv);
  }

  static state_dict load_file_state(const checkpoint_reader& ck, const char* name, const std::string& where) {
    try {
      return thaw::load_state(ck.file(name));
    } catch (const error& e) {
      throw error(message(where, ": ", name, ": ", e.what()));
    }
  }

  template <class... H>
  std::filesystem::path write_checkpoint(const std::filesystem::path& root, H&... hooks) {
    auto& store = model_.params();
    const auto dir = root / checkpoint_name(step_);
    log_.write(json{{"event", "checkpoint"}, {"step", step_}, {"path", dir.string()}});
    log_.sync();
    checkpoint_writer w(root, step_, cfg_.checkpoint.on_stage);
    io::save_parameters(store, w.path("model.safetensors"), {{"format", "thaw.model"}},
                        sizeof(T) == sizeof(float) ? io::st_dtype::f32 : io::st_dtype::f64);
    w.added("model.safetensors");
    thaw::save_state(opt_.state(), w.path("optimizer.safetensors"), {{"format", "thaw.optimizer"}});
    w.added("optimizer.safetensors");
    if (policy_) {
      thaw::save_state(policy_->state(), w.path("freeze.safetensors"), {{"format", "thaw.freeze"}});
      w.added("freeze.safetensors");
    }
    state_dict hook_state;
    (collect_state(hooks, hook_state), ...);
    if (!hook_state.empty()) {
      thaw::save_state(hook_state, w.path("hooks.safetensors"), {{"format", "thaw.hooks"}});
      w.added("hooks.safetensors");
    }
    data::sampler_state st;
    data::state_writer sw(st);
    data_.save(sw);
    std::vector<std::string> words;
    for (auto x : st) words.push_back(hex64(x));
    std::vector<int> flags;
    for (param_id p = 0; p < store.count(); ++p) flags.push_back(store.trainable(p) ? 1 : 0);
    nlohmann::ordered_json t{{"format", "thaw.trainer"},
                             {"version", 1},
                             {"step", step_},
                             {"optimizer_steps", opt_.steps()},
                             {"tokens", tokens_},
                             {"skipped_steps", skipped_},
                             {"elapsed_s", elapsed()},
                             {"batch", cfg_.batch},
                             {"context", cfg_.context},
                             {"accumulation", cfg_.accumulation},
                             {"threads", detail::thread_count()},
                             {"model", {{"parameters", store.count()}, {"elements", store.numel()},
                                        {"layout", detail::layout_hash(store)}}},
                             {"optimizer", detail::state_owner(opt_.state())},
                             {"freeze_policy", policy_.has_value()},
                             {"trainable", flags},
                             {"data_state", words},
                             {"rng_seed", rng_.key.seed},
                             {"rng_offset", rng_.offset},
                             {"log_bytes", log_.bytes()}};
    w.write_json("trainer.json", t);
    const auto committed = w.commit();
    prune_checkpoints(root, cfg_.checkpoint.keep_last);
    write_csv();
    if (bar_) bar_->message(message("checkpoint ", committed.string()));
    (call_on_checkpoint(hooks, committed), ...);
    return committed;
  }

  // ---- hook dispatch (each method only if the hook has it) ----
  template <class H> void call_on_start(H& h) { if constexpr (requires { h.on_start(*this); }) h.on_start(*this); }
  template <class H> void call_on_end(H& h) { if constexpr (requires { h.on_end(*this); }) h.on_end(*this); }
  template <class H> void call_after_backward(H& h, step_t s) {
    if constexpr (requires { h.after_backward(s, model_.params()); }) h.after_backward(s, model_.params());
  }
  template <class H> void call_measure(H& h, step_record& r) { if constexpr (requires { h.measure(r); }) h.measure(r); }
  template <class H> void call_on_step(H& h, const step_record& r) { if constexpr (requires { h.on_step(r); }) h.on_step(r); }
  template <class H> void call_on_eval(H& h, const eval_record& r) { if constexpr (requires { h.on_eval(r); }) h.on_eval(r); }
  template <class H> void call_on_checkpoint(H& h, const std::filesystem::path& p) {
    if constexpr (requires { h.on_checkpoint(p); }) h.on_checkpoint(p);
  }
  template <class H> void collect_state(H& h, state_dict& d) {
    if constexpr (requires { { h.state() } -> std::convertible_to<state_dict>; }) thaw::merge(d, h.state());
  }
  template <class H> void give_state(H& h) {
    if constexpr (requires { h.load_state(pending_hook_state_); })
      if (!pending_hook_state_.empty()) h.load_state(pending_hook_state_);
  }

  Model& model_;
  Optimizer& opt_;
  Data& data_;
  trainer_cfg cfg_;
  std::optional<detail::policy_handle<B>> policy_;
  std::vector<eval_set> evals_;
  std::vector<std::pair<std::string, optim::step_scalar>> tracked_;

  arena<B> activations_;
  data::token_batch batch_;
  std::vector<token_t> host_in_, host_tg_;
  tensor<B, token_t> inputs_, targets_;

  step_t step_ = 0, skipped_ = 0;
  std::uint64_t tokens_ = 0;
  double elapsed_before_ = 0, session_start_ = 0;
  trainer_rng rng_;
  double flops_ = 0;
  bool flops_valid_ = false;

  jsonl_log log_;
  std::uint64_t log_keep_ = 0;
  std::size_t events_logged_ = 0;
  bool resumed_ = false;
  int resumed_threads_ = 0;
  std::filesystem::path resumed_from_;
  state_dict pending_hook_state_;
  progress* bar_ = nullptr;
  std::optional<step_record> last_step_;
  std::optional<eval_record> last_eval_;
};

}  // namespace thaw::train
