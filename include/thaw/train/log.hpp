// Training logs: JSON Lines (one JSON object per line, `pandas.read_json(path, lines=True)`
// reads it) and a CSV summary derived from it (one row per evaluation).
//
// Records the trainer writes (every record has "event" and "step"):
//   {"event":"start",  "step":0, "params":..., "trainable":..., ...}
//   {"event":"step",   "step":12, "loss":3.21, "lr":1e-3, "weight_decay":0.1, "grad_norm":0.8,
//    "trainable":842496, "tokens":12288, "tokens_per_s":5123.4, "gflops":7.1, "time":2.4, ...}
//   {"event":"eval",   "step":25, "val/english":2.31, "val/code":3.95, "time":...}
//   {"event":"freeze", "step":40, "param":"h.0.attn.c_attn.weight", "frozen":true}
//   {"event":"nonfinite", "step":7, "what":"loss", "value":"nan", "group":"h.1.mlp.c_fc.weight", ...}
//   {"event":"checkpoint", "step":100, "path":"..."}
//   {"event":"resume", "step":100, "from":"..."}   {"event":"end", "step":600, "time":...}
// "step" counts training steps done: a step record with step k describes the k-th step, an
// eval record with step k evaluates the weights after k steps (k = 0: before training).
// Doubles are written in the shortest form that reads back to the same double, so losses read
// from a log compare bit for bit; a non-finite value is written as null (JSON has no NaN).
//
// The log is append-only and every line is flushed to the kernel as it is written, so a killed
// run keeps every line it wrote. A checkpoint records the log's length; resuming cuts the log
// back to it (`jsonl_log::open(path, keep_bytes)`), so the resumed log continues exactly where
// the checkpointed run was and holds no duplicate steps.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/io/files.hpp"

namespace thaw::train {

using json = nlohmann::ordered_json;

/// A JSON Lines file opened for appending. Default-constructed: disabled (writes nothing).
class jsonl_log {
public:
  jsonl_log() = default;

  /// Opens (creating) `path` for appending. With `keep_bytes`, the file is first cut to that
  /// many bytes (a checkpoint's record of the log); it is an error if it is shorter, because
  /// then it is not the log of the checkpointed run.
  static jsonl_log open(const std::filesystem::path& path, std::optional<std::uint64_t> keep_bytes = std::nullopt) {
    jsonl_log log;
    log.path_ = path;
    if (path.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(path.parent_path(), ec);
    }
    log.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    THAW_CHECK(log.fd_ >= 0, "cannot open log '", path.string(), "': ", std::strerror(errno));
    struct stat st {};
    THAW_CHECK(::fstat(log.fd_, &st) == 0, "cannot stat log '", path.string(), "': ", std::strerror(errno));
    std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    if (keep_bytes) {
      THAW_CHECK(size >= *keep_bytes, "log '", path.string(), "' has ", size, " bytes but the checkpoint recorded ",
                 *keep_bytes, ": it is not the log of the checkpointed run (move it away to start a new log)");
      THAW_CHECK(::ftruncate(log.fd_, static_cast<off_t>(*keep_bytes)) == 0, "cannot truncate log '", path.string(),
                 "': ", std::strerror(errno));
      size = *keep_bytes;
    }
    THAW_CHECK(::lseek(log.fd_, static_cast<off_t>(size), SEEK_SET) >= 0, "cannot seek in log '", path.string(), "'");
    log.bytes_ = size;
    return log;
  }

