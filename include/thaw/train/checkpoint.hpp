// Checkpoint directories: written whole or not at all, verified when read, the last N kept.
//
// A checkpoint of step k is the directory ROOT/step-00000k (8 digits, more when needed) holding
// the files its writer adds (the trainer writes model.safetensors, optimizer.safetensors,
// freeze.safetensors, hooks.safetensors, trainer.json) and, last, manifest.json: the format,
// the step, and every file's size and 64-bit FNV-1a hash.
//
// Writing: everything goes to a fresh ROOT/.tmp-step-00000k-PID directory, each file fsynced
// (io::atomic_writer), the directory fsynced, then renamed to ROOT/step-00000k and ROOT fsynced.
// A crash (kill -9, power loss) at any moment therefore leaves either the complete new
// checkpoint or none, never a half one, and the earlier checkpoints are untouched; leftover
// .tmp-* directories are removed by the next prune. Replacing an existing step-k directory
// moves the old one aside first, so the rename never fails on a non-empty target; pruning
// renames a checkpoint out of the way before deleting it, so no step-* directory is ever
// half-deleted either.
//
// Reading: checkpoint_reader::open(path) takes a checkpoint directory, or a ROOT (it then picks
// the latest step-* directory), and checks the manifest and every file's size and hash before
// anything is loaded; what is missing, corrupt or of another format is a thaw::error naming the
// checkpoint and the file.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/io/files.hpp"

namespace thaw::train {

inline constexpr const char* kCheckpointFormat = "thaw.checkpoint";
inline constexpr int kCheckpointVersion = 1;

/// 64-bit FNV-1a, continuing from `h`.
inline std::uint64_t fnv1a64(std::span<const std::byte> bytes, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (std::byte b : bytes) {
    h ^= std::to_integer<std::uint8_t>(b);
    h *= 0x100000001b3ull;
  }
  return h;
}
inline std::uint64_t fnv1a64(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ull) {
  return fnv1a64(std::as_bytes(std::span<const char>(s.data(), s.size())), h);
}
inline std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// "step-00000120".
inline std::string checkpoint_name(std::int64_t step) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}
/// The step of a "step-NNNNNNNN" name, or nullopt.
inline std::optional<std::int64_t> parse_checkpoint_name(std::string_view name) {
  if (!name.starts_with("step-") || name.size() < 6) return std::nullopt;
  std::int64_t v = 0;
  const auto digits = name.substr(5);
  for (char c : digits)
    if (c < '0' || c > '9') return std::nullopt;
  const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  return v;
}

struct checkpoint_entry {
  std::int64_t step = 0;
  std::filesystem::path dir;
};

