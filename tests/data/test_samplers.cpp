// Tests for the samplers: determinism, exact resumption at random points for every sampler and
// for nested mixtures of curricula, skip == draw-and-discard, sharding (disjoint, covering),
// elastic N -> M resumption, curriculum availability, mixture proportions, spec strings and
// their errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "thaw/core/philox.hpp"
#include "thaw/data/any_sampler.hpp"
#include "thaw/data/curriculum.hpp"
#include "thaw/data/filter.hpp"
#include "thaw/data/interleave.hpp"
#include "thaw/data/meco.hpp"
#include "thaw/data/mixture.hpp"
#include "thaw/data/sequential.hpp"
#include "thaw/data/shard.hpp"
#include "thaw/data/shuffled.hpp"
#include "thaw/data/spec.hpp"
#include "thaw/data/subset.hpp"
#include "thaw/data/then.hpp"
#include "thaw/schedule/linear.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;
namespace sched = thaw::sched;

namespace {

// A metric over 100 documents: a scrambled but fixed value per document.
const std::vector<double>& metric_a() {
  static const std::vector<double> v = [] {
    std::vector<double> m(100);
    for (std::size_t d = 0; d < m.size(); ++d) m[d] = static_cast<double>((d * 37) % 100) + 0.5;
    return m;
  }();
  return v;
}
const std::vector<double>& metric_b() {
  static const std::vector<double> v = [] {
    std::vector<double> m(100);
    for (std::size_t d = 0; d < m.size(); ++d) m[d] = std::sin(static_cast<double>(d));
    return m;
  }();
  return v;
}

auto curr_a(std::uint64_t seed = 3) {
  return curriculum(pool::all(100), metric_a(), true, difficulty_order::easy_first, pace::root(500, 0.1), seed);
}
auto curr_b(std::uint64_t seed = 4) {
  return curriculum(pool::all(100), metric_b(), false, difficulty_order::hard_first, pace::competence(800, 0.2), seed);
}

/// The uninterrupted stream equals save-at-k + restore + continue, and skip(k) + continue, at
/// several random k.
template <class Make>
void check_resume(Make make, std::uint64_t total = 2500) {
  auto ref = make();
  const auto full = take(ref, total);
  // Determinism: a second instance gives the same stream.
  auto again = make();
  REQUIRE(take(again, total) == full);
  const thaw::philox_key key{99, total};
  for (std::uint64_t trial = 0; trial < 6; ++trial) {
    const std::uint64_t k = trial == 0 ? 0 : thaw::philox::bits_at(key, trial) % total;
    INFO("resume at " << k);
    auto a = make();
    (void)take(a, k);
    CHECK(a.position() == k);
    const auto st = save_state(a);
    auto b = make();
    restore_state(b, st);
    const auto rest = take(b, total - k);
    CHECK(std::equal(rest.begin(), rest.end(), full.begin() + static_cast<std::ptrdiff_t>(k)));
    auto c = make();
    c.skip(k);
    const auto skipped = take(c, total - k);
    CHECK(std::equal(skipped.begin(), skipped.end(), full.begin() + static_cast<std::ptrdiff_t>(k)));
    // Restoring into a sampler that already drew something also works.
    auto d = make();
    (void)take(d, 17);
    restore_state(d, st);
    const auto m = std::min<std::uint64_t>(50, total - k);
    const auto tail = take(d, m);
    CHECK(std::equal(tail.begin(), tail.end(), full.begin() + static_cast<std::ptrdiff_t>(k)));
  }
}

std::vector<std::uint64_t> docs(const std::vector<sample>& s) {
  std::vector<std::uint64_t> out;
  for (const auto& x : s) out.push_back(x.doc);
  return out;
}

auto nested_mixture_of_curricula() {
  // mixture( ratio(s): mixture(0.3: curriculum A, 0.7: curriculum B), 1 - ratio(s): interleave(
  //          curriculum A', shuffled) ) with a ratio that changes over time.
  auto inner = mixture(sched::linear(0.3, 0.8, 400), curr_a(1), curr_b(2));
  auto other = interleave(curr_a(5), shuffled(pool::all(100), 6));
  return mixture(sched::linear(0.9, 0.2, 1000), std::move(inner), std::move(other), {.per_step = 4, .seed = 8});
}

spec_context test_context() {
  spec_context ctx;
  ctx.n_docs = {100, 100};
  ctx.metric = [](std::uint32_t, const std::string& name) -> std::span<const double> {
    if (name == "compression_ratio") return metric_b();
    if (name == "length" || name == "ttr" || name == "mtld" || name == "flesch") return metric_a();
    throw thaw::error("no metric " + name);
  };
  return ctx;
}

}  // namespace

