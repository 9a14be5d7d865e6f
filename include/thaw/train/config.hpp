// The configuration of `thaw-lm train`: one JSON file (comments allowed) describing a whole
// experiment — model, datasets and tokenizer, sampler spec, schedules, optimizer, freezing,
// evaluation sets, checkpoints. docs/training.md has a complete commented example (a test
// parses it, so it cannot drift from this parser).
//
// Every key is checked: an unknown key, a wrong type or an out-of-range value is a thaw::error
// naming the key by its path ("config 'run.json': 'optimizer.lr' ..."), and specs (schedules,
// selectors, the sampler) are parsed here, so a typo is reported before any data is read.
// Things that need the data or the model (a selector that matches no parameter, a source index
// beyond the datasets) are checked when the run is built and are reported with the key too.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/batch.hpp"
#include "thaw/data/spec.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/params/select.hpp"
#include "thaw/schedule/spec.hpp"
#include "thaw/train/progress.hpp"
#include "thaw/train/trainer.hpp"

namespace thaw::train {

struct dataset_config {
  std::string name;
  std::filesystem::path dir;         ///< a dataset directory (thaw-data build's output)
  std::string corpus;                ///< when set, the directory is built from it if missing
  std::string tokenizer = "byte";    ///< for building: byte | bpe:FILE | gpt2:DIR
  double val_fraction = 0.05;        ///< for building
  std::uint64_t split_seed = 0;      ///< for building
};

struct group_config {
  std::string select;
  std::optional<double> lr_scale, decay_scale;
};

struct optimizer_config {
  std::string type = "adamw";        ///< adamw | sgd
  std::string lr = "1e-3";           ///< schedule specs (a number is a constant)
  std::string weight_decay = "0";
  std::string beta1 = "0.9", beta2 = "0.999";
  double eps = 1e-8;
  double momentum = 0, dampening = 0;
  bool nesterov = false;
  double max_grad_norm = 0;
  bool default_no_decay = true;      ///< no "no_decay" key: norms, biases and embeddings
  std::optional<std::string> no_decay;  ///< a selector; nullopt with !default_no_decay: decay all
  double layer_decay = 1;
  std::vector<group_config> groups;
};

struct freeze_config {
  std::string policy = "none";  ///< none | frozen | two_stage | progressive | unfreezing | subtuning | grades
  std::string frozen;           ///< frozen, two_stage: what is frozen
  std::string trainable;        ///< subtuning: what trains
  step_t unfreeze_at = 0;       ///< two_stage
  step_t total_steps = 0;       ///< progressive (0: the run's steps)
  double freeze_start = 0.5, freeze_level = 1.0;  ///< progressive
  step_t every = 1;             ///< progressive, unfreezing
  std::string unit = "depth";   ///< progressive, unfreezing: depth | module
  std::string scope;            ///< progressive, unfreezing, grades (default: theirs)
  double tau = 1e-3;            ///< grades
  step_t grace_steps = 0, patience = 1;  ///< grades
};

struct lm_train_config {
  std::string origin;                         ///< the file, for messages
  std::filesystem::path out = "run";
  std::uint64_t seed = 0;
  int threads = 0;
  nn::gpt_config model{};
  std::optional<std::filesystem::path> init;  ///< weights (safetensors or checkpoint) to start from
  std::vector<dataset_config> datasets;       ///< in the order of the "datasets" object
  std::vector<std::string> sources;           ///< the sampler's source i is the dataset sources[i]
  std::string sampler;
  data::layout layout = data::layout::pack;
  step_t steps = 0;
  int batch = 8, accumulation = 1, context = 0;  ///< context 0: the model's
  nonfinite_policy nonfinite = nonfinite_policy::stop;
  optimizer_config optimizer;
  freeze_config freeze;
  step_t eval_every = 0;
  std::size_t eval_batches = 8;
  std::vector<std::string> eval_sets;
  step_t checkpoint_every = 0;
  std::size_t checkpoint_keep = 3;
  progress_mode progress = progress_mode::automatic;
  std::vector<std::pair<std::string, std::string>> track;  ///< extra schedules logged by name

