// Progress output of a training run: a one-line bar with ETA redrawn in place on a terminal,
// plain periodic lines otherwise (a log file, CI, a pipe), so that logs stay readable.
//
//   terminal:  [##########..........]  300/600  50%  loss 2.3105  41.2k tok/s  ETA 1m12s
//   otherwise: step 300/600 (50%)  loss 2.3105  41.2k tok/s  elapsed 1m12s  ETA 1m12s
//
// The bar is redrawn at most every `redraw_s` seconds; plain lines are written every
// `plain_every_s` seconds, plus the first and the last step. The ETA is the remaining steps
// times the mean time per step since this progress started (a resumed run does not count the
// steps it did not do). The clock can be replaced (tests).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace thaw::train {

enum class progress_mode {
  automatic,  ///< bar when stderr is a terminal, plain lines otherwise
  bar,
  plain,
  none,
};

struct progress_cfg {
  progress_mode mode = progress_mode::automatic;
  double redraw_s = 0.2;
  double plain_every_s = 10.0;
  int bar_width = 24;
  std::string label = {};                 ///< printed before each line ("pretrain", "recipe 2")
  std::function<double()> clock = {};     ///< seconds; default: steady_clock
};

/// "1h02m03s", "4m05s", "12s", "0.4s"; "?" for a non-finite or negative duration.
inline std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[48];
  if (s < 10) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
    return buf;
  }
  const auto t = static_cast<long long>(std::llround(s));
  const long long h = t / 3600, m = (t % 3600) / 60, sec = t % 60;
  if (h > 0) std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", h, m, sec);
  else if (m > 0) std::snprintf(buf, sizeof buf, "%lldm%02llds", m, sec);
  else std::snprintf(buf, sizeof buf, "%llds", sec);
  return buf;
}

/// "950", "41.2k", "3.1M": a rate with an SI prefix.
inline std::string format_rate(double v) {
  char buf[32];
  if (!std::isfinite(v)) return "?";
  if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

class progress {
public:
  /// Shows progress from step `start` to `total` on `out` (stderr in programs).
  progress(std::ostream& out, std::int64_t start, std::int64_t total, progress_cfg cfg = {})
      : out_(out), cfg_(std::move(cfg)), start_(start), total_(total) {
    if (!cfg_.clock)
      cfg_.clock = [] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      };
    if (cfg_.mode == progress_mode::automatic)
      cfg_.mode = ::isatty(STDERR_FILENO) ? progress_mode::bar : progress_mode::plain;
    t0_ = cfg_.clock();
  }
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  ~progress() { finish(); }

  [[nodiscard]] progress_mode mode() const noexcept { return cfg_.mode; }

  /// After step `done` (steps completed) with the latest loss and throughput.
  void update(std::int64_t done, double loss, double tokens_per_s) {
    if (cfg_.mode == progress_mode::none) return;
    const double now = cfg_.clock();
    const bool first = !drawn_, last = done >= total_;
    if (cfg_.mode == progress_mode::bar) {
      if (!first && !last && now - last_draw_ < cfg_.redraw_s) return;
      out_ << '\r' << bar_line(done, loss, tokens_per_s, now) << "\x1b[K" << std::flush;
      bar_visible_ = true;
    } else {
      if (!first && !last && now - last_draw_ < cfg_.plain_every_s) return;
      out_ << plain_line(done, loss, tokens_per_s, now) << '\n' << std::flush;
    }
    drawn_ = true;
    last_draw_ = now;
  }

  /// A line of its own (an evaluation, a checkpoint) that does not break the bar.
  void message(std::string_view line) {
    if (cfg_.mode == progress_mode::none) return;
    if (bar_visible_) out_ << "\r\x1b[K";
    out_ << prefix() << line << '\n';
    bar_visible_ = false;
    if (cfg_.mode == progress_mode::bar && drawn_) last_draw_ = -1e300;  // redraw at the next update
    out_ << std::flush;
  }

  /// Ends the bar's line (idempotent).
  void finish() {
    if (bar_visible_) out_ << '\n' << std::flush;
    bar_visible_ = false;
  }

  /// Estimated seconds left after `done` steps at time `now`.
  [[nodiscard]] double eta(std::int64_t done, double now) const {
    const auto did = done - start_;
    if (did <= 0) return std::nan("");
    return (now - t0_) / static_cast<double>(did) * static_cast<double>(std::max<std::int64_t>(total_ - done, 0));
  }

private:
  [[nodiscard]] std::string prefix() const { return cfg_.label.empty() ? std::string() : cfg_.label + ": "; }
  [[nodiscard]] double percent(std::int64_t done) const {
    return total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
  }
  std::string stats(double loss, double tokens_per_s) const {
    char buf[96];
    std::snprintf(buf, sizeof buf, "loss %.4f  %s tok/s", loss, format_rate(tokens_per_s).c_str());
    return buf;
  }
  std::string bar_line(std::int64_t done, double loss, double tps, double now) const {
    const int w = std::max(cfg_.bar_width, 1);
    const int filled = total_ > 0 ? static_cast<int>(std::clamp<double>(double(done) / double(total_), 0, 1) * w) : w;
    std::string s = prefix() + "[" + std::string(filled, '#') + std::string(w - filled, '.') + "]";
    char buf[64];
    std::snprintf(buf, sizeof buf, " %lld/%lld %3.0f%%  ", static_cast<long long>(done),
                  static_cast<long long>(total_), percent(done));
    return s + buf + stats(loss, tps) + "  ETA " + format_duration(eta(done, now));
  }
  std::string plain_line(std::int64_t done, double loss, double tps, double now) const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "step %lld/%lld (%.0f%%)  ", static_cast<long long>(done),
                  static_cast<long long>(total_), percent(done));
    return prefix() + buf + stats(loss, tps) + "  elapsed " + format_duration(now - t0_) + "  ETA " +
           format_duration(eta(done, now));
  }

  std::ostream& out_;
  progress_cfg cfg_;
  std::int64_t start_, total_;
  double t0_ = 0, last_draw_ = 0;
  bool drawn_ = false, bar_visible_ = false;
};

}  // namespace thaw::train