TEST_CASE("samplers: every sampler resumes exactly and skip equals drawing") {
  SECTION("sequential") { check_resume([] { return sequential(pool::all(37)); }); }
  SECTION("shuffled") { check_resume([] { return shuffled(pool::all(37), 5); }); }
  SECTION("curriculum") { check_resume([] { return curr_a(); }); }
  SECTION("filter + subset pools") {
    check_resume([] {
      const auto p = subset_pool(filter_pool(pool::all(100), metric_a(), compare::greater, 30), 20, 7);
      return shuffled(p, 2);
    });
  }
  SECTION("then: curriculum as warm-up, then random") {
    check_resume([] { return then(curr_a(), 700, shuffled(pool::all(100), 9)); });
  }
  SECTION("interleave") {
    check_resume([] { return interleave(sequential(pool::all(10)), shuffled(pool::all(100), 1), curr_b()); });
  }
  SECTION("mixture with a changing ratio") {
    check_resume([] { return mixture(sched::linear(0.1, 0.9, 800), curr_a(), shuffled(pool::all(100), 3)); });
  }
  SECTION("mixture_of three weighted parts") {
    check_resume([] {
      return mixture_of({.per_step = 3, .seed = 1}, weighted(sched::linear(1.0, 0.0, 600), curr_a()),
                        weighted([](sched::step_t) { return 0.5; }, curr_b()),
                        weighted(sched::linear(0.0, 2.0, 900), sequential(pool::all(50))));
    });
  }
  SECTION("meco") { check_resume([] { return meco(shuffled(pool::all(100), 4), 1200); }); }
  SECTION("nested mixture of curricula") { check_resume([] { return nested_mixture_of_curricula(); }); }
  SECTION("any_sampler and a shard") {
    check_resume([] { return any_sampler(shard(nested_mixture_of_curricula(), 1, 3)); }, 900);
  }
  SECTION("built from a spec string") {
    const auto ctx = test_context();
    check_resume([&] {
      return build_sampler(
          "mixture(linear(0.9, 0.1, 500): then(curriculum(compression_ratio, easy, step(300, 0.2, 3), seed=1), 400,"
          " shuffled(seed=2)), 0.5: interleave(curriculum(ttr, hard, exponential(600), seed=3),"
          " filter(length >= 20, subset(0.5, seed=4)), meco(sequential(source=1), 100)), per_step=2, seed=5)",
          ctx);
    });
  }
}

TEST_CASE("samplers: a spec builds the same stream as the typed composition") {
  const auto ctx = test_context();
  auto from_spec = build_sampler(
      "mixture(linear(0.3, 0.8, 400): curriculum(ttr, easy, root(500, 0.1), seed=3),"
      " linear(0.7, 0.2, 400): shuffled(seed=6), per_step=4, seed=8)",
      ctx);
  auto typed = mixture_of({.per_step = 4, .seed = 8}, weighted(sched::linear(0.3, 0.8, 400), curr_a(3)),
                          weighted(sched::linear(0.7, 0.2, 400), shuffled(pool::all(100), 6)));
  CHECK(take(from_spec, 3000) == take(typed, 3000));
}

