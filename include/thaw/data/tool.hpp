// The `thaw-data` command-line tool (examples/thaw_data.cpp is its main): build token datasets
// from corpora, train BPE vocabularies, print dataset statistics, and print the sample ids a
// sampler spec produces (with resumable state and data-parallel shards) — for inspection and
// for tests. run_tool() takes the arguments and the output streams, so it is unit-testable.
//
//   thaw-data build --corpus NAME_OR_PATH --out DIR [--tokenizer byte|bpe:FILE|gpt2:DIR]
//                   [--val-fraction F] [--seed S] [--no-metrics]
//   thaw-data train-bpe --corpus NAME_OR_PATH --vocab N --out FILE
//   thaw-data stats --dataset DIR [--split train|val]
//   thaw-data sample --dataset D [--dataset D2 ...] --sampler SPEC --count N [--split S]
//                    [--save-state F] [--load-state F] [--rank r --world n] [--show-tags]
//
// Errors are one line on stderr ("thaw-data: error: ...") and exit status 2.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <map>
#include <optional>
#include <span>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/bpe.hpp"
#include "thaw/data/builder.hpp"
#include "thaw/data/corpus.hpp"
#include "thaw/data/dataset.hpp"
#include "thaw/data/metrics.hpp"
#include "thaw/data/shard.hpp"
#include "thaw/data/spec.hpp"
#include "thaw/data/tokenizer.hpp"

namespace thaw::data {

namespace detail {

inline constexpr std::string_view kToolHelp =
    "usage: thaw-data COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  build      corpus -> token dataset directory (train/val split, metrics cache)\n"
    "  train-bpe  learn a BPE vocabulary from a corpus\n"
    "  stats      documents, tokens and metric distributions of a dataset\n"
    "  sample     print the sample ids a sampler spec produces\n"
    "\n"
    "Run `thaw-data COMMAND --help` for the options of a command.\n";

inline constexpr std::string_view kBuildHelp =
    "usage: thaw-data build --corpus NAME_OR_PATH --out DIR [options]\n"
    "\n"
    "  --corpus C        kjv | python-stdlib | fortunes | a file (one document per paragraph)\n"
    "                    | a directory (one document per text file)\n"
    "  --out DIR         dataset directory (created; files replaced atomically)\n"
    "  --tokenizer T     byte (default) | bpe:FILE | gpt2:DIR (vocab.json + merges.txt)\n"
    "  --val-fraction F  share of documents held out for validation (default 0.05)\n"
    "  --seed S          which documents are held out (default 0)\n"
    "  --no-metrics      skip the difficulty metrics cache\n"
    "example: thaw-data build --corpus kjv --out data/kjv\n";

inline constexpr std::string_view kTrainBpeHelp =
    "usage: thaw-data train-bpe --corpus NAME_OR_PATH --vocab N --out FILE\n"
    "\n"
    "Learns byte-level BPE merges (GPT-2 pre-tokenization) until the vocabulary has N tokens.\n"
    "example: thaw-data train-bpe --corpus python-stdlib --vocab 4096 --out py.bpe\n";

inline constexpr std::string_view kStatsHelp =
    "usage: thaw-data stats --dataset DIR [--split train|val]\n"
    "\n"
    "Prints documents, tokens, document lengths and the distribution (min, p10, median, p90,\n"
    "max, mean) of every cached metric; computes the metrics cache when it is missing.\n"
    "example: thaw-data stats --dataset data/kjv\n";

inline constexpr std::string_view kSampleHelp =
    "usage: thaw-data sample --dataset D --sampler SPEC --count N [options]\n"
    "\n"
    "Prints N sample ids (document indices), one per line (S:ID when several --dataset).\n"
    "  --dataset D       dataset directory (repeat for more sources: source 0, 1, ...)\n"
    "  --split S         train (default) | val\n"
    "  --sampler SPEC    the sampler, grammar below\n"
    "  --count N         how many ids to print\n"
    "  --save-state F    write the sampler state after the last printed id\n"
    "  --load-state F    start from a saved state: --count 400 --save-state s, then\n"
    "                    --load-state s --count 600 prints the last 600 of --count 1000\n"
    "  --rank r --world n  print rank r's shard of n: global draws r, r+n, r+2n, ...; the\n"
    "                    state is global, so it resumes under any --world\n"
    "  --show-tags       append the domain tag of metadata-conditioned samples\n"
    "\n"
    "spec grammar:\n"
    "  sampler   := NAME '(' [arg {',' arg}] ')'      arg := KEY '=' value | value\n"
    "  sequential(source=0)\n"
    "  shuffled(seed=0, source=0)                     a fresh permutation every epoch\n"
    "  curriculum(METRIC, easy|hard, PACE, seed=0, source=0)\n"
    "  filter(METRIC OP NUMBER, sampler)              OP: < <= > >=\n"
    "  subset(SIZE, sampler=shuffled(seed), seed=0)   SIZE: count >= 1 or fraction < 1\n"
    "  then(sampler, W, sampler)                      first W draws, then the second\n"
    "  interleave(sampler, sampler, ...)              round robin\n"
    "  mixture(SCHEDULE: sampler, ..., per_step=1, seed=0)\n"
    "                                                 SCHEDULE: a schedule spec (0.25,\n"
    "                                                 linear(a, b, n), cosine(a, b, n),\n"
    "                                                 a >> b, ...) at step = draw / per_step\n"
    "  meco(sampler, COOLDOWN)                        domain tags before draw COOLDOWN\n"
    "  PACE:   linear(T, c0=0.1) | root(T, c0=0.1, p=2) | exponential(T, c0=0.1, s=10)\n"
    "          | step(T, c0=0.1, k=4) | geometric(T, c0=0.1) | competence(T, c0=0.1, p=2)\n"
    "  METRIC: length | compression_ratio | ttr | mtld | flesch | loss:NAME\n"
    "example: thaw-data sample --dataset data/kjv --count 20 --sampler \"mixture(linear(0.9, 0.1, "
    "1000): curriculum(compression_ratio, easy, root(2000, 0.1), seed=1), linear(0.1, 0.9, 1000): "
    "shuffled(seed=2))\"\n";

/// Parsed options: --name value pairs and bare flags, in order.
struct tool_args {
  std::multimap<std::string, std::string> values;
  std::vector<std::string> flags;
  bool help = false;

