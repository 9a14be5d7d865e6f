// Masks (thaw/params/mask.hpp): group masks drive the store's flags, element masks are built at
// random / by magnitude / by saliency and convert into canonical index sets.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "freeze/freeze_util.hpp"
#include "thaw/params/mask.hpp"

using namespace thaw;
using thaw::test::rd;

namespace {
bool same_ranges(const std::vector<index_range>& a, const std::vector<index_range>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const index_range& x, const index_range& y) {
           return x.begin == y.begin && x.end == y.end;
         });
}
}  // namespace

TEST_CASE("index sets: normalize, intersect, subtract", "[freeze][mask]") {
  const auto n = normalize({{10, 12}, {0, 3}, {3, 5}, {7, 7}, {11, 15}});
  REQUIRE(same_ranges(n, {{0, 5}, {10, 15}}));
  REQUIRE(element_count(n) == 10);
  const std::vector<index_range> b{{2, 11}, {14, 20}};
  REQUIRE(same_ranges(intersect(n, b), {{2, 5}, {10, 11}, {14, 15}}));
  REQUIRE(same_ranges(subtract(n, b), {{0, 2}, {11, 14}}));
  REQUIRE(same_ranges(subtract(b, n), {{5, 10}, {15, 20}}));
  REQUIRE_THROWS_WITH(check_index_set(std::vector<index_range>{{0, 5}, {4, 6}}, 10, "test set"),
                      Catch::Contains("test set: range 1 [4, 6) overlaps"));
  REQUIRE_THROWS_WITH(check_index_set(std::vector<index_range>{{0, 11}}, 10, "test set"),
                      Catch::Contains("runs past the end of the 10-element"));
}

TEST_CASE("group masks set the store's flags and give merged ranges", "[freeze][mask]") {
  param_store<rd> s;
  test::build_small_store(s);
  // everything but the linear layers' weights
  auto m = group_mask::frozen(s, select::kind(param_kind::weight));
  REQUIRE_FALSE(m.trainable(1));
  REQUIRE(m.trainable(0));
  m.apply(s);
  REQUIRE_FALSE(s.trainable(s.find("l0.weight")));
  REQUIRE(s.trainable(s.find("norm.weight")));
  // emb [0, 20) | l0.bias [44, 50) + norm [50, 56) merged | l1.bias [74, 77)
  REQUIRE(same_ranges(m.ranges(s), {{0, 20}, {44, 56}, {74, 77}}));
  REQUIRE(same_ranges(trainable_ranges(s), m.ranges(s)));
  REQUIRE(trainable_elements(s) == 20 + 12 + 3);
  REQUIRE(group_mask::from_store(s) == m);

  auto only = group_mask::training(s, select::name("l1.*")).unfreeze(s, select::kind(param_kind::norm));
  REQUIRE(same_ranges(only.ranges(s), {{50, 77}}));

  param_store<rd> other;
  other.add("x", {3}, param_kind::weight, 0, "linear");
  other.allocate();
  REQUIRE_THROWS_WITH(m.apply(other), Catch::Contains("group mask has 6 flags but the model has 1 parameters"));
  REQUIRE_THROWS_WITH(group_mask::frozen(s, select::name("l2.*")), Catch::Contains("'name(l2.*)' matches no parameter"));
}

TEST_CASE("element masks: bits, ranges, bytes", "[freeze][mask]") {
  element_mask m(200);
  m.set_range(3, 70, true);
  m.set(130, true);
  m.set_range(190, 200, true);
  REQUIRE(m.count() == 67 + 1 + 10);
  REQUIRE(same_ranges(m.ranges(), {{3, 70}, {130, 131}, {190, 200}}));
  REQUIRE(m.any_in(60, 64));
  REQUIRE_FALSE(m.any_in(70, 130));
  REQUIRE(element_mask::from_bytes(200, m.to_bytes()) == m);
  REQUIRE(element_mask::from_ranges(200, m.ranges()) == m);
  element_mask full(128, true);
  REQUIRE(same_ranges(full.ranges(), {{0, 128}}));
  REQUIRE(full.count() == 128);
  REQUIRE_THROWS_WITH(m.set(200, true), Catch::Contains("element 200 is outside the 200-element mask"));
  std::vector<std::uint8_t> bytes(25, 0xff);
  REQUIRE_THROWS_WITH(element_mask::from_bytes(197, bytes), Catch::Contains("set bits past element 197"));
  REQUIRE_THROWS_WITH(element_mask::from_bytes(200, std::vector<std::uint8_t>(3)), Catch::Contains("needs 25 bytes"));
}

