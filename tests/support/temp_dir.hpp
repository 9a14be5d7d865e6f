// A fresh directory under the system temporary directory for one test, removed at scope exit,
// with a helper that writes a file into it. Shared by the data and trainer tests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace thaw::test {

struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(std::string_view name) {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("thaw_test_" + std::string(name) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// Writes a file under the directory (creating its parents) and returns its path.
  std::filesystem::path write(std::string_view name, std::string_view bytes) const {
    const auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
};

}  // namespace thaw::test
