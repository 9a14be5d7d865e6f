// optim::ema<B> — an exponential moving average of the weights (Polyak averaging; as
// torch.optim.swa_utils / timm's ModelEmaV2: ema = decay * ema + (1 - decay) * w after each
// optimizer step), kept only for the trainable elements.
//
// A frozen element does not change, so its average is itself: the shadow buffer holds one value
// per trainable element and the averaged model is the current model with the shadow scattered
// over the trainable ranges. When the trainable set changes, elements that start training enter
// the average at their current value and elements that stop training leave it (they then
// evaluate at their frozen value). The decay is a number or a callable of the update count
// (e.g. timm's warmup [](long s) { return std::min(0.9999, (1.0 + s) / (10.0 + s)); }).
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "thaw/optim/compact.hpp"
#include "thaw/optim/scalar.hpp"
#include "thaw/optim/state_dict.hpp"
#include "thaw/params/mask.hpp"

namespace thaw::optim {

template <class B>
class ema {
  static_assert(assert_backend<B>());

public:
  using T = typename B::scalar;

  /// Starts the average at the current values of the trainable elements (the store's flags,
  /// or `ranges`).
  explicit ema(param_store<B>& store, step_scalar decay = 0.999)
      : ema(store, trainable_ranges(store), std::move(decay)) {}
  ema(param_store<B>& store, std::vector<index_range> ranges, step_scalar decay)
      : store_(&store), decay_(std::move(decay)) {
    ranges_ = normalize(std::move(ranges));
    check_index_set(ranges_, store.numel(), "ema index set");
    shadow_ = tensor<B>(thaw::shape{static_cast<std::int64_t>(element_count(ranges_))});
    detail::gather<B>(shadow_.data(), store.values(), ranges_);
  }

  /// ema = decay * ema + (1 - decay) * w over the trainable elements; call after each step.
  void update() {
    const double d = decay_(updates_);
    THAW_CHECK(std::isfinite(d) && d >= 0 && d <= 1, "ema: decay is ", d, " at update ", updates_);
    const T keep = static_cast<T>(d), take = static_cast<T>(1.0 - d);
    std::size_t s = 0;
    for (const auto& r : ranges_) {
      if constexpr (B::host_accessible) {
        if (r.size() < detail::kSmallRange) {  // the same two operations as B::scale, B::axpy
          T* shadow = shadow_.data() + s;
          const T* w = store_->values() + r.begin;
          for (std::size_t i = 0; i < r.size(); ++i) shadow[i] *= keep;
          for (std::size_t i = 0; i < r.size(); ++i) shadow[i] += take * w[i];
          s += r.size();
          continue;
        }
      }
      B::scale(shadow_.data() + s, r.size(), keep);
      B::axpy(shadow_.data() + s, take, store_->values() + r.begin, r.size());
      s += r.size();
    }
    ++updates_;
  }

  /// Follows a new trainable set: new elements enter at their current value.
  void retarget(std::vector<index_range> ranges) {
    ranges = normalize(std::move(ranges));
    check_index_set(ranges, store_->numel(), "ema index set");
    shadow_ = detail::remap<B>(shadow_, ranges_, ranges, store_->values());
    ranges_ = std::move(ranges);
  }
  void sync() { retarget(trainable_ranges(*store_)); }

  /// Exchanges the averaged and the current values in the store: call once to evaluate the
  /// averaged model, and again to go back to training.
  void swap() {
    tensor<B> current(thaw::shape{static_cast<std::int64_t>(element_count(ranges_))});
    detail::gather<B>(current.data(), store_->values(), ranges_);
    detail::scatter<B>(store_->values(), shadow_.data(), ranges_);
    shadow_ = std::move(current);
    swapped_ = !swapped_;
  }
  /// Writes the averaged model into `values`, a buffer of the store's layout (backend memory)
  /// that already holds the current values (frozen elements are taken from there).
  void write(T* values) const { detail::scatter<B>(values, shadow_.data(), ranges_); }

  [[nodiscard]] std::size_t state_bytes() const noexcept { return shadow_.size() * sizeof(T); }
  [[nodiscard]] const std::vector<index_range>& ranges() const noexcept { return ranges_; }
  [[nodiscard]] sched::step_t updates() const noexcept { return updates_; }
  [[nodiscard]] bool swapped() const noexcept { return swapped_; }

  [[nodiscard]] state_dict state() const {
    THAW_CHECK(!swapped_, "ema: save the state with the training values in place (call swap() back first)");
    state_dict d;
    put_scalar(d, "ema.numel", static_cast<double>(store_->numel()));
    put_scalar(d, "ema.updates", static_cast<double>(updates_));
    put_ranges(d, "ema.ranges", ranges_);
    const auto host = shadow_.to_host();
    put_vector(d, "ema.shadow", std::vector<double>(host.begin(), host.end()),
               sizeof(T) == sizeof(float) ? io::st_dtype::f32 : io::st_dtype::f64);
    return d;
  }
  void load_state(const state_dict& d) {
    THAW_CHECK(static_cast<std::size_t>(get_count(d, "ema.numel")) == store_->numel(),
               "ema state is for a model of ", get_count(d, "ema.numel"), " elements, this one has ",
               store_->numel());
    auto ranges = get_ranges(d, "ema.ranges", store_->numel());
    const auto& v = get_vector(d, "ema.shadow", element_count(ranges));
    std::vector<T> host(v.begin(), v.end());
    shadow_ = tensor<B>::from_host(thaw::shape{static_cast<std::int64_t>(host.size())}, host);
    ranges_ = std::move(ranges);
    updates_ = get_count(d, "ema.updates");
    swapped_ = false;
  }
  void save(const std::filesystem::path& path) const { save_state(state(), path, {{"format", "thaw.ema"}}); }
  void load(const std::filesystem::path& path) { load_state(thaw::load_state(path)); }

private:
  param_store<B>* store_;
  step_scalar decay_;
  std::vector<index_range> ranges_;
  tensor<B> shadow_;
  sched::step_t updates_ = 0;
  bool swapped_ = false;
};

}  // namespace thaw::optim