  [[nodiscard]] const dataset_config& dataset(const std::string& name) const {
    for (const auto& d : datasets)
      if (d.name == name) return d;
    throw error(message("no dataset named '", name, "'"));
  }
};

namespace detail {

/// One JSON object of the config: typed getters that remember which keys were read, and
/// finish() that rejects the rest.
class config_object {
public:
  config_object(const nlohmann::json& j, std::string path, const std::string& origin)
      : j_(j), path_(std::move(path)), origin_(origin) {
    if (!j_.is_object()) fail(path_.empty() ? "the config" : key_name(""), " must be a JSON object, got ", j_.dump());
  }

  [[nodiscard]] bool has(const std::string& k) const { return j_.contains(k); }

  std::optional<double> number(const std::string& k) {
    const auto* v = take(k);
    if (!v) return std::nullopt;
    if (!v->is_number()) fail(key_name(k), " must be a number, got ", v->dump());
    return v->get<double>();
  }
  std::optional<std::int64_t> integer(const std::string& k, std::int64_t min = 0,
                                      std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    const auto* v = take(k);
    if (!v) return std::nullopt;
    if (!v->is_number_integer() || v->get<std::int64_t>() < min || v->get<std::int64_t>() > max) {
      if (max == std::numeric_limits<std::int64_t>::max())
        fail(key_name(k), " must be an integer >= ", min, ", got ", v->dump());
      fail(key_name(k), " must be an integer in [", min, ", ", max, "], got ", v->dump());
    }
    return v->get<std::int64_t>();
  }
  std::optional<std::string> string(const std::string& k) {
    const auto* v = take(k);
    if (!v) return std::nullopt;
    if (!v->is_string()) fail(key_name(k), " must be a string, got ", v->dump());
    return v->get<std::string>();
  }
  std::optional<bool> boolean(const std::string& k) {
    const auto* v = take(k);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) fail(key_name(k), " must be true or false, got ", v->dump());
    return v->get<bool>();
  }
  /// One of `choices`.
  std::optional<std::string> choice(const std::string& k, std::initializer_list<std::string_view> choices) {
    auto s = string(k);
    if (!s) return s;
    for (auto c : choices)
      if (*s == c) return s;
    std::string list;
    for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
    fail(key_name(k), " must be one of ", list, ", got \"", *s, "\"");
  }
  /// A number or a schedule spec (checked by parsing it), as spec text.
  std::optional<std::string> schedule(const std::string& k) {
    const auto* v = take(k);
    if (!v) return std::nullopt;
    std::string spec;
    if (v->is_number()) spec = v->dump();
    else if (v->is_string()) spec = v->get<std::string>();
    else fail(key_name(k), " must be a number or a schedule spec string, got ", v->dump());
    try {
      (void)sched::parse(spec);
    } catch (const error& e) {
      fail(key_name(k), ": ", e.what());
    }
    return spec;
  }
  /// A selector spec (checked by parsing it).
  std::optional<std::string> selector(const std::string& k) {
    auto s = string(k);
    if (!s) return s;
    try {
      (void)select::parse(*s);
    } catch (const error& e) {
      fail(key_name(k), ": ", e.what());
    }
    return s;
  }
  /// A nested object (nullopt when absent).
  std::optional<config_object> object(const std::string& k) {
    const auto* v = take(k);
    if (!v) return std::nullopt;
    return config_object(*v, key_name_plain(k), origin_);
  }
  /// An array of strings.
  std::optional<std::vector<std::string>> strings(const std::string& k) {
    const auto* v = take(k);
    if (!v) return std::nullopt;
    if (!v->is_array()) fail(key_name(k), " must be an array of strings, got ", v->dump());
    std::vector<std::string> out;
    for (const auto& e : *v) {
      if (!e.is_string()) fail(key_name(k), " must be an array of strings, got ", v->dump());
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  /// The raw value (for arrays of objects and maps).
  const nlohmann::json* raw(const std::string& k) { return take(k); }
  /// Keys in file order (nlohmann::ordered_json keeps it).
  [[nodiscard]] std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : j_.items()) out.push_back(k);
    return out;
  }
  /// Rejects the keys nobody read, naming them and what is allowed here.
  void finish(std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, v] : j_.items()) {
      if (used_.count(k)) continue;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail("unknown key ", key_name(k), list.empty() ? std::string() : " (expected " + list + ")");
    }
  }
  /// Marks a key as read without reading it (keys that are legal but unused in this case).
  void accept(const std::string& k) { used_.insert(k); }

  [[nodiscard]] std::string key_name(const std::string& k) const { return "'" + key_name_plain(k) + "'"; }
  [[nodiscard]] std::string key_name_plain(const std::string& k) const {
    if (k.empty()) return path_;
    return path_.empty() ? k : path_ + "." + k;
  }

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw error(message("config '", origin_, "': ", parts...));
  }

