// freeze::grades<B> — gradient-based early stopping per weight matrix: "GradES: Significantly
// Faster Training in Transformers with Gradient-Based Early Stopping" (Wen, Zeng, Zhou, Liu,
// Hosseinzadeh, Rawassizadeh, 2025). Each watched matrix (by default every Linear weight: the
// attention projections and MLP matrices) freezes once the magnitude of its gradient has
// stayed below tau for `patience` consecutive steps; no matrix freezes before `grace_steps`
// (the paper's grace period, a fraction alpha of training). events() records which matrix
// froze at which step and with what gradient metric; all_frozen() says when everything has
// converged (the paper then stops training).
//
// The metric is computed in observe(step, store), after backward, over the matrix's gradient:
//   metric::mean_abs  mean |g| (the paper's element-wise L1 norm, normalised by size)
//   metric::l2        Frobenius norm ||g||_2 (one backend reduction; no host copy on a GPU)
// A matrix found converged at step t trains in t's optimizer step and is frozen from t + 1
// (update(t + 1) applies it).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "thaw/freeze/policy.hpp"

namespace thaw::freeze {

enum class metric { mean_abs, l2 };

struct grades_cfg {
  double tau = 1e-3;         ///< convergence threshold on the metric
  step_t grace_steps = 0;    ///< no freezing before this step
  step_t patience = 1;       ///< consecutive steps below tau before freezing
  metric measure = metric::mean_abs;
  /// The matrices watched (strict). Others are left alone.
  select::any_selector scope = select::any_selector(select::kind(param_kind::weight) & select::module("linear"));
};

template <class B>
class grades : public detail::policy_base<B> {
public:
  using T = typename B::scalar;

  grades(const param_store<B>& store, grades_cfg cfg)
      : detail::policy_base<B>(store, "grades"), cfg_(std::move(cfg)) {
    THAW_CHECK(cfg_.tau >= 0 && std::isfinite(cfg_.tau), "grades: tau must be a non-negative number, got ", cfg_.tau);
    THAW_CHECK(cfg_.grace_steps >= 0, "grades: grace_steps must be >= 0, got ", cfg_.grace_steps);
    THAW_CHECK(cfg_.patience >= 1, "grades: patience must be >= 1, got ", cfg_.patience);
    watched_ = select::resolve(cfg_.scope, store);
    below_.assign(store.count(), 0);
    stopped_.assign(store.count(), false);
    pending_.assign(store.count(), false);
    last_.assign(store.count(), std::numeric_limits<double>::quiet_NaN());
  }

  /// Applies the freezes decided by the last observe (matrices frozen by GradES stay frozen).
  bool update(step_t step, param_store<B>& store) {
    this->check(store);
    bool changed = false;
    for (param_id p : watched_) {
      if (pending_[p]) {
        stopped_[p] = true;
        pending_[p] = false;
        changed |= this->set(store, p, false, step, last_[p]);
      } else if (stopped_[p]) {
        changed |= this->set(store, p, false, step, last_[p]);
      }
    }
    return changed;
  }

  /// Reads this step's gradients of the trainable watched matrices (call after backward).
  void observe(step_t step, const param_store<B>& store) {
    this->check(store);
    for (param_id p : watched_) {
      if (stopped_[p] || pending_[p] || !store.trainable(p)) continue;
      const double m = measure(store, p);
      last_[p] = m;
      if (step >= cfg_.grace_steps && m < cfg_.tau) ++below_[p];
      else below_[p] = 0;
      if (below_[p] >= cfg_.patience) pending_[p] = true;
    }
  }

  /// The gradient metric of the watched matrix p at its last observation (NaN before).
  [[nodiscard]] double last_metric(param_id p) const { return last_.at(p); }
  /// True when GradES has frozen every watched matrix.
  [[nodiscard]] bool all_frozen() const {
    for (param_id p : watched_)
      if (!stopped_[p]) return false;
    return true;
  }
  [[nodiscard]] const std::vector<param_id>& watched() const noexcept { return watched_; }

  [[nodiscard]] state_dict state() const {
    state_dict d;
    this->save_common(d);
    std::vector<double> below(below_.begin(), below_.end());
    put_vector(d, this->key("below"), std::move(below));
    put_vector(d, this->key("stopped"), detail::to_doubles(stopped_));
    put_vector(d, this->key("pending"), detail::to_doubles(pending_));
    put_vector(d, this->key("last"), last_);
    return d;
  }
  void load_state(const state_dict& d) {
    const std::size_t n = below_.size();
    const auto& below = get_vector(d, this->key("below"), n);
    auto stopped = detail::to_flags(get_vector(d, this->key("stopped"), n), this->key("stopped"));
    auto pending = detail::to_flags(get_vector(d, this->key("pending"), n), this->key("pending"));
    const auto& last = get_vector(d, this->key("last"), n);
    for (std::size_t p = 0; p < n; ++p)
      THAW_CHECK(below[p] >= 0 && std::floor(below[p]) == below[p], "state entry '", this->key("below"),
                 "' holds ", below[p]);
    this->load_common(d);
    for (std::size_t p = 0; p < n; ++p) below_[p] = static_cast<step_t>(below[p]);
    stopped_ = std::move(stopped);
    pending_ = std::move(pending);
    last_ = last;
  }

private:
  double measure(const param_store<B>& store, param_id p) const {
    const std::size_t n = store.ref(p).size();
    if (n == 0) return 0.0;
    const T* g = store.grad(p);
    if (cfg_.measure == metric::l2) return std::sqrt(static_cast<double>(B::sum_squares(g, n)));
    // mean |g|: the backend has no abs-sum, so the host adds it up (a copy on a device).
    double total = 0;
    if constexpr (B::host_accessible) {
      for (std::size_t i = 0; i < n; ++i) total += std::abs(static_cast<double>(g[i]));
    } else {
      std::vector<T> host(n);
      B::to_host(host.data(), g, n);
      for (T v : host) total += std::abs(static_cast<double>(v));
    }
    return total / static_cast<double>(n);
  }

  grades_cfg cfg_;
  std::vector<param_id> watched_;
  std::vector<step_t> below_;
  std::vector<bool> stopped_, pending_;
  std::vector<double> last_;
};

}  // namespace thaw::freeze
