// bench_cuda_gpt_step: the GPU training step of nn::gpt (forward + loss + backward + AdamW
// step) on the CUDA backend, timed with CUDA events; the thaw side of tests/gpu/run.sh's GPT
// comparison with PyTorch (tests/gpu/torch_gpt_step.py prints the same fields).
//
//   bench_cuda_gpt_step [--config ref|gpt2] [--policy fp32|tf32|bf16] [--variant a|b|c|d|e]
//                       [--batch 8] [--steps 10] [--warmup 3] [--profile]
//
// Configs: ref  = the reference GPT (vocab 256, context 256, 6 layers, 6 heads, width 384);
//          gpt2 = GPT-2 small (vocab 50257, context 1024, 12 layers, 12 heads, width 768).
// Policies: cuda<fp32> (no TF32), cuda<tf32>, cuda<bf16> (bf16 tensor-core GEMMs, fp32 storage;
// backend/cuda/precision.cuh). Variants a..e and the AdamW settings: the freezing benchmark's,
// bench/freeze_variant.hpp (a full; b embeddings + bottom half of the blocks; c only ln_f and
// an untied head train; d rank-8 LoRA on attention; e 99% frozen by FreezeNet saliency).
//
// Prints one JSON object on stdout (progress and errors on stderr): per-step GPU milliseconds
// (events between consecutive steps, after `warmup` untimed steps), their mean, tokens per
// second, and the model FLOP utilisation: model FLOPs of a full training step (nn/flops.hpp:
// 6 x linear parameters x tokens + attention) / time / the card's dense bf16 tensor peak, for
// every policy, so that the three policies are compared against the same peak. The peak comes
// from the device name (NVIDIA's data sheets: H100 SXM / HBM3 and H200 989.4 TFLOP/s, H100
// PCIe 756); for any other card it is null, and so is the MFU ("peak_note" says why).
// `hfu` uses instead the FLOPs the variant actually runs (freeze/flops.hpp).
// The host waits for the GPU inside every step (nn::cross_entropy copies the targets to the
// host and returns the loss; AdamW's range-table upload waits for the previous one); the
// PyTorch loop never does. That is part of what is measured.
// Exit status: 0 on success, 1 on an error (the message names it), 2 on bad arguments,
// 77 when no GPU is present (SKIPPED, as the other CUDA benchmarks).
// nvcc notes, harmless here: 554 (tensor_view<const U>'s conversion to itself, never used) and 3189
// (an enumerator named `module` in freeze/policy.hpp, read as an identifier, as intended).
#pragma nv_diag_suppress 554, 3189

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "thaw/backend/cuda.hpp"
#include "thaw/freeze/flops.hpp"
#include "thaw/nn/flops.hpp"
#include "thaw/nn/gpt.hpp"

#include "../freeze_variant.hpp"

namespace {
using namespace thaw;

struct options {
  std::string config = "ref", policy = "bf16", variant = "a";
  int batch = 8, steps = 10, warmup = 3;
  bool profile = false;  ///< one more step with the op profiler on; the table goes to stderr
};

int usage(const std::string& why) {
  std::fprintf(stderr,
               "bench_cuda_gpt_step: %s\nusage: bench_cuda_gpt_step [--config ref|gpt2] [--policy fp32|tf32|bf16] "
               "[--variant a|b|c|d|e] [--batch N] [--steps N] [--warmup N] [--profile]\n",
               why.c_str());
  return 2;
}

nn::gpt_config config_named(const std::string& name) {
  if (name == "gpt2") return {.vocab = 50257, .context = 1024, .layers = 12, .heads = 12, .width = 768};
  return {.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384};
}

/// Dense (no sparsity) bf16 tensor-core peak in TFLOP/s from NVIDIA's data sheets, by device
/// name; NaN with `note` saying why for a card not listed. tests/gpu/torch_gpt_step.py has
/// the same table.
double peak_bf16_dense_tflops(const std::string& name, std::string& note) {
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("H100") && has("PCIe")) {
    note = "H100 PCIe: 756 TFLOP/s dense bf16";
    return 756.0;
  }
  if (has("H100") && (has("SXM") || has("HBM3")) && !has("NVL")) {
    note = "H100 SXM: 989.4 TFLOP/s dense bf16";
    return 989.4;
  }
  if (has("H200") && !has("NVL")) {
    note = "H200 SXM: 989.4 TFLOP/s dense bf16";
    return 989.4;
  }
  note = "no bf16 peak on file for '" + name + "': MFU not computed";
  return std::nan("");
}

void print_number(const char* key, double v, const char* fmt = "%.6g") {
  std::printf("\"%s\": ", key);
  if (std::isfinite(v)) std::printf(fmt, v);
  else std::printf("null");
  std::printf(", ");
}

/// JSON string contents: quotes, backslashes and control characters escaped.
std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\', out += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) out += ' ';
    else out += ch;
  }
  return out;
}