TEST_CASE("random element masks: the fraction, the scope, and regenerable from the key", "[freeze][mask]") {
  nn::gpt<rd> model(test::tiny_gpt());
  auto& s = model.params();
  const auto m = element_mask::random(s, 0.1, {7, 3});
  const double frac = double(m.count()) / double(s.numel());
  INFO("fraction " << frac << " of " << s.numel());
  REQUIRE(frac > 0.08);
  REQUIRE(frac < 0.12);
  REQUIRE(element_mask::random(s, 0.1, {7, 3}) == m);   // same key, same mask
  REQUIRE_FALSE(element_mask::random(s, 0.1, {8, 3}) == m);
  // Element e is Philox's Bernoulli draw at e: the mask is defined by the key alone.
  for (std::size_t e = 0; e < s.numel(); e += 37) REQUIRE(m.test(e) == philox::bernoulli_at({7, 3}, e, 0.1));

  const auto scoped = element_mask::random(s, 0.5, {1, 1}, select::blocks(1, 2));
  const auto r = s.ref(s.find("h.1.ln_1.weight"));
  REQUIRE(scoped.count() > 0);
  for (const auto& range : scoped.ranges()) {
    REQUIRE(range.begin >= r.offset);  // nothing below block 1
  }
  REQUIRE_FALSE(scoped.any_in(0, r.offset));
  REQUIRE_THROWS_WITH(element_mask::random(s, 1.5, {1, 1}), Catch::Contains("fraction 1.5 is not in [0, 1]"));
}

TEST_CASE("top-k masks by magnitude and by saliency pick exactly the k largest", "[freeze][mask]") {
  nn::gpt<rd> model(test::tiny_gpt());
  auto& s = model.params();
  arena<rd> a;
  const auto values = test::values_of(s);

  const std::size_t k = element_mask::count_for(0.05, s.numel());
  const auto mag = element_mask::top_k_magnitude(s, k);
  REQUIRE(mag.count() == k);
  double smallest_in = INFINITY, largest_out = 0;
  for (std::size_t e = 0; e < s.numel(); ++e) {
    if (mag.test(e)) smallest_in = std::min(smallest_in, std::abs(values[e]));
    else largest_out = std::max(largest_out, std::abs(values[e]));
  }
  REQUIRE(smallest_in >= largest_out);

  // Saliency needs gradients.
  s.zero_grads();
  REQUIRE_THROWS_WITH(element_mask::top_k_saliency(s, k), Catch::Contains("run one forward + backward"));
  test::forward_backward(model, a, 0);
  const auto grads = test::grads_of(s);
  const auto sal = element_mask::top_k_saliency(s, k);
  REQUIRE(sal.count() == k);
  smallest_in = INFINITY;
  largest_out = 0;
  for (std::size_t e = 0; e < s.numel(); ++e) {
    const double score = std::abs(values[e] * grads[e]);
    if (sal.test(e)) smallest_in = std::min(smallest_in, score);
    else largest_out = std::max(largest_out, score);
  }
  REQUIRE(smallest_in >= largest_out);
  REQUIRE_FALSE(sal == mag);

  // Scoped to the weights of linear layers.
  const auto scope = select::module("linear") & select::kind(param_kind::weight);
  const auto w = element_mask::top_k_saliency(s, 100, scope);
  REQUIRE(w.count() == 100);
  for (param_id p = 0; p < s.count(); ++p) {
    const auto& r = s.ref(p);
    if (!scope.matches(r)) REQUIRE_FALSE(w.any_in(r.offset, r.offset + r.size()));
  }
  REQUIRE_THROWS_WITH(element_mask::top_k_magnitude(s, s.numel() + 1), Catch::Contains("is more than the"));
  s.set_trainable(0, false);
  REQUIRE_THROWS_WITH(element_mask::top_k_saliency(s, 10), Catch::Contains("'wte.weight' is frozen"));
}

