// thaw::io::plot_png — draw line series to a PNG with Python's matplotlib (Agg backend).
//
// Small and dependency-free on the C++ side: the series go to temporary CSV files, a short
// Python script renders them, and the process is run directly (posix_spawn, no shell, so any
// title or path is safe). Used by thaw-sched for schedules and meant for the trainer's loss
// curves. Needs /usr/bin/python3 with matplotlib (Debian: python3-matplotlib); when either is
// missing, plot_png throws thaw::error saying which and how to install it. POSIX only.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "thaw/core/error.hpp"

extern char** environ;  // NOLINT: POSIX, for posix_spawn

namespace thaw::io {

/// One line of a plot: y against x (equal lengths).
struct series {
  std::string label = {};  // legend entry; "" for none
  std::vector<double> x = {};
  std::vector<double> y = {};
};

struct plot_cfg {
  std::string title = {};
  std::string xlabel = "step";
  std::string ylabel = "value";
  bool log_y = false;
  int width_px = 900;
  int height_px = 500;
  std::string python = "/usr/bin/python3";  // the interpreter that has matplotlib
};

namespace detail {

inline constexpr const char* kPlotScript = R"PY(import sys
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:
    sys.stderr.write("matplotlib is not importable: %s\n" % e)
    sys.exit(3)
png, title, xlabel, ylabel, logy, w, h = sys.argv[1:8]
rest = sys.argv[8:]
def esc(s):
    return s.replace("$", r"\$")
fig, ax = plt.subplots(figsize=(int(w) / 100.0, int(h) / 100.0), dpi=100)
for label, path in zip(rest[0::2], rest[1::2]):
    xs, ys = [], []
    with open(path) as f:
        for line in f:
            a, b = line.split(",")
            xs.append(float(a))
            ys.append(float(b))
    ax.plot(xs, ys, label=esc(label) if label else None, linewidth=1.2)
ax.set_title(esc(title))
ax.set_xlabel(esc(xlabel))
ax.set_ylabel(esc(ylabel))
if logy == "1":
    ax.set_yscale("log")
ax.grid(True, alpha=0.3)
if any(rest[0::2]):
    ax.legend()
fig.tight_layout()
fig.savefig(png)
)PY";

/// A fresh private directory under the system's temporary directory, removed on destruction.
class temp_dir {
public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "thaw-plot-XXXXXX").string();
    THAW_CHECK(::mkdtemp(pattern.data()) != nullptr,
               "plot: cannot create a temporary directory: ", std::strerror(errno));
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // best effort
  }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  THAW_CHECK(f.good(), "plot: cannot write ", p.string());
}

inline std::string last_line(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  return last;
}

/// Runs argv[0] with argv, stdout and stderr to `log`; returns the exit status (or -1).
inline int run_process(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  THAW_CHECK(rc == 0, "plot: cannot start ", args[0], ": ", std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    THAW_CHECK(errno == EINTR, "plot: waiting for ", args[0], " failed: ", std::strerror(errno));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace detail

/// Draws `lines` into the PNG file `png` (overwritten). Throws thaw::error when the series are
/// malformed, when python or matplotlib is missing, or when rendering fails.
inline void plot_png(const std::filesystem::path& png, const std::vector<series>& lines,
                     const plot_cfg& cfg = {}) {
  THAW_CHECK(!lines.empty(), "plot: nothing to draw");
  for (const auto& s : lines) {
    THAW_CHECK(s.x.size() == s.y.size(), "plot: series '", s.label, "' has ", s.x.size(),
               " x values but ", s.y.size(), " y values");
  }
  THAW_CHECK(cfg.width_px >= 100 && cfg.height_px >= 100 && cfg.width_px <= 10000 &&
                 cfg.height_px <= 10000,
             "plot: size must be between 100 and 10000 pixels, got ", cfg.width_px, "x",
             cfg.height_px);
  THAW_CHECK(::access(cfg.python.c_str(), X_OK) == 0, "plot: needs Python at ", cfg.python,
             " (not found or not executable); on Debian: apt-get install python3 "
             "python3-matplotlib");

  detail::temp_dir dir;
  const auto script = dir.path() / "plot.py";
  detail::write_file(script, detail::kPlotScript);

  std::vector<std::string> args = {cfg.python,
                                    script.string(),
                                    std::filesystem::absolute(png).string(),
                                    cfg.title,
                                    cfg.xlabel,
                                    cfg.ylabel,
                                    cfg.log_y ? "1" : "0",
                                    std::to_string(cfg.width_px),
                                    std::to_string(cfg.height_px)};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto csv = dir.path() / ("series" + std::to_string(i) + ".csv");
    std::string text;
    char buf[64];
    for (std::size_t j = 0; j < lines[i].x.size(); ++j) {
      const int n = std::snprintf(buf, sizeof buf, "%.17g,%.17g\n", lines[i].x[j], lines[i].y[j]);
      text.append(buf, static_cast<std::size_t>(n));
    }
    detail::write_file(csv, text);
    args.push_back(lines[i].label);
    args.push_back(csv.string());
  }

  const auto log = dir.path() / "python.log";
  const int status = detail::run_process(args, log);
  THAW_CHECK(status != 3, "plot: ", cfg.python, " cannot import matplotlib; on Debian: apt-get "
             "install python3-matplotlib");
  THAW_CHECK(status == 0, "plot: ", cfg.python, " failed to draw ", png.string(), " (exit ",
             status, "): ", detail::last_line(log));
}

}  // namespace thaw::io
