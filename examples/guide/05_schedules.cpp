// Schedules: one small algebra for every scalar that changes during training. Primitives
// (constant, linear, cosine, wsd, infinite, ...), combinators (a >> b, arithmetic, clamp,
// repeat, offset, hold), splice for continual pre-training, and spec strings at run time.
#include <thaw/schedule/schedule.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>

using namespace thaw::sched;

// Warm-up then cosine: a literal type, so the compiler can check its values.
constexpr auto lr = linear(0.0, 3e-4, 100) >> cosine(3e-4, 3e-5, 900);
static_assert(lr(0) == 0.0 && lr(100) == 3e-4 && lr.length() == 1'000);

int main() {
  // Continual pre-training from step 600: re-warm from wherever lr is, then a new cosine.
  auto rewarm = lr | splice(600, [](double v) { return linear(v, 3e-4, 50) >> cosine(3e-4, 1e-5, 350); });
  // Any scalar: a replay ratio that decays after 300 steps, a weight decay that follows the lr.
  auto replay = constant(0.25, 300) >> linear(0.25, 0.05, 700);
  auto wd = clamp(0.1 * lr / 3e-4, 0.0, 0.1);
  // The infinite schedule (Ibrahim et al. 2024), annealed for a checkpoint wanted at step 1000.
  auto inf = infinite({.peak = 3e-4, .constant = 1e-4, .min = 1e-5, .warmup = 100, .cooldown = 300,
                       .anneal = 200}).anneal_at(800);
  // At run time: parsed from a spec string (configs, thaw-sched), behind one virtual call.
  any_schedule parsed = parse("linear(0, 3e-4, 100) >> cosine(3e-4, 3e-5, 900)");

  std::printf(" step        lr    rewarm  replay      wd  infinite\n");
  for (step_t s : {0, 50, 100, 300, 599, 600, 625, 650, 800, 999}) {
    std::printf("%5lld  %.2e  %.2e  %6.3f  %6.4f  %.2e\n", static_cast<long long>(s), lr(s), rewarm(s),
                replay(s), wd(s), inf(s));
  }
  double worst = 0;
  for (step_t s = 0; s < 1'200; ++s) worst = std::max(worst, std::abs(parsed(s) - lr(s)));
  std::printf("parse(\"%s\") vs the C++ schedule: max difference %g\n", parsed.spec().c_str(), worst);
  try {
    parse("linear(0, 3e-4)");
    return 1;
  } catch (const thaw::error& e) {
    std::printf("bad spec: %s\n", e.what());
  }
  // splice continues from the current value; the spec form equals the typed form bit for bit.
  const bool ok = rewarm(600) == lr(600) && rewarm(650) == 3e-4 && worst == 0 && replay(1'000) == 0.05 &&
                  inf(1'000) == 1e-5 && wd(50) == 0.05;
  return ok ? 0 : 1;
}
