// Samplers from spec strings, for command lines and configuration files.
//
// Grammar (whitespace is free between tokens):
//   spec      := sampler
//   sampler   := NAME '(' [arg {',' arg}] ')'
//   arg       := KEY '=' value | value
//   value     := sampler | pace | NUMBER | NAME | condition
//   condition := METRIC ('<' | '<=' | '>' | '>=') NUMBER
// In mixture(...), a positional argument is `SCHEDULE ':' sampler`, where SCHEDULE is a schedule
// spec of thaw/schedule/spec.hpp (a number, constant(v), linear(a, b, n), cosine(...), a >> b,
// ...), evaluated at step = draw / per_step.
//
// Samplers (defaults after '='; source = which dataset, default 0):
//   sequential(source=0)
//   shuffled(seed=0, source=0)
//   curriculum(metric, order, pace, seed=0, source=0)   order: easy | hard
//   filter(condition, sampler)                          keep documents passing the condition
//   subset(size, sampler=shuffled(seed), seed=0)        size: a count >= 1 or a fraction < 1
//   then(sampler, W, sampler)      (alias warmup)       the first for W draws, then the second
//   interleave(sampler, sampler, ...)                   round robin
//   mixture(SCHED: sampler, SCHED: sampler, ..., per_step=1, seed=0)
//   meco(sampler, cooldown)                             domain tags before draw `cooldown`
// Paces (pacing.hpp): linear(T, c0=0.1), root(T, c0=0.1, p=2), exponential(T, c0=0.1, s=10),
//   step(T, c0=0.1, k=4), geometric(T, c0=0.1), competence(T, c0=0.1, p=2)
// Metrics (metrics.hpp): length, compression_ratio, ttr, mtld, flesch, loss:NAME
//
// filter and subset narrow the pool of every leaf sampler below them (for that leaf's source).
// Errors are one line: "sampler spec, column C: what was expected / what is wrong".
#pragma once

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/any_sampler.hpp"
#include "thaw/data/curriculum.hpp"
#include "thaw/data/filter.hpp"
#include "thaw/data/interleave.hpp"
#include "thaw/data/meco.hpp"
#include "thaw/data/metrics.hpp"
#include "thaw/data/mixture.hpp"
#include "thaw/data/pacing.hpp"
#include "thaw/data/sequential.hpp"
#include "thaw/data/shuffled.hpp"
#include "thaw/data/subset.hpp"
#include "thaw/data/then.hpp"
#include "thaw/schedule/spec.hpp"

namespace thaw::data {

// ---- syntax tree ---------------------------------------------------------------------------

struct spec_arg;

struct spec_node {
  enum class kind { call, number, name, condition, weighted };
  kind k = kind::name;
  std::string name;                     // call / identifier / condition metric
  double number = 0;                    // number / condition threshold
  compare op = compare::less;           // condition
  std::string schedule;                 // weighted: the schedule spec text
  std::size_t schedule_column = 0;
  std::vector<spec_arg> args;           // call
  std::shared_ptr<spec_node> child;     // weighted: the sampler
  std::size_t column = 1;               // 1-based, in the whole spec
};

struct spec_arg {
  std::string key;  // empty: positional
  spec_node value;
};

namespace detail {

class sampler_spec_parser {
public:
  explicit sampler_spec_parser(std::string_view src) : s_(src) {}

