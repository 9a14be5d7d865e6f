// Issue 4's freezing benchmark, thaw's side: one training step (forward + backward + AdamW) of the
// reference GPT (vocab 256, context 256, 6 layers, 6 heads, width 384, batch 8) on the cpu
// backend under one freeze variant per process, so that the peak resident memory is the
// variant's own. The variants a..e are bench/freeze_variant.hpp's (b: embeddings + bottom 3
// blocks frozen at this config).
//
// Usage: bench_freeze_variants --variant a [--steps 3] [--warmup 1] [--paired]
// Prints one JSON object: per-step wall ms (and its forward / backward / optimizer phases), the
// process's peak RSS (VmHWM), the activation arenas' peak, trainable elements, optimizer state
// bytes, and the FLOP model's count for the variant and for (a) (freeze/flops.hpp). With
// --paired, (a) and the variant are built in one process and stepped in turns; it prints both
// step times only (the time ratio free of the shared machine's drift). bench/freeze_variants.sh
// runs every variant next to PyTorch (bench/freeze_variants_torch.py) and writes
// bench/results/freeze_variants.json.
#include <thaw/thaw.hpp>
#include <thaw/freeze/flops.hpp>
#include <thaw/freeze/freeze.hpp>
#include <thaw/nn/gpt.hpp>
#include <thaw/optim/optim.hpp>

#include "freeze_variant.hpp"

#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {
using B = thaw::backend::cpu<>;
using namespace thaw;
constexpr int kBatch = 8;

nn::gpt_config reference_config() {
  return {.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384};
}

// VmHWM (peak resident set) in KiB from /proc, or ru_maxrss when /proc is unavailable.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

int usage(const char* why) {
  std::fprintf(stderr,
               "bench_freeze_variants: %s\nusage: bench_freeze_variants --variant a|b|c|d|e [--steps N] [--warmup N] "
               "[--paired]\n",
               why);
  return 2;
}

// A whole non-negative number, or -1 when `text` is anything else.
int parse_count(const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  return end != text && *end == '\0' && value >= 0 && value <= 1000000 ? int(value) : -1;
}

using clock = std::chrono::steady_clock;
double millis(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One variant's model, freeze state and optimizer, stepped on the given batch.
struct variant_run {
  nn::gpt_config cfg;
  std::unique_ptr<nn::gpt<B>> model;
  arena<B> activations;
  std::unique_ptr<nn::context<B>> ctx;
  std::unique_ptr<optim::adamw<B>> opt;
  tensor_view<const token_t> tokens, targets;
  double loss = 0;
  clock::time_point forward_end;  // where forward + loss ends inside forward_backward
  std::vector<double> ms, forward_ms, backward_ms, optimizer_ms;

  variant_run(char variant, tensor_view<const token_t> tokens_, tensor_view<const token_t> targets_)
      : cfg(bench::variant_config(reference_config(), variant)), tokens(tokens_), targets(targets_) {
    model = std::make_unique<nn::gpt<B>>(cfg, 1);
    ctx = std::make_unique<nn::context<B>>(nn::context<B>{model->params(), activations});
    opt = bench::variant_optimizer(*model, variant, [&] { forward_backward(); });
  }

  void forward_backward() {
    activations.reset();
    model->params().zero_grads();
    auto logits = model->forward(*ctx, tokens);
    loss = model->loss(*ctx, logits, targets);
    forward_end = clock::now();
    model->backward(*ctx);
  }

  // One training step; its wall time and its three phases (zero_grads + forward + loss,
  // backward, optimizer step) are recorded when `timed` (the cpu backend is synchronous, so
  // host clocks time the work itself).
  void step(bool timed) {
    const auto t0 = clock::now();
    forward_backward();
    const auto t1 = clock::now();
    opt->step();
    const auto t2 = clock::now();
    if (!timed) return;
    ms.push_back(millis(t0, t2));
    forward_ms.push_back(millis(t0, forward_end));
    backward_ms.push_back(millis(forward_end, t1));
    optimizer_ms.push_back(millis(t1, t2));
  }
};

void print_list(const char* key, const std::vector<double>& xs) {
  std::printf("\"%s\": [", key);
  for (std::size_t i = 0; i < xs.size(); ++i) std::printf("%s%.3f", i ? ", " : "", xs[i]);
  std::printf("], ");
}

}  // namespace

