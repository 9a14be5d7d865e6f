// Freeze policies over time (thaw/freeze/): each one's schedule of what trains, the events it
// records, and exact resumption from a checkpoint of its state taken at any step.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "freeze/freeze_util.hpp"
#include "thaw/freeze/freeze.hpp"
#include "thaw/optim/optim.hpp"

using namespace thaw;
using thaw::test::rd;

namespace {

std::vector<bool> flags_of(const param_store<rd>& s) {
  std::vector<bool> f;
  for (param_id p = 0; p < s.count(); ++p) f.push_back(s.trainable(p));
  return f;
}

/// Depths whose parameters all train.
std::vector<int> trainable_depths(const param_store<rd>& s) {
  std::vector<int> out;
  for (const auto& r : s.refs()) {
    if (s.trainable(s.find(r.name)) && std::find(out.begin(), out.end(), r.depth) == out.end()) out.push_back(r.depth);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("two-stage: the backbone is frozen for N steps, then everything trains", "[freeze][policy]") {
  nn::gpt<rd> model(test::tiny_gpt());
  auto& s = model.params();
  freeze::two_stage policy(s, {.frozen = select::parse("wte.* | wpe.* | blocks[0:2)"), .unfreeze_at = 3});
  REQUIRE(policy.update(0, s));
  REQUIRE(trainable_depths(s) == std::vector<int>{3, 4});
  REQUIRE_FALSE(policy.update(1, s));
  REQUIRE_FALSE(policy.update(2, s));
  REQUIRE(policy.update(3, s));
  REQUIRE(trainable_depths(s) == std::vector<int>{0, 1, 2, 3, 4});
  REQUIRE_FALSE(policy.update(4, s));
  // 2 embeddings + 2 blocks of 12 froze at step 0 and thawed at step 3.
  REQUIRE(policy.events().size() == 2 * 26);
  REQUIRE(policy.events().front().name == "wte.weight");
  REQUIRE(policy.events().front().step == 0);
  REQUIRE(policy.events().front().frozen);
  REQUIRE(policy.events().back().step == 3);
  REQUIRE_FALSE(policy.events().back().frozen);
  REQUIRE_THROWS_WITH(freeze::two_stage(s, {.frozen = select::parse("blocks[5:6)"), .unfreeze_at = 3}),
                      Catch::Contains("'blocks[5:6)' matches no parameter"));
}

TEST_CASE("progressive freezing follows Composer's LayerFreezing schedule bottom-up", "[freeze][policy]") {
  nn::gpt<rd> model(test::tiny_gpt());
  auto& s = model.params();
  freeze::progressive_freezing policy(s, {.total_steps = 10, .freeze_start = 0.5, .freeze_level = 1.0});
  REQUIRE(policy.units() == 5);  // embeddings, 3 blocks, ln_f
  // floor(fraction * (L - 1)) with fraction = (t/T - 0.5) / 0.5.
  const int expected[] = {0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 4};
  for (int t = 0; t <= 11; ++t) {
    policy.update(t, s);
    INFO("step " << t);
    REQUIRE(policy.frozen_units() == std::size_t(expected[t]));
    const auto depths = trainable_depths(s);
    REQUIRE(depths.front() == expected[t]);
    REQUIRE(depths.back() == 4);  // the top layer never freezes
  }
  // Re-evaluated only every 2 steps (Composer: at epoch ends).
  nn::gpt<rd> m2(test::tiny_gpt());
  freeze::progressive_freezing every2(m2.params(), {.total_steps = 10, .every = 2});
  for (int t = 0; t <= 7; ++t) every2.update(t, m2.params());
  REQUIRE(every2.frozen_units() == 0);  // step 7 would freeze one, but it is not evaluated
  every2.update(8, m2.params());
  REQUIRE(every2.frozen_units() == 2);
  // Leaf-module units, and a custom fraction that goes down: frozen layers stay frozen.
  nn::gpt<rd> m3(test::tiny_gpt());
  freeze::progressive_freezing modules(
      m3.params(), {.granularity = freeze::unit::module,
                    .fraction = [](sched::step_t t) { return t == 1 ? 0.5 : 0.0; }});
  REQUIRE(modules.units() == 2 + 3 * 6 + 1);
  modules.update(1, m3.params());
  REQUIRE(modules.frozen_units() == 10);
  modules.update(2, m3.params());
  REQUIRE(modules.frozen_units() == 10);
  REQUIRE_FALSE(m3.params().trainable(m3.params().find("h.1.attn.c_attn.weight")));  // unit 9 (0-based)
  REQUIRE(m3.params().trainable(m3.params().find("h.1.mlp.c_fc.weight")));
  REQUIRE_THROWS_WITH(freeze::progressive_freezing(s, {.total_steps = 0}), Catch::Contains("total_steps must be positive"));
}

TEST_CASE("gradual unfreezing thaws one layer per interval, top-down (ULMFiT)", "[freeze][policy]") {
  nn::gpt<rd> model(test::tiny_gpt(false));
  auto& s = model.params();
  freeze::gradual_unfreezing policy(s, {.every = 2});
  REQUIRE(policy.update(0, s));
  REQUIRE(trainable_depths(s) == std::vector<int>{4});  // ln_f + lm_head
  REQUIRE_FALSE(policy.update(1, s));
  REQUIRE(policy.update(2, s));
  REQUIRE(trainable_depths(s) == std::vector<int>{3, 4});
  for (int t = 3; t <= 8; ++t) policy.update(t, s);
  REQUIRE(trainable_depths(s) == std::vector<int>{0, 1, 2, 3, 4});
  REQUIRE(policy.trainable_units() == 5);
  // The events record when each depth thawed.
  for (const auto& e : policy.events()) {
    if (e.frozen) REQUIRE(e.step == 0);
    else REQUIRE(e.step == 2 * (4 - s.ref(e.param).depth));
  }
}

TEST_CASE("SubTuning trains exactly the chosen layers", "[freeze][policy]") {
  nn::gpt<rd> model(test::tiny_gpt(false));
  auto& s = model.params();
  freeze::subtuning policy(s, select::parse("blocks[1:2) | lm_head.*"));
  REQUIRE(policy.update(0, s));
  for (const auto& r : s.refs())
    REQUIRE(s.trainable(s.find(r.name)) == (r.name.rfind("h.1.", 0) == 0 || r.name == "lm_head.weight"));
  REQUIRE_FALSE(policy.update(1, s));
}

TEST_CASE("GradES freezes a matrix whose gradient stays below tau for the patience, after the grace period",
          "[freeze][policy]") {
  param_store<rd> s;
  test::build_small_store(s);
  const param_id l0 = s.find("l0.weight"), l1 = s.find("l1.weight");
  freeze::grades policy(s, {.tau = 1e-3, .grace_steps = 3, .patience = 2});
  REQUIRE(policy.watched() == std::vector<param_id>{l0, l1});
  auto grads = [&](double g0, double g1) {
    std::vector<double> g(s.numel(), 1.0);
    const auto& r0 = s.ref(l0);
    const auto& r1 = s.ref(l1);
    for (std::size_t e = 0; e < r0.size(); ++e) g[r0.offset + e] = (e % 2 ? -g0 : g0);
    for (std::size_t e = 0; e < r1.size(); ++e) g[r1.offset + e] = g1;
    rd::from_host(s.grads(), g.data(), g.size());
  };
  for (int t = 0; t <= 9; ++t) {
    REQUIRE(policy.update(t, s) == (t == 5 || t == 9));
    grads(1e-4, t < 7 ? 1.0 : 5e-4);  // l0 small from the start; l1 small from step 7
    freeze::observe(policy, t, s);
  }
  REQUIRE(policy.last_metric(l0) == Approx(1e-4));
  REQUIRE_FALSE(s.trainable(l0));
  REQUIRE_FALSE(s.trainable(l1));
  REQUIRE(policy.all_frozen());
  // Below tau at steps 3, 4 (grace ends at 3) -> frozen from step 5; l1 below at 7, 8 -> 9.
  REQUIRE(policy.events().size() == 2);
  REQUIRE(policy.events()[0].name == "l0.weight");
  REQUIRE(policy.events()[0].step == 5);
  REQUIRE(policy.events()[0].value == Approx(1e-4));
  REQUIRE(policy.events()[1].name == "l1.weight");
  REQUIRE(policy.events()[1].step == 9);
  // The other parameters were left alone.
  REQUIRE(s.trainable(s.find("l0.bias")));

  // The L2 metric, and a broken patience resets the count.
  param_store<rd> s2;
  test::build_small_store(s2);
  freeze::grades l2(s2, {.tau = 1.0, .patience = 2, .measure = freeze::metric::l2, .scope = select::name("l1.weight")});
  const auto& r1 = s2.ref(s2.find("l1.weight"));
  for (int t = 0; t < 4; ++t) {
    l2.update(t, s2);
    std::vector<double> g(s2.numel(), 0.0);
    for (std::size_t e = 0; e < r1.size(); ++e) g[r1.offset + e] = (t == 1 ? 1.0 : 0.1);  // norms 0.42, 4.2, 0.42, 0.42
    rd::from_host(s2.grads(), g.data(), g.size());
    l2.observe(t, s2);
  }
  REQUIRE(l2.last_metric(s2.find("l1.weight")) == Approx(std::sqrt(18 * 0.01)));
  REQUIRE(l2.events().empty());  // below at 0, above at 1, below at 2, 3 -> pending
  REQUIRE(l2.update(4, s2));
  REQUIRE(l2.events().at(0).step == 4);
  REQUIRE_THROWS_WITH(freeze::grades(s, {.patience = 0}), Catch::Contains("patience must be >= 1"));
}

TEST_CASE("FreezeNet: a saliency mask fixed before training", "[freeze][policy]") {
  nn::gpt<rd> model(test::tiny_gpt());
  auto& s = model.params();
  arena<rd> a;
  s.set_trainable(0, false);  // by_saliency makes the scope trainable for its batch, then restores
  auto policy = freeze::freezenet<rd>::by_saliency(s, 0.05, [&] { test::forward_backward(model, a, 0); });
  REQUIRE_FALSE(s.trainable(0));
  for (auto g : test::grads_of(s)) REQUIRE(g == 0.0);
  REQUIRE(policy.mask().count() == element_mask::count_for(0.05, s.numel()));
  // Recompute the saliency by hand: the mask holds the largest |w * g|.
  s.set_all_trainable(true);
  test::forward_backward(model, a, 0);
  REQUIRE(element_mask::top_k_saliency(s, policy.mask().count()) == policy.mask());
  s.set_all_trainable(true);
  REQUIRE(policy.update(0, s));
  for (const auto& r : s.refs())
    REQUIRE(s.trainable(s.find(r.name)) == policy.mask().any_in(r.offset, r.offset + r.size()));
  REQUIRE(element_count(policy.ranges(s)) == policy.mask().count());
  REQUIRE_FALSE(policy.update(1, s));
}

// ---- exact resumption ----------------------------------------------------------------------

namespace {

const nn::gpt_config kResumeCfg = test::tiny_gpt(false);
constexpr int kSteps = 14;

template <class Policy>
void train(nn::gpt<rd>& model, arena<rd>& a, Policy& policy, optim::adamw<rd>& opt, int from, int to, int save_after,
           state_dict* saved, std::vector<double>* saved_values) {
  auto& s = model.params();
  for (int t = from; t < to; ++t) {
    if (policy.update(t, s)) opt.sync(policy);
    test::forward_backward(model, a, std::uint64_t(t));
    freeze::observe(policy, t, s);
    opt.step();
    if (saved && saved_values && t == save_after) {
      *saved = policy.state();
      merge(*saved, opt.state());
      *saved_values = test::values_of(s);
    }
  }
}

/// Runs kSteps uninterrupted, then for each k restarts from the state saved after step k (via
/// a file) in fresh objects and checks that values, flags and events end up identical.
template <class Make>
void check_resume(Make make, std::vector<int> ks) {
  const optim::adamw_cfg cfg{.lr = 0.02, .weight_decay = 0.1, .max_grad_norm = 1.0};
  for (int k : ks) {
    INFO("checkpoint after step " << k);
    nn::gpt<rd> ref(kResumeCfg, 1);
    arena<rd> a;
    auto policy = make(ref, a);
    optim::adamw<rd> opt(ref.params(), cfg);
    state_dict saved;
    std::vector<double> saved_values;
    train(ref, a, policy, opt, 0, kSteps, k, &saved, &saved_values);

    const auto path = std::filesystem::temp_directory_path() /
                      ("thaw_freeze_resume_" + std::to_string(::getpid()) + ".safetensors");
    save_state(saved, path);
    const state_dict loaded = load_state(path);
    std::filesystem::remove(path);

    nn::gpt<rd> resumed(kResumeCfg, 2);  // other initial values: everything comes from the checkpoint
    arena<rd> b;
    auto again = make(ref, a);           // built as the first run built its policy
    auto& s = resumed.params();
    rd::from_host(s.values(), saved_values.data(), saved_values.size());
    optim::adamw<rd> opt2(s, cfg);
    again.load_state(loaded);
    again.restore(s);
    opt2.load_state(loaded);
    train(resumed, b, again, opt2, k + 1, kSteps, -1, nullptr, nullptr);

    const auto va = test::values_of(ref.params()), vb = test::values_of(s);
    REQUIRE(test::same_bits(va.data(), vb.data(), va.size()));
    REQUIRE(flags_of(ref.params()) == flags_of(s));
    REQUIRE(policy.events().size() == again.events().size());
    for (std::size_t i = 0; i < policy.events().size(); ++i) {
      REQUIRE(policy.events()[i].name == again.events()[i].name);
      REQUIRE(policy.events()[i].step == again.events()[i].step);
      REQUIRE(policy.events()[i].frozen == again.events()[i].frozen);
    }
    REQUIRE(opt.state_bytes() == opt2.state_bytes());
  }
}

}  // namespace

TEST_CASE("every policy resumes exactly from its state saved at step k", "[freeze][policy][resume]") {
  SECTION("two-stage") {
    check_resume([](nn::gpt<rd>& m, arena<rd>&) {
      return freeze::two_stage(m.params(), {.frozen = select::parse("wte.* | wpe.* | blocks[0:2)"), .unfreeze_at = 6});
    }, {0, 4, 5, 6, 9});
  }
  SECTION("progressive freezing") {
    check_resume([](nn::gpt<rd>& m, arena<rd>&) {
      return freeze::progressive_freezing(m.params(), {.total_steps = kSteps, .freeze_start = 0.3, .every = 2});
    }, {3, 6, 8, 9, 12});
  }
  SECTION("gradual unfreezing") {
    check_resume([](nn::gpt<rd>& m, arena<rd>&) {
      return freeze::gradual_unfreezing(m.params(), {.every = 3, .granularity = freeze::unit::module});
    }, {1, 2, 3, 7, 11});
  }
  SECTION("SubTuning") {
    check_resume([](nn::gpt<rd>& m, arena<rd>&) { return freeze::subtuning(m.params(), select::parse("blocks[2:)")); },
                 {0, 7});
  }
  SECTION("GradES") {
    // tau at the median of the step-0 gradient metrics, so that matrices freeze along the run.
    auto make = [](nn::gpt<rd>&, arena<rd>&) {
      nn::gpt<rd> probe(kResumeCfg, 1);
      arena<rd> a;
      test::forward_backward(probe, a, 0);
      freeze::grades measure(probe.params(), {.tau = 0});
      measure.observe(0, probe.params());
      std::vector<double> metrics;
      for (param_id p : measure.watched()) metrics.push_back(measure.last_metric(p));
      std::sort(metrics.begin(), metrics.end());
      return freeze::grades(probe.params(), {.tau = metrics[metrics.size() / 2], .grace_steps = 2, .patience = 2});
    };
    {  // the run is meaningful: some matrices freeze along the way, not all at once
      nn::gpt<rd> model(kResumeCfg, 1);
      arena<rd> a;
      auto policy = make(model, a);
      optim::adamw<rd> opt(model.params(), {.lr = 0.02, .weight_decay = 0.1, .max_grad_norm = 1.0});
      train(model, a, policy, opt, 0, kSteps, -1, nullptr, nullptr);
      REQUIRE(policy.events().size() >= 2);
      REQUIRE_FALSE(policy.all_frozen());
      REQUIRE(policy.events().front().step >= 4);
    }
    check_resume(make, {2, 4, 5, 6, 9, 12});
  }
  SECTION("FreezeNet") {
    check_resume([](nn::gpt<rd>& m, arena<rd>& a) {
      nn::gpt<rd> probe(kResumeCfg, 1);
      return freeze::freezenet<rd>::by_saliency(probe.params(), 0.1, [&] { test::forward_backward(probe, a, 0); });
    }, {0, 6});
  }
}

TEST_CASE("policy states for another model or another configuration are refused", "[freeze][policy]") {
  nn::gpt<rd> model(test::tiny_gpt());
  nn::gpt<rd> bigger({.vocab = 11, .context = 6, .layers = 4, .heads = 2, .width = 8});
  freeze::progressive_freezing a(model.params(), {.total_steps = 10});
  freeze::progressive_freezing b(bigger.params(), {.total_steps = 10});
  REQUIRE_THROWS_WITH(b.load_state(a.state()), Catch::Contains("has 5 layers, this policy 6"));
  freeze::two_stage t(model.params(), {.frozen = select::blocks(0, 1), .unfreeze_at = 4});
  freeze::two_stage u(model.params(), {.frozen = select::blocks(0, 1), .unfreeze_at = 5});
  REQUIRE_THROWS_WITH(u.load_state(t.state()), Catch::Contains("unfreeze_at 4, this policy 5"));
  REQUIRE_THROWS_WITH(t.update(0, bigger.params()), Catch::Contains("was built for a model of"));
  state_dict broken = t.state();
  broken["freeze.two_stage.events"] = {{1, 4}, {999, 0, 1, 0}};
  REQUIRE_THROWS_WITH(t.load_state(broken), Catch::Contains("event 0 names no parameter"));
}