  spec_node parse() {
    space();
    if (p_ >= s_.size()) fail(p_, "empty spec; expected a sampler such as shuffled(seed=1)");
    spec_node n = call(false);
    space();
    if (p_ < s_.size()) fail(p_, "expected the end of the spec, found " + found());
    return n;
  }

  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw thaw::error(thaw::message("sampler spec, column ", at + 1, ": ", what));
  }

private:
  void space() {
    while (p_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[p_]))) ++p_;
  }
  std::string found() const {
    if (p_ >= s_.size()) return "the end";
    return "'" + std::string(1, s_[p_]) + "'";
  }
  static bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  }
  std::string name() {
    space();
    const auto start = p_;
    if (p_ >= s_.size() || !name_start(s_[p_])) fail(p_, "expected a name, found " + found());
    while (p_ < s_.size() && name_char(s_[p_])) ++p_;
    std::string out(s_.substr(start, p_ - start));
    // loss:NAME metrics
    if (out == "loss" && p_ < s_.size() && s_[p_] == ':' && p_ + 1 < s_.size() && name_char(s_[p_ + 1])) {
      ++p_;
      const auto b = p_;
      while (p_ < s_.size() && name_char(s_[p_])) ++p_;
      out += ":" + std::string(s_.substr(b, p_ - b));
    }
    return out;
  }
  double number() {
    space();
    const auto start = p_;
    while (p_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p_])) || s_[p_] == '.' ||
                              s_[p_] == '+' || s_[p_] == '-')) {
      // a sign only at the start or after an exponent
      if ((s_[p_] == '+' || s_[p_] == '-') && p_ != start && s_[p_ - 1] != 'e' && s_[p_ - 1] != 'E') break;
      ++p_;
    }
    const std::string_view text = s_.substr(start, p_ - start);
    double v = 0;
    const char* b = text.data();
    if (!text.empty() && text.front() == '+') ++b;
    const auto [ptr, ec] = std::from_chars(b, text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
      p_ = start;
      fail(start, "expected a number, found " + (text.empty() ? found() : "\"" + std::string(text) + "\""));
    }
    return v;
  }
  bool peek(char c) {
    space();
    return p_ < s_.size() && s_[p_] == c;
  }
  void expect(char c) {
    if (!peek(c)) fail(p_, std::string("expected '") + c + "', found " + found());
    ++p_;
  }
  /// Position of the first ':' at depth 0 before the end of the current argument, or npos.
  std::size_t top_level_colon() const {
    int depth = 0;
    for (std::size_t i = p_; i < s_.size(); ++i) {
      const char c = s_[i];
      if (c == '(') ++depth;
      if (c == ')') {
        if (depth == 0) return std::string_view::npos;
        --depth;
      }
      if (c == ',' && depth == 0) return std::string_view::npos;
      if (c == ':' && depth == 0) return i;
    }
    return std::string_view::npos;
  }

  spec_node value(bool weighted_mode) {
    space();
    spec_node n;
    n.column = p_ + 1;
    if (weighted_mode) {
      const auto colon = top_level_colon();
      if (colon != std::string_view::npos) {
        n.k = spec_node::kind::weighted;
        n.schedule = std::string(s_.substr(p_, colon - p_));
        n.schedule_column = p_ + 1;
        while (!n.schedule.empty() && std::isspace(static_cast<unsigned char>(n.schedule.back()))) n.schedule.pop_back();
        if (n.schedule.empty()) fail(p_, "expected a weight schedule before ':'");
        p_ = colon + 1;
        space();
        n.child = std::make_shared<spec_node>(call(false));
        return n;
      }
    }
    if (p_ < s_.size() && name_start(s_[p_])) {
      const auto save = p_;
      n.name = name();
      space();
      if (peek('(')) {
        p_ = save;
        return call(false);
      }
      if (p_ < s_.size() && (s_[p_] == '<' || s_[p_] == '>')) {
        n.k = spec_node::kind::condition;
        const bool lt = s_[p_] == '<';
        ++p_;
        const bool eq = p_ < s_.size() && s_[p_] == '=';
        if (eq) ++p_;
        n.op = lt ? (eq ? compare::less_equal : compare::less) : (eq ? compare::greater_equal : compare::greater);
        n.number = number();
        return n;
      }
      n.k = spec_node::kind::name;
      return n;
    }
    n.k = spec_node::kind::number;
    n.number = number();
    return n;
  }

  spec_node call(bool) {
    space();
    spec_node n;
    n.column = p_ + 1;
    n.k = spec_node::kind::call;
    n.name = name();
    expect('(');
    const bool weighted_mode = n.name == "mixture";
    if (peek(')')) {
      ++p_;
      return n;
    }
    for (;;) {
      space();
      spec_arg a;
      // KEY '=' value (but not a condition like x >= 1: '=' alone follows the key)
      const auto save = p_;
      if (p_ < s_.size() && name_start(s_[p_])) {
        const auto key = name();
        space();
        if (p_ < s_.size() && s_[p_] == '=' && (p_ + 1 >= s_.size() || s_[p_ + 1] != '=')) {
          ++p_;
          a.key = key;
        } else {
          p_ = save;
        }
      }
      a.value = value(weighted_mode && a.key.empty());
      n.args.push_back(std::move(a));
      space();
      if (peek(',')) {
        ++p_;
        continue;
      }
      if (peek(')')) {
        ++p_;
        return n;
      }
      fail(p_, "expected ',' or ')' after an argument of " + n.name + "(...), found " + found());
    }
  }

  std::string_view s_;
  std::size_t p_ = 0;
};

}  // namespace detail