  jsonl_log(const jsonl_log&) = delete;
  jsonl_log& operator=(const jsonl_log&) = delete;
  jsonl_log(jsonl_log&& o) noexcept
      : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), bytes_(std::exchange(o.bytes_, 0)) {}
  jsonl_log& operator=(jsonl_log&& o) noexcept {
    if (this != &o) {
      close();
      path_ = std::move(o.path_);
      fd_ = std::exchange(o.fd_, -1);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~jsonl_log() { close(); }

  /// Appends one record as one line (one write call).
  void write(const json& record) {
    if (fd_ < 0) return;
    std::string line = record.dump(-1, ' ', false, json::error_handler_t::replace);
    line += '\n';
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      THAW_CHECK(n > 0, "cannot write log '", path_.string(), "': ", std::strerror(errno));
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    bytes_ += line.size();
  }
  /// Forces the lines written so far to disk (done before a checkpoint records bytes()).
  void sync() {
    if (fd_ >= 0) ::fsync(fd_);
  }
  [[nodiscard]] bool enabled() const noexcept { return fd_ >= 0; }
  /// The file's length: what a checkpoint records.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t bytes_ = 0;
};

/// A number for a log: finite doubles as they are, non-finite ones as null.
inline json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

/// Reads every record of a JSON Lines file. A line that is not a JSON object is an error naming
/// the file and the line; a last line without its newline (a run killed while writing it) is
/// ignored.
inline std::vector<json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  THAW_CHECK(in.good(), "cannot open log '", path.string(), "'");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<json> out;
  std::size_t at = 0, line_no = 0;
  while (at < text.size()) {
    const auto nl = text.find('\n', at);
    if (nl == std::string::npos) break;  // torn last line
    ++line_no;
    const std::string_view line(text.data() + at, nl - at);
    at = nl + 1;
    if (line.empty()) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      throw error(message("log '", path.string(), "', line ", line_no, ": not JSON (", e.what(), ")"));
    }
    THAW_CHECK(j.is_object(), "log '", path.string(), "', line ", line_no, ": not a JSON object");
    out.push_back(std::move(j));
  }
  return out;
}

namespace detail {

inline std::string csv_cell(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) {
    std::string s = v.get<std::string>(), q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  }
  return v.dump();
}

}  // namespace detail

/// The CSV summary of a run: one row per evaluation, with the training loss averaged over the
/// steps since the previous evaluation, the last step's learning rate, tokens and time, and one
/// column per validation set ("val/NAME"). Empty cells where a value is missing.
inline std::string csv_summary(const std::vector<json>& records) {
  std::vector<std::string> sets;
  for (const auto& r : records)
    if (r.value("event", "") == "eval")
      for (const auto& [k, v] : r.items())
        if (k.starts_with("val/") && std::find(sets.begin(), sets.end(), k) == sets.end()) sets.push_back(k);
  std::string out = "step,train_loss,lr,tokens,time";
  for (const auto& s : sets) {
    out += ',';
    out += s;
  }
  out += '\n';
  double loss_sum = 0;
  std::size_t loss_n = 0;
  json last_step;
  for (const auto& r : records) {
    const auto ev = r.value("event", "");
    if (ev == "step") {
      if (r.contains("loss") && r["loss"].is_number() && !r.value("skipped", false)) {
        loss_sum += r["loss"].get<double>();
        ++loss_n;
      }
      last_step = r;
    } else if (ev == "eval") {
      out += detail::csv_cell(r.value("step", json(nullptr))) + ",";
      out += loss_n ? detail::csv_cell(json(loss_sum / static_cast<double>(loss_n))) : std::string();
      out += ",";
      out += last_step.is_object() ? detail::csv_cell(last_step.value("lr", json(nullptr))) : std::string();
      out += ",";
      out += last_step.is_object() ? detail::csv_cell(last_step.value("tokens", json(nullptr))) : std::string("0");
      out += ',';  // (appending ',' then the cell avoids GCC 12's -Wrestrict false positive on "," + s)
      out += detail::csv_cell(r.value("time", json(nullptr)));
      for (const auto& s : sets) {
        out += ',';
        out += detail::csv_cell(r.value(s, json(nullptr)));
      }
      out += '\n';
      loss_sum = 0;
      loss_n = 0;
    }
  }
  return out;
}

/// Writes csv_summary(read_jsonl(jsonl)) to `csv` atomically.
inline void write_csv_summary(const std::filesystem::path& jsonl, const std::filesystem::path& csv) {
  const auto text = csv_summary(read_jsonl(jsonl));
  io::atomic_writer out(csv);
  out.write(text.data(), text.size());
  out.commit();
}

}  // namespace thaw::train