/// --profile: one more training step with the CUDA op profiler on (backend/cuda/profile.cuh)
/// and events between the phases; prints the phases' GPU times, the step's wall time against
/// the sum of the op times (the rest is the GPU waiting for the host) and the ops, longest
/// first, on stderr.
template <class B, class Model, class Store, class Tokens, class Opt>
void profile_step(Model& model, nn::context<B>& ctx, arena<B>& activations, Store& store, const Tokens& dtokens,
                  const Tokens& dtargets, Opt& opt) {
  B::synchronize();
  B::reset_op_profile();
  B::profile_ops(true);
  cudaEvent_t marks[5];
  for (auto& e : marks) THAW_CUDA_CHECK(cudaEventCreate(&e));
  THAW_CUDA_CHECK(cudaEventRecord(marks[0], B::stream()));
  activations.reset();
  store.zero_grads();
  auto logits = model.forward(ctx, dtokens.view());
  THAW_CUDA_CHECK(cudaEventRecord(marks[1], B::stream()));
  (void)model.loss(ctx, logits, dtargets.view());
  THAW_CUDA_CHECK(cudaEventRecord(marks[2], B::stream()));
  model.backward(ctx);
  THAW_CUDA_CHECK(cudaEventRecord(marks[3], B::stream()));
  opt.step();
  THAW_CUDA_CHECK(cudaEventRecord(marks[4], B::stream()));
  B::synchronize();
  B::profile_ops(false);
  float phase[4], wall = 0;
  for (int i = 0; i < 4; ++i) THAW_CUDA_CHECK(cudaEventElapsedTime(&phase[i], marks[i], marks[i + 1]));
  THAW_CUDA_CHECK(cudaEventElapsedTime(&wall, marks[0], marks[4]));
  for (auto& e : marks) THAW_CUDA_CHECK(cudaEventDestroy(e));
  const auto ops = B::op_profile();
  double op_sum = 0;
  for (const auto& op : ops) op_sum += op.ms;
  std::fprintf(stderr, "profile (%s, one step with events around every op): forward %.2f ms, loss %.2f, backward %.2f, "
               "optimizer %.2f; step %.2f ms, ops %.2f ms, GPU idle %.2f ms\n",
               B::name(), phase[0], phase[1], phase[2], phase[3], wall, op_sum, wall - op_sum);
  std::fprintf(stderr, "  %-44s %6s %9s %6s\n", "op", "calls", "ms", "%");
  for (const auto& op : ops)
    std::fprintf(stderr, "  %-44s %6ld %9.3f %5.1f%%\n", op.name.c_str(), op.calls, op.ms, 100.0 * op.ms / wall);
  B::reset_op_profile();
}

