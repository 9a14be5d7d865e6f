// Selectors: which parameters of a model a freeze mask, an optimizer group or a policy means.
//
// A selector is a small value that says whether it matches a param_ref and how it is written:
//   select::name("h.*.attn.*")     name glob ('*' any run of characters, '?' one character)
//   select::depth(0, 3)            module depth in [0, 3)          (depth 0 = below block 0)
//   select::blocks(0, 3)           blocks 0, 1, 2 = depths [1, 4)  (GPT: block i is depth i + 1)
//   select::kind(param_kind::norm) kind (weight, bias, norm, embedding), several allowed
//   select::module("linear")       module type as registered ("linear", "layer_norm", ...)
//   select::all()                  every parameter
// and they combine at compile time with |, & and ~ into types such as
// or_<name_glob, and_<kind_set, not_<depth_range>>> that inline to the predicate.
//
// The same selectors are built at run time from a string (configs, command lines) by
// select::parse, which returns a type-erased any_selector. The grammar (whitespace is free):
//
//   expr    := term ('|' term)*
//   term    := factor ('&' factor)*
//   factor  := '~' factor | '(' expr ')' | atom
//   atom    := 'name' '(' glob ')' | 'kind' '(' kind (',' kind)* ')' | 'module' '(' word ')'
//            | 'depth' range | 'blocks' range | 'all' | glob
//   range   := '[' int? ':' int? (')' | ']')     half-open [a:b) or closed [a:b]; a missing
//                                                 bound is 0 / unbounded; also '[' int ']'
//   kind    := weight | bias | norm | embedding   (plurals accepted)
//   glob    := characters other than whitespace and ( ) [ ] | & ~ ,   e.g.  h.*.attn.*
//
// so `wte.* | wpe.* | blocks[0:3)` and `name(h.*.attn.*) | kind(norm) & ~depth[0:3)` are
// selectors (~ binds tighter than &, & tighter than |). describe() writes a selector back in
// this grammar, and parse(describe(s)) selects the same parameters.
//
// Resolving a selector against a model (resolve) is strict: a selector that matches nothing,
// or one of its parts (a leaf: a single name/kind/depth/... test) that matches nothing, is a
// thaw::error naming it, so a typo never silently freezes nothing. Malformed strings give a
// one-line thaw::error naming the column.
#pragma once

#include <climits>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/params/param_store.hpp"

namespace thaw::select {

/// What every selector provides. `unmatched(refs, out)` appends the description of each leaf
/// that matches none of `refs` (used by resolve to name the part that is a typo).
template <class S>
concept selector = std::copy_constructible<S> &&
    requires(const S& s, const param_ref& r, std::span<const param_ref> refs,
             std::vector<std::string>& out) {
      { s.matches(r) } -> std::convertible_to<bool>;
      { s.describe() } -> std::convertible_to<std::string>;
      s.unmatched(refs, out);
      { S::precedence } -> std::convertible_to<int>;  // 0: |, 1: &, 2: ~ and atoms
    };

namespace detail {

/// Wildcard match: '*' any run (including empty), '?' one character. Iterative with one
/// backtracking point, so it is O(|text| * |glob|) in the worst case, never exponential.
inline bool glob_match(std::string_view glob, std::string_view text) {
  std::size_t g = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

/// Characters that end a glob in the grammar.
inline constexpr bool is_glob_char(char c) {
  switch (c) {
    case '(': case ')': case '[': case ']': case '|': case '&': case '~': case ',':
    case ' ': case '\t': case '\n': case '\r': case '\v': case '\f':
      return false;
    default:
      return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  }
}

inline std::string range_text(int lo, int hi) {
  if (hi == INT_MAX) return message("[", lo, ":)");
  return message("[", lo, ":", hi, ")");
}

template <class S>
void leaf_unmatched(const S& s, std::span<const param_ref> refs, std::vector<std::string>& out) {
  for (const auto& r : refs)
    if (s.matches(r)) return;
  out.push_back(s.describe());
}

/// `s` written as an operand of an operator of precedence `p` (parenthesised when looser).
template <class S>
std::string operand(const S& s, int p) {
  if constexpr (requires { s.describe_as_operand(p); }) return s.describe_as_operand(p);
  else return S::precedence < p ? message("(", s.describe(), ")") : std::string(s.describe());
}

}  // namespace detail

/// Finite depth bounds are at most this (INT_MAX stands for "unbounded"), so that every range
/// describe() writes parses again.
inline constexpr int kMaxDepthBound = 1'000'000'000;

// ---- leaves -------------------------------------------------------------------------------

/// Parameters whose name matches a glob.
struct name_glob {
  static constexpr int precedence = 2;
  std::string glob;
  [[nodiscard]] bool matches(const param_ref& r) const { return detail::glob_match(glob, r.name); }
  [[nodiscard]] std::string describe() const { return message("name(", glob, ")"); }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    detail::leaf_unmatched(*this, refs, out);
  }
};

/// Parameters at module depth lo <= depth < hi.
struct depth_range {
  static constexpr int precedence = 2;
  int lo = 0, hi = INT_MAX;
  [[nodiscard]] bool matches(const param_ref& r) const { return r.depth >= lo && r.depth < hi; }
  [[nodiscard]] std::string describe() const { return message("depth", detail::range_text(lo, hi)); }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    detail::leaf_unmatched(*this, refs, out);
  }
};

