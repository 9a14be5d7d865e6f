// Selectors (thaw/params/select.hpp): compile-time composition, run-time parsing, describe()
// round trips, and the errors for typos and malformed specs.
#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <vector>

#include "freeze/freeze_util.hpp"
#include "thaw/params/select.hpp"

using namespace thaw;
using thaw::test::rd;

namespace {

std::vector<std::string> names(const param_store<rd>& s, const std::vector<param_id>& ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.push_back(s.ref(id).name);
  return out;
}

template <class S>
std::vector<std::string> selected(const param_store<rd>& s, const S& sel) {
  return names(s, select::resolve(sel, s));
}

}  // namespace

TEST_CASE("selectors compose at compile time into small types", "[freeze][select]") {
  nn::gpt<rd> model(test::tiny_gpt(false));
  const auto& s = model.params();

  auto frozen = select::name("wte.*") | select::name("wpe.*") | select::blocks(0, 1);
  static_assert(std::is_same_v<decltype(frozen),
                               select::or_<select::or_<select::name_glob, select::name_glob>, select::blocks_range>>);
  const auto got = selected(s, frozen);
  REQUIRE(got.front() == "wte.weight");
  REQUIRE(got[1] == "wpe.weight");
  REQUIRE(got.size() == 2 + 12);  // block 0 has 12 parameters (ln_1, attn, ln_2, mlp: weight + bias)
  for (std::size_t i = 2; i < got.size(); ++i) REQUIRE(got[i].rfind("h.0.", 0) == 0);

  // Norms outside the bottom block: & and ~.
  auto norms_above = select::kind(param_kind::norm) & ~select::depth(0, 2);
  const auto n = selected(s, norms_above);
  REQUIRE(n == std::vector<std::string>{"h.1.ln_1.weight", "h.1.ln_1.bias", "h.1.ln_2.weight", "h.1.ln_2.bias",
                                        "h.2.ln_1.weight", "h.2.ln_1.bias", "h.2.ln_2.weight", "h.2.ln_2.bias",
                                        "ln_f.weight", "ln_f.bias"});

  // Module type and several kinds at once.
  REQUIRE(selected(s, select::module("position_embedding")) == std::vector<std::string>{"wpe.weight"});
  REQUIRE(selected(s, select::kind(param_kind::embedding, param_kind::weight) & select::depth(4)) ==
          std::vector<std::string>{"lm_head.weight"});
  REQUIRE(select::resolve(select::all(), s).size() == s.count());
  REQUIRE(selected(s, select::name("h.?.attn.c_proj.bias")) ==
          std::vector<std::string>{"h.0.attn.c_proj.bias", "h.1.attn.c_proj.bias", "h.2.attn.c_proj.bias"});
}

TEST_CASE("selectors parse from strings and describe themselves in the same grammar", "[freeze][select]") {
  nn::gpt<rd> model(test::tiny_gpt(false));
  const auto& s = model.params();

  // The example of the issue and of the header.
  const auto a = select::parse("wte.* | wpe.* | blocks[0:3)");
  REQUIRE(selected(s, a) == selected(s, select::name("wte.*") | select::name("wpe.*") | select::blocks(0, 3)));
  const auto b = select::parse("name(h.*.attn.*) | kind(norm) & ~depth[0:3)");
  REQUIRE(selected(s, b) ==
          selected(s, select::name("h.*.attn.*") | (select::kind(param_kind::norm) & ~select::depth(0, 3))));

  // Precedence: ~ over &, & over |; parentheses override.
  const auto c = select::parse("(name(h.*.attn.*) | kind(norms)) & ~depth[0:3)");
  REQUIRE(selected(s, c) ==
          selected(s, (select::name("h.*.attn.*") | select::kind(param_kind::norm)) & ~select::depth(0, 3)));
  REQUIRE(selected(s, c) != selected(s, b));

  // Ranges: half-open, closed, open-ended, single.
  REQUIRE(selected(s, select::parse("depth[1:2]")) == selected(s, select::depth(1, 3)));
  REQUIRE(selected(s, select::parse("blocks[1:)")) == selected(s, select::blocks(1)));
  REQUIRE(selected(s, select::parse("blocks[2]")) == selected(s, select::blocks(2, 3)));
  REQUIRE(selected(s, select::parse("depth[:1)")) == std::vector<std::string>{"wte.weight", "wpe.weight"});
  REQUIRE(selected(s, select::parse("module(linear) & kind(bias,weight) & blocks[0:1)")).size() == 8);
  REQUIRE(select::resolve(select::parse(" all "), s).size() == s.count());

  // describe() writes the grammar back; parsing it selects the same parameters.
  for (const char* spec : {"wte.* | wpe.* | blocks[0:3)", "name(h.*.attn.*) | kind(norm) & ~depth[0:3)",
                           "(name(h.*.attn.*) | kind(norms)) & ~depth[0:3)", "~(kind(bias) | kind(norm))",
                           "~~depth[2:]", "module(layer_norm) & ~blocks[0:1)", "blocks[1:)"}) {
    INFO(spec);
    const auto parsed = select::parse(spec);
    const auto again = select::parse(parsed.describe());
    REQUIRE(again.describe() == parsed.describe());
    REQUIRE(selected(s, again) == selected(s, parsed));
  }
  REQUIRE(select::parse("wte.* | wpe.* | blocks[0:3)").describe() ==
          "name(wte.*) | name(wpe.*) | blocks[0:3)");
  REQUIRE((select::kind(param_kind::norm) & (select::name("a") | select::name("b"))).describe() ==
          "kind(norm) & (name(a) | name(b))");
  // Typed and parsed selectors mix.
  REQUIRE(selected(s, select::parse("wte.*") | select::kind(param_kind::norm)).size() == 1 + 2 * 2 * 3 + 2);
}