template <class B>
int run(const options& o, const cudaDeviceProp& prop) {
  const nn::gpt_config cfg = bench::variant_config(config_named(o.config), o.variant[0]);
  const int batch = o.batch, steps_per_seq = cfg.context;
  std::fprintf(stderr, "bench_cuda_gpt_step: %s, config %s, variant %s, batch %d x %d tokens on %s\n", B::name(),
               o.config.c_str(), o.variant.c_str(), batch, steps_per_seq, prop.name);

  nn::gpt<B> model(cfg, 1);
  auto& store = model.params();
  std::vector<token_t> tokens(std::size_t(batch) * cfg.context), targets(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = token_t(philox::bits_at({7, 0}, i) % std::uint32_t(cfg.vocab));
    targets[i] = token_t(philox::bits_at({7, 1}, i) % std::uint32_t(cfg.vocab));
  }
  auto dtokens = tensor<B, token_t>::from_host({batch, cfg.context}, tokens);
  auto dtargets = tensor<B, token_t>::from_host({batch, cfg.context}, targets);
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

  if (o.variant == "e")
    std::fprintf(stderr, "bench_cuda_gpt_step: FreezeNet saliency (one forward + backward, top 1%% on the host)\n");
  const auto opt = bench::variant_optimizer(model, o.variant[0], forward_backward);

  for (int i = 0; i < o.warmup; ++i) {
    forward_backward();
    opt->step();
  }
  B::synchronize();

  // One event before the first timed step and one after each: step i is events[i] -> [i + 1].
  std::vector<cudaEvent_t> events(std::size_t(o.steps) + 1, nullptr);
  for (auto& e : events) THAW_CUDA_CHECK(cudaEventCreate(&e));
  THAW_CUDA_CHECK(cudaEventRecord(events[0], B::stream()));
  for (int i = 0; i < o.steps; ++i) {
    forward_backward();
    opt->step();
    THAW_CUDA_CHECK(cudaEventRecord(events[std::size_t(i) + 1], B::stream()));
  }
  THAW_CUDA_CHECK(cudaEventSynchronize(events.back()));
  B::synchronize();  // and any error a kernel recorded
  std::vector<double> ms;
  for (int i = 0; i < o.steps; ++i) {
    float t = 0;
    THAW_CUDA_CHECK(cudaEventElapsedTime(&t, events[std::size_t(i)], events[std::size_t(i) + 1]));
    ms.push_back(t);
  }
  float total_ms = 0;
  THAW_CUDA_CHECK(cudaEventElapsedTime(&total_ms, events.front(), events.back()));
  for (auto& e : events) THAW_CUDA_CHECK(cudaEventDestroy(e));
  std::size_t free_bytes = 0, total_bytes = 0;
  THAW_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (o.profile) profile_step<B>(model, ctx, activations, store, dtokens, dtargets, *opt);

  const double ms_per_step = double(total_ms) / o.steps;
  auto sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double tokens_per_step = double(batch) * cfg.context;
  const double model_flops = nn::gpt_training_flops(cfg, batch, cfg.context).total();
  const double step_flops = freeze::gpt_step_flops(cfg, store, batch, cfg.context).total();
  std::string peak_note;
  const double peak = peak_bf16_dense_tflops(prop.name, peak_note);
  const double seconds = ms_per_step / 1e3;

  std::printf("{\"impl\": \"thaw\", \"backend\": \"%s\", \"config\": \"%s\", \"policy\": \"%s\", \"variant\": \"%s\", ",
              B::name(), o.config.c_str(), o.policy.c_str(), o.variant.c_str());
  std::printf("\"batch\": %d, \"context\": %d, \"tokens_per_step\": %.0f, \"params\": %zu, \"trainable\": %zu, ", batch,
              cfg.context, tokens_per_step, store.numel(), opt->trainable_count());
  std::printf("\"warmup\": %d, \"steps\": %d, \"ms\": [", o.warmup, o.steps);
  for (std::size_t i = 0; i < ms.size(); ++i) std::printf("%s%.3f", i ? ", " : "", ms[i]);
  std::printf("], ");
  print_number("ms_per_step", ms_per_step, "%.4f");
  print_number("ms_median", median, "%.4f");
  print_number("tokens_per_s", tokens_per_step / seconds, "%.1f");
  print_number("model_flops", model_flops, "%.6e");
  print_number("step_flops", step_flops, "%.6e");
  print_number("achieved_tflops", model_flops / seconds / 1e12, "%.2f");
  print_number("peak_tflops_bf16_dense", peak, "%.1f");
  print_number("mfu", model_flops / seconds / (peak * 1e12), "%.4f");
  print_number("hfu", step_flops / seconds / (peak * 1e12), "%.4f");
  print_number("loss", loss, "%.6f");
  print_number("activation_mib", double(activations.peak_bytes() + model.scratch_peak_bytes()) / (1 << 20), "%.1f");
  print_number("device_used_mib", double(total_bytes - free_bytes) / (1 << 20), "%.1f");
  const char* attention = B::fused_attention(cfg.width / cfg.heads)
                              ? "fused FlashAttention-2 (mma.sync bf16, cp.async tiles)"
                              : "materialised (B, H, T, T) scores, cuBLAS strided-batched GEMMs";
  std::printf("\"optimizer_state_bytes\": %zu, \"gpu\": \"%s\", \"peak_note\": \"%s\", "
              "\"attention\": \"%s\", \"optimizer\": \"thaw AdamW kernel over the trainable ranges\"}\n",
              opt->state_bytes(), json_escape(prop.name).c_str(), json_escape(peak_note).c_str(), attention);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage("the GPU training step of nn::gpt; one JSON object on stdout");
      return 0;
    }
    if (a == "--profile") {
      o.profile = true;
      continue;
    }
    if (i + 1 >= argc) return usage("missing value after " + a);
    const std::string v = argv[++i];
    try {
      if (a == "--config") o.config = v;
      else if (a == "--policy") o.policy = v;
      else if (a == "--variant") o.variant = v;
      else if (a == "--batch") o.batch = std::stoi(v);
      else if (a == "--steps") o.steps = std::stoi(v);
      else if (a == "--warmup") o.warmup = std::stoi(v);
      else return usage("unknown argument " + a);
    } catch (const std::exception&) {
      return usage("not a number after " + a + ": " + v);
    }
  }
  if (o.config != "ref" && o.config != "gpt2") return usage("--config must be ref or gpt2");
  if (o.policy != "fp32" && o.policy != "tf32" && o.policy != "bf16") return usage("--policy must be fp32, tf32 or bf16");
  if (o.variant.size() != 1 || o.variant[0] < 'a' || o.variant[0] > 'e') return usage("--variant must be one of a..e");
  if (o.batch < 1 || o.steps < 1 || o.warmup < 0) return usage("--batch and --steps must be >= 1, --warmup >= 0");

  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::fprintf(stderr, "bench_cuda_gpt_step: SKIPPED: no CUDA GPU is present (cudaGetDeviceCount: %s); nothing ran.\n",
                 status == cudaSuccess ? "0 devices" : cudaGetErrorString(status));
    return 77;
  }
  try {
    cudaDeviceProp prop{};
    THAW_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    if (o.policy == "fp32") return run<backend::cuda<backend::fp32>>(o, prop);
    if (o.policy == "tf32") return run<backend::cuda<backend::tf32>>(o, prop);
    return run<backend::cuda<backend::bf16>>(o, prop);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_gpt_step: error (config %s, policy %s, variant %s, batch %d): %s\n",
                 o.config.c_str(), o.policy.c_str(), o.variant.c_str(), o.batch, e.what());
    return 1;
  }
}