/// Transformer blocks lo <= i < hi, i.e. depths [lo + 1, hi + 1) under the GPT convention
/// (depth 0 = embeddings, block i = depth i + 1, final norm and head = layers + 1).
struct blocks_range {
  static constexpr int precedence = 2;
  int lo = 0, hi = INT_MAX;
  [[nodiscard]] bool matches(const param_ref& r) const {
    return r.depth >= 1 && r.depth - 1 >= lo && r.depth - 1 < hi;
  }
  [[nodiscard]] std::string describe() const { return message("blocks", detail::range_text(lo, hi)); }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    detail::leaf_unmatched(*this, refs, out);
  }
};

/// Parameters of any of a set of kinds (bit k set for param_kind k).
struct kind_set {
  static constexpr int precedence = 2;
  unsigned bits = 0;
  [[nodiscard]] bool matches(const param_ref& r) const {
    return (bits >> static_cast<unsigned>(r.kind)) & 1u;
  }
  [[nodiscard]] std::string describe() const {
    std::string s = "kind(";
    bool first = true;
    for (unsigned k = 0; k < 4; ++k)
      if ((bits >> k) & 1u) {
        s += first ? "" : ",";
        s += kind_name(static_cast<param_kind>(k));
        first = false;
      }
    return s + ")";
  }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    detail::leaf_unmatched(*this, refs, out);
  }
};

/// Parameters registered by a module of this type ("linear", "layer_norm", "embedding", ...).
struct module_type {
  static constexpr int precedence = 2;
  std::string type;
  [[nodiscard]] bool matches(const param_ref& r) const { return r.module_type == type; }
  [[nodiscard]] std::string describe() const { return message("module(", type, ")"); }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    detail::leaf_unmatched(*this, refs, out);
  }
};

/// Every parameter.
struct all_params {
  static constexpr int precedence = 2;
  [[nodiscard]] bool matches(const param_ref&) const { return true; }
  [[nodiscard]] std::string describe() const { return "all"; }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    if (refs.empty()) out.push_back(describe());
  }
};

// ---- combinators --------------------------------------------------------------------------

template <selector A, selector C>
struct or_ {
  static constexpr int precedence = 0;
  A a;
  C c;
  [[nodiscard]] bool matches(const param_ref& r) const { return a.matches(r) || c.matches(r); }
  [[nodiscard]] std::string describe() const {
    return message(detail::operand(a, 0), " | ", detail::operand(c, 0));
  }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    a.unmatched(refs, out);
    c.unmatched(refs, out);
  }
};

template <selector A, selector C>
struct and_ {
  static constexpr int precedence = 1;
  A a;
  C c;
  [[nodiscard]] bool matches(const param_ref& r) const { return a.matches(r) && c.matches(r); }
  [[nodiscard]] std::string describe() const {
    return message(detail::operand(a, 1), " & ", detail::operand(c, 1));
  }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    a.unmatched(refs, out);
    c.unmatched(refs, out);
  }
};

template <selector A>
struct not_ {
  static constexpr int precedence = 2;
  A a;
  [[nodiscard]] bool matches(const param_ref& r) const { return !a.matches(r); }
  [[nodiscard]] std::string describe() const { return message("~", detail::operand(a, 2)); }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    a.unmatched(refs, out);
  }
};

template <selector A, selector C>
constexpr or_<A, C> operator|(A a, C c) { return {std::move(a), std::move(c)}; }
template <selector A, selector C>
constexpr and_<A, C> operator&(A a, C c) { return {std::move(a), std::move(c)}; }
template <selector A>
constexpr not_<A> operator~(A a) { return {std::move(a)}; }

// ---- factories ----------------------------------------------------------------------------

