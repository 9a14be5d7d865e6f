// Files: read-only memory maps, and atomic writes (temporary file, fsync, rename) so a crash
// or an error never leaves a half-written file where a good one was.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include "thaw/core/error.hpp"

namespace thaw::io {

/// A whole file mapped read-only. Empty files map to an empty span. Move-only.
class mapped_file {
public:
  mapped_file() = default;
  explicit mapped_file(const std::filesystem::path& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    THAW_CHECK(fd >= 0, "cannot open '", path.string(), "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      const int err = errno;
      ::close(fd);
      throw error(message("'", path.string(), "' is not a readable regular file",
                          err ? std::string(": ") + std::strerror(err) : std::string()));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      const int err = errno;
      ::close(fd);
      THAW_CHECK(p != MAP_FAILED, "cannot map '", path.string(), "': ", std::strerror(err));
      data_ = static_cast<const std::byte*>(p);
    } else {
      ::close(fd);
    }
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept
      : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      unmap();
      path_ = std::move(o.path_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~mapped_file() { unmap(); }

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
  void unmap() noexcept {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
  }
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Writes a file atomically: everything goes to `<path>.tmp-<pid>`, which is fsynced and then
/// renamed over `path` (and the directory fsynced), so readers see the old file or the new one,
/// never a mixture. If writing throws, the temporary file is removed and `path` is untouched.
///   atomic_write(path, [&](auto& out) { out.write(bytes); });
class atomic_writer {
public:
  explicit atomic_writer(std::filesystem::path path)
      : path_(std::move(path)),
        tmp_(path_.string() + ".tmp-" + std::to_string(::getpid())) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    THAW_CHECK(fd_ >= 0, "cannot create '", tmp_.string(), "': ", std::strerror(errno));
  }
  atomic_writer(const atomic_writer&) = delete;
  atomic_writer& operator=(const atomic_writer&) = delete;
  ~atomic_writer() {
    if (fd_ >= 0) {  // not committed: abandon the temporary file
      ::close(fd_);
      std::error_code ignored;
      std::filesystem::remove(tmp_, ignored);
    }
  }

  void write(std::span<const std::byte> data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      THAW_CHECK(n > 0, "cannot write '", tmp_.string(), "': ", std::strerror(errno));
      data = data.subspan(static_cast<std::size_t>(n));
    }
  }
  void write(const void* data, std::size_t size) {
    write(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
  }

  /// fsync, rename over the destination, fsync the directory.
  void commit() {
    THAW_CHECK(::fsync(fd_) == 0, "cannot fsync '", tmp_.string(), "': ", std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) {
      std::filesystem::remove(tmp_, ec);
      throw error(message("cannot rename '", tmp_.string(), "' to '", path_.string(), "'"));
    }
    const auto dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

private:
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
};

}  // namespace thaw::io