/// Parses a sampler spec into its syntax tree (throws thaw::error naming the column).
inline spec_node parse_sampler_spec(std::string_view spec) {
  return detail::sampler_spec_parser(spec).parse();
}

// ---- building ------------------------------------------------------------------------------

/// What a spec needs from the datasets: document counts per source, and metric columns.
struct spec_context {
  std::vector<std::uint64_t> n_docs;  // per source
  /// The metric column (indexed by document id) of a source; throws if unavailable.
  std::function<std::span<const double>(std::uint32_t source, const std::string& metric)> metric;
};

namespace detail {

[[noreturn]] inline void spec_fail(const spec_node& n, const std::string& what) {
  throw thaw::error(thaw::message("sampler spec, column ", n.column, ": ", what));
}

/// Binds a call's arguments to parameter names (positional in order, then by keyword).
class bound_args {
public:
  bound_args(const spec_node& call, std::initializer_list<std::string_view> params, std::size_t variadic_from = SIZE_MAX)
      : call_(call), names_(params) {
    slots_.assign(names_.size(), nullptr);
    std::size_t next = 0;
    for (const auto& a : call.args) {
      if (a.key.empty()) {
        if (next >= variadic_from) {
          rest_.push_back(&a.value);
          continue;
        }
        if (next >= names_.size()) {
          spec_fail(a.value, call.name + "(...) takes at most " + std::to_string(names_.size()) +
                                 " arguments");
        }
        slots_[next++] = &a.value;
      } else {
        const auto it = std::find(names_.begin(), names_.end(), a.key);
        if (it == names_.end()) {
          std::string known;
          for (const auto& k : names_) known += (known.empty() ? "" : ", ") + std::string(k);
          spec_fail(a.value, call.name + "(...) has no parameter \"" + a.key + "\" (parameters: " + known + ")");
        }
        const auto i = static_cast<std::size_t>(it - names_.begin());
        if (slots_[i] != nullptr) spec_fail(a.value, call.name + "(...): \"" + a.key + "\" given twice");
        slots_[i] = &a.value;
      }
    }
  }
  const spec_node* get(std::string_view name) const {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return slots_[i];
    }
    return nullptr;
  }
  const spec_node& need(std::string_view name) const {
    const auto* n = get(name);
    if (n == nullptr) spec_fail(call_, call_.name + "(...) needs \"" + std::string(name) + "\"");
    return *n;
  }
  double num(std::string_view name, double fallback, bool required = false) const {
    const auto* n = required ? &need(name) : get(name);
    if (n == nullptr) return fallback;
    if (n->k != spec_node::kind::number) {
      spec_fail(*n, call_.name + "(...): \"" + std::string(name) + "\" must be a number");
    }
    return n->number;
  }
  std::uint64_t count(std::string_view name, std::uint64_t fallback, bool required = false) const {
    const double v = num(name, static_cast<double>(fallback), required);
    const auto* n = get(name);
    if (v < 0 || v != std::floor(v) || v > 9.0e18) {
      spec_fail(n ? *n : call_, call_.name + "(...): \"" + std::string(name) +
                                    "\" must be a whole number >= 0, got " + thaw::message(v));
    }
    return static_cast<std::uint64_t>(v);
  }
  std::string ident(std::string_view name) const {
    const auto& n = need(name);
    if (n.k != spec_node::kind::name) {
      spec_fail(n, call_.name + "(...): \"" + std::string(name) + "\" must be a name");
    }
    return n.name;
  }
  const std::vector<const spec_node*>& rest() const { return rest_; }

private:
  const spec_node& call_;
  std::vector<std::string_view> names_;
  std::vector<const spec_node*> slots_;
  std::vector<const spec_node*> rest_;
};

struct pool_op {
  enum class kind { filter, subset } k;
  std::string metric;
  compare op = compare::less;
  double value = 0;        // threshold, or subset size (count >= 1 or fraction < 1)
  std::uint64_t seed = 0;  // subset
  const spec_node* where = nullptr;
};

class sampler_builder {
public:
  explicit sampler_builder(const spec_context& ctx) : ctx_(ctx) {}

