// thaw::sched::cli::run — the thaw-sched command line: print (and plot) a schedule spec.
//
//   thaw-sched "SPEC" [--steps N] [--plot out.png]
// prints "s,value" for s = 0 .. N-1 (values with %.17g), one per line, no header; N defaults to
// the schedule's length when it is finite. --plot also draws the curve (thaw/io/plot.hpp).
// Errors are one line on `err` and a non-zero return: 2 for bad usage or a bad spec, 1 when the
// output or the plot fails. Kept out of main() so tests can call it.
#pragma once

#include <charconv>
#include <cstdio>
#include <exception>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/io/plot.hpp"
#include "thaw/schedule/any_schedule.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/spec.hpp"

namespace thaw::sched::cli {

inline constexpr std::string_view kUsage =
    R"USAGE(usage: thaw-sched SPEC [--steps N] [--plot FILE.png]

Prints the schedule SPEC as "step,value" lines for step = 0 .. N-1 (%.17g).

  --steps N        how many steps to print (default: the schedule's length, if finite)
  --plot FILE.png  also draw the schedule with matplotlib (needs python3-matplotlib)
  -h, --help       this help

SPEC forms (n may be inf; numbers are C++ literals such as 3e-4, .5, 0x1p-3):
  constant(v, n)   linear(a, b, n)   cosine(a, b, n)   exp(a, b, n)
  step(a, gamma, every, n)   poly(a, b, n, power)   sgdr(a, b, t0, tmult)
  wsd(peak, min, warmup, stable, decay, linear|cosine|1-sqrt)
  A >> B           A, then B with its clock restarted at 0

example: thaw-sched "linear(0, 3e-4, 500) >> cosine(3e-4, 3e-5, 9500)" --plot lr.png
)USAGE";

/// Most points handed to the plot; longer runs are drawn from every k-th step (and the last).
inline constexpr step_t kMaxPlotPoints = 200'000;

namespace detail {
inline std::optional<step_t> parse_steps(std::string_view text) {
  step_t n = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), n);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || n < 0) return std::nullopt;
  return n;
}
}  // namespace detail

/// Runs thaw-sched with argv[1..argc); output on `out`, errors on `err`. Returns the exit code.
inline int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  const auto usage_error = [&](const std::string& what) {
    err << "thaw-sched: " << what << " (see thaw-sched --help)\n";
    return 2;
  };
  std::optional<std::string> spec, plot;
  std::optional<step_t> steps;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value_of = [&](std::string_view name) -> std::optional<std::string_view> {
      // --name VALUE or --name=VALUE
      if (a == name) {
        if (i + 1 >= argc) return std::nullopt;
        return std::string_view(argv[++i]);
      }
      return a.substr(name.size() + 1);
    };
    if (!options_done && (a == "-h" || a == "--help")) {
      out << kUsage;
      return 0;
    }
    if (!options_done && a == "--") {
      options_done = true;
    } else if (!options_done && (a == "--steps" || a.starts_with("--steps="))) {
      const auto v = value_of("--steps");
      if (!v) return usage_error("--steps needs a number of steps");
      steps = detail::parse_steps(*v);
      if (!steps) return usage_error("--steps needs a whole number >= 0, got '" + std::string(*v) + "'");
    } else if (!options_done && (a == "--plot" || a.starts_with("--plot="))) {
      const auto v = value_of("--plot");
      if (!v || v->empty()) return usage_error("--plot needs an output file name");
      plot = std::string(*v);
    } else if (!options_done && a.starts_with("--")) {
      return usage_error("unknown option '" + std::string(a) + "'");
    } else {
      if (spec) return usage_error("one SPEC expected, got a second one: '" + std::string(a) + "'");
      spec = std::string(a);
    }
  }
  if (!spec) return usage_error("missing SPEC");

  std::optional<any_schedule> sched;
  try {
    sched = parse(*spec);
  } catch (const thaw::error& e) {
    err << "thaw-sched: " << e.what() << '\n';
    return 2;
  }
  if (!steps) {
    if (sched->length() == kInfinite) {
      return usage_error("the schedule never ends; say how many steps to print with --steps N");
    }
    steps = sched->length();
  }

  const step_t n = *steps;
  const step_t stride = n > kMaxPlotPoints ? (n + kMaxPlotPoints - 1) / kMaxPlotPoints : 1;
  io::series line{.label = "", .x = {}, .y = {}};
  std::string buf;
  buf.reserve(1 << 16);
  char row[64];
  for (step_t s = 0; s < n; ++s) {
    const double v = (*sched)(s);
    const int len = std::snprintf(row, sizeof row, "%lld,%.17g\n", static_cast<long long>(s), v);
    buf.append(row, static_cast<std::size_t>(len));
    if (buf.size() > (1 << 16) - 64) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
    if (plot && (s % stride == 0 || s == n - 1)) {
      line.x.push_back(static_cast<double>(s));
      line.y.push_back(v);
    }
  }
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  out.flush();
  if (!out) {
    err << "thaw-sched: writing the output failed\n";
    return 1;
  }

  if (plot) {
    if (n == 0) return usage_error("--plot needs at least one step");
    try {
      io::plot_png(*plot, {line}, {.title = *spec});
    } catch (const thaw::error& e) {
      err << "thaw-sched: " << e.what() << '\n';
      return 1;
    }
  }
  return 0;
}

}  // namespace thaw::sched::cli
