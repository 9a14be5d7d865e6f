// Optimizers over compacted trainable elements (thaw/optim/): exactness against a fully
// trainable run, state memory, per-group hyperparameters, clipping, scheduled scalars,
// remapping when the trainable set changes, EMA, and checkpoints.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <vector>

#include "freeze/freeze_util.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/optim/optim.hpp"
#include "thaw/schedule/schedule.hpp"

using namespace thaw;
using thaw::test::rd;
using thaw::test::rf;
using cpu = backend::cpu<>;

namespace {

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("thaw_freeze_" + std::to_string(::getpid()) + "_" + name);
}

/// The mask used by the exactness tests: l1.weight frozen as a group, and inside the trainable
/// l0.weight only some elements (an element mask), everything else trains.
template <class B>
element_mask partial_mask(param_store<B>& s) {
  element_mask m = element_mask::from_store(s);
  const auto& l0 = s.ref(s.find("l0.weight"));
  for (std::size_t e = l0.offset; e < l0.offset + l0.size(); e += 3) m.set(e, false);
  const auto& l1 = s.ref(s.find("l1.weight"));
  m.set_range(l1.offset, l1.offset + l1.size(), false);
  return m;
}

}  // namespace

TEMPLATE_TEST_CASE("compacted optimizers move trainable elements exactly as a full run, frozen ones not at all",
                   "[freeze][optim]", rd, rf, cpu) {
  using B = TestType;
  for (int kind = 0; kind < 3; ++kind) {
    DYNAMIC_SECTION("optimizer " << kind) {
      param_store<B> partial, full;
      test::build_small_store(partial);
      test::build_small_store(full);
      const auto mask = partial_mask(partial);
      const auto initial = test::values_of(partial);
      auto run = [&](param_store<B>& s, auto& opt) {
        for (int step = 0; step < 25; ++step) {
          test::synthetic_grads(s, step);
          opt.step();
        }
      };
      const auto lr = [](sched::step_t t) { return 0.05 / (1.0 + 0.1 * double(t)); };
      if (kind == 0) {
        optim::adamw<B> a(partial, mask, {.lr = lr, .weight_decay = 0.1});
        optim::adamw<B> b(full, {.lr = lr, .weight_decay = 0.1});
        run(partial, a);
        run(full, b);
        REQUIRE(a.trainable_count() == mask.count());
      } else {
        const optim::sgd_cfg cfg{.lr = lr, .weight_decay = 0.01, .momentum = 0.9, .nesterov = kind == 2};
        optim::sgd<B> a(partial, mask, cfg);
        optim::sgd<B> b(full, cfg);
        run(partial, a);
        run(full, b);
      }
      const auto got = test::values_of(partial), want = test::values_of(full);
      std::size_t trained = 0, frozen = 0;
      for (std::size_t e = 0; e < got.size(); ++e) {
        if (mask.test(e)) {
          INFO("trainable element " << e);
          REQUIRE(test::same_bits(&got[e], &want[e], 1));
          REQUIRE(got[e] != initial[e]);
          ++trained;
        } else {
          INFO("frozen element " << e);
          REQUIRE(test::same_bits(&got[e], &initial[e], 1));
          ++frozen;
        }
      }
      REQUIRE(trained > 0);
      REQUIRE(frozen > 0);
    }
  }
}

TEST_CASE("optimizer state is allocated only for trainable elements", "[freeze][optim]") {
  nn::gpt<rf> model({.vocab = 64, .context = 16, .layers = 4, .heads = 2, .width = 32});
  auto& s = model.params();
  const std::size_t numel = s.numel();

  optim::adamw full(model);
  REQUIRE(full.state_bytes() == 2 * sizeof(float) * numel);

  // 90% of the elements frozen by an element mask.
  const auto mask = element_mask::random(s, 0.1, {3, 0});
  optim::adamw tenth(model, mask);
  const double ratio = double(tenth.state_bytes()) / double(full.state_bytes());
  INFO("state ratio " << ratio);
  REQUIRE(tenth.state_bytes() == 2 * sizeof(float) * mask.count());
  REQUIRE(ratio > 0.09);
  REQUIRE(ratio < 0.11);

  // Group level: everything below the final norm frozen.
  s.set_all_trainable(true);
  optim::sgd head(model, group_mask::training(s, select::name("ln_f.*")), {.momentum = 0.9});
  REQUIRE(head.state_bytes() == sizeof(float) * 2 * 32);
  // No momentum: no state at all.
  optim::sgd plain(model, {.momentum = 0.0});
  REQUIRE(plain.state_bytes() == 0);
}

