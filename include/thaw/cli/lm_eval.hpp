// `thaw-lm eval`: mean next-token cross-entropy of a GPT-2-format checkpoint over a token file.
//
//   thaw-lm eval --config CONFIG.json --weights W.safetensors --tokens T.bin [--batch N]
//
// CONFIG.json uses Hugging Face's GPT-2 keys (n_layer, n_head, n_embd, n_positions, vocab_size,
// layer_norm_epsilon; n_inner optional; the head is tied to wte as in GPT-2). T.bin holds
// little-endian uint16 tokens. The file is cut into consecutive non-overlapping windows of
// n_positions tokens (a final shorter window counts if it has at least 2 tokens); inside a
// window every token but the first is predicted from those before it; the result is the mean
// over all predicted tokens, printed last as `loss 3.141593`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "thaw/backend/cpu.hpp"
#include "thaw/core/error.hpp"
#include "thaw/io/files.hpp"
#include "thaw/io/model_io.hpp"
#include "thaw/nn/gpt.hpp"

namespace thaw::cli {

inline constexpr const char* kLmEvalHelp =
    R"(usage: thaw-lm eval --config CONFIG.json --weights W.safetensors --tokens T.bin [--batch N]

Prints the mean next-token cross-entropy (natural log) of a GPT-2-architecture model over a
token file; the last line is `loss X` with six decimals.

  --config   Hugging Face GPT-2 config JSON: n_layer, n_head, n_embd, n_positions, vocab_size,
             layer_norm_epsilon (default 1e-5), n_inner (default 4 * n_embd). The LM head is tied
             to the token embedding, as in GPT-2.
  --weights  safetensors file with Hugging Face GPT-2 parameter names (wte.weight, wpe.weight,
             h.{i}.ln_1.weight, h.{i}.attn.c_attn.weight, ...; Conv1D weights as [in, out]);
             F32, F16 or BF16. A "transformer." prefix and attention-mask buffers are accepted.
  --tokens   little-endian uint16 token ids.
  --batch    windows evaluated together (default 8; memory only, not the result).

How the mean is taken: the token file is cut into consecutive, non-overlapping windows of
n_positions tokens; a final shorter window is used as it is if it has at least 2 tokens. Inside
a window every token but the first is predicted from the tokens before it (in that window
only). The loss is the mean over all predicted tokens of all windows.
)";

/// Reads the GPT-2 config keys thaw needs; wrong types and missing keys name the key.
inline nn::gpt_config read_gpt2_config(const std::string& path) {
  std::ifstream in(path);
  THAW_CHECK(in.good(), "cannot open config '", path, "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw error(message("config '", path, "' is not valid JSON (", e.what(), ")"));
  }
  THAW_CHECK(j.is_object(), "config '", path, "' is not a JSON object");
  auto integer = [&](const char* key, std::optional<int> fallback = std::nullopt) {
    if (!j.contains(key) || (fallback && j[key].is_null())) {
      THAW_CHECK(fallback.has_value(), "config '", path, "' has no '", key, "'");
      return *fallback;
    }
    THAW_CHECK(j[key].is_number_integer() && j[key].get<long long>() > 0 &&
                   j[key].get<long long>() < (1LL << 31),
               "config '", path, "': '", key, "' must be a positive integer, got ", j[key].dump());
    return j[key].get<int>();
  };
  nn::gpt_config c;
  c.layers = integer("n_layer");
  c.heads = integer("n_head");
  c.width = integer("n_embd");
  c.context = integer("n_positions");
  c.vocab = integer("vocab_size");
  const int hidden = integer("n_inner", 4 * c.width);
  THAW_CHECK(hidden % c.width == 0, "config '", path, "': n_inner ", hidden,
             " must be a multiple of n_embd ", c.width);
  c.mlp_ratio = hidden / c.width;
  if (j.contains("layer_norm_epsilon")) {
    THAW_CHECK(j["layer_norm_epsilon"].is_number(), "config '", path,
               "': 'layer_norm_epsilon' must be a number, got ", j["layer_norm_epsilon"].dump());
    c.eps = j["layer_norm_epsilon"].get<double>();
  }
  if (j.contains("tie_word_embeddings"))
    THAW_CHECK(j["tie_word_embeddings"] == true, "config '", path,
               "': only GPT-2's tied LM head is supported (tie_word_embeddings must be true)");
  c.tied_head = true;
  c.validate();
  return c;
}