  any_sampler build(const spec_node& n, const std::vector<pool_op>& ops) {
    if (n.k != spec_node::kind::call) spec_fail(n, "expected a sampler such as shuffled(seed=1)");
    const auto& f = n.name;
    if (f == "sequential") {
      bound_args a(n, {"source"});
      return sequential_sampler(leaf_pool(n, a, ops));
    }
    if (f == "shuffled") {
      bound_args a(n, {"seed", "source"});
      return shuffled_sampler(leaf_pool(n, a, ops), a.count("seed", 0));
    }
    if (f == "curriculum") {
      bound_args a(n, {"metric", "order", "pace", "seed", "source"});
      const auto p = leaf_pool(n, a, ops);
      const auto metric = a.ident("metric");
      bool harder = false;
      try {
        harder = higher_is_harder(metric);
      } catch (const thaw::error& e) {
        spec_fail(a.need("metric"), e.what());
      }
      const auto order_name = a.ident("order");
      difficulty_order order{};
      if (order_name == "easy" || order_name == "easy_first") {
        order = difficulty_order::easy_first;
      } else if (order_name == "hard" || order_name == "hard_first") {
        order = difficulty_order::hard_first;
      } else {
        spec_fail(a.need("order"), "curriculum order must be easy or hard, got \"" + order_name + "\"");
      }
      auto pace = build_pace(a.need("pace"));
      const auto values = ctx_.metric(p.source(), metric);
      return curriculum_sampler<any_pace>(sort_by_difficulty(p, values, harder, order, metric), p.source(),
                                          std::move(pace), a.count("seed", 0));
    }
    if (f == "filter") {
      bound_args a(n, {"condition", "sampler"});
      const auto& c = a.need("condition");
      if (c.k != spec_node::kind::condition) {
        spec_fail(c, "filter needs a condition such as compression_ratio >= 2.5");
      }
      try {
        (void)higher_is_harder(c.name);
      } catch (const thaw::error& e) {
        spec_fail(c, e.what());
      }
      auto next = ops;
      next.push_back({pool_op::kind::filter, c.name, c.op, c.number, 0, &c});
      return build(a.need("sampler"), next);
    }
    if (f == "subset") {
      bound_args a(n, {"size", "sampler", "seed"});
      const double size = a.num("size", 0, true);
      if (!(size > 0) || (size >= 1 && size != std::floor(size)) || size > 9.0e18) {
        spec_fail(a.need("size"), "subset size must be a whole count >= 1 or a fraction in (0, 1)");
      }
      const auto seed = a.count("seed", 0);
      auto next = ops;
      next.push_back({pool_op::kind::subset, {}, compare::less, size, seed, &a.need("size")});
      if (const auto* s = a.get("sampler")) return build(*s, next);
      spec_node dflt;
      dflt.k = spec_node::kind::call;
      dflt.name = "shuffled";
      dflt.column = n.column;
      spec_node seed_node;
      seed_node.k = spec_node::kind::number;
      seed_node.number = static_cast<double>(seed);
      dflt.args.push_back({"seed", seed_node});
      return build(dflt, next);
    }
    if (f == "then" || f == "warmup") {
      bound_args a(n, {"first", "draws", "second"});
      auto first = build(a.need("first"), ops);
      const auto w = a.count("draws", 0, true);
      auto second = build(a.need("second"), ops);
      return then_sampler<any_sampler, any_sampler>(std::move(first), w, std::move(second));
    }
    if (f == "interleave") {
      bound_args a(n, {}, 0);
      if (a.rest().empty()) spec_fail(n, "interleave(...) needs at least one sampler");
      std::vector<any_sampler> cs;
      for (const auto* c : a.rest()) cs.push_back(build(*c, ops));
      return interleave(std::move(cs));
    }
    if (f == "mixture") {
      bound_args a(n, {"per_step", "seed"}, 0);
      if (a.rest().empty()) spec_fail(n, "mixture(...) needs at least one SCHEDULE: sampler part");
      std::vector<sched::any_schedule> ws;
      std::vector<any_sampler> cs;
      for (const auto* c : a.rest()) {
        if (c->k != spec_node::kind::weighted) {
          spec_fail(*c, "a mixture part is SCHEDULE: sampler, e.g. 0.25: shuffled(seed=1)");
        }
        try {
          ws.push_back(sched::parse(c->schedule));
        } catch (const thaw::error& e) {
          throw thaw::error(thaw::message("sampler spec, column ", c->schedule_column,
                                          ": bad mixture weight \"", c->schedule, "\": ", e.what()));
        }
        cs.push_back(build(*c->child, ops));
      }
      const mixture_cfg cfg{a.count("per_step", 1), a.count("seed", 0)};
      if (cfg.per_step == 0) spec_fail(*a.get("per_step"), "mixture per_step must be >= 1");
      try {
        return mixture(std::move(ws), std::move(cs), cfg);
      } catch (const thaw::error& e) {
        spec_fail(n, e.what());
      }
    }
    if (f == "meco") {
      bound_args a(n, {"sampler", "cooldown"});
      auto child = build(a.need("sampler"), ops);
      return meco(std::move(child), a.count("cooldown", 0, true));
    }
    spec_fail(n, "unknown sampler \"" + f +
                     "\" (expected sequential, shuffled, curriculum, filter, subset, then, "
                     "interleave, mixture or meco)");
  }

private:
  pool leaf_pool(const spec_node& n, const bound_args& a, const std::vector<pool_op>& ops) const {
    const auto src = a.count("source", 0);
    if (src >= ctx_.n_docs.size()) {
      spec_fail(a.get("source") ? *a.get("source") : n,
                "source " + std::to_string(src) + " does not exist (" + std::to_string(ctx_.n_docs.size()) +
                    " dataset(s) given)");
    }
    const auto s = static_cast<std::uint32_t>(src);
    pool p = pool::all(ctx_.n_docs[s], s);
    for (const auto& op : ops) {
      try {
        if (op.k == pool_op::kind::filter) {
          p = filter_pool(p, ctx_.metric(s, op.metric), op.op, op.value, op.metric);
        } else {
          const auto k = op.value < 1 ? std::max<std::uint64_t>(1, static_cast<std::uint64_t>(
                                                                     std::llround(op.value * static_cast<double>(p.size()))))
                                      : static_cast<std::uint64_t>(op.value);
          p = subset_pool(p, k, op.seed);
        }
      } catch (const thaw::error& e) {
        spec_fail(*op.where, e.what());
      }
    }
    if (p.size() == 0) spec_fail(n, "the pool of documents is empty");
    return p;
  }