int main(int argc, char** argv) {
  std::string variant;
  int steps = 3, warmup = 1;
  bool paired = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--paired") {
      paired = true;
      continue;
    }
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    if (a == "--variant") variant = argv[++i];
    else if (a == "--steps") steps = parse_count(argv[++i]);
    else if (a == "--warmup") warmup = parse_count(argv[++i]);
    else return usage(("unknown argument " + a).c_str());
  }
  if (variant.size() != 1 || variant[0] < 'a' || variant[0] > 'e') return usage("--variant must be one of a, b, c, d, e");
  if (steps < 1 || warmup < 0) return usage("--steps must be a whole number >= 1 and --warmup one >= 0");
  const double start_rss = peak_rss_mib();

  try {
    const nn::gpt_config ref = reference_config();
    std::vector<token_t> tokens(kBatch * ref.context), targets(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = token_t(philox::bits_at({7, 0}, i) % 256);
      targets[i] = token_t(philox::bits_at({7, 1}, i) % 256);
    }
    auto dtokens = tensor<B, token_t>::from_host({kBatch, ref.context}, tokens);
    auto dtargets = tensor<B, token_t>::from_host({kBatch, ref.context}, targets);
    const auto tok = tensor_view<const token_t>(dtokens.view()), tgt = tensor_view<const token_t>(dtargets.view());

    if (paired) {
      // Time ratio against (a) without the machine's drift: (a) and the variant live in one
      // process and take turns step by step, so both see the same load. (Peak memory then
      // counts both models: the unpaired runs measure memory.)
      variant_run full('a', tok, tgt), run(variant[0], tok, tgt);
      for (int i = 0; i < warmup + steps; ++i) {
        full.step(i >= warmup);
        run.step(i >= warmup);
      }
      std::printf("{\"variant\": \"%s\", \"paired\": true, ", variant.c_str());
      print_list("ms", run.ms);
      print_list("ms_a", full.ms);
      std::printf("\"threads\": %d}\n", omp_get_max_threads());
      return 0;
    }

    variant_run run(variant[0], tok, tgt);
    for (int i = 0; i < warmup + steps; ++i) run.step(i >= warmup);

    auto& store = run.model->params();
    const auto flops = freeze::gpt_step_flops(run.cfg, store, kBatch, run.cfg.context);
    const auto full_flops = nn::gpt_training_flops(ref, kBatch, ref.context);
    std::printf("{\"variant\": \"%s\", ", variant.c_str());
    print_list("ms", run.ms);
    print_list("forward_ms", run.forward_ms);
    print_list("backward_ms", run.backward_ms);
    print_list("optimizer_ms", run.optimizer_ms);
    std::printf("\"forward_flops\": %.6e, \"peak_rss_mib\": %.1f, \"start_rss_mib\": %.1f, \"activation_mib\": %.2f, "
                "\"param_mib\": %.2f, \"trainable\": %zu, \"optimizer_state_bytes\": %zu, "
                "\"flops\": %.6e, \"flops_a\": %.6e, \"loss\": %.6f, \"threads\": %d}\n",
                flops.forward, peak_rss_mib(), start_rss,
                double(run.activations.peak_bytes() + run.model->scratch_peak_bytes()) / (1 << 20),
                double(store.numel() * sizeof(float)) / (1 << 20), run.opt->trainable_count(), run.opt->state_bytes(),
                flops.total(), full_flops.total(), run.loss, omp_get_max_threads());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_freeze_variants: %s\n", e.what());
    return 1;
  }
  return 0;
}