/// Parameters whose name matches `glob` ('*' any run of characters, '?' one character).
inline name_glob name(std::string glob) {
  THAW_CHECK(!glob.empty(), "select::name needs a non-empty glob");
  for (char c : glob)
    THAW_CHECK(detail::is_glob_char(c), "select::name: glob '", glob, "' contains '", c,
               "', which the selector grammar does not allow in a glob");
  return {std::move(glob)};
}
/// Depths lo <= depth < hi (hi omitted: unbounded).
inline depth_range depth(int lo, int hi = INT_MAX) {
  THAW_CHECK(0 <= lo && lo <= hi, "select::depth: range [", lo, ", ", hi, ") is not 0 <= lo <= hi");
  THAW_CHECK(lo <= kMaxDepthBound && (hi <= kMaxDepthBound || hi == INT_MAX), "select::depth: bounds above ",
             kMaxDepthBound, " (other than an unbounded end) are not supported");
  return {lo, hi};
}
/// Blocks lo <= i < hi (hi omitted: to the last block).
inline blocks_range blocks(int lo, int hi = INT_MAX) {
  THAW_CHECK(0 <= lo && lo <= hi, "select::blocks: range [", lo, ", ", hi, ") is not 0 <= lo <= hi");
  THAW_CHECK(lo <= kMaxDepthBound && (hi <= kMaxDepthBound || hi == INT_MAX), "select::blocks: bounds above ",
             kMaxDepthBound, " (other than an unbounded end) are not supported");
  return {lo, hi};
}
/// Parameters of any of the kinds given.
template <std::same_as<param_kind>... K>
constexpr kind_set kind(param_kind first, K... more) {
  return {((1u << static_cast<unsigned>(first)) | ... | (1u << static_cast<unsigned>(more)))};
}
inline module_type module(std::string type) {
  THAW_CHECK(!type.empty(), "select::module needs a module type name");
  return {std::move(type)};
}
constexpr all_params all() { return {}; }

/// Norm gains/biases, biases and embeddings: what gets no weight decay by default.
constexpr kind_set no_decay_default() {
  return kind(param_kind::norm, param_kind::bias, param_kind::embedding);
}

// ---- type erasure -------------------------------------------------------------------------

/// Any selector behind one virtual call: what parse() returns and what configs store.
/// Copies share the (immutable) selector. Itself a selector, so it composes with typed ones.
class any_selector {
public:
  static constexpr int precedence = 0;  // the loosest: operands use describe_as_operand

  /// Matches every parameter ("all").
  any_selector() : any_selector(all_params{}) {}

  template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_selector>) && selector<std::remove_cvref_t<S>>
  any_selector(S&& s)  // NOLINT: implicit on purpose, like std::function
      : impl_(std::make_shared<const model<std::remove_cvref_t<S>>>(std::forward<S>(s))) {}

  [[nodiscard]] bool matches(const param_ref& r) const { return impl_->matches(r); }
  [[nodiscard]] std::string describe() const { return impl_->describe(); }
  /// The description as an operand of an operator of precedence p (0: |, 1: &, 2: ~).
  [[nodiscard]] std::string describe_as_operand(int p) const {
    return impl_->precedence() < p ? message("(", impl_->describe(), ")") : impl_->describe();
  }
  void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const {
    impl_->unmatched(refs, out);
  }

private:
  struct interface {
    virtual ~interface() = default;
    virtual bool matches(const param_ref& r) const = 0;
    virtual std::string describe() const = 0;
    virtual void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const = 0;
    virtual int precedence() const = 0;
  };
  template <class S>
  struct model final : interface {
    explicit model(S s) : sel(std::move(s)) {}
    bool matches(const param_ref& r) const override { return sel.matches(r); }
    std::string describe() const override { return sel.describe(); }
    void unmatched(std::span<const param_ref> refs, std::vector<std::string>& out) const override {
      sel.unmatched(refs, out);
    }
    int precedence() const override { return S::precedence; }
    S sel;
  };
  std::shared_ptr<const interface> impl_;
};

// ---- resolving against a model ------------------------------------------------------------

namespace detail {
inline std::string example_names(std::span<const param_ref> refs) {
  std::string s;
  const std::size_t n = refs.size();
  const std::size_t picks[] = {0, 1, n / 2, n - 1};
  std::size_t last = SIZE_MAX;
  int shown = 0;
  for (std::size_t p : picks) {
    if (n == 0 || p >= n || p == last) continue;
    s += message(shown++ ? ", '" : "'", refs[p].name, "' (depth ", refs[p].depth, ", ", kind_name(refs[p].kind),
                 ", ", refs[p].module_type, ")");
    last = p;
  }
  return s;
}
}  // namespace detail

