// Freezing a real model (the GPT) end to end: truncated backward gives the trainable gradients
// of a full backward bit for bit, frozen values never move, and trainable values follow exactly
// the updates a fully trainable run makes from the same gradients.
#include <catch2/catch.hpp>

#include <vector>

#include "freeze/freeze_util.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/freeze/freeze.hpp"
#include "thaw/optim/optim.hpp"

using namespace thaw;
using thaw::test::rd;
using thaw::test::rf;
using cpu = backend::cpu<>;

namespace {

struct freeze_case {
  const char* frozen;  // selector of what is frozen ("" = see trains)
  const char* trains;  // selector of the only thing that trains
  bool tied;
};

const freeze_case kCases[] = {
    {"wte.* | wpe.* | blocks[0:2)", "", true},      // bottom frozen (tied head: wte frozen too)
    {"wte.* | wpe.* | blocks[0:2)", "", false},
    {"", "ln_f.* | lm_head.*", false},              // linear probe: final norm + untied head
    {"", "h.1.mlp.*", true},                         // one sub-module in the middle
    {"blocks[0:1) | blocks[2:3)", "", false},        // a block trains between frozen ones
    {"", "wpe.*", false},                             // only the bottom trains: dx flows all the way
    {"", "kind(norm)", true},                         // FPT-style: norms only
    {"kind(bias) | kind(norm)", "", true},
};

}  // namespace

TEMPLATE_TEST_CASE("truncated backward gives bitwise the trainable gradients of a full backward", "[freeze][gpt]", rd,
                   rf, cpu) {
  using B = TestType;
  for (const auto& c : kCases) {
    DYNAMIC_SECTION("frozen '" << c.frozen << "' trains '" << c.trains << "' tied " << c.tied) {
      const auto cfg = test::tiny_gpt(c.tied);
      nn::gpt<B> full(cfg, 5), part(cfg, 5);
      auto& s = part.params();
      const auto m = *c.frozen ? group_mask::frozen(s, select::parse(c.frozen))
                               : group_mask::training(s, select::parse(c.trains));
      m.apply(s);
      arena<B> a, b;
      const double l_full = test::forward_backward(full, a, 3);
      const double l_part = test::forward_backward(part, b, 3);
      REQUIRE(l_full == l_part);
      const auto g_full = test::grads_of(full.params()), g_part = test::grads_of(s);
      std::size_t checked = 0;
      for (param_id p = 0; p < s.count(); ++p) {
        const auto& r = s.ref(p);
        INFO(r.name << (s.trainable(p) ? " (trainable)" : " (frozen)"));
        if (s.trainable(p)) {
          REQUIRE(test::same_bits(g_part.data() + r.offset, g_full.data() + r.offset, r.size()));
          checked += r.size();
        } else {
          for (std::size_t e = 0; e < r.size(); ++e) REQUIRE(g_part[r.offset + e] == 0);  // never computed
        }
      }
      REQUIRE(checked == trainable_elements(s));
      REQUIRE(checked > 0);
      // The gradients are real: the full run's are not zero where the part trains.
      bool nonzero = false;
      for (const auto& r : trainable_ranges(s))
        for (std::size_t e = r.begin; e < r.end; ++e) nonzero |= g_full[e] != 0;
      REQUIRE(nonzero);
    }
  }
}

TEMPLATE_TEST_CASE("frozen values stay bitwise unchanged over many training steps", "[freeze][gpt]", rd, cpu) {
  using B = TestType;
  nn::gpt<B> model(test::tiny_gpt(false), 9);
  auto& s = model.params();
  arena<B> a;
  const auto initial = test::values_of(s);
  // Group level (embeddings and block 0) and element level (a random 30% of everything else).
  group_mask::frozen(s, select::parse("wte.* | wpe.* | blocks[0:1)")).apply(s);
  element_mask m = element_mask::random(s, 0.3, {4, 4}, select::parse("~(wte.* | wpe.* | blocks[0:1))"));
  optim::adamw<B> opt(s, m, {.lr = 0.05, .weight_decay = 0.5, .no_decay = std::nullopt, .max_grad_norm = 1.0});
  optim::ema<B> avg(s, opt.ranges(), 0.9);
  double first = 0, last = 0;
  for (int t = 0; t < 40; ++t) {
    const double loss = test::forward_backward(model, a, std::uint64_t(t % 4));
    if (t == 0) first = loss;
    last = loss;
    opt.step();
    avg.update();
  }
  INFO("loss " << first << " -> " << last);
  REQUIRE(last < first);  // it did train
  const auto now = test::values_of(s);
  std::size_t moved = 0;
  for (std::size_t e = 0; e < s.numel(); ++e) {
    if (m.test(e)) {
      moved += now[e] != initial[e];
    } else {
      INFO("frozen element " << e);
      REQUIRE(test::same_bits(&now[e], &initial[e], 1));
    }
  }
  REQUIRE(moved > m.count() / 2);
}

TEMPLATE_TEST_CASE("trainable values follow exactly the updates of a fully trainable run with the same gradients",
                   "[freeze][gpt]", rd, cpu) {
  using B = TestType;
  using T = typename B::scalar;
  nn::gpt<B> frozen_run(test::tiny_gpt(false), 9);
  param_store<B>& s = frozen_run.params();
  arena<B> a;
  const auto initial = test::values_of(s);
  group_mask::frozen(s, select::parse("wte.* | blocks[1:2)")).apply(s);
  const element_mask m = element_mask::random(s, 0.5, {1, 2}, select::parse("h.2.*"));
  // Only block 2 has an element mask; the rest of what trains trains fully.
  element_mask train = element_mask::from_store(s);
  const auto& first = s.ref(s.find("h.2.ln_1.weight"));
  const auto& past = s.ref(s.find("ln_f.weight"));
  for (std::size_t e = first.offset; e < past.offset; ++e) train.set(e, m.test(e));
  const optim::sgd_cfg cfg{.lr = 0.1, .weight_decay = 0.01, .momentum = 0.9, .nesterov = true};
  optim::sgd<B> opt(s, train, cfg);
  std::vector<std::vector<T>> grads;
  for (int t = 0; t < 12; ++t) {
    test::forward_backward(frozen_run, a, std::uint64_t(t));
    grads.push_back(test::grads_of(s));
    opt.step();
  }
  // The same gradients, fed to a fully trainable optimizer over the same initial values.
  nn::gpt<B> full_run(test::tiny_gpt(false), 9);
  param_store<B>& f = full_run.params();
  optim::sgd<B> full_opt(f, cfg);
  for (const auto& g : grads) {
    B::from_host(f.grads(), g.data(), g.size());
    full_opt.step();
  }
  const auto got = test::values_of(s), want = test::values_of(f);
  for (std::size_t e = 0; e < s.numel(); ++e) {
    INFO("element " << e << (train.test(e) ? " (trainable)" : " (frozen)"));
    REQUIRE(test::same_bits(&got[e], train.test(e) ? &want[e] : &initial[e], 1));
  }
}
