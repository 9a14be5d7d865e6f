// Issue 4's freezing benchmark, thaw's side: one training step (forward + backward + AdamW) of the
// reference GPT (vocab 256, context 256, 6 layers, 6 heads, width 384, batch 8) on the cpu
// backend under one freeze variant per process, so that the peak resident memory is the
// variant's own:
//   a  full training
//   b  embeddings + bottom 3 blocks frozen (tied head: frozen with wte)
//   c  everything frozen but the final norm and an untied head
//   d  all base weights frozen, rank-8 LoRA (alpha 8) on attention c_attn and c_proj trains
//   e  99% of elements frozen by FreezeNet saliency (one forward + backward at initialisation)
//
// Usage: bench_freeze_variants --variant a [--steps 3] [--warmup 1]
// Prints one JSON object: per-step wall ms, the process's peak RSS (VmHWM), the activation
// arenas' peak, trainable elements, optimizer state bytes, and the FLOP model's count for the
// variant and for (a) (freeze/flops.hpp). bench/freeze_variants.sh runs every variant next to
// PyTorch (bench/freeze_variants_torch.py) and writes bench/results/freeze_variants.json.
#include <thaw/thaw.hpp>
#include <thaw/freeze/flops.hpp>
#include <thaw/freeze/freeze.hpp>
#include <thaw/nn/gpt.hpp>
#include <thaw/optim/optim.hpp>

#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
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
  std::fprintf(stderr, "bench_freeze_variants: %s\nusage: bench_freeze_variants --variant a|b|c|d|e [--steps N] [--warmup N]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string variant;
  int steps = 3, warmup = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    if (a == "--variant") variant = argv[++i];
    else if (a == "--steps") steps = std::stoi(argv[++i]);
    else if (a == "--warmup") warmup = std::stoi(argv[++i]);
    else return usage(("unknown argument " + a).c_str());
  }
  if (variant.size() != 1 || variant[0] < 'a' || variant[0] > 'e') return usage("--variant must be one of a, b, c, d, e");
  if (steps < 1 || warmup < 0) return usage("--steps must be >= 1 and --warmup >= 0");
  const double start_rss = peak_rss_mib();

  try {
    nn::gpt_config cfg = reference_config();
    if (variant == "c") cfg.tied_head = false;
    if (variant == "d") cfg.lora_rank = 8;  // lora_alpha 8: scale 1
    nn::gpt<B> model(cfg, 1);
    auto& store = model.params();

    std::vector<token_t> tokens(kBatch * cfg.context), targets(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = token_t(philox::bits_at({7, 0}, i) % 256);
      targets[i] = token_t(philox::bits_at({7, 1}, i) % 256);
    }
    auto dtokens = tensor<B, token_t>::from_host({kBatch, cfg.context}, tokens);
    auto dtargets = tensor<B, token_t>::from_host({kBatch, cfg.context}, targets);
    arena<B> activations;
    nn::context<B> ctx{store, activations};
    double loss = 0;
    auto forward_backward = [&] {
      activations.reset();
      store.zero_grads();
      auto logits = model.forward(ctx, dtokens.view());
      loss = model.loss(ctx, logits, dtargets.view());
      model.backward(ctx);
    };

    const optim::adamw_cfg opt_cfg{.lr = 3e-4, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95};
    std::unique_ptr<optim::adamw<B>> opt;
    if (variant == "a") {
      opt = std::make_unique<optim::adamw<B>>(store, opt_cfg);
    } else if (variant == "b") {
      opt = std::make_unique<optim::adamw<B>>(
          store, group_mask::frozen(store, select::parse("wte.* | wpe.* | blocks[0:3)")), opt_cfg);
    } else if (variant == "c") {
      opt = std::make_unique<optim::adamw<B>>(store, group_mask::training(store, select::parse("ln_f.* | lm_head.*")),
                                              opt_cfg);
    } else if (variant == "d") {
      opt = std::make_unique<optim::adamw<B>>(store, group_mask::training(store, select::parse("module(lora)")), opt_cfg);
    } else {
      auto policy = freeze::freezenet<B>::by_saliency(store, 0.01, forward_backward);
      opt = std::make_unique<optim::adamw<B>>(store, policy.mask(), opt_cfg);
    }

    std::vector<double> ms;
    for (int i = 0; i < warmup + steps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      forward_backward();
      opt->step();
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }

    const auto flops = freeze::gpt_step_flops(cfg, store, kBatch, cfg.context);
    const nn::gpt_config full_cfg = reference_config();
    const auto full_flops = nn::gpt_training_flops(full_cfg, kBatch, full_cfg.context);
    std::printf("{\"variant\": \"%s\", \"ms\": [", variant.c_str());
    for (std::size_t i = 0; i < ms.size(); ++i) std::printf("%s%.3f", i ? ", " : "", ms[i]);
    std::printf("], \"peak_rss_mib\": %.1f, \"start_rss_mib\": %.1f, \"activation_mib\": %.2f, "
                "\"param_mib\": %.2f, \"trainable\": %zu, \"optimizer_state_bytes\": %zu, "
                "\"flops\": %.6e, \"flops_a\": %.6e, \"loss\": %.6f, \"threads\": %d}\n",
                peak_rss_mib(), start_rss,
                double(activations.peak_bytes() + model.scratch_peak_bytes()) / (1 << 20),
                double(store.numel() * sizeof(float)) / (1 << 20), opt->trainable_count(), opt->state_bytes(),
                flops.total(), full_flops.total(), loss, omp_get_max_threads());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_freeze_variants: %s\n", e.what());
    return 1;
  }
  return 0;
}
