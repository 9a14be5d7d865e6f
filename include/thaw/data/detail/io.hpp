// File helpers of the data layer: whole-file reads with clear errors, writes that never leave a
// half-written file (temporary file in the same directory, then rename), read-only memory maps,
// and strict number parsing for the text formats.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "thaw/core/error.hpp"

namespace thaw::data::detail {

/// Reads a whole file; `what` names it in messages ("BPE file", "dataset").
inline std::string read_file(const std::filesystem::path& path, std::string_view what) {
  std::error_code ec;
  THAW_CHECK(std::filesystem::exists(path, ec), what, " ", path.string(), " does not exist");
  THAW_CHECK(!std::filesystem::is_directory(path, ec), what, " ", path.string(),
             " is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  THAW_CHECK(in.good(), what, " ", path.string(), " cannot be opened: ", std::strerror(errno));
  std::string out;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  THAW_CHECK(size >= 0, what, " ", path.string(), " cannot be read");
  out.resize(static_cast<std::size_t>(size));
  in.seekg(0);
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  THAW_CHECK(in.good() || in.eof(), what, " ", path.string(), " cannot be read");
  return out;
}

/// Writes `bytes` to `path` atomically: to `path.tmp.<pid>` first, then rename(2). On any
/// failure the temporary is removed and `path` is untouched.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  const auto tmp = std::filesystem::path(path.string() + ".tmp." + std::to_string(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    THAW_CHECK(out.good(), "cannot write ", tmp.string(), ": ", std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out.good()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw thaw::error(thaw::message("cannot write ", tmp.string(), " (disk full?)"));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw thaw::error(thaw::message("cannot rename ", tmp.string(), " to ", path.string(), ": ",
                                    ec.message()));
  }
}

/// Strict decimal unsigned integer: digits only, no sign, no spaces, no overflow.
inline std::uint64_t parse_u64(std::string_view s, std::string_view file, std::string_view what) {
  std::uint64_t v = 0;
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  THAW_CHECK(!s.empty() && ec == std::errc() && p == end, file, ": ", what,
             " must be a non-negative integer, got \"", std::string(s), '"');
  return v;
}

/// A read-only memory map of a whole file (empty files map to an empty span).
class mapped_file {
public:
  mapped_file() = default;
  explicit mapped_file(const std::filesystem::path& path, std::string_view what) : path_(path) {
    std::error_code ec;
    THAW_CHECK(std::filesystem::exists(path, ec), what, " ", path.string(), " does not exist");
    THAW_CHECK(!std::filesystem::is_directory(path, ec), what, " ", path.string(),
               " is a directory, expected a file");
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    THAW_CHECK(fd_ >= 0, what, " ", path.string(), " cannot be opened: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int e = errno;
      ::close(fd_);
      fd_ = -1;
      throw thaw::error(thaw::message(what, " ", path.string(), " cannot be read: ",
                                      std::strerror(e)));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd_);
        fd_ = -1;
        throw thaw::error(thaw::message(what, " ", path.string(), " cannot be mapped: ",
                                        std::strerror(e)));
      }
      data_ = static_cast<const std::byte*>(p);
    }
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept { swap(o); }
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }
  ~mapped_file() { reset(); }

  [[nodiscard]] std::span<const std::byte> bytes() const { return {data_, size_}; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
  void swap(mapped_file& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(fd_, o.fd_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }
  void reset() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    fd_ = -1;
    size_ = 0;
  }
  std::filesystem::path path_;
  int fd_ = -1;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// FNV-1a over bytes, for fingerprints (not security).
inline std::uint64_t fnv1a(std::span<const std::byte> bytes, std::uint64_t h = 1469598103934665603ull) {
  for (const std::byte b : bytes) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}
inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  return fnv1a(std::as_bytes(std::span(s.data(), s.size())), h);
}

}  // namespace thaw::data::detail