TEST_CASE("shuffled: each epoch is a permutation, epochs and seeds differ") {
  auto s = shuffled(pool::all(1000), 42);
  const auto e0 = docs(take(s, 1000));
  const auto e1 = docs(take(s, 1000));
  CHECK(s.epoch() == 2);
  auto sorted0 = e0, sorted1 = e1;
  std::sort(sorted0.begin(), sorted0.end());
  std::sort(sorted1.begin(), sorted1.end());
  for (std::uint64_t i = 0; i < 1000; ++i) {
    REQUIRE(sorted0[i] == i);
    REQUIRE(sorted1[i] == i);
  }
  CHECK(e0 != e1);
  auto other = shuffled(pool::all(1000), 43);
  CHECK(docs(take(other, 1000)) != e0);
  // Not the identity, and roughly uniform: item 0 lands anywhere.
  std::size_t fixed = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) fixed += e0[i] == i;
  CHECK(fixed < 10);
  // Pools of size 1 and of odd sizes work.
  auto one = shuffled(pool::all(1), 1);
  CHECK(docs(take(one, 3)) == std::vector<std::uint64_t>{0, 0, 0});
  auto p = shuffled(pool::of({5, 9, 11}), 1);
  auto three = docs(take(p, 3));
  std::sort(three.begin(), three.end());
  CHECK(three == std::vector<std::uint64_t>{5, 9, 11});
}

TEST_CASE("curriculum: every draw comes from the part its pacing allows") {
  // metric = document id, higher is harder: easy first means low ids first.
  std::vector<double> m(200);
  for (std::size_t d = 0; d < m.size(); ++d) m[d] = static_cast<double>(d);
  const auto pace = pace::linear(1000, 0.05);
  auto easy = curriculum(pool::all(200), m, true, difficulty_order::easy_first, pace, 1);
  auto hard = curriculum(pool::all(200), m, true, difficulty_order::hard_first, pace, 1);
  std::set<std::uint64_t> seen_late;
  for (std::uint64_t t = 0; t < 3000; ++t) {
    // The formula, up to one item of floating-point rounding at the boundary (the compiler may
    // fuse the pacing's multiply-add differently at different call sites).
    const auto formula = std::ceil(std::min(1.0, pace(t)) * 200);
    const auto avail = easy.available(t);
    CHECK(std::abs(static_cast<double>(avail) - formula) <= 1);
    const auto e = easy.next().doc;
    const auto h = hard.next().doc;
    REQUIRE(e < avail);
    REQUIRE(h >= 200 - avail);
    if (t >= 1000) seen_late.insert(e);
  }
  CHECK(seen_late.size() == 200);  // after T: the whole pool
  // With a slow pace, early draws stay in the easiest 5% (10 documents).
  auto early = curriculum(pool::all(200), m, true, difficulty_order::easy_first, pace::step(1e9, 0.05, 1), 2);
  std::set<std::uint64_t> first, expect;
  for (int t = 0; t < 300; ++t) first.insert(early.next().doc);
  for (std::uint64_t d = 0; d < early.available(0); ++d) expect.insert(d);
  CHECK(first == expect);
  CHECK(expect.size() >= 10);
  CHECK(expect.size() <= 11);
  // Lower-is-harder metrics flip: easy first = high values first.
  auto flesch_like = curriculum(pool::all(200), m, false, difficulty_order::easy_first, pace::linear(10, 0.01), 3);
  CHECK(flesch_like.order().front() == 199);
  CHECK(flesch_like.next().doc >= 197);
}

