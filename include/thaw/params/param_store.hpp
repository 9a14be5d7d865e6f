// thaw::param_store<B> — every parameter of a model in one contiguous buffer, every gradient in
// a second buffer of the same layout (as llm.c's malloc_and_point_parameters).
//
// Modules register their parameters while the model is constructed (name, shape, kind, depth,
// module type); allocate() then makes the two buffers once. A param_ref names a slice of the
// buffer; names are hierarchical ("h.3.attn.c_attn.weight"). Because everything is one buffer,
// a freeze mask is a set of slices (or a bitmask over the buffer), optimizer state can be
// compacted to the trainable elements, and a checkpoint is one write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "thaw/backend/concept.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/shape.hpp"
#include "thaw/core/tensor.hpp"

namespace thaw {

/// What a parameter is, for selectors ("no weight decay on norms, biases and embeddings").
enum class param_kind { weight, bias, norm, embedding };

inline constexpr std::string_view kind_name(param_kind k) noexcept {
  constexpr std::string_view names[] = {"weight", "bias", "norm", "embedding"};
  return names[static_cast<int>(k)];
}

/// One named slice of the flat buffer.
struct param_ref {
  std::string name;         ///< hierarchical, Hugging Face GPT-2 names for the GPT model
  std::size_t offset = 0;   ///< first element in the flat buffer
  thaw::shape shape;        ///< logical shape (Linear weights are [in, out], as GPT-2's Conv1D)
  int depth = 0;            ///< module depth: 0 below the first block, i + 1 in block i, ...
  param_kind kind = param_kind::weight;
  std::string module_type;  ///< "linear", "layer_norm", "embedding", ...
  [[nodiscard]] std::size_t size() const noexcept { return shape.size(); }
};

/// Index of a parameter in its store.
using param_id = std::size_t;

template <class B>
class param_store {
  static_assert(assert_backend<B>());

public:
  using T = typename B::scalar;

  param_store() = default;
  param_store(const param_store&) = delete;
  param_store& operator=(const param_store&) = delete;

  /// Registers a parameter; only before allocate(). Names must be unique.
  param_id add(std::string name, thaw::shape s, param_kind kind, int depth,
               std::string module_type) {
    THAW_CHECK(values_.empty(), "parameter '", name, "' registered after the store was allocated");
    for (const auto& r : refs_)
      THAW_CHECK(r.name != name, "parameter name '", name, "' is registered twice");
    refs_.push_back({std::move(name), total_, s, depth, kind, std::move(module_type)});
    trainable_.push_back(true);
    total_ += s.size();
    return refs_.size() - 1;
  }

  /// Allocates the value and gradient buffers (gradients zeroed; values uninitialised until a
  /// module's initializer or a checkpoint fills them).
  void allocate() {
    THAW_CHECK(values_.empty(), "parameter store allocated twice");
    values_ = tensor<B>(thaw::shape{static_cast<std::int64_t>(total_)});
    grads_ = tensor<B>(thaw::shape{static_cast<std::int64_t>(total_)}, T(0));
  }
  [[nodiscard]] bool allocated() const noexcept { return !values_.empty() || total_ == 0; }

  [[nodiscard]] std::span<const param_ref> refs() const noexcept { return refs_; }
  [[nodiscard]] const param_ref& ref(param_id id) const { return refs_.at(id); }
  [[nodiscard]] std::size_t count() const noexcept { return refs_.size(); }
  /// Total number of parameter elements.
  [[nodiscard]] std::size_t numel() const noexcept { return total_; }
  /// The parameter with this name, or an error naming it.
  [[nodiscard]] param_id find(std::string_view name) const {
    for (param_id i = 0; i < refs_.size(); ++i)
      if (refs_[i].name == name) return i;
    throw error(message("no parameter named '", name, "'"));
  }

  [[nodiscard]] T* values() noexcept { return values_.data(); }
  [[nodiscard]] const T* values() const noexcept { return values_.data(); }
  [[nodiscard]] T* grads() noexcept { return grads_.data(); }
  [[nodiscard]] const T* grads() const noexcept { return grads_.data(); }
  [[nodiscard]] T* value(param_id id) noexcept { return values_.data() + refs_[id].offset; }
  [[nodiscard]] const T* value(param_id id) const noexcept { return values_.data() + refs_[id].offset; }
  [[nodiscard]] T* grad(param_id id) noexcept { return grads_.data() + refs_[id].offset; }
  [[nodiscard]] const T* grad(param_id id) const noexcept { return grads_.data() + refs_[id].offset; }

  /// Group-level trainability. A frozen parameter gets no gradient computation at all; the
  /// freezing layer (selectors, masks, policies) sets these.
  [[nodiscard]] bool trainable(param_id id) const noexcept { return trainable_[id]; }
  void set_trainable(param_id id, bool on) { trainable_.at(id) = on; }
  void set_all_trainable(bool on) { trainable_.assign(refs_.size(), on); }

  void zero_grads() { B::fill(grads_.data(), grads_.size(), T(0)); }

private:
  std::vector<param_ref> refs_;
  std::vector<bool> trainable_;
  std::size_t total_ = 0;
  tensor<B> values_, grads_;
};

}  // namespace thaw
