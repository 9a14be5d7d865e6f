// thaw::error — the one exception type of the library: what went wrong and where.
//
// Every check on user input (shapes, configs, spec strings, files) throws thaw::error with a
// message that names the offending value, plus the source location of the check so a bug
// report pinpoints it. Use thaw::check(cond, parts...) for one-line checks.
#pragma once

#include <cstdint>
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace thaw {

#if defined(__cpp_lib_source_location)
using source_location = std::source_location;
#else
/// Stand-in where the standard library cannot provide std::source_location (libstdc++ 12 with
/// clang 14 lacks the compiler builtin it needs): the same interface, reporting no location.
struct source_location {
  static constexpr source_location current() noexcept { return {}; }
  [[nodiscard]] constexpr std::uint_least32_t line() const noexcept { return 0; }
  [[nodiscard]] constexpr std::uint_least32_t column() const noexcept { return 0; }
  [[nodiscard]] constexpr const char* file_name() const noexcept { return "(unknown)"; }
  [[nodiscard]] constexpr const char* function_name() const noexcept { return "(unknown)"; }
};
#endif

class error : public std::runtime_error {
public:
  explicit error(const std::string& what,
                 thaw::source_location where = thaw::source_location::current())
      : std::runtime_error(what), where_(where) {}

  /// The check that raised the error (file, line, function).
  [[nodiscard]] const thaw::source_location& where() const noexcept { return where_; }

  /// "message (at file:line)" — for logs where the origin matters.
  [[nodiscard]] std::string describe() const {
    std::ostringstream out;
    out << what() << " (at " << where_.file_name() << ':' << where_.line() << ')';
    return out.str();
  }

private:
  thaw::source_location where_;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

/// Builds a message from streamable parts: thaw::message("n_embd ", 10, " % n_head ", 3).
template <class... Parts>
std::string message(const Parts&... parts) {
  return detail::concat(parts...);
}

}  // namespace thaw

/// THAW_CHECK(condition, parts...): throws thaw::error with the streamed parts as its message,
/// located at the check, when the condition is false. The parts are formatted only on failure.
#define THAW_CHECK(condition, ...)                                      \
  do {                                                                  \
    if (!(condition)) throw ::thaw::error(::thaw::message(__VA_ARGS__)); \
  } while (false)