TEST_CASE("mixture: proportions follow the weights with bounded error") {
  const auto p0 = pool::all(50, 0), p1 = pool::all(50, 1);
  SECTION("constant 0.25 / 0.75") {
    auto m = mixture([](sched::step_t) { return 0.25; }, sequential(p0), sequential(p1));
    std::uint64_t n0 = 0;
    for (std::uint64_t i = 1; i <= 20000; ++i) {
      n0 += m.next().source == 0;
      if (i % 1000 == 0) CHECK(std::abs(static_cast<double>(n0) - 0.25 * static_cast<double>(i)) <= 4);
    }
  }
  SECTION("a ratio that changes from 1 to 0 over 1000 steps of 10 draws") {
    auto m = mixture(sched::linear(1.0, 0.0, 1000), sequential(p0), sequential(p1), {.per_step = 10});
    double expected = 0;
    std::uint64_t n0 = 0;
    for (std::uint64_t i = 0; i < 12000; ++i) {
      expected += std::max(0.0, 1.0 - static_cast<double>(i / 10) / 1000.0);
      n0 += m.next().source == 0;
      if (i % 500 == 499) CHECK(std::abs(static_cast<double>(n0) - expected) <= 4);
    }
    CHECK(std::abs(static_cast<double>(n0) - 5005.0) <= 4);
  }
  SECTION("a component with weight 0 is never drawn") {
    auto m = mixture_of({}, weighted([](sched::step_t) { return 0.0; }, sequential(p0)),
                        weighted([](sched::step_t) { return 2.0; }, sequential(p1)));
    for (int i = 0; i < 1000; ++i) CHECK(m.next().source == 1);
  }
}

TEST_CASE("mixture: negative, all-zero and non-finite weights are errors naming the step") {
  auto s = [] { return sequential(pool::all(5)); };
  CHECK_THAT(error_of([&] { (void)mixture_of({}, weighted([](sched::step_t) { return -0.5; }, s()),
                                             weighted([](sched::step_t) { return 1.0; }, s())); }),
             Catch::Contains("component 0") && Catch::Contains("-0.5") && Catch::Contains(">= 0"));
  CHECK_THAT(error_of([&] { (void)mixture_of({}, weighted([](sched::step_t) { return 0.0; }, s()),
                                             weighted([](sched::step_t) { return 0.0; }, s())); }),
             Catch::Contains("all zero"));
  CHECK_THAT(error_of([&] { (void)mixture_of({}, weighted([](sched::step_t) { return std::nan(""); }, s())); }),
             Catch::Contains("finite"));
  // A weight that turns negative later fails at that step.
  auto m = mixture_of({}, weighted(sched::linear(1.0, -1.0, 100), s()), weighted([](sched::step_t) { return 1.0; }, s()));
  (void)take(m, 50);
  CHECK_THAT(error_of([&] { (void)take(m, 100); }), Catch::Contains("at step 51"));
  CHECK_THAT(error_of([&] { (void)mixture(sched::linear(0.5, 1.5, 10), s(), s()).skip(20); }),
             Catch::Contains("in [0, 1]"));
}

TEST_CASE("shard: disjoint shards that together are the global stream") {
  for (const std::uint64_t world : {1u, 2u, 3u, 4u, 7u}) {
    INFO("world " << world);
    auto g = nested_mixture_of_curricula();
    const auto global = take(g, world * 200);
    std::vector<std::vector<sample>> parts;
    for (std::uint64_t r = 0; r < world; ++r) {
      auto s = shard(nested_mixture_of_curricula(), r, world);
      parts.push_back(take(s, 200));
    }
    for (std::uint64_t i = 0; i < world * 200; ++i) REQUIRE(parts[i % world][i / world] == global[i]);
  }
}

TEST_CASE("shard: a state saved with N ranks resumes on M ranks, nothing lost or repeated") {
  auto g = nested_mixture_of_curricula();
  const auto global = take(g, 3000);
  for (const auto& [n, m] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{{3, 5}, {4, 2}, {1, 6}, {6, 1}, {2, 2}}) {
    INFO("N " << n << " -> M " << m);
    const std::uint64_t k = 100;  // draws per rank before the checkpoint
    std::vector<sampler_state> states;
    std::vector<sample> before(n * k);
    for (std::uint64_t r = 0; r < n; ++r) {
      auto s = shard(nested_mixture_of_curricula(), r, n);
      const auto got = take(s, k);
      for (std::uint64_t i = 0; i < k; ++i) before[i * n + r] = got[i];
      states.push_back(save_state(s));
    }
    for (const auto& st : states) REQUIRE(st == states.front());  // the same global state on every rank
    const std::uint64_t k2 = 120;
    std::vector<sample> after(m * k2);
    for (std::uint64_t r = 0; r < m; ++r) {
      auto s = shard(nested_mixture_of_curricula(), r, m);
      restore_state(s, states.front());
      const auto got = take(s, k2);
      for (std::uint64_t i = 0; i < k2; ++i) after[i * m + r] = got[i];
    }
    std::vector<sample> joined = before;
    joined.insert(joined.end(), after.begin(), after.end());
    CHECK(std::equal(joined.begin(), joined.end(), global.begin()));
  }
}