private:
  const nlohmann::json* take(const std::string& k) {
    used_.insert(k);
    auto it = j_.find(k);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  const nlohmann::json& j_;
  std::string path_;
  const std::string& origin_;
  std::set<std::string> used_;
};

inline int to_int(std::int64_t v) { return static_cast<int>(v); }

}  // namespace detail

/// Parses a config from JSON text (// and /* */ comments allowed). `origin` names it in errors.
inline lm_train_config parse_lm_train_config(std::string_view text, std::string origin = "config") {
  lm_train_config c;
  c.origin = std::move(origin);
  nlohmann::ordered_json j;  // for the order of keys (datasets are sources in file order)
  nlohmann::json root;       // what the reader walks
  try {
    j = nlohmann::ordered_json::parse(text, nullptr, true, /*ignore_comments=*/true);
    root = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::exception& e) {
    throw error(message("config '", c.origin, "' is not valid JSON: ", e.what()));
  }
  detail::config_object top(root, "", c.origin);
  constexpr std::int64_t kMaxInt = 1 << 30;

  if (auto v = top.string("out")) c.out = *v;
  if (auto v = top.integer("seed")) c.seed = static_cast<std::uint64_t>(*v);
  if (auto v = top.integer("threads", 0, 4096)) c.threads = detail::to_int(*v);
  if (auto v = top.string("init")) c.init = *v;

  // model
  auto model = top.object("model");
  if (!model) top.fail("missing 'model'");
  if (auto v = model->integer("vocab", 1, kMaxInt)) c.model.vocab = detail::to_int(*v);
  if (auto v = model->integer("context", 1, kMaxInt)) c.model.context = detail::to_int(*v);
  if (auto v = model->integer("layers", 1, kMaxInt)) c.model.layers = detail::to_int(*v);
  if (auto v = model->integer("heads", 1, kMaxInt)) c.model.heads = detail::to_int(*v);
  if (auto v = model->integer("width", 1, kMaxInt)) c.model.width = detail::to_int(*v);
  if (auto v = model->integer("mlp_ratio", 1, kMaxInt)) c.model.mlp_ratio = detail::to_int(*v);
  if (auto v = model->number("eps")) c.model.eps = *v;
  if (auto v = model->boolean("tied_head")) c.model.tied_head = *v;
  if (auto v = model->boolean("bias")) c.model.bias = *v;
  model->finish({"vocab", "context", "layers", "heads", "width", "mlp_ratio", "eps", "tied_head", "bias"});
  try {
    c.model.validate();
  } catch (const error& e) {
    model->fail("'model': ", e.what());
  }

  // data
  auto data = top.object("data");
  if (!data) top.fail("missing 'data'");
  {
    auto sets = data->object("datasets");
    if (!sets) data->fail("missing 'data.datasets'");
    // Key order from the ordered document.
    for (const auto& [name, v] : j["data"]["datasets"].items()) {
      detail::config_object d(root["data"]["datasets"][name], "data.datasets." + name, c.origin);
      dataset_config ds;
      ds.name = name;
      auto dir = d.string("dir");
      if (!dir) d.fail("missing ", d.key_name("dir"));
      ds.dir = *dir;
      if (auto s = d.string("corpus")) ds.corpus = *s;
      if (auto s = d.string("tokenizer")) ds.tokenizer = *s;
      if (auto x = d.number("val_fraction")) {
        if (*x < 0 || *x >= 1) d.fail(d.key_name("val_fraction"), " must be in [0, 1), got ", *x);
        ds.val_fraction = *x;
      }
      if (auto x = d.integer("split_seed")) ds.split_seed = static_cast<std::uint64_t>(*x);
      d.finish({"dir", "corpus", "tokenizer", "val_fraction", "split_seed"});
      c.datasets.push_back(std::move(ds));
      sets->accept(name);
    }
    if (c.datasets.empty()) data->fail("'data.datasets' names no dataset");
  }
  if (auto v = data->strings("sources")) c.sources = *v;
  else c.sources = {c.datasets.front().name};
  for (const auto& s : c.sources) {
    bool known = false;
    for (const auto& d : c.datasets) known |= d.name == s;
    if (!known) data->fail("'data.sources' names '", s, "', which is not in 'data.datasets'");
  }
  if (auto v = data->string("sampler")) c.sampler = *v;
  else c.sampler = "shuffled(seed=0, source=0)";
  try {
    (void)data::parse_sampler_spec(c.sampler);
  } catch (const error& e) {
    data->fail("'data.sampler': ", e.what());
  }
  if (auto v = data->choice("layout", {"pack", "pad"})) c.layout = *v == "pad" ? data::layout::pad : data::layout::pack;
  data->finish({"datasets", "sources", "sampler", "layout"});

  // train
  auto tr = top.object("train");
  if (!tr) top.fail("missing 'train'");
  if (auto v = tr->integer("steps", 1)) c.steps = *v;
  else tr->fail("missing 'train.steps'");
  if (auto v = tr->integer("batch", 1, kMaxInt)) c.batch = detail::to_int(*v);
  if (auto v = tr->integer("accumulation", 1, kMaxInt)) c.accumulation = detail::to_int(*v);
  if (auto v = tr->integer("context", 1, c.model.context)) c.context = detail::to_int(*v);
  if (auto v = tr->choice("nonfinite", {"stop", "skip"})) c.nonfinite = *v == "skip" ? nonfinite_policy::skip : nonfinite_policy::stop;
  tr->finish({"steps", "batch", "accumulation", "context", "nonfinite"});
  if (c.context == 0) c.context = c.model.context;

  // optimizer
  if (auto o = top.object("optimizer")) {
    auto& oc = c.optimizer;
    if (auto v = o->choice("type", {"adamw", "sgd"})) oc.type = *v;
    const bool adam = oc.type == "adamw";
    if (auto v = o->schedule("lr")) oc.lr = *v;
    if (auto v = o->schedule("weight_decay")) oc.weight_decay = *v;
    if (adam) {
      if (auto v = o->schedule("beta1")) oc.beta1 = *v;
      if (auto v = o->schedule("beta2")) oc.beta2 = *v;
      if (auto v = o->number("eps")) oc.eps = *v;
    } else {
      if (auto v = o->number("momentum")) oc.momentum = *v;
      if (auto v = o->number("dampening")) oc.dampening = *v;
      if (auto v = o->boolean("nesterov")) oc.nesterov = *v;
    }
    if (auto v = o->number("max_grad_norm")) oc.max_grad_norm = *v;
    if (o->has("no_decay")) {
      oc.default_no_decay = false;
      oc.no_decay = o->selector("no_decay");  // null: decay everything
    }
    if (auto v = o->number("layer_decay")) oc.layer_decay = *v;
    if (const auto* g = o->raw("groups")) {
      if (!g->is_array()) o->fail("'optimizer.groups' must be an array of objects, got ", g->dump());
      for (std::size_t i = 0; i < g->size(); ++i) {
        detail::config_object go((*g)[i], "optimizer.groups[" + std::to_string(i) + "]", c.origin);
        group_config gc;
        auto sel = go.selector("select");
        if (!sel) go.fail("missing ", go.key_name("select"));
        gc.select = *sel;
        gc.lr_scale = go.number("lr_scale");
        gc.decay_scale = go.number("decay_scale");
        go.finish({"select", "lr_scale", "decay_scale"});
        oc.groups.push_back(std::move(gc));
      }
    }
    if (adam) o->finish({"type", "lr", "weight_decay", "beta1", "beta2", "eps", "max_grad_norm", "no_decay", "layer_decay", "groups"});
    else o->finish({"type", "lr", "weight_decay", "momentum", "dampening", "nesterov", "max_grad_norm", "no_decay", "layer_decay", "groups"});
  }

  // freeze
  if (auto f = top.object("freeze")) {
    auto& fc = c.freeze;
    if (auto v = f->choice("policy", {"none", "frozen", "two_stage", "progressive", "unfreezing", "subtuning", "grades"}))
      fc.policy = *v;
    const auto& p = fc.policy;
    auto unit = [&] {
      if (auto v = f->choice("unit", {"depth", "module"})) fc.unit = *v;
    };
    auto scope = [&] {
      if (auto v = f->selector("scope")) fc.scope = *v;
    };
    if (p == "frozen" || p == "two_stage") {
      auto v = f->selector("frozen");
      if (!v) f->fail("missing 'freeze.frozen' (the selector of what is frozen)");
      fc.frozen = *v;
    }
    if (p == "two_stage") {
      auto v = f->integer("unfreeze_at");
      if (!v) f->fail("missing 'freeze.unfreeze_at'");
      fc.unfreeze_at = *v;
      f->finish({"policy", "frozen", "unfreeze_at"});
    } else if (p == "frozen") {
      f->finish({"policy", "frozen"});
    } else if (p == "subtuning") {
      auto v = f->selector("trainable");
      if (!v) f->fail("missing 'freeze.trainable' (the selector of what trains)");
      fc.trainable = *v;
      f->finish({"policy", "trainable"});
    } else if (p == "progressive") {
      if (auto v = f->integer("total_steps", 1)) fc.total_steps = *v;
      if (auto v = f->number("freeze_start")) fc.freeze_start = *v;
      if (auto v = f->number("freeze_level")) fc.freeze_level = *v;
      if (auto v = f->integer("every", 1)) fc.every = *v;
      unit();
      scope();
      f->finish({"policy", "total_steps", "freeze_start", "freeze_level", "every", "unit", "scope"});
    } else if (p == "unfreezing") {
      if (auto v = f->integer("every", 1)) fc.every = *v;
      unit();
      scope();
      f->finish({"policy", "every", "unit", "scope"});
    } else if (p == "grades") {
      if (auto v = f->number("tau")) fc.tau = *v;
      if (auto v = f->integer("grace_steps")) fc.grace_steps = *v;
      if (auto v = f->integer("patience", 1)) fc.patience = *v;
      scope();
      f->finish({"policy", "tau", "grace_steps", "patience", "scope"});
    } else {
      f->finish({"policy"});
    }
  }

  // eval
  if (auto e = top.object("eval")) {
    if (auto v = e->integer("every")) c.eval_every = *v;
    if (auto v = e->integer("batches", 1, kMaxInt)) c.eval_batches = static_cast<std::size_t>(*v);
    if (auto v = e->strings("sets")) c.eval_sets = *v;
    e->finish({"every", "batches", "sets"});
    for (const auto& s : c.eval_sets) {
      bool known = false;
      for (const auto& d : c.datasets) known |= d.name == s;
      if (!known) e->fail("'eval.sets' names '", s, "', which is not in 'data.datasets'");
    }
  }

  // checkpoint
  if (auto k = top.object("checkpoint")) {
    if (auto v = k->integer("every")) c.checkpoint_every = *v;
    if (auto v = k->integer("keep")) c.checkpoint_keep = static_cast<std::size_t>(*v);
    k->finish({"every", "keep"});
  }

  // log
  if (auto l = top.object("log")) {
    if (auto v = l->choice("progress", {"auto", "bar", "plain", "none"}))
      c.progress = *v == "bar" ? progress_mode::bar : *v == "plain" ? progress_mode::plain
                 : *v == "none" ? progress_mode::none : progress_mode::automatic;
    l->finish({"progress"});
  }

  // track
  if (auto t = top.object("track")) {
    for (const auto& name : t->keys()) {
      auto v = t->schedule(name);
      if (v) c.track.push_back({name, *v});
    }
  }

  top.finish({"out", "seed", "threads", "init", "model", "data", "train", "optimizer", "freeze", "eval", "checkpoint",
              "log", "track"});
  return c;
}

/// Reads and parses a config file.
inline lm_train_config load_lm_train_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  THAW_CHECK(in.good(), "cannot open config '", path.string(), "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_lm_train_config(text, path.string());
}

}  // namespace thaw::train