  std::optional<std::string> one(const std::string& k) const {
    const auto [a, b] = values.equal_range(k);
    if (a == b) return std::nullopt;
    THAW_CHECK(std::next(a) == b, "--", k, " given more than once");
    return a->second;
  }
  std::string need(const std::string& k) const {
    const auto v = one(k);
    THAW_CHECK(v.has_value(), "missing --", k);
    return *v;
  }
  std::vector<std::string> all(const std::string& k) const {
    std::vector<std::string> out;
    const auto [a, b] = values.equal_range(k);
    for (auto it = a; it != b; ++it) out.push_back(it->second);
    return out;
  }
  bool flag(const std::string& k) const { return std::find(flags.begin(), flags.end(), k) != flags.end(); }
};

inline tool_args parse_tool_args(std::span<const std::string> args, std::initializer_list<std::string_view> valued,
                                 std::initializer_list<std::string_view> bare) {
  tool_args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      out.help = true;
      continue;
    }
    THAW_CHECK(a.starts_with("--"), "unexpected argument \"", a, "\"");
    const std::string key = a.substr(2);
    if (std::find(bare.begin(), bare.end(), key) != bare.end()) {
      out.flags.push_back(key);
      continue;
    }
    THAW_CHECK(std::find(valued.begin(), valued.end(), key) != valued.end(), "unknown option ", a);
    THAW_CHECK(i + 1 < args.size(), "option ", a, " needs a value");
    out.values.emplace(key, args[++i]);
  }
  return out;
}