TEST_CASE("samplers: bad states and bad parameters are errors") {
  auto seq = sequential(pool::all(10));
  auto shf = shuffled(pool::all(10), 1);
  const auto st = save_state(shf);
  CHECK_THAT(error_of([&] { restore_state(seq, st); }), Catch::Contains("expected a sequential state"));
  auto other_seed = shuffled(pool::all(10), 2);
  CHECK_THAT(error_of([&] { restore_state(other_seed, st); }), Catch::Contains("seed 1"));
  auto longer = st;
  longer.push_back(7);
  CHECK_THAT(error_of([&] { restore_state(shf, longer); }), Catch::Contains("left over"));
  CHECK_THAT(error_of([&] { restore_state(shf, sampler_state{}); }), Catch::Contains("too short"));
  CHECK_THAT(error_of([] { (void)sequential(pool::all(0)); }), Catch::Contains("empty"));
  CHECK_THAT(error_of([] { (void)shard(sequential(pool::all(3)), 3, 3); }), Catch::Contains("rank 3"));
  CHECK_THAT(error_of([] { (void)filter_pool(pool::all(100), metric_a(), compare::greater, 1000, "length"); }),
             Catch::Contains("keeps none") && Catch::Contains("length > 1000"));
  CHECK_THAT(error_of([] { (void)subset_pool(pool::all(10), 11, 0); }), Catch::Contains("1..10"));
  std::vector<double> nan_metric(10, std::nan(""));
  CHECK_THAT(error_of([&] {
               (void)curriculum(pool::all(10), nan_metric, true, difficulty_order::easy_first, pace::linear(10), 0);
             }),
             Catch::Contains("NaN"));
}

TEST_CASE("subset: k items, repeated every epoch, reshuffled") {
  const auto p = subset_pool(pool::all(1000), 50, 3);
  CHECK(p.size() == 50);
  auto s = shuffled(p, 1);
  const auto e0 = docs(take(s, 50)), e1 = docs(take(s, 50));
  CHECK(std::set<std::uint64_t>(e0.begin(), e0.end()) == std::set<std::uint64_t>(e1.begin(), e1.end()));
  CHECK(std::set<std::uint64_t>(e0.begin(), e0.end()).size() == 50);
  CHECK(e0 != e1);
  CHECK(subset_pool(pool::all(1000), 50, 4).ids() != p.ids());
}

TEST_CASE("meco: tags until the cool-down, then plain samples") {
  auto m = meco(sequential(pool::all(10)), 30);
  const auto s = take(m, 40);
  for (int i = 0; i < 40; ++i) CHECK(s[i].tagged == (i < 30 ? 1u : 0u));
  CHECK(s[35].doc == 5);
}

TEST_CASE("then: switches exactly at W, the second sampler starting fresh") {
  auto t = then(sequential(pool::of({7})), 5, sequential(pool::all(100)));
  CHECK(docs(take(t, 8)) == std::vector<std::uint64_t>{7, 7, 7, 7, 7, 0, 1, 2});
}

TEST_CASE("interleave: strict rotation") {
  auto t = interleave(sequential(pool::of({1})), sequential(pool::of({2})), sequential(pool::all(100)));
  CHECK(docs(take(t, 7)) == std::vector<std::uint64_t>{1, 2, 0, 1, 2, 1, 1});
}