TEST_CASE("per-group hyperparameters: no decay on norms, biases and embeddings; rules; layer-wise decay",
          "[freeze][optim]") {
  param_store<rd> s;
  test::build_small_store(s);
  const auto before = test::values_of(s);
  optim::adamw<rd> opt(s, {.lr = 0.1, .weight_decay = 0.5,
                           .groups = {{.select = select::parse("l1.*"), .lr_scale = 0.25},
                                      {.select = select::name("l0.bias"), .decay_scale = 2.0}},
                           .layer_decay = 0.5});
  // l0.weight (depth 1): layer decay 0.5^(3-1); l1 (depth 3): rule 0.25 * 0.5^0.
  REQUIRE(opt.lr_scale(s.find("l0.weight")) == 0.25);
  REQUIRE(opt.lr_scale(s.find("l1.weight")) == 0.25);
  REQUIRE(opt.lr_scale(s.find("emb.weight")) == 0.125);
  REQUIRE(opt.decay_scale(s.find("l0.weight")) == 1.0);
  REQUIRE(opt.decay_scale(s.find("l0.bias")) == 2.0);  // the rule overrides the default
  REQUIRE(opt.decay_scale(s.find("l1.bias")) == 0.0);
  REQUIRE(opt.decay_scale(s.find("norm.weight")) == 0.0);
  REQUIRE(opt.decay_scale(s.find("emb.weight")) == 0.0);

  // With zero gradients AdamW only decays: p *= 1 - lr * lr_scale * wd * decay_scale.
  s.zero_grads();
  opt.step();
  const auto after = test::values_of(s);
  for (param_id p = 0; p < s.count(); ++p) {
    const auto& r = s.ref(p);
    const double factor = 1.0 - 0.1 * opt.lr_scale(p) * 0.5 * opt.decay_scale(p);
    for (std::size_t e = r.offset; e < r.offset + r.size(); ++e) {
      INFO(r.name);
      REQUIRE(after[e] == Approx(before[e] * factor).epsilon(1e-14));
      if (opt.decay_scale(p) == 0) REQUIRE(after[e] == before[e]);
    }
  }
  // Decay on everything when asked.
  optim::sgd<rd> all(s, {.weight_decay = 0.1, .no_decay = std::nullopt});
  REQUIRE(all.decay_scale(s.find("norm.weight")) == 1.0);
  // A rule whose selector matches nothing is an error naming it.
  REQUIRE_THROWS_WITH(optim::adamw<rd>(s, {.groups = {{.select = select::parse("l2.*"), .lr_scale = 0.1}}}),
                      Catch::Contains("'name(l2.*)' matches no parameter"));
  REQUIRE_THROWS_WITH(optim::adamw<rd>(s, {.layer_decay = 0.0}), Catch::Contains("layer_decay must be positive"));
}

