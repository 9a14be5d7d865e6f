// Continual-learning measures computed from training logs (log.hpp's eval records):
//
//  - forgetting: the rise of the upstream (pre-training domain) validation loss from the end
//    of pre-training to the end of continual training, L_up(end) - L_up(switch); negative when
//    the upstream loss went down;
//  - stability gap: right after the switch to the new domain, the loss typically first gets
//    worse before it improves ("Continual evaluation for lifelong learning: Identifying the
//    stability gap", De Lange, van de Ven, Tuytelaars, ICLR 2023; for continual pre-training
//    "Efficient Continual Pre-training by Mitigating the Stability Gap", Guo et al. 2024). For a
//    curve with value L0 at the switch: `rise` = the largest L(t) - L0 over the evaluations
//    from the switch up to the first one back below L0 (0 when it never rises), `peak` the
//    steps after the switch where that is, `recovery` the steps after the switch until the
//    first evaluation below L0 (none when it never gets there within the log). The resolution
//    is the evaluation interval;
//  - final losses: the last evaluation of each set.
//
// "The switch" is the first evaluation of the continual run (its step 0: the pre-trained
// weights), unless a value is given explicitly (from the pre-training log's last evaluation).
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/train/log.hpp"

namespace thaw::train {

/// One validation curve: losses after steps[i] steps, in step order.
struct curve {
  std::vector<std::int64_t> steps;
  std::vector<double> losses;
  [[nodiscard]] bool empty() const noexcept { return steps.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return steps.size(); }
  [[nodiscard]] double first() const {
    THAW_CHECK(!losses.empty(), "empty validation curve");
    return losses.front();
  }
  [[nodiscard]] double last() const {
    THAW_CHECK(!losses.empty(), "empty validation curve");
    return losses.back();
  }
};

/// The validation curves of a log, by set name ("val/NAME" fields of eval records). A later
/// record for a step replaces an earlier one (a log continued after a resume).
inline std::map<std::string, curve> eval_curves(const std::vector<json>& records) {
  std::map<std::string, std::map<std::int64_t, double>> by_step;
  for (const auto& r : records) {
    if (r.value("event", "") != "eval" || !r.contains("step") || !r["step"].is_number_integer()) continue;
    const auto step = r["step"].get<std::int64_t>();
    for (const auto& [k, v] : r.items())
      if (k.starts_with("val/") && v.is_number()) by_step[k.substr(4)][step] = v.get<double>();
  }
  std::map<std::string, curve> out;
  for (const auto& [name, points] : by_step) {
    curve c;
    for (const auto& [s, l] : points) {
      c.steps.push_back(s);
      c.losses.push_back(l);
    }
    out[name] = std::move(c);
  }
  return out;
}
inline std::map<std::string, curve> eval_curves(const std::filesystem::path& jsonl) {
  return eval_curves(read_jsonl(jsonl));
}

/// The named curve, or an error listing the sets the log has.
inline const curve& get_curve(const std::map<std::string, curve>& curves, const std::string& name) {
  auto it = curves.find(name);
  if (it != curves.end() && !it->second.empty()) return it->second;
  std::string have;
  for (const auto& [n, c] : curves) have += (have.empty() ? "" : ", ") + n;
  throw error(message("the log has no evaluations of '", name, "' (it has: ", have.empty() ? "none" : have, ")"));
}
/// A reference into a temporary map would dangle: keep the result of eval_curves() in a variable.
const curve& get_curve(std::map<std::string, curve>&& curves, const std::string& name) = delete;

struct stability_gap {
  double rise = 0;                         ///< largest L(t) - L0 before recovering (>= 0)
  std::int64_t peak = 0;                   ///< steps after the switch of that largest rise
  std::optional<std::int64_t> recovery{};  ///< steps after the switch until L(t) < L0 (none: never)
};

/// The stability gap of `c`. By default the switch is its first evaluation (L0 = the first
/// loss); with `at_switch` the switch is at step `switch_step` (default 0, the start of a
/// continual run's own step count) with loss L0 = at_switch, and every point of `c` comes after it.
inline stability_gap measure_stability_gap(const curve& c, std::optional<double> at_switch = std::nullopt,
                                           std::int64_t switch_step = 0) {
  THAW_CHECK(!c.empty(), "stability gap of an empty validation curve");
  const double l0 = at_switch.value_or(c.losses.front());
  const std::int64_t s0 = at_switch ? switch_step : c.steps.front();
  stability_gap g;
  for (std::size_t i = at_switch ? 0 : 1; i < c.size(); ++i) {
    if (c.losses[i] < l0) {
      g.recovery = c.steps[i] - s0;
      break;
    }
    if (c.losses[i] - l0 > g.rise) {
      g.rise = c.losses[i] - l0;
      g.peak = c.steps[i] - s0;
    }
  }
  return g;
}

/// What a continual-training run did to the old domain (upstream) and the new one (downstream).
struct continual_measures {
  double upstream_at_switch = 0, upstream_final = 0;
  double downstream_at_switch = 0, downstream_final = 0;
  double forgetting = 0;            ///< upstream_final - upstream_at_switch
  double max_forgetting = 0;        ///< the largest upstream rise at any evaluation
  stability_gap downstream_gap;     ///< the stability gap of the new domain's loss
  stability_gap upstream_gap;       ///< the same measure on the old domain's loss
};

/// Measures from a continual run's curves; the values at the switch are the curves' first
/// points unless given (e.g. the pre-training log's last evaluation).
inline continual_measures measure_continual(const curve& upstream, const curve& downstream,
                                            std::optional<double> upstream_at_switch = std::nullopt,
                                            std::optional<double> downstream_at_switch = std::nullopt) {
  THAW_CHECK(!upstream.empty() && !downstream.empty(), "continual measures need both validation curves");
  continual_measures m;
  m.upstream_at_switch = upstream_at_switch.value_or(upstream.first());
  m.downstream_at_switch = downstream_at_switch.value_or(downstream.first());
  m.upstream_final = upstream.last();
  m.downstream_final = downstream.last();
  m.forgetting = m.upstream_final - m.upstream_at_switch;
  for (double l : upstream.losses) m.max_forgetting = std::max(m.max_forgetting, l - m.upstream_at_switch);
  m.downstream_gap = measure_stability_gap(downstream, downstream_at_switch);
  m.upstream_gap = measure_stability_gap(upstream, upstream_at_switch);
  return m;
}

/// From a continual run's log and the names of its two validation sets.
inline continual_measures measure_continual(const std::filesystem::path& jsonl, const std::string& upstream,
                                            const std::string& downstream) {
  const auto curves = eval_curves(jsonl);
  try {
    return measure_continual(get_curve(curves, upstream), get_curve(curves, downstream));
  } catch (const error& e) {
    throw error(message("log '", jsonl.string(), "': ", e.what()));
  }
}

}  // namespace thaw::train
