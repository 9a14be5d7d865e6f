// Helpers for the freezing tests: a tiny GPT with a deterministic data stream, bitwise
// comparisons, and small hand-built parameter stores.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "support/test_util.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/core/arena.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/nn/gpt.hpp"
#include "thaw/params/param_store.hpp"

namespace thaw::test {

using rd = backend::reference<double>;
using rf = backend::reference<float>;

/// The small GPT the freezing tests train: 3 blocks, width 8.
inline nn::gpt_config tiny_gpt(bool tied = true) {
  return {.vocab = 11, .context = 6, .layers = 3, .heads = 2, .width = 8, .tied_head = tied};
}

/// One forward + backward of `model` on batch `index` of a deterministic token stream
/// (batch 2, T 5); gradients are zeroed first. Returns the loss.
template <class Model>
double forward_backward(Model& model, arena<typename Model::backend_type>& a, std::uint64_t index) {
  using B = typename Model::backend_type;
  const int vocab = model.config().vocab, batch = 2, steps = 5;
  std::vector<token_t> tokens(batch * steps), targets(batch * steps);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = static_cast<token_t>(philox::bits_at({99, index}, 2 * i) % vocab);
    targets[i] = static_cast<token_t>(philox::bits_at({99, index}, 2 * i + 1) % vocab);
  }
  auto t = tensor<B, token_t>::from_host(shape{batch, steps}, tokens);
  auto y = tensor<B, token_t>::from_host(shape{batch, steps}, targets);
  a.reset();
  model.params().zero_grads();
  nn::context<B> ctx{model.params(), a};
  auto logits = model.forward(ctx, t.view());
  const double loss = model.loss(ctx, logits, y.view());
  model.backward(ctx);
  return loss;
}

template <class B>
std::vector<typename B::scalar> values_of(const param_store<B>& s) {
  std::vector<typename B::scalar> v(s.numel());
  B::to_host(v.data(), s.values(), v.size());
  return v;
}
template <class B>
std::vector<typename B::scalar> grads_of(const param_store<B>& s) {
  std::vector<typename B::scalar> v(s.numel());
  B::to_host(v.data(), s.grads(), v.size());
  return v;
}

/// True when a and b hold the same bits at every element of [begin, end).
template <class T>
bool same_bits(const T* a, const T* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(T)) == 0;
}

/// A hand-built store: weights, biases, a norm and an embedding at depths 0..3.
template <class B>
void build_small_store(param_store<B>& s) {
  s.add("emb.weight", {5, 4}, param_kind::embedding, 0, "embedding");
  s.add("l0.weight", {4, 6}, param_kind::weight, 1, "linear");
  s.add("l0.bias", {6}, param_kind::bias, 1, "linear");
  s.add("norm.weight", {6}, param_kind::norm, 2, "layer_norm");
  s.add("l1.weight", {6, 3}, param_kind::weight, 3, "linear");
  s.add("l1.bias", {3}, param_kind::bias, 3, "linear");
  s.allocate();
  std::vector<typename B::scalar> v(s.numel());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<typename B::scalar>(philox::uniform_at({5, 0}, i, -1, 1));
  B::from_host(s.values(), v.data(), v.size());
}

/// Fills the gradient buffer with deterministic values for step `step`.
template <class B>
void synthetic_grads(param_store<B>& s, std::uint64_t step, double scale = 1.0) {
  std::vector<typename B::scalar> g(s.numel());
  for (std::size_t i = 0; i < g.size(); ++i)
    g[i] = static_cast<typename B::scalar>(scale * philox::uniform_at({77, step}, i, -1, 1));
  B::from_host(s.grads(), g.data(), g.size());
}

}  // namespace thaw::test