TEST_CASE("global gradient clipping counts only the trainable elements", "[freeze][optim]") {
  param_store<rd> s;
  test::build_small_store(s);
  group_mask::frozen(s, select::name("emb.*")).apply(s);
  const auto before = test::values_of(s);
  test::synthetic_grads(s, 3);
  std::vector<double> g = test::grads_of(s);
  for (std::size_t e = 0; e < 20; ++e) g[e] = 1e6;  // the frozen embedding: must not count
  rd::from_host(s.grads(), g.data(), g.size());
  double sq = 0;
  for (std::size_t e = 20; e < s.numel(); ++e) sq += g[e] * g[e];
  const double norm = std::sqrt(sq);
  REQUIRE(norm > 1.0);

  optim::sgd<rd> opt(s, {.lr = 1.0, .max_grad_norm = 1.0});
  opt.step();
  REQUIRE(opt.last_grad_norm() == Approx(norm).epsilon(1e-14));
  const auto after = test::values_of(s);
  const double coef = 1.0 / (norm + 1e-6);
  double moved = 0;
  for (std::size_t e = 0; e < s.numel(); ++e) {
    if (e < 20) REQUIRE(after[e] == before[e]);
    else {
      REQUIRE(after[e] == Approx(before[e] - g[e] * coef).epsilon(1e-14));
      moved += (after[e] - before[e]) * (after[e] - before[e]);
    }
  }
  REQUIRE(std::sqrt(moved) == Approx(1.0).epsilon(1e-5));  // the update has the clipped norm
  // Below the limit nothing is scaled.
  REQUIRE(optim::clip_grad_norm(s, trainable_ranges(s), 1e9) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("scalars come from callables of the step: lambdas and schedules", "[freeze][optim]") {
  param_store<rd> s;
  test::build_small_store(s);
  const auto lr = sched::linear(0.0, 0.3, 3) >> sched::cosine(0.3, 0.0, 10);
  optim::sgd<rd> opt(s, {.lr = lr});
  for (sched::step_t t = 0; t < 8; ++t) {
    const auto before = test::values_of(s);
    test::synthetic_grads(s, t);
    const auto g = test::grads_of(s);
    opt.step();
    const auto after = test::values_of(s);
    for (std::size_t e = 0; e < s.numel(); e += 5) REQUIRE(after[e] == before[e] - lr(t) * g[e]);
  }
  REQUIRE(opt.steps() == 8);
  // A schedule that goes negative is an error naming the step.
  optim::adamw<rd> bad(s, {.lr = [](sched::step_t t) { return 0.1 - 0.05 * double(t); }});
  test::synthetic_grads(s, 0);
  bad.step();
  bad.step();
  REQUIRE_NOTHROW(bad.step());  // lr(2) = 0 is fine
  REQUIRE_THROWS_WITH(bad.step(), Catch::Contains("adamw: lr is -0.05") && Catch::Contains("at step 3"));
}

TEST_CASE("when the trainable set changes, state is kept, added as zeros, or dropped", "[freeze][optim]") {
  param_store<rd> s;
  test::build_small_store(s);
  const param_id l0 = s.find("l0.weight"), l1 = s.find("l1.weight"), norm = s.find("norm.weight");
  s.set_trainable(l1, false);
  optim::adamw<rd> opt(s, {.lr = 0.01});
  for (int t = 0; t < 4; ++t) {
    test::synthetic_grads(s, t);
    opt.step();
  }
  const auto old_state = opt.state();
  const auto old_ranges = opt.ranges();
  const std::size_t old_bytes = opt.state_bytes();
  REQUIRE(opt.param_steps(l0) == 4);
  REQUIRE(opt.param_steps(l1) == 0);

  // Freeze l0.weight, unfreeze l1.weight.
  s.set_trainable(l0, false);
  s.set_trainable(l1, true);
  opt.sync();
  REQUIRE(opt.state_bytes() == old_bytes - 2 * 8 * 24 + 2 * 8 * 18);
  REQUIRE(opt.param_steps(l1) == 0);
  REQUIRE(opt.param_steps(norm) == 4);
  const auto new_state = opt.state();
  // Compacted position of each element before and after.
  auto position = [](const std::vector<index_range>& ranges, std::size_t e) -> long {
    long pos = 0;
    for (const auto& r : ranges) {
      if (e >= r.begin && e < r.end) return pos + long(e - r.begin);
      pos += long(r.size());
    }
    return -1;
  };
  const auto& m_old = old_state.at("adamw.m").values;
  const auto& m_new = new_state.at("adamw.m").values;
  const auto& v_new = new_state.at("adamw.v").values;
  for (std::size_t e = 0; e < s.numel(); ++e) {
    const long now = position(opt.ranges(), e), then = position(old_ranges, e);
    if (now < 0) continue;
    if (then >= 0) REQUIRE(m_new[now] == m_old[then]);  // kept bit for bit
    else {
      REQUIRE(m_new[now] == 0.0);  // l1.weight starts from zero
      REQUIRE(v_new[now] == 0.0);
    }
  }

  // l1.weight's first update is a first AdamW step (bias correction at t = 1), exactly as a
  // fresh optimizer over l1.weight alone would make it.
  param_store<rd> alone;
  test::build_small_store(alone);
  rd::copy(alone.values(), s.values(), s.numel());
  alone.set_all_trainable(false);
  alone.set_trainable(l1, true);
  optim::adamw<rd> fresh(alone, {.lr = 0.01});
  test::synthetic_grads(s, 10);
  test::synthetic_grads(alone, 10);
  opt.step();
  fresh.step();
  const auto a = test::values_of(s), b = test::values_of(alone);
  const auto& r1 = s.ref(l1);
  REQUIRE(test::same_bits(a.data() + r1.offset, b.data() + r1.offset, r1.size()));

  // A set covering a frozen parameter is refused, naming it.
  REQUIRE_THROWS_WITH(opt.retarget({{0, s.numel()}}), Catch::Contains("parameter 'l0.weight'") &&
                                                          Catch::Contains("frozen in the store"));
}

TEMPLATE_TEST_CASE("optimizer state saved at step k and restored continues identically", "[freeze][optim]", rd, rf) {
  using B = TestType;
  const auto path = temp_path("optim.safetensors");
  auto make = [](param_store<B>& s) {
    test::build_small_store(s);
    s.set_trainable(s.find("l1.bias"), false);
  };
  const optim::adamw_cfg cfg{.lr = sched::cosine(0.05, 0.0, 20), .weight_decay = 0.1, .max_grad_norm = 0.5};
  param_store<B> a;
  make(a);
  optim::adamw<B> opt_a(a, cfg);
  std::vector<typename B::scalar> at_k;
  for (int t = 0; t < 20; ++t) {
    test::synthetic_grads(a, t, 3.0);
    opt_a.step();
    if (t == 8) {
      opt_a.save(path);
      at_k = test::values_of(a);
    }
  }
  param_store<B> b;
  make(b);
  B::from_host(b.values(), at_k.data(), at_k.size());
  optim::adamw<B> opt_b(b, cfg);
  opt_b.load(path);
  REQUIRE(opt_b.steps() == 9);
  for (int t = 9; t < 20; ++t) {
    test::synthetic_grads(b, t, 3.0);
    opt_b.step();
  }
  const auto va = test::values_of(a), vb = test::values_of(b);
  REQUIRE(test::same_bits(va.data(), vb.data(), va.size()));
  std::filesystem::remove(path);

  // Loading into another model or a mismatched freeze state is refused.
  param_store<B> small;
  small.add("x", {3}, param_kind::weight, 0, "linear");
  small.allocate();
  optim::adamw<B> other(small);
  REQUIRE_THROWS_WITH(other.load_state(opt_a.state()), Catch::Contains("model of 77 elements, this one has 3"));
  param_store<B> c;
  make(c);
  c.set_trainable(c.find("l0.weight"), false);
  optim::adamw<B> opt_c(c, cfg);
  REQUIRE_THROWS_WITH(opt_c.load_state(opt_a.state()),
                      Catch::Contains("'l0.weight'") && Catch::Contains("restore the freeze state first"));
  optim::sgd<B> sgd_c(c, {});
  REQUIRE_THROWS_WITH(sgd_c.load_state(opt_a.state()), Catch::Contains("state has no entry 'sgd.numel'"));
}

TEST_CASE("config errors are named", "[freeze][optim]") {
  param_store<rd> s;
  test::build_small_store(s);
  REQUIRE_THROWS_WITH(optim::adamw<rd>(s, {.eps = 0}), Catch::Contains("eps must be positive"));
  REQUIRE_THROWS_WITH(optim::sgd<rd>(s, {.nesterov = true}), Catch::Contains("Nesterov momentum requires a momentum"));
  REQUIRE_THROWS_WITH(optim::sgd<rd>(s, {.momentum = 1.5}), Catch::Contains("momentum must be in [0, 1)"));
  optim::adamw<rd> b(s, {.beta1 = [](sched::step_t t) { return t < 1 ? 0.9 : 1.0; }});
  s.zero_grads();
  b.step();
  REQUIRE_THROWS_WITH(b.step(), Catch::Contains("betas must be below 1"));
}

TEST_CASE("EMA of the weights averages only trainable elements", "[freeze][optim]") {
  param_store<rd> s;
  test::build_small_store(s);
  s.set_trainable(s.find("emb.weight"), false);
  const auto w0 = test::values_of(s);
  optim::ema<rd> avg(s, [](sched::step_t t) { return t == 0 ? 0.5 : 0.8; });
  REQUIRE(avg.state_bytes() == sizeof(double) * (s.numel() - 20));

  optim::sgd<rd> opt(s, {.lr = 0.1});
  std::vector<double> expect(w0.begin(), w0.end());
  for (int t = 0; t < 5; ++t) {
    test::synthetic_grads(s, t);
    opt.step();
    avg.update();
    const auto w = test::values_of(s);
    const double d = t == 0 ? 0.5 : 0.8;
    for (std::size_t e = 20; e < s.numel(); ++e) expect[e] = d * expect[e] + (1 - d) * w[e];
  }
  const auto current = test::values_of(s);
  avg.swap();  // evaluate the averaged model
  const auto averaged = test::values_of(s);
  for (std::size_t e = 0; e < s.numel(); ++e) {
    if (e < 20) REQUIRE(averaged[e] == w0[e]);  // frozen: its own value
    else REQUIRE(averaged[e] == Approx(expect[e]).epsilon(1e-13));
  }
  avg.swap();
  REQUIRE(test::values_of(s) == current);

  // Checkpoint round trip, and a newly trainable parameter enters at its current value.
  const auto path = temp_path("ema.safetensors");
  avg.save(path);
  optim::ema<rd> again(s, 0.9);
  again.load(path);
  std::filesystem::remove(path);
  REQUIRE(again.updates() == 5);
  s.set_trainable(s.find("emb.weight"), true);
  again.sync();
  std::vector<double> out = current;
  again.write(out.data());
  for (std::size_t e = 0; e < s.numel(); ++e) {
    if (e < 20) REQUIRE(out[e] == current[e]);
    else REQUIRE(out[e] == Approx(expect[e]).epsilon(1e-13));
  }
}
