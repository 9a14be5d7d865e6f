// Helpers shared by the data tests: a temporary directory removed at scope exit, and an error
// catcher that returns the message of the thaw::error a call throws.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "thaw/core/error.hpp"
#include "thaw/data/corpus.hpp"

namespace thaw::data {

struct test_dir {
  std::filesystem::path path;
  explicit test_dir(std::string_view name) {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("thaw_data_test_" + std::string(name) + "_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  test_dir(const test_dir&) = delete;
  test_dir& operator=(const test_dir&) = delete;
  ~test_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// Writes a file under the directory and returns its path.
  std::filesystem::path write(std::string_view name, std::string_view bytes) const {
    const auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
};

/// The message of the thaw::error that f() throws, or "no error".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const thaw::error& e) {
    return e.what();
  }
  return "no error";
}

/// A small synthetic corpus: n documents of varied length and vocabulary, 3 domains.
inline corpus small_corpus(int n = 60) {
  static const char* kWords[] = {"the", "cat", "sat", "on", "a", "mat", "with", "quantum", "entropy",
                                 "gradient", "descent", "of", "and", "dog", "ran", "far", "away",
                                 "lexical", "diversity", "measures", "vary", "widely", "here"};
  corpus c{"small", {}};
  for (int d = 0; d < n; ++d) {
    std::string text;
    const int words = 5 + (d * 37) % 90;
    const int span = 2 + d % 21;  // documents with few distinct words are "easy"
    for (int w = 0; w < words; ++w) {
      text += kWords[(w * 7 + d) % span];
      text += (w % 9 == 8) ? ". " : " ";
    }
    c.documents.push_back({"doc" + std::to_string(d), "dom" + std::to_string(d % 3), text});
  }
  return c;
}

}  // namespace thaw::data