/// The step-* directories under `root`, by step (oldest first). Missing root: none.
inline std::vector<checkpoint_entry> list_checkpoints(const std::filesystem::path& root) {
  std::vector<checkpoint_entry> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    if (!e.is_directory(ec)) continue;
    if (auto s = parse_checkpoint_name(e.path().filename().string())) out.push_back({*s, e.path()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

inline std::optional<checkpoint_entry> latest_checkpoint(const std::filesystem::path& root) {
  auto all = list_checkpoints(root);
  if (all.empty()) return std::nullopt;
  return all.back();
}

namespace detail {

inline void fsync_path(const std::filesystem::path& p, bool directory) {
  const int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  THAW_CHECK(in.good(), "cannot read '", p.string(), "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text_atomic(const std::filesystem::path& p, std::string_view text) {
  io::atomic_writer out(p);
  out.write(text.data(), text.size());
  out.commit();
}

}  // namespace detail

/// Removes the .tmp-* directories a crashed writer left under `root`.
inline void remove_stale_temporaries(const std::filesystem::path& root) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) return;
  std::vector<std::filesystem::path> stale;
  for (const auto& e : std::filesystem::directory_iterator(root, ec))
    if (e.path().filename().string().starts_with(".tmp-")) stale.push_back(e.path());
  for (const auto& p : stale) std::filesystem::remove_all(p, ec);
}

/// Keeps the newest `keep_last` checkpoints under `root` (0: keep all) and removes stale
/// temporaries.
inline void prune_checkpoints(const std::filesystem::path& root, std::size_t keep_last) {
  remove_stale_temporaries(root);
  if (keep_last == 0) return;
  auto all = list_checkpoints(root);
  std::error_code ec;
  for (std::size_t i = 0; i + keep_last < all.size(); ++i) {
    // Renamed out of the step-* namespace first: deleting file by file is not atomic, and a
    // crash in the middle must not leave a step-* directory with half its files.
    const auto doomed = root / (".tmp-deleting-" + all[i].dir.filename().string() + "-" + std::to_string(::getpid()));
    std::filesystem::rename(all[i].dir, doomed, ec);
    if (!ec) std::filesystem::remove_all(doomed, ec);
  }
}

/// Writes one checkpoint directory (see the top of this header).
///   checkpoint_writer w(root, step);
///   io::save_parameters(store, w.path("model.safetensors")); w.added("model.safetensors");
///   w.write_json("trainer.json", j);
///   w.commit();
/// Not committed (an exception, a return): the temporary directory is removed.
class checkpoint_writer {
public:
  /// `on_stage` is called after each file and after the rename ("commit"): a test's fault
  /// injection point.
  checkpoint_writer(std::filesystem::path root, std::int64_t step,
                    std::function<void(std::string_view)> on_stage = {})
      : root_(std::move(root)), step_(step), on_stage_(std::move(on_stage)) {
    std::error_code ec;
    std::filesystem::create_directories(root_, ec);
    THAW_CHECK(std::filesystem::is_directory(root_, ec), "cannot create checkpoint directory '", root_.string(), "'");
    tmp_ = root_ / (".tmp-" + checkpoint_name(step_) + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(tmp_, ec);
    THAW_CHECK(std::filesystem::create_directory(tmp_, ec), "cannot create '", tmp_.string(), "': ", ec.message());
  }
  checkpoint_writer(const checkpoint_writer&) = delete;
  checkpoint_writer& operator=(const checkpoint_writer&) = delete;
  ~checkpoint_writer() {
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove_all(tmp_, ec);
    }
  }

  /// Where the file `name` goes (inside the temporary directory).
  [[nodiscard]] std::filesystem::path path(std::string_view name) const { return tmp_ / std::string(name); }

  /// Registers a file written at path(name): it is fsynced and hashed into the manifest.
  void added(std::string_view name) {
    const auto p = path(name);
    io::mapped_file f(p);
    detail::fsync_path(p, false);
    files_[std::string(name)] = {{"bytes", f.bytes().size()}, {"fnv1a64", hex64(fnv1a64(f.bytes()))}};
    if (on_stage_) on_stage_(name);
  }
  /// Writes a JSON file and registers it.
  void write_json(std::string_view name, const nlohmann::ordered_json& j) {
    detail::write_text_atomic(path(name), j.dump(2) + "\n");
    added(name);
  }

  /// Writes the manifest, renames the directory into place; returns ROOT/step-k.
  std::filesystem::path commit() {
    nlohmann::ordered_json m;
    m["format"] = kCheckpointFormat;
    m["version"] = kCheckpointVersion;
    m["step"] = step_;
    m["files"] = files_;
    detail::write_text_atomic(path("manifest.json"), m.dump(2) + "\n");
    detail::fsync_path(tmp_, true);
    if (on_stage_) on_stage_("manifest.json");
    const auto dest = root_ / checkpoint_name(step_);
    std::error_code ec;
    std::filesystem::path aside;
    if (std::filesystem::exists(dest, ec)) {  // a re-run of this step: move the old one aside first
      aside = root_ / (".tmp-replaced-" + checkpoint_name(step_) + "-" + std::to_string(::getpid()));
      std::filesystem::remove_all(aside, ec);
      std::filesystem::rename(dest, aside, ec);
      THAW_CHECK(!ec, "cannot move the old checkpoint '", dest.string(), "' aside: ", ec.message());
    }
    std::filesystem::rename(tmp_, dest, ec);
    THAW_CHECK(!ec, "cannot rename '", tmp_.string(), "' to '", dest.string(), "': ", ec.message());
    committed_ = true;
    detail::fsync_path(root_, true);
    if (!aside.empty()) std::filesystem::remove_all(aside, ec);
    if (on_stage_) on_stage_("commit");
    return dest;
  }

private:
  std::filesystem::path root_, tmp_;
  std::int64_t step_;
  std::function<void(std::string_view)> on_stage_;
  nlohmann::ordered_json files_ = nlohmann::ordered_json::object();
  bool committed_ = false;
};

/// A verified checkpoint directory (see the top of this header).
class checkpoint_reader {
public:
  /// `path`: a checkpoint directory (it has manifest.json) or a directory of them (the latest
  /// is taken). Verifies the manifest and every file it lists.
  static checkpoint_reader open(const std::filesystem::path& path) {
    std::error_code ec;
    THAW_CHECK(std::filesystem::exists(path, ec), "checkpoint '", path.string(), "' does not exist");
    THAW_CHECK(std::filesystem::is_directory(path, ec), "checkpoint '", path.string(), "' is not a directory");
    std::filesystem::path dir = path;
    if (!std::filesystem::exists(path / "manifest.json", ec)) {
      const auto all = list_checkpoints(path);
      if (all.empty()) {
        THAW_CHECK(!parse_checkpoint_name(path.filename().string()), "checkpoint '", path.string(),
                   "' is incomplete: it has no manifest.json");
        throw error(message("no checkpoint in '", path.string(), "' (no manifest.json and no step-* directories)"));
      }
      dir = all.back().dir;
      try {
        return checkpoint_reader(dir);
      } catch (const error& e) {
        if (all.size() < 2) throw;
        throw error(message(e.what(), " (an earlier checkpoint is '", all[all.size() - 2].dir.string(),
                            "'; resume from it explicitly)"));
      }
    }
    return checkpoint_reader(dir);
  }

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  [[nodiscard]] std::int64_t step() const noexcept { return step_; }
  /// Whether the manifest lists `name`.
  [[nodiscard]] bool has(std::string_view name) const { return manifest_["files"].contains(std::string(name)); }
  /// The path of a listed file (an error naming it otherwise).
  [[nodiscard]] std::filesystem::path file(std::string_view name) const {
    THAW_CHECK(has(name), "checkpoint '", dir_.string(), "' has no ", std::string(name));
    return dir_ / std::string(name);
  }
  [[nodiscard]] nlohmann::json read_json(std::string_view name) const {
    const auto p = file(name);
    try {
      return nlohmann::json::parse(detail::read_text(p));
    } catch (const nlohmann::json::exception& e) {
      throw error(message("checkpoint '", dir_.string(), "': ", std::string(name), " is not valid JSON (", e.what(), ")"));
    }
  }

private:
  explicit checkpoint_reader(std::filesystem::path dir) : dir_(std::move(dir)) {
    const auto where = [&] { return message("checkpoint '", dir_.string(), "'"); };
    std::error_code ec;
    THAW_CHECK(std::filesystem::exists(dir_ / "manifest.json", ec), where(), " is incomplete: it has no manifest.json");
    try {
      manifest_ = nlohmann::json::parse(detail::read_text(dir_ / "manifest.json"));
    } catch (const nlohmann::json::exception& e) {
      throw error(message(where(), ": manifest.json is corrupt (", e.what(), ")"));
    }
    THAW_CHECK(manifest_.is_object() && manifest_.value("format", "") == kCheckpointFormat, where(),
               ": manifest.json is not a thaw checkpoint manifest (format should be \"", kCheckpointFormat, "\")");
    THAW_CHECK(manifest_.contains("version") && manifest_["version"].is_number_integer() &&
                   manifest_["version"].get<int>() == kCheckpointVersion,
               where(), ": manifest version ", manifest_.value("version", nlohmann::json()).dump(),
               " is not the version this build reads (", kCheckpointVersion, ")");
    THAW_CHECK(manifest_.contains("step") && manifest_["step"].is_number_integer() && manifest_["step"].get<std::int64_t>() >= 0,
               where(), ": manifest.json has no valid step");
    THAW_CHECK(manifest_.contains("files") && manifest_["files"].is_object(), where(), ": manifest.json lists no files");
    step_ = manifest_["step"].get<std::int64_t>();
    for (const auto& [name, info] : manifest_["files"].items()) {
      const auto p = dir_ / name;
      THAW_CHECK(name.find('/') == std::string::npos && name != ".." && name != ".", where(), ": manifest names a file outside it ('", name, "')");
      THAW_CHECK(std::filesystem::is_regular_file(p, ec), where(), " is missing ", name);
      THAW_CHECK(info.is_object() && info.contains("bytes") && info["bytes"].is_number_unsigned() &&
                     info.contains("fnv1a64") && info["fnv1a64"].is_string(),
                 where(), ": manifest entry for ", name, " is malformed");
      io::mapped_file f(p);
      THAW_CHECK(f.bytes().size() == info["bytes"].get<std::uint64_t>(), where(), ": ", name, " is corrupt (",
                 f.bytes().size(), " bytes, the manifest says ", info["bytes"].get<std::uint64_t>(), ")");
      THAW_CHECK(hex64(fnv1a64(f.bytes())) == info["fnv1a64"].get<std::string>(), where(), ": ", name,
                 " is corrupt (its hash does not match the manifest)");
    }
  }

  std::filesystem::path dir_;
  nlohmann::json manifest_;
  std::int64_t step_ = 0;
};

}  // namespace thaw::train
