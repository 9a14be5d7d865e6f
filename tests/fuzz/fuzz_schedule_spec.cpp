// libFuzzer target for thaw::sched::parse (thaw/schedule/spec.hpp).
//
// Properties checked on every input, beyond "no crash, no sanitizer report":
//  - a bad spec throws thaw::error and nothing else, with one line that names a column;
//  - a good spec evaluates without trouble at its boundaries and far past them;
//  - the spec text a parsed schedule keeps parses again to the same values.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "thaw/schedule/spec.hpp"

namespace {
using thaw::sched::kInfinite;
using thaw::sched::step_t;

bool same(double a, double b) { return a == b || (a != a && b != b); }

void check_error(const thaw::error& e) {
  const std::string_view what = e.what();
  if (what.find('\n') != std::string_view::npos) __builtin_trap();    // one line
  if (what.find("column ") == std::string_view::npos) __builtin_trap();  // names the position
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  try {
    const auto s = thaw::sched::parse(spec);
    const step_t n = s.length();
    const step_t probes[] = {0, 1, 2, 7, 1000, n > 0 ? n - 1 : 0, n,
                             n < kInfinite ? n + 1 : n, kInfinite / 2, kInfinite - 1, kInfinite};
    double values[sizeof probes / sizeof probes[0]];
    for (std::size_t i = 0; i < sizeof probes / sizeof probes[0]; ++i) values[i] = s(probes[i]);
    const auto again = thaw::sched::parse(s.spec());
    if (again.length() != n) __builtin_trap();
    for (std::size_t i = 0; i < sizeof probes / sizeof probes[0]; ++i) {
      if (!same(again(probes[i]), values[i])) __builtin_trap();
    }
  } catch (const thaw::error& e) {
    check_error(e);
  }
  return 0;
}