inline std::uint64_t parse_count(const std::string& s, std::string_view what) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  THAW_CHECK(!s.empty() && ec == std::errc() && p == s.data() + s.size(), what,
             " must be a whole number >= 0, got \"", s, '"');
  return v;
}

inline double parse_real(const std::string& s, std::string_view what) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  THAW_CHECK(!s.empty() && ec == std::errc() && p == s.data() + s.size() && std::isfinite(v), what,
             " must be a number, got \"", s, '"');
  return v;
}

// ---- sampler state files -------------------------------------------------------------------

inline std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

inline std::string format_state(const sampler_state& st, std::uint64_t spec_hash, std::uint64_t data_hash) {
  std::ostringstream out;
  out << "thaw-sampler-state 1\nspec " << hex64(spec_hash) << "\ndata " << hex64(data_hash) << "\nwords "
      << st.size() << '\n';
  for (std::size_t i = 0; i < st.size(); ++i) out << hex64(st[i]) << (i + 1 == st.size() ? "\n" : " ");
  if (st.empty()) out << '\n';
  return out.str();
}

inline sampler_state parse_state(std::string_view text, std::string_view name, std::uint64_t spec_hash,
                                 std::uint64_t data_hash) {
  std::istringstream in{std::string(text)};
  std::string magic, version, k1, h1, k2, h2, k3;
  std::uint64_t n = 0;
  in >> magic >> version >> k1 >> h1 >> k2 >> h2 >> k3 >> n;
  THAW_CHECK(in && magic == "thaw-sampler-state" && version == "1" && k1 == "spec" && k2 == "data" &&
                 k3 == "words" && n <= (1u << 20),
             "sampler state file ", name, " is not a thaw sampler state");
  THAW_CHECK(h1 == hex64(spec_hash), "sampler state file ", name,
             " was saved for a different sampler spec");
  THAW_CHECK(h2 == hex64(data_hash), "sampler state file ", name,
             " was saved for different datasets");
  sampler_state st(n);
  for (auto& w : st) {
    std::string word;
    in >> word;
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), v, 16);
    THAW_CHECK(in && !word.empty() && ec == std::errc() && p == word.data() + word.size(), "sampler state file ",
               name, " is truncated or corrupt");
    w = v;
  }
  std::string extra;
  THAW_CHECK(!(in >> extra), "sampler state file ", name, " has unexpected text at the end");
  return st;
}

inline std::string normalize_spec(std::string_view spec) {
  std::string out;
  for (char c : spec) {
    if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(c);
  }
  return out;
}

// ---- commands ------------------------------------------------------------------------------

inline int cmd_build(std::span<const std::string> args, std::ostream& out) {
  const auto a = parse_tool_args(args, {"corpus", "out", "tokenizer", "val-fraction", "seed"}, {"no-metrics"});
  if (a.help) {
    out << kBuildHelp;
    return 0;
  }
  const auto corpus_name = a.need("corpus");
  const std::filesystem::path dir = a.need("out");
  build_cfg cfg;
  if (const auto v = a.one("val-fraction")) cfg.val_fraction = parse_real(*v, "--val-fraction");
  THAW_CHECK(cfg.val_fraction >= 0 && cfg.val_fraction < 1, "--val-fraction must be in [0, 1), got ",
             cfg.val_fraction);
  if (const auto v = a.one("seed")) cfg.seed = parse_count(*v, "--seed");
  cfg.metrics = !a.flag("no-metrics");
  const auto tok = tokenizer::from_spec(a.one("tokenizer").value_or("byte"));
  const auto c = load_corpus(corpus_name);
  const auto r = build_dataset(c, tok, dir, cfg);
  out << "built " << dir.string() << " from " << c.name << " (" << c.size() << " documents, " << r.bytes
      << " bytes) with tokenizer " << tok.spec() << " in " << std::fixed << std::setprecision(2) << r.seconds
      << " s\n";
  out << "  train: " << r.train.docs << " documents, " << r.train.tokens << " tokens\n";
  out << "  val:   " << r.val.docs << " documents, " << r.val.tokens << " tokens\n";
  if (r.empty_docs_dropped > 0) out << "  dropped " << r.empty_docs_dropped << " empty documents\n";
  return 0;
}

