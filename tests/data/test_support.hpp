// Helpers shared by the data tests: a temporary directory removed at scope exit, and an error
// catcher that returns the message of the thaw::error a call throws.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "support/error_of.hpp"
#include "support/temp_dir.hpp"
#include "thaw/core/error.hpp"
#include "thaw/data/corpus.hpp"

namespace thaw::data {

/// The shared test directory helper (tests/support/temp_dir.hpp), under the data tests' name.
using test_dir = thaw::test::temp_dir;

using thaw::test::error_of;  // tests/support/error_of.hpp

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