/// The ids of the parameters `s` matches, in buffer order. Throws a thaw::error naming the
/// selector when it matches nothing, or naming each part of it that matches nothing.
template <selector S>
std::vector<param_id> resolve(const S& s, std::span<const param_ref> refs) {
  std::vector<std::string> dead;
  s.unmatched(refs, dead);
  if (!dead.empty()) {
    std::string parts;
    for (std::size_t i = 0; i < dead.size(); ++i) parts += message(i ? ", '" : "'", dead[i], "'");
    throw error(message("selector '", s.describe(), "': ", parts, dead.size() == 1 ? " matches" : " match",
                        " no parameter of the model (", refs.size(), " parameters, e.g. ",
                        detail::example_names(refs), ")"));
  }
  std::vector<param_id> ids;
  for (param_id i = 0; i < refs.size(); ++i)
    if (s.matches(refs[i])) ids.push_back(i);
  THAW_CHECK(!ids.empty(), "selector '", s.describe(), "' matches no parameter of the model (",
             refs.size(), " parameters, e.g. ", detail::example_names(refs), ")");
  return ids;
}
template <selector S, class B>
std::vector<param_id> resolve(const S& s, const param_store<B>& store) {
  return resolve(s, store.refs());
}

/// Like resolve, but an empty result is fine (defaults such as "no decay on norms" that a
/// model may not have).
template <selector S>
std::vector<param_id> resolve_lenient(const S& s, std::span<const param_ref> refs) {
  std::vector<param_id> ids;
  for (param_id i = 0; i < refs.size(); ++i)
    if (s.matches(refs[i])) ids.push_back(i);
  return ids;
}

/// A per-parameter flag vector: true where `s` matches (strict, as resolve).
template <selector S>
std::vector<bool> flags(const S& s, std::span<const param_ref> refs) {
  std::vector<bool> out(refs.size(), false);
  for (param_id i : resolve(s, refs)) out[i] = true;
  return out;
}

// ---- parsing ------------------------------------------------------------------------------

namespace detail {

class parser {
public:
  explicit parser(std::string_view text) : text_(text) {}