  any_pace build_pace(const spec_node& n) const {
    if (n.k != spec_node::kind::call) spec_fail(n, "expected a pacing function such as root(2000, 0.1)");
    const auto& f = n.name;
    try {
      if (f == "linear") {
        bound_args a(n, {"T", "c0"});
        return linear_pace(a.num("T", 0, true), a.num("c0", 0.1));
      }
      if (f == "root") {
        bound_args a(n, {"T", "c0", "p"});
        return root_pace(a.num("T", 0, true), a.num("c0", 0.1), a.num("p", 2));
      }
      if (f == "exponential" || f == "exp") {
        bound_args a(n, {"T", "c0", "s"});
        return exponential_pace(a.num("T", 0, true), a.num("c0", 0.1), a.num("s", 10));
      }
      if (f == "step") {
        bound_args a(n, {"T", "c0", "k"});
        return step_pace(a.num("T", 0, true), a.num("c0", 0.1), a.count("k", 4));
      }
      if (f == "geometric") {
        bound_args a(n, {"T", "c0"});
        return geometric_pace(a.num("T", 0, true), a.num("c0", 0.1));
      }
      if (f == "competence") {
        bound_args a(n, {"T", "c0", "p"});
        return competence_pace(a.num("T", 0, true), a.num("c0", 0.1), a.num("p", 2));
      }
    } catch (const thaw::error& e) {
      const std::string w = e.what();
      if (w.starts_with("sampler spec")) throw;
      spec_fail(n, w);
    }
    spec_fail(n, "unknown pacing \"" + f +
                     "\" (expected linear, root, exponential, step, geometric or competence)");
  }

  const spec_context& ctx_;
};

}  // namespace detail

/// Builds the sampler a spec describes (see the top of this header).
inline any_sampler build_sampler(std::string_view spec, const spec_context& ctx) {
  THAW_CHECK(!ctx.n_docs.empty(), "sampler spec: no dataset given");
  const auto tree = parse_sampler_spec(spec);
  detail::sampler_builder b(ctx);
  return b.build(tree, {});
}

/// The metric names a spec uses (to load only the caches it needs).
inline bool spec_uses_metrics(const spec_node& n) {
  if (n.k == spec_node::kind::condition) return true;
  if (n.k == spec_node::kind::call && n.name == "curriculum") return true;
  if (n.child && spec_uses_metrics(*n.child)) return true;
  for (const auto& a : n.args) {
    if (spec_uses_metrics(a.value)) return true;
  }
  return false;
}

}  // namespace thaw::data