/// Mean next-token loss over `tokens` by the windowing described in kLmEvalHelp.
template <class B>
double mean_window_loss(nn::gpt<B>& model, const std::vector<token_t>& tokens, int batch) {
  const int ctx_len = model.config().context;
  arena<B> activations;
  nn::context<B> ctx{model.params(), activations};
  double total = 0;
  long long predicted = 0;
  // Full windows in batches, then the short tail window alone.
  const std::size_t full = tokens.size() / ctx_len;
  auto run = [&](std::size_t first_window, int windows, int length) {
    std::vector<token_t> input(std::size_t(windows) * length), target(input.size());
    for (int w = 0; w < windows; ++w)
      for (int t = 0; t < length; ++t) {
        const std::size_t at = (first_window + w) * ctx_len + t;
        input[std::size_t(w) * length + t] = tokens[at];
        target[std::size_t(w) * length + t] = t + 1 < length ? tokens[at + 1] : token_t(-1);
      }
    auto din = tensor<B, token_t>::from_host(shape{windows, length}, input);
    auto dtg = tensor<B, token_t>::from_host(shape{windows, length}, target);
    activations.reset();
    auto logits = model.forward(ctx, din.view());
    nn::cross_entropy<B> loss(-1);
    const double mean = loss.forward(ctx, logits, dtg.view());
    total += mean * loss.counted();
    predicted += loss.counted();
  };
  for (std::size_t w = 0; w < full; w += batch)
    run(w, static_cast<int>(std::min<std::size_t>(batch, full - w)), ctx_len);
  const std::size_t tail = tokens.size() - full * ctx_len;
  if (tail >= 2) run(full, 1, static_cast<int>(tail));
  THAW_CHECK(predicted > 0, "the token file has ", tokens.size(), " tokens: nothing to predict (need at least 2)");
  return total / predicted;
}

/// Entry point of `thaw-lm eval`; returns the process exit code. Errors are one line on `err`.
inline int lm_eval(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  std::string config, weights, tokens_path;
  int batch = 8;
  try {
    for (int i = 0; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        out << kLmEvalHelp;
        return 0;
      }
      auto value = [&]() -> std::string {
        THAW_CHECK(i + 1 < argc, "option ", a, " needs a value");
        return argv[++i];
      };
      if (a == "--config") config = value();
      else if (a == "--weights") weights = value();
      else if (a == "--tokens") tokens_path = value();
      else if (a == "--batch") {
        const std::string v = value();
        char* end = nullptr;
        const long b = std::strtol(v.c_str(), &end, 10);
        THAW_CHECK(end && *end == '\0' && b >= 1 && b <= 4096, "--batch must be an integer in [1, 4096], got '", v, "'");
        batch = static_cast<int>(b);
      } else {
        throw error(message("unknown argument '", a, "' (see thaw-lm eval --help)"));
      }
    }
    THAW_CHECK(!config.empty() && !weights.empty() && !tokens_path.empty(),
               "thaw-lm eval needs --config, --weights and --tokens (see --help)");
    const nn::gpt_config c = read_gpt2_config(config);
    io::mapped_file file(tokens_path);
    THAW_CHECK(file.bytes().size() % 2 == 0, "token file '", tokens_path, "' has ", file.bytes().size(),
               " bytes, not a whole number of uint16 tokens");
    std::vector<token_t> tokens(file.bytes().size() / 2);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::uint16_t t;
      std::memcpy(&t, file.bytes().data() + 2 * i, 2);
      THAW_CHECK(t < c.vocab, "token file '", tokens_path, "': token ", t, " at position ", i,
                 " is outside the vocabulary of ", c.vocab);
      tokens[i] = t;
    }
    using B = backend::cpu<>;
    nn::gpt<B> model(c);
    io::load_parameters(model.params(), weights);
    const double loss = mean_window_loss(model, tokens, batch);
    char line[64];
    std::snprintf(line, sizeof line, "loss %.6f\n", loss);
    out << line;
    return 0;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& ch : msg)
      if (ch == '\n') ch = ';';  // one line
    err << "thaw-lm eval: error: " << msg << '\n';
    return 1;
  }
}

}  // namespace thaw::cli