TEST_CASE("top-k masks break ties by the lower index and name a NaN score", "[freeze][mask]") {
  nn::gpt<rd> model(test::tiny_gpt());
  auto& s = model.params();
  // Every |w| equal: the k chosen are the k lowest flat indices of the scope, in any scope order.
  std::vector<double> ones(s.numel(), 0.5);
  rd::from_host(s.values(), ones.data(), ones.size());
  const auto all = element_mask::top_k_magnitude(s, 7);
  for (std::size_t e = 0; e < s.numel(); ++e) REQUIRE(all.test(e) == (e < 7));
  // Three values above the tie: they, then the lowest-indexed of the tied ones.
  const std::size_t n = s.numel();
  for (std::size_t e : {n - 1, n / 2, std::size_t(3)}) ones[e] = 2.0;
  rd::from_host(s.values(), ones.data(), ones.size());
  const auto mixed = element_mask::top_k_magnitude(s, 5);
  REQUIRE(mixed.count() == 5);
  for (std::size_t e : {n - 1, n / 2, std::size_t(3), std::size_t(0), std::size_t(1)}) REQUIRE(mixed.test(e));
  // A scope listed out of buffer order picks by buffer index all the same.
  std::fill(ones.begin(), ones.end(), 0.5);
  rd::from_host(s.values(), ones.data(), ones.size());
  const auto scoped = element_mask::top_k_magnitude(s, 2, select::parse("ln_f.* | wpe.*"));
  const auto& wpe = s.ref(s.find("wpe.weight"));
  REQUIRE(scoped.test(wpe.offset));
  REQUIRE(scoped.test(wpe.offset + 1));
  REQUIRE(scoped.count() == 2);
  // A NaN weight is named, not silently ranked.
  ones[wpe.offset + 4] = std::nan("");
  rd::from_host(s.values(), ones.data(), ones.size());
  REQUIRE_THROWS_WITH(element_mask::top_k_magnitude(s, 5),
                      Catch::Contains("score of element 4 of 'wpe.weight' is NaN"));
}

TEST_CASE("element masks apply to the store and intersect with its flags", "[freeze][mask]") {
  param_store<rd> s;
  test::build_small_store(s);
  element_mask m(s.numel());
  m.set_range(22, 30, true);  // inside l0.weight [20, 44)
  m.set(52, true);            // inside norm.weight [50, 56)
  m.apply(s);
  REQUIRE(s.trainable(s.find("l0.weight")));
  REQUIRE(s.trainable(s.find("norm.weight")));
  REQUIRE_FALSE(s.trainable(s.find("emb.weight")));
  REQUIRE_FALSE(s.trainable(s.find("l1.weight")));
  REQUIRE(same_ranges(m.ranges(s), {{22, 30}, {52, 53}}));
  s.set_trainable(s.find("norm.weight"), false);
  REQUIRE(same_ranges(m.ranges(s), {{22, 30}}));  // the frozen parameter's element drops out

  // mask_grads zeroes the frozen elements of trainable parameters only.
  test::synthetic_grads(s, 1);
  const auto before = test::grads_of(s);
  m.mask_grads(s);
  const auto after = test::grads_of(s);
  for (std::size_t e = 0; e < s.numel(); ++e) {
    const bool in_l0 = e >= 20 && e < 44;
    if (in_l0 && !(e >= 22 && e < 30)) REQUIRE(after[e] == 0.0);
    else REQUIRE(after[e] == before[e]);
  }
  REQUIRE_THROWS_WITH(element_mask(5).apply(s), Catch::Contains("element mask has 5 elements but the model has 77"));
}