TEST_CASE("a selector or a part of it that matches nothing is an error naming it", "[freeze][select]") {
  nn::gpt<rd> model(test::tiny_gpt());
  const auto& s = model.params();
  // A typo in one operand of | would otherwise silently select only the other one.
  REQUIRE_THROWS_WITH(select::resolve(select::parse("name(h.*.atn.*) | kind(norm)"), s),
                      Catch::Contains("'name(h.*.atn.*)' matches no parameter") &&
                          Catch::Contains("e.g. 'wte.weight' (depth 0, embedding, embedding)"));
  REQUIRE_THROWS_WITH(select::resolve(select::blocks(7, 9), s), Catch::Contains("'blocks[7:9)' matches no parameter"));
  REQUIRE_THROWS_WITH(select::resolve(select::module("conv2d"), s), Catch::Contains("module(conv2d)"));
  // Under ~ too: ~name(typo) would select everything.
  REQUIRE_THROWS_WITH(select::resolve(~select::name("lm_head.*"), s), Catch::Contains("name(lm_head.*)"));
  // Every part matches, but the intersection is empty.
  REQUIRE_THROWS_WITH(select::resolve(select::name("wte.*") & select::kind(param_kind::norm), s),
                      Catch::Contains("selector 'name(wte.*) & kind(norm)' matches no parameter"));
  // Both typos are named at once.
  REQUIRE_THROWS_WITH(select::resolve(select::parse("foo.* | bar.*"), s),
                      Catch::Contains("'name(foo.*)', 'name(bar.*)' match no parameter"));
  // The lenient form is for defaults.
  REQUIRE(select::resolve_lenient(select::module("conv2d"), s.refs()).empty());
}

TEST_CASE("malformed selector specs give one-line errors naming the column", "[freeze][select]") {
  struct bad {
    const char* spec;
    const char* says;
  };
  for (const bad& c : {bad{"", "column 1: empty selector"},
                       bad{"   ", "column 4: empty selector"},
                       bad{"name(h.*", "column 9: expected ')' after the glob, found the end"},
                       bad{"kind(norm, foo)", "column 12: unknown kind 'foo'"},
                       bad{"kind()", "column 6: kind( ) needs weight"},
                       bad{"depth[3:1)", "column 6: empty range"},
                       bad{"depth[1:2", "column 10: expected ')' or ']' to close the range, found the end"},
                       bad{"depth[-1:2)", "non-negative"},
                       bad{"blocks(0, 3)", "blocks takes a range in brackets"},
                       bad{"name[x]", "name takes its argument in parentheses"},
                       bad{"frozen(x)", "column 1: unknown selector 'frozen'"},
                       bad{"wte.* |", "column 8: expected a selector, found the end"},
                       bad{"wte.* wpe.*", "column 7: unexpected 'w' after a complete selector"},
                       bad{"(wte.* | wpe.*", "expected ')' to close '('"},
                       bad{"wte.* & & wpe.*", "column 9: expected a selector, found '&'"},
                       bad{"depth[99999999999:)", "too large"},
                       bad{"a\nb", "\\x0a"}}) {
    INFO(c.spec);
    try {
      (void)select::parse(c.spec);
      FAIL("no error");
    } catch (const error& e) {
      const std::string what = e.what();
      INFO(what);
      REQUIRE(what.find(c.says) != std::string::npos);
      REQUIRE(what.find('\n') == std::string::npos);
    }
  }
  // Deep nesting is bounded, not a stack overflow.
  REQUIRE_THROWS_WITH(select::parse(std::string(100000, '(')), Catch::Contains("nesting deeper than"));
  REQUIRE_THROWS_WITH(select::parse(std::string(100000, '~') + "a"), Catch::Contains("nesting deeper than"));
  // Factories check their arguments too.
  REQUIRE_THROWS_WITH(select::depth(3, 1), Catch::Contains("[3, 1)"));
  REQUIRE_THROWS_WITH(select::name("a b"), Catch::Contains("contains ' '"));
}

TEST_CASE("glob matching: * spans dots, ? is one character, no backtracking blow-up", "[freeze][select]") {
  using select::detail::glob_match;
  REQUIRE(glob_match("*.bias", "h.0.attn.c_attn.bias"));
  REQUIRE_FALSE(glob_match("*.bias", "h.0.attn.c_attn.weight"));
  REQUIRE(glob_match("h.*.attn.*", "h.12.attn.c_proj.weight"));
  REQUIRE(glob_match("h.?.ln_?.*", "h.3.ln_2.bias"));
  REQUIRE_FALSE(glob_match("h.?.ln_?.*", "h.13.ln_2.bias"));
  REQUIRE(glob_match("*", ""));
  REQUIRE_FALSE(glob_match("?", ""));
  REQUIRE(glob_match("a*b*c", "axxbyyc"));
  REQUIRE_FALSE(glob_match("a*b*c", "axxbyy"));
  // Pathological pattern: linear-time in practice.
  const std::string text(5000, 'a');
  REQUIRE_FALSE(glob_match(std::string(50, '*') + "b", text));
}
