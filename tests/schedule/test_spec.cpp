// Tests for spec.hpp and any_schedule.hpp: every spec form equals its typed schedule, every C++
// floating literal form reads as the compiler reads it, and every malformed spec gives one line
// naming the column and what was expected.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;
using Catch::Matchers::Contains;

namespace {
template <class S>
void check_same(const any_schedule& parsed, const S& typed, step_t until) {
  CHECK(parsed.length() == typed.length());
  for (step_t s = 0; s < until; ++s) {
    INFO("s = " << s);
    REQUIRE(parsed(s) == typed(s));
  }
}

double value_of(const std::string& number) { return parse("constant(" + number + ", 1)")(0); }
}  // namespace

TEST_CASE("each spec form is its typed schedule", "[schedule][spec]") {
  check_same(parse("constant(0.25, 10)"), constant(0.25, 10), 20);
  check_same(parse("constant(0.25)"), constant(0.25), 20);
  check_same(parse("linear(0, 3e-4, 500)"), linear(0, 3e-4, 500), 600);
  check_same(parse("cosine(3e-4, 3e-5, 9500)"), cosine(3e-4, 3e-5, 9500), 12000);
  check_same(parse("exp(0.1, 0.001, 40)"), exponential(0.1, 0.001, 40), 60);
  check_same(parse("step(0.1, 0.5, 7, inf)"), step_decay(0.1, 0.5, 7), 60);
  check_same(parse("step(0.1, 0.5, 7)"), step_decay(0.1, 0.5, 7), 60);
  check_same(parse("step(1, 0.1, 3, 12)"), step_decay(1, 0.1, 3, 12), 30);
  check_same(parse("poly(0.2, 0.02, 25, 0.5)"), poly(0.2, 0.02, 25, 0.5), 40);
  check_same(parse("sgdr(0.05, 0, 5, 2)"), sgdr(0.05, 0, 5, 2), 200);
  check_same(parse("sgdr(0.05, 0, 5)"), sgdr(0.05, 0, 5), 50);
  check_same(parse("wsd(3e-4, 3e-5, 100, 800, 100, linear)"),
             wsd({.peak = 3e-4, .min = 3e-5, .warmup = 100, .stable = 800, .decay = 100,
                  .shape = decay_shape::linear}),
             1100);
  check_same(parse("wsd(3e-4, 3e-5, 100, 800, 100, cosine)"),
             wsd({.peak = 3e-4, .min = 3e-5, .warmup = 100, .stable = 800, .decay = 100,
                  .shape = decay_shape::cosine}),
             1100);
  check_same(parse("wsd(3e-4, 0, 100, inf, 100, 1-sqrt)"),
             wsd({.peak = 3e-4, .min = 0, .warmup = 100, .stable = kInfinite, .decay = 100,
                  .shape = decay_shape::one_minus_sqrt}),
             1100);
  check_same(parse("0.5"), constant(0.5), 3);
  check_same(parse("-2"), constant(-2.0), 3);
}