inline int cmd_train_bpe(std::span<const std::string> args, std::ostream& out) {
  const auto a = parse_tool_args(args, {"corpus", "vocab", "out"}, {});
  if (a.help) {
    out << kTrainBpeHelp;
    return 0;
  }
  const auto c = load_corpus(a.need("corpus"));
  const auto vocab = parse_count(a.need("vocab"), "--vocab");
  const std::filesystem::path file = a.need("out");
  std::vector<std::string_view> texts;
  for (const auto& d : c.documents) texts.push_back(d.text);
  const auto t0 = std::chrono::steady_clock::now();
  const auto tok = bpe_tokenizer::train(texts, {.vocab_size = vocab});
  tok.save(file);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out << "trained " << tok.vocab_size() << " tokens (" << tok.merges().size() << " merges) on " << c.name
      << " in " << std::fixed << std::setprecision(2) << s << " s -> " << file.string() << '\n';
  return 0;
}

inline void print_distribution(std::ostream& out, const std::string& name, std::vector<double> v) {
  std::vector<double> finite;
  for (const double x : v) {
    if (std::isfinite(x)) finite.push_back(x);
  }
  out << "  " << std::left << std::setw(20) << name << std::right;
  if (finite.empty()) {
    out << " (no finite values)\n";
    return;
  }
  std::sort(finite.begin(), finite.end());
  auto q = [&](double p) {
    const auto i = static_cast<std::size_t>(std::llround(p * static_cast<double>(finite.size() - 1)));
    return finite[i];
  };
  double mean = 0;
  for (const double x : finite) mean += x;
  mean /= static_cast<double>(finite.size());
  out << std::setprecision(4) << std::defaultfloat;
  for (const double x : {q(0), q(0.1), q(0.5), q(0.9), q(1), mean}) out << ' ' << std::setw(11) << x;
  out << '\n';
}

inline int cmd_stats(std::span<const std::string> args, std::ostream& out) {
  const auto a = parse_tool_args(args, {"dataset", "split"}, {});
  if (a.help) {
    out << kStatsHelp;
    return 0;
  }
  const std::filesystem::path dir = a.need("dataset");
  const auto split = a.one("split").value_or("train");
  const auto ds = token_dataset::open(dir, split);
  ds.verify();
  out << "dataset " << ds.path().string() << '\n';
  out << "  documents " << ds.n_docs() << "\n  tokens " << ds.n_tokens() << "\n  vocabulary " << ds.vocab_size()
      << " (" << 8 * ds.token_bytes() << "-bit tokens)\n  end-of-text " << ds.eot() << "\n  domains "
      << ds.n_domains() << '\n';
  metrics_table t;
  std::error_code ec;
  if (std::filesystem::exists(metrics_path(ds), ec)) {
    t = load_metrics(ds);
  } else {
    THAW_CHECK(!ds.dir().empty(), "no metrics cache ", metrics_path(ds).string(),
               " and no dataset directory to find the tokenizer in");
    const auto tok = dataset_tokenizer(ds.dir());
    t = compute_and_cache_metrics(ds, [&](std::span<const token_t> ids) { return tok.decode(ids); });
    out << "  (computed the metrics cache " << metrics_path(ds).string() << ")\n";
  }
  std::vector<double> lengths(ds.n_docs());
  for (std::uint64_t d = 0; d < ds.n_docs(); ++d) lengths[d] = static_cast<double>(ds.doc_size(d));
  out << "distributions per document:\n  " << std::left << std::setw(20) << "metric" << std::right;
  for (const char* h : {"min", "p10", "median", "p90", "max", "mean"}) out << ' ' << std::setw(11) << h;
  out << '\n';
  print_distribution(out, "tokens", lengths);
  for (std::size_t k = 0; k < t.names.size(); ++k) {
    if (t.names[k] == "length") continue;  // the same as tokens
    print_distribution(out, t.names[k], t.values[k]);
  }
  return 0;
}