  any_selector parse_all() {
    skip();
    if (pos_ == text_.size()) fail("empty selector");
    any_selector s = expr();
    skip();
    if (pos_ != text_.size()) fail(message("unexpected '", printable(text_[pos_]), "' after a complete selector"));
    return s;
  }

private:
  static constexpr int kMaxNesting = 200;  // parentheses and '~' (keeps the recursion bounded)
  static constexpr int kMaxBound = kMaxDepthBound;

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    // One line: the spec is echoed with control characters escaped, and clipped.
    std::string shown;
    for (std::size_t i = 0; i < text_.size() && i < 120; ++i) shown += printable(text_[i]);
    if (text_.size() > 120) shown += "...";
    throw error(message("selector spec '", shown, "': column ", at + 1, ": ", what));
  }
  static std::string printable(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    constexpr char hex[] = "0123456789abcdef";
    return std::string("\\x") + hex[u >> 4] + hex[u & 15];
  }
  void skip() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c, std::string_view context) {
    if (!eat(c)) {
      if (pos_ == text_.size()) fail(message("expected '", c, "' ", context, ", found the end"));
      fail(message("expected '", c, "' ", context, ", found '", printable(text_[pos_]), "'"));
    }
  }

  any_selector expr() {
    any_selector s = term();
    while (eat('|')) s = or_<any_selector, any_selector>{s, term()};
    return s;
  }
  any_selector term() {
    any_selector s = factor();
    while (eat('&')) s = and_<any_selector, any_selector>{s, factor()};
    return s;
  }
  any_selector factor() {
    skip();
    if (depth_ >= kMaxNesting) fail(message("nesting deeper than ", kMaxNesting));
    if (eat('~')) {
      ++depth_;
      any_selector inner = factor();
      --depth_;
      return not_<any_selector>{inner};
    }
    if (eat('(')) {
      ++depth_;
      any_selector inner = expr();
      --depth_;
      expect(')', "to close '('");
      return inner;
    }
    return atom();
  }

  std::string_view word() {  // a run of glob characters
    skip();
    const std::size_t begin = pos_;
    while (pos_ < text_.size() && is_glob_char(text_[pos_])) ++pos_;
    return text_.substr(begin, pos_ - begin);
  }

  any_selector atom() {
    skip();
    const std::size_t begin = pos_;
    if (pos_ == text_.size()) fail("expected a selector, found the end");
    const std::string_view w = word();
    if (w.empty()) fail(message("expected a selector, found '", printable(text_[pos_]), "'"));
    skip();
    const bool call = pos_ < text_.size() && text_[pos_] == '(';
    const bool index = pos_ < text_.size() && text_[pos_] == '[';
    if (w == "name" && call) {
      ++pos_;
      const std::size_t at = (skip(), pos_);
      const std::string_view g = word();
      if (g.empty()) fail_at(at, "name( ) needs a glob such as h.*.attn.*");
      expect(')', "after the glob");
      return name_glob{std::string(g)};
    }
    if (w == "module" && call) {
      ++pos_;
      const std::size_t at = (skip(), pos_);
      const std::string_view t = word();
      if (t.empty()) fail_at(at, "module( ) needs a module type such as linear or layer_norm");
      expect(')', "after the module type");
      return module_type{std::string(t)};
    }
    if (w == "kind" && call) {
      ++pos_;
      unsigned bits = 0;
      do {
        const std::size_t at = (skip(), pos_);
        const std::string_view k = word();
        const int parsed = parse_kind(k);
        if (parsed < 0)
          fail_at(at, k.empty() ? std::string("kind( ) needs weight, bias, norm or embedding")
                                : message("unknown kind '", k, "' (weight, bias, norm or embedding)"));
        bits |= 1u << parsed;
      } while (eat(','));
      expect(')', "after the kinds");
      return kind_set{bits};
    }
    if ((w == "depth" || w == "blocks") && index) {
      ++pos_;
      auto [lo, hi] = range();
      if (w == "depth") return depth_range{lo, hi};
      return blocks_range{lo, hi};
    }
    if (call || index) {
      if (w == "name" || w == "module" || w == "kind")
        fail(message(w, " takes its argument in parentheses: ", w, "(...)"));
      if (w == "depth" || w == "blocks")
        fail(message(w, " takes a range in brackets: ", w, "[a:b)"));
      fail_at(begin, message("unknown selector '", w,
                             "' (name(...), kind(...), module(...), depth[a:b), blocks[a:b), all, or a name glob)"));
    }
    if (w == "all") return all_params{};
    return name_glob{std::string(w)};
  }

  static int parse_kind(std::string_view k) {
    if (k == "weight" || k == "weights") return static_cast<int>(param_kind::weight);
    if (k == "bias" || k == "biases") return static_cast<int>(param_kind::bias);
    if (k == "norm" || k == "norms") return static_cast<int>(param_kind::norm);
    if (k == "embedding" || k == "embeddings") return static_cast<int>(param_kind::embedding);
    return -1;
  }

  bool integer(int& out) {
    skip();
    const std::size_t begin = pos_;
    long long v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      v = v * 10 + (text_[pos_] - '0');
      if (v > kMaxBound) fail_at(begin, message("depth bound too large (at most ", kMaxBound, ")"));
      ++pos_;
    }
    if (pos_ == begin) {
      if (pos_ < text_.size() && text_[pos_] == '-') fail("depth bounds are non-negative");
      return false;
    }
    out = static_cast<int>(v);
    return true;
  }

  std::pair<int, int> range() {  // after '['
    const std::size_t open = pos_ - 1;
    int lo = 0, hi = INT_MAX;
    const bool has_lo = integer(lo);
    if (!eat(':')) {
      if (!has_lo) fail("expected a depth or ':' in the range");
      skip();
      if (!eat(']')) fail("expected ':' or ']' in the range [a:b)");
      if (lo >= kMaxBound) fail_at(open, message("depth bound too large (at most ", kMaxBound - 1, " here)"));
      return {lo, lo + 1};
    }
    const bool has_hi = integer(hi);
    skip();
    if (eat(')')) {
    } else if (eat(']')) {
      if (has_hi && hi >= kMaxBound)
        fail_at(open, message("depth bound too large (at most ", kMaxBound - 1, " for a closed range)"));
      if (has_hi) ++hi;  // closed upper bound
    } else {
      fail(pos_ == text_.size() ? std::string("expected ')' or ']' to close the range, found the end")
                                : message("expected ')' or ']' to close the range, found '",
                                          printable(text_[pos_]), "'"));
    }
    if (!has_hi) hi = INT_MAX;
    if (lo > hi) fail_at(open, message("empty range: lower bound ", lo, " is above the upper bound"));
    return {lo, hi};
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace detail

/// Builds a selector from a spec string (grammar at the top of this header). Malformed specs
/// throw a one-line thaw::error naming the column.
inline any_selector parse(std::string_view spec) { return detail::parser(spec).parse_all(); }

}  // namespace thaw::select