TEST_CASE("a >> b in specs, with parentheses and any whitespace", "[schedule][spec]") {
  const auto typed = linear(0.0, 3e-4, 500) >> cosine(3e-4, 3e-5, 9'500) >> constant(3e-5);
  check_same(parse("linear(0, 3e-4, 500) >> cosine(3e-4, 3e-5, 9500) >> constant(3e-5)"), typed,
             11'000);
  check_same(parse(" ( linear(0,3e-4,500)>>cosine( 3e-4 ,3e-5 , 9500 ) )\n>>\tconstant(3e-5) "),
             typed, 11'000);
  check_same(parse("linear(0, 3e-4, 500) >> (cosine(3e-4, 3e-5, 9500) >> constant(3e-5))"), typed,
             11'000);
  // A long chain is flat: no recursion, one binary search per step.
  std::string chain = "constant(0, 1)";
  for (int i = 1; i < 5000; ++i) chain += " >> constant(" + std::to_string(i) + ", 1)";
  const auto long_chain = parse(chain);
  CHECK(long_chain.length() == 5000);
  CHECK(long_chain(0) == 0);
  CHECK(long_chain(4321) == 4321);
  CHECK(long_chain(99'999) == 4999);  // past the end: the last part goes on
}

TEST_CASE("numbers are read as C++ floating literals", "[schedule][spec]") {
  CHECK(value_of("1e-3") == 1e-3);
  CHECK(value_of(".5") == .5);
  CHECK(value_of("3.") == 3.);
  CHECK(value_of("0x1p-3") == 0x1p-3);
  CHECK(value_of("0x1.8p1") == 0x1.8p1);
  CHECK(value_of("0X.8P0") == 0X.8P0);
  CHECK(value_of("0xA.Bp+2") == 0xA.Bp+2);
  CHECK(value_of("1E+2") == 1E+2);
  CHECK(value_of("6.02214076e23") == 6.02214076e23);
  CHECK(value_of("1'000.000'5") == 1'000.000'5);
  CHECK(value_of("0.1f") == static_cast<double>(0.1f));  // rounded to float, like the literal
  CHECK(value_of("0.1F") == static_cast<double>(0.1F));
  CHECK(value_of("2.5L") == 2.5);
  CHECK(value_of("0x10") == 16);
  CHECK(value_of("0b101") == 5);
  CHECK(value_of("-0.0") == 0.0);
  CHECK(value_of("+7") == 7);
  CHECK(value_of("0") == 0);
  CHECK(value_of("0.30000000000000004") == 0.30000000000000004);  // correctly rounded
  // Lengths may be written as floating literals when they are whole numbers, or inf.
  CHECK(parse("linear(0, 1, 1e4)").length() == 10'000);
  CHECK(parse("linear(0, 1, 0x1p4)").length() == 16);
  CHECK(parse("constant(1, inf)").length() == kInfinite);
  CHECK(parse("constant(1, +inf)").length() == kInfinite);
}

TEST_CASE("a malformed spec names the column and what was expected", "[schedule][spec]") {
  struct bad {
    const char* spec;
    int column;
    const char* says;
  };
  const std::vector<bad> cases = {
      {"", 1, "empty spec"},
      {"   ", 4, "empty spec"},
      {"linear(0, 1)", 12, "expected ',' and argument 'n' of linear(a, b, n), found ')'"},
      {"linear(0, 1, 10", 16, "expected ')' after the last argument of linear(a, b, n), found the end of the spec"},
      {"linear(0, 1, 10, 5)", 16, "linear(a, b, n) takes 3 arguments"},
      {"cosin(1, 0, 10)", 1, "unknown schedule 'cosin' (did you mean 'cosine'?)"},
      {"linear(0, 1, 10) >>", 20, "expected a schedule such as linear(0, 1, 100), a number or '(', found the end of the spec"},
      {"linear(0, 1, 10) cosine(1, 0, 5)", 18, "expected '>>' or the end of the spec, found 'cosine'"},
      {"linear(0, 1, 2.5)", 14, "must be a whole number, got 2.5"},
      {"linear(0, 1, -5)", 14, "argument 'n' of linear(a, b, n) is a number of steps and must be >= 0, got -5"},
      {"exp(0, 1, 10)", 1, "exp(a, b, n): a and b must be > 0"},
      {"exp(1, 0.1, inf)", 1, "exp(a, b, n): n must be finite"},
      {"sgdr(1, 0, 10, 0.5)", 1, "tmult must be in [1, 1e6]"},
      {"sgdr(1, 0, 0, 1)", 1, "t0 must be a finite number of steps >= 1"},
      {"step(1, 0.5, 0, 10)", 1, "every must be >= 1"},
      {"poly(1, 0, 10, -1)", 1, "power must be finite and > 0"},
      {"wsd(1, 0, 10, 10, 10, square)", 23, "expected the decay shape (linear, cosine or 1-sqrt)"},
      {"wsd(1, 0, 10, 10, inf, linear)", 1, "decay must be finite"},
      {"linear(0x1.8, 1, 10)", 13, "a hexadecimal floating literal needs a binary exponent"},
      {"linear(0x, 1, 10)", 8, "no digits after 0x"},
      {"linear(1e, 1, 10)", 10, "expected the digits of the exponent"},
      {"linear(010, 1, 10)", 8, "octal"},
      {"linear(1..5, 1, 10)", 10, "malformed number"},
      {"linear(1'', 1, 10)", 9, "malformed number"},
      {"linear(1x, 1, 10)", 9, "malformed number"},
      {"linear(inf, 1, 10)", 8, "argument 'a' of linear(a, b, n) must be a finite number"},
      {"linear(, 1, 10)", 8, "expected a number as argument 'a' of linear(a, b, n), found ','"},
      {"linear(0, 1, 1e300)", 14, "too large"},
      {"linear(1e999, 1, 10)", 8, "out of the range of double"},
      {"constant(1e39f)", 10, "out of the range of float"},
      {"constant(1, inf) >> linear(0, 1, 10)", 18, "infinite length"},
      {"linear(0, 1, 10))", 17, "expected '>>' or the end of the spec, found ')'"},
      {"(linear(0, 1, 10)", 18, "expected '>>' or ')'"},
      {"linear 0, 1, 10)", 8, "expected '(' after 'linear'"},
      {"linear(0; 1, 10)", 9, "expected ',' or ')' after argument 'a'"},
      {"\x01", 1, "found '\\x01'"},
      {">> linear(0, 1, 2)", 1, "found '>>'"},
  };
  for (const auto& c : cases) {
    INFO("spec: " << c.spec);
    try {
      (void)parse(c.spec);
      FAIL("parsed without error");
    } catch (const thaw::error& e) {
      const std::string what = e.what();
      CHECK_THAT(what, Contains("column " + std::to_string(c.column) + ": "));
      CHECK_THAT(what, Contains(c.says));
      CHECK(what.find('\n') == std::string::npos);  // one line
    }
  }
  std::string deep(70, '(');
  CHECK_THROWS_WITH(parse(deep + "constant(1)"), Contains("nested too deeply"));
}

TEST_CASE("any_schedule holds any schedule and keeps its spec", "[schedule][spec]") {
  const any_schedule typed = linear(0.0, 1.0, 10) >> constant(1.0, 5);
  CHECK(typed.length() == 15);
  CHECK(typed(5) == 0.5);
  CHECK(typed.spec().empty());
  const auto parsed = parse("  linear(0, 1, 10) >> constant(1, 5) ");
  CHECK(parsed.spec() == "linear(0, 1, 10) >> constant(1, 5)");
  const any_schedule copy = parsed;  // copies share the schedule
  CHECK(copy(7) == parsed(7));
  // It composes with typed schedules, and is accepted wherever a schedule is.
  static_assert(schedule<any_schedule>);
  const auto mixed = parsed * 2.0 >> cosine(2.0, 0.0, 10);
  CHECK(mixed(5) == 1.0);
  CHECK(mixed(15) == 2.0);
  CHECK(mixed.length() == 25);
}