TEST_CASE("spec: syntax and meaning errors name the column") {
  const auto ctx = test_context();
  auto err = [&](const char* spec) { return error_of([&] { (void)build_sampler(spec, ctx); }); };
  CHECK_THAT(err(""), Catch::Contains("empty spec"));
  CHECK_THAT(err("shuffled(seed=1"), Catch::Contains("column 16") && Catch::Contains("expected ',' or ')'"));
  CHECK_THAT(err("shuffled(seed=1) x"), Catch::Contains("column 18") && Catch::Contains("end of the spec"));
  CHECK_THAT(err("bogus()"), Catch::Contains("column 1") && Catch::Contains("unknown sampler \"bogus\""));
  CHECK_THAT(err("shuffled(sed=1)"), Catch::Contains("no parameter \"sed\""));
  CHECK_THAT(err("shuffled(seed=-1)"), Catch::Contains("whole number"));
  CHECK_THAT(err("shuffled(seed=1, seed=2)"), Catch::Contains("given twice"));
  CHECK_THAT(err("shuffled(seed=x1)"), Catch::Contains("must be a number"));
  CHECK_THAT(err("sequential(source=5)"), Catch::Contains("source 5 does not exist"));
  CHECK_THAT(err("curriculum(perplexity, easy, linear(10))"), Catch::Contains("unknown metric \"perplexity\""));
  CHECK_THAT(err("curriculum(ttr, medium, linear(10))"), Catch::Contains("easy or hard"));
  CHECK_THAT(err("curriculum(ttr, easy, sawtooth(10))"), Catch::Contains("unknown pacing \"sawtooth\""));
  CHECK_THAT(err("curriculum(ttr, easy, linear(0))"), Catch::Contains("T must be >= 1"));
  CHECK_THAT(err("curriculum(ttr, easy, root(10, 1.5))"), Catch::Contains("c0 must be in (0, 1]"));
  CHECK_THAT(err("curriculum(ttr, easy)"), Catch::Contains("needs \"pace\""));
  CHECK_THAT(err("filter(ttr, shuffled())"), Catch::Contains("needs a condition"));
  CHECK_THAT(err("filter(ttr > 1000, shuffled())"), Catch::Contains("keeps none"));
  CHECK_THAT(err("subset(0, shuffled())"), Catch::Contains("subset size"));
  CHECK_THAT(err("subset(2e120, shuffled())"), Catch::Contains("subset size"));  // found by fuzzing
  CHECK_THAT(err("subset(101, shuffled())"), Catch::Contains("1..100"));
  CHECK_THAT(err("mixture(shuffled())"), Catch::Contains("SCHEDULE: sampler"));
  CHECK_THAT(err("mixture(lin(1): shuffled())"), Catch::Contains("column 9") && Catch::Contains("bad mixture weight"));
  CHECK_THAT(err("mixture(-1: shuffled(), 1: sequential())"), Catch::Contains("weights must be finite and >= 0"));
  CHECK_THAT(err("mixture(0: shuffled(), 0: sequential())"), Catch::Contains("all zero"));
  CHECK_THAT(err("meco(shuffled())"), Catch::Contains("needs \"cooldown\""));
  CHECK_THAT(err("then(shuffled(), 1.5, sequential())"), Catch::Contains("whole number"));
}

TEST_CASE("spec: loss:NAME metrics and keyword arguments parse") {
  auto tree = parse_sampler_spec("curriculum(metric=loss:ckpt-1, order=hard, pace=competence(T=100, c0=0.5, p=1))");
  REQUIRE(tree.args.size() == 3);
  CHECK(tree.args[0].key == "metric");
  CHECK(tree.args[0].value.name == "loss:ckpt-1");
  CHECK(tree.args[2].value.name == "competence");
  CHECK(spec_uses_metrics(tree));
  CHECK(!spec_uses_metrics(parse_sampler_spec("mixture(0.5: shuffled(), 0.5: sequential())")));
  auto cond = parse_sampler_spec("filter(flesch <= -3.5e1, sequential())");
  CHECK(cond.args[0].value.k == spec_node::kind::condition);
  CHECK(cond.args[0].value.op == compare::less_equal);
  CHECK(cond.args[0].value.number == -35.0);
}