inline int cmd_sample(std::span<const std::string> args, std::ostream& out) {
  const auto a = parse_tool_args(args,
                                 {"dataset", "split", "sampler", "count", "save-state", "load-state", "rank", "world"},
                                 {"show-tags"});
  if (a.help) {
    out << kSampleHelp;
    return 0;
  }
  const auto dirs = a.all("dataset");
  THAW_CHECK(!dirs.empty(), "missing --dataset");
  const auto split = a.one("split").value_or("train");
  const auto spec = a.need("sampler");
  const auto count = parse_count(a.need("count"), "--count");
  const auto world = a.one("world") ? parse_count(*a.one("world"), "--world") : 1;
  const auto rank = a.one("rank") ? parse_count(*a.one("rank"), "--rank") : 0;
  THAW_CHECK(world >= 1, "--world must be >= 1");
  THAW_CHECK(rank < world, "--rank ", rank, " must be below --world ", world);

  std::vector<token_dataset> ds;
  for (const auto& d : dirs) ds.push_back(token_dataset::open(d, split));
  const auto tree = parse_sampler_spec(spec);  // syntax errors before loading metrics
  std::vector<std::optional<metrics_table>> metrics(ds.size());
  spec_context ctx;
  for (const auto& d : ds) ctx.n_docs.push_back(d.n_docs());
  ctx.metric = [&](std::uint32_t s, const std::string& name) -> std::span<const double> {
    if (!metrics[s]) metrics[s] = load_metrics(ds[s]);
    return metrics[s]->get(name);
  };
  std::uint64_t data_hash = 1469598103934665603ull;
  for (const auto& d : ds) data_hash = fnv1a(hex64(d.fingerprint()), data_hash);
  const auto spec_hash = fnv1a(normalize_spec(spec));

  auto global = build_sampler(spec, ctx);
  if (const auto f = a.one("load-state")) {
    const auto st = parse_state(read_file(*f, "sampler state file"), *f, spec_hash, data_hash);
    try {
      restore_state(global, st);
    } catch (const thaw::error& e) {
      throw thaw::error(thaw::message("sampler state file ", *f, ": ", e.what()));
    }
  }
  auto sh = shard(std::move(global), rank, world);
  const bool tags = a.flag("show-tags");
  std::string buf;
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto s = sh.next();
    if (ds.size() > 1) buf += std::to_string(s.source) + ":";
    buf += std::to_string(s.doc);
    if (tags) {
      buf += '\t';
      buf += s.tagged ? ds[s.source].domain_name(ds[s.source].domain(s.doc)) : "-";
    }
    buf += '\n';
    if (buf.size() > (1u << 16)) {
      out << buf;
      buf.clear();
    }
  }
  out << buf;
  if (const auto f = a.one("save-state")) {
    write_file_atomic(*f, format_state(save_state(sh), spec_hash, data_hash));
  }
  return 0;
}

}  // namespace detail

/// Runs `thaw-data` with args (without the program name); returns the exit status. Errors are
/// printed as one line on `err`.
inline int run_tool(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      out << detail::kToolHelp;
      return args.empty() ? 2 : 0;
    }
    const auto& cmd = args[0];
    const auto rest = args.subspan(1);
    if (cmd == "build") return detail::cmd_build(rest, out);
    if (cmd == "train-bpe") return detail::cmd_train_bpe(rest, out);
    if (cmd == "stats") return detail::cmd_stats(rest, out);
    if (cmd == "sample") return detail::cmd_sample(rest, out);
    throw thaw::error(thaw::message("unknown command \"", cmd, "\" (expected build, train-bpe, stats or sample)"));
  } catch (const thaw::error& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    err << "thaw-data: error: " << msg << '\n';
    return 2;
  } catch (const std::exception& e) {
    err << "thaw-data: error: " << e.what() << '\n';
    return 2;
  }
}

}  // namespace thaw::data
