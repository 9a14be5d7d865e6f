// error_of(f): the message of the thaw::error that f() throws, or "no error" — for tests that
// check what an error says. Shared by the data and trainer tests.
#pragma once

#include <string>

#include "thaw/core/error.hpp"

namespace thaw::test {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const thaw::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace thaw::test
