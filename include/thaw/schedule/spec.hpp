// parse(spec): an any_schedule from a spec string, for configuration files and command lines.
//
// Grammar (whitespace allowed between tokens):
//   spec     := sequence
//   sequence := term ('>>' term)*                 b's clock restarts when a ends
//   term     := call | '(' sequence ')' | number  a bare number is constant(number)
//   call     := name '(' arg (',' arg)* ')'
//     constant(v [, n])          linear(a, b, n)          cosine(a, b, n)
//     exp(a, b, n)               step(a, gamma, every [, n])
//     poly(a, b, n, power)       sgdr(a, b, t0 [, tmult])
//     wsd(peak, min, warmup, stable, decay, shape)   shape: linear | cosine | 1-sqrt
//   arg      := ['+' | '-'] (number | 'inf')      lengths (n, every, t0, warmup, ...) are
//                                                 whole numbers >= 0 or inf
//   number   := a C++ floating-point literal (1e-3, .5, 3., 0x1p-3, 1'000.5, 2.5f) or a
//               decimal, hexadecimal (0x1F) or binary (0b101) integer literal; an 'f' suffix
//               rounds to float as the C++ literal would. Octal-looking integers (010) are
//               refused rather than read as C++ would (8).
// A malformed spec throws thaw::error with one line naming the column (from 1) and what was
// expected; invalid parameters name the column of the call and the rule they break.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/schedule/any_schedule.hpp"
#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/constant.hpp"
#include "thaw/schedule/cosine.hpp"
#include "thaw/schedule/exponential.hpp"
#include "thaw/schedule/linear.hpp"
#include "thaw/schedule/poly.hpp"
#include "thaw/schedule/sgdr.hpp"
#include "thaw/schedule/step_decay.hpp"
#include "thaw/schedule/wsd.hpp"

namespace thaw::sched {

namespace detail {

class spec_parser {
public:
  explicit spec_parser(std::string_view src) : src_(src) {}

  any_schedule parse() {
    skip_space();
    if (at_end()) fail(pos_, "empty spec; expected a schedule such as cosine(3e-4, 3e-5, 10000)");
    any_schedule result = parse_sequence();
    skip_space();
    if (!at_end()) fail(pos_, "expected '>>' or the end of the spec, found " + found());
    return result;
  }

private:
  static constexpr int kMaxDepth = 64;
  // Lengths are read from doubles; beyond 2^53 they would not be whole numbers exactly.
  static constexpr double kMaxLength = 9007199254740992.0;

  enum class kind { value, length, shape };
  struct param {
    std::string_view name;
    kind k;
  };
  struct signature {
    std::string_view name;
    std::string_view text;  // e.g. "linear(a, b, n)"
    std::array<param, 6> params;
    std::size_t required, total;
  };
  struct arg {
    double number = 0;
    decay_shape shape = decay_shape::linear;
  };

  static constexpr std::array<signature, 8> kSignatures{{
      {"constant", "constant(v, n)", {{{"v", kind::value}, {"n", kind::length}}}, 1, 2},
      {"linear", "linear(a, b, n)",
       {{{"a", kind::value}, {"b", kind::value}, {"n", kind::length}}}, 3, 3},
      {"cosine", "cosine(a, b, n)",
       {{{"a", kind::value}, {"b", kind::value}, {"n", kind::length}}}, 3, 3},
      {"exp", "exp(a, b, n)", {{{"a", kind::value}, {"b", kind::value}, {"n", kind::length}}},
       3, 3},
      {"step", "step(a, gamma, every, n)",
       {{{"a", kind::value}, {"gamma", kind::value}, {"every", kind::length},
         {"n", kind::length}}},
       3, 4},
      {"poly", "poly(a, b, n, power)",
       {{{"a", kind::value}, {"b", kind::value}, {"n", kind::length}, {"power", kind::value}}},
       4, 4},
      {"sgdr", "sgdr(a, b, t0, tmult)",
       {{{"a", kind::value}, {"b", kind::value}, {"t0", kind::length}, {"tmult", kind::value}}},
       3, 4},
      {"wsd", "wsd(peak, min, warmup, stable, decay, shape)",
       {{{"peak", kind::value}, {"min", kind::value}, {"warmup", kind::length},
         {"stable", kind::length}, {"decay", kind::length}, {"shape", kind::shape}}},
       6, 6},
  }};

  // ---- errors ---------------------------------------------------------------------------------
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw ::thaw::error(::thaw::message("bad schedule spec \"", echo(), "\": column ", at + 1,
                                        ": ", what));
  }

  /// The spec on one line: control characters escaped, long specs shortened.
  std::string echo() const {
    std::string out;
    constexpr std::size_t kMax = 120;
    for (std::size_t i = 0; i < src_.size() && i < kMax; ++i) {
      const auto c = static_cast<unsigned char>(src_[i]);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c >= 0x7f) {
        constexpr char hex[] = "0123456789abcdef";
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    if (src_.size() > kMax) out += "...";
    return out;
  }

  /// What stands at the current position, for "found ..." (a token, shortened).
  std::string found() const {
    if (at_end()) return "the end of the spec";
    std::size_t end = pos_;
    const auto word = [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '\''; };
    if (word(src_[pos_])) {
      while (end < src_.size() && word(src_[end]) && end - pos_ < 16) ++end;
    } else if (src_.compare(pos_, 2, ">>") == 0) {
      end = pos_ + 2;
    } else {
      end = pos_ + 1;
    }
    std::string tok;
    for (std::size_t i = pos_; i < end; ++i) {
      const auto c = static_cast<unsigned char>(src_[i]);
      if (c < 0x20 || c >= 0x7f) {
        constexpr char hex[] = "0123456789abcdef";
        tok += "\\x";
        tok += hex[c >> 4];
        tok += hex[c & 15];
      } else {
        tok += static_cast<char>(c);
      }
    }
    return "'" + tok + "'";
  }

  // ---- characters -----------------------------------------------------------------------------
  static constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static constexpr bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
  static constexpr bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  bool at_end() const { return pos_ >= src_.size(); }
  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }
  void skip_space() {
    while (!at_end() && (src_[pos_] == ' ' || src_[pos_] == '\t' || src_[pos_] == '\n' ||
                         src_[pos_] == '\r'))
      ++pos_;
  }
  bool starts_number() const {
    return is_digit(peek()) || (peek() == '.' && is_digit(peek(1)));
  }

  // ---- grammar --------------------------------------------------------------------------------
  any_schedule parse_sequence() {
    const std::size_t start = pos_;
    std::vector<any_schedule> parts;
    parts.push_back(parse_term());
    std::size_t end = pos_;  // the spec text ends with the last term, not the space after it
    for (;;) {
      skip_space();
      if (src_.compare(pos_, 2, ">>") != 0) break;
      if (parts.back().length() == kInfinite) {
        fail(pos_, "the schedule before '>>' has infinite length, so what follows would never "
                   "run");
      }
      pos_ += 2;
      skip_space();
      parts.push_back(parse_term());
      end = pos_;
    }
    if (parts.size() == 1) return std::move(parts.front());
    const std::string text(src_.substr(start, end - start));
    return any_schedule(any_sequence(std::move(parts)), text);
  }

  any_schedule parse_term() {
    skip_space();
    if (peek() == '(') {
      if (++depth_ > kMaxDepth) fail(pos_, "parentheses nested too deeply");
      ++pos_;
      skip_space();
      any_schedule inner = parse_sequence();
      skip_space();
      if (peek() != ')') fail(pos_, "expected '>>' or ')', found " + found());
      ++pos_;
      --depth_;
      return inner;
    }
    if (starts_number() || peek() == '+' || peek() == '-') {
      const std::size_t at = pos_;
      const double v = parse_signed_number("a bare number (a constant)");
      if (!is_finite(v)) fail(at, "a constant must be finite");
      return any_schedule(constant_schedule(v),
                          std::string(src_.substr(at, pos_ - at)));
    }
    if (is_alpha(peek()) || peek() == '_') return parse_call();
    fail(pos_, "expected a schedule such as linear(0, 1, 100), a number or '(', found " +
                   found());
  }

  any_schedule parse_call() {
    const std::size_t at = pos_;
    std::size_t end = pos_;
    while (end < src_.size() && (is_alnum(src_[end]) || src_[end] == '_')) ++end;
    const std::string_view name = src_.substr(pos_, end - pos_);
    const signature* sig = nullptr;
    for (const auto& s : kSignatures)
      if (s.name == name) sig = &s;
    if (sig == nullptr) fail(at, unknown_name(name));
    pos_ = end;
    skip_space();
    if (peek() != '(') fail(pos_, "expected '(' after '" + std::string(name) + "', found " + found());
    ++pos_;

    std::array<arg, 6> args{};
    std::size_t count = 0;
    for (;;) {
      skip_space();
      if (count > 0) {
        // After an argument: ',' or ')'.
        if (peek() == ')') {
          if (count < sig->required) {
            fail(pos_, "expected ',' and argument '" + std::string(sig->params[count].name) +
                           "' of " + std::string(sig->text) + ", found ')'");
          }
          ++pos_;
          break;
        }
        if (peek() != ',') {
          fail(pos_, count < sig->total
                         ? "expected ',' or ')' after argument '" +
                               std::string(sig->params[count - 1].name) + "' of " +
                               std::string(sig->text) + ", found " + found()
                         : "expected ')' after the last argument of " + std::string(sig->text) +
                               ", found " + found());
        }
        if (count == sig->total) {
          fail(pos_, "expected ')': " + std::string(sig->text) + " takes " +
                         std::to_string(sig->total) + " arguments");
        }
        ++pos_;
        skip_space();
      }
      args[count] = parse_arg(*sig, count);
      ++count;
    }
    const std::string text(src_.substr(at, pos_ - at));
    try {
      return any_schedule(build(*sig, args, count), text);
    } catch (const ::thaw::error& e) {
      fail(at, e.what());
    }
  }

  arg parse_arg(const signature& sig, std::size_t i) {
    const param& p = sig.params[i];
    const std::string what = "argument '" + std::string(p.name) + "' of " + std::string(sig.text);
    arg a;
    const std::size_t at = pos_;
    if (p.k == kind::shape) {
      std::size_t end = pos_;
      while (end < src_.size() && (is_alnum(src_[end]) || src_[end] == '_' || src_[end] == '-'))
        ++end;
      const std::string_view word = src_.substr(pos_, end - pos_);
      if (word == "linear") {
        a.shape = decay_shape::linear;
      } else if (word == "cosine" || word == "cos") {
        a.shape = decay_shape::cosine;
      } else if (word == "1-sqrt" || word == "1_sqrt" || word == "one_minus_sqrt") {
        a.shape = decay_shape::one_minus_sqrt;
      } else {
        fail(at, "expected the decay shape (linear, cosine or 1-sqrt) as " + what +
                     ", found " + found());
      }
      pos_ = end;
      return a;
    }
    a.number = parse_signed_number(what);
    if (p.k == kind::value) {
      if (!is_finite(a.number)) fail(at, what + " must be a finite number");
    } else {
      if (a.number < 0) {
        fail(at, what + " is a number of steps and must be >= 0, got " +
                     std::string(src_.substr(at, pos_ - at)));
      }
      if (a.number != std::numeric_limits<double>::infinity()) {
        if (a.number != floor(a.number)) {
          fail(at, what + " is a number of steps and must be a whole number, got " +
                       std::string(src_.substr(at, pos_ - at)));
        }
        if (a.number > kMaxLength) fail(at, what + " is too large (at most 2^53, or inf)");
      }
    }
    return a;
  }

  static step_t to_length(double v) {
    return v == std::numeric_limits<double>::infinity() ? kInfinite : static_cast<step_t>(v);
  }

  static any_schedule build(const signature& sig, const std::array<arg, 6>& a, std::size_t n) {
    const std::string_view name = sig.name;
    if (name == "constant") return constant_schedule(a[0].number, n > 1 ? to_length(a[1].number) : kInfinite);
    if (name == "linear") return linear_schedule(a[0].number, a[1].number, to_length(a[2].number));
    if (name == "cosine") return cosine_schedule(a[0].number, a[1].number, to_length(a[2].number));
    if (name == "exp") return exponential_schedule(a[0].number, a[1].number, to_length(a[2].number));
    if (name == "step") {
      return step_decay_schedule(a[0].number, a[1].number, to_length(a[2].number),
                                 n > 3 ? to_length(a[3].number) : kInfinite);
    }
    if (name == "poly") {
      return poly_schedule(a[0].number, a[1].number, to_length(a[2].number), a[3].number);
    }
    if (name == "sgdr") {
      return sgdr_schedule(a[0].number, a[1].number, to_length(a[2].number),
                           n > 3 ? a[3].number : 1.0);
    }
    return wsd_schedule(wsd_cfg{.peak = a[0].number,
                                .min = a[1].number,
                                .warmup = to_length(a[2].number),
                                .stable = to_length(a[3].number),
                                .decay = to_length(a[4].number),
                                .shape = a[5].shape});
  }

  std::string unknown_name(std::string_view name) const {
    if (name.empty()) return "expected a schedule name, found " + found();
    std::string msg = "unknown schedule '" + std::string(name) + "'";
    std::string_view best;
    std::size_t best_d = 3;
    for (const auto& s : kSignatures) {
      const std::size_t d = edit_distance(name, s.name);
      if (d < best_d) best_d = d, best = s.name;
    }
    if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
    msg += "; expected one of constant, linear, cosine, exp, step, poly, sgdr, wsd";
    return msg;
  }

  static std::size_t edit_distance(std::string_view a, std::string_view b) {
    if (a.size() > 32) return 99;
    std::array<std::size_t, 33> row{};
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  }

  // ---- numbers --------------------------------------------------------------------------------
  double parse_signed_number(const std::string& what) {
    double sign = 1.0;
    if (peek() == '+' || peek() == '-') {
      if (peek() == '-') sign = -1.0;
      ++pos_;
    }
    if (src_.compare(pos_, 3, "inf") == 0 && !is_alnum(peek(3)) && peek(3) != '_') {
      pos_ += 3;
      return sign * std::numeric_limits<double>::infinity();
    }
    if (!starts_number()) fail(pos_, "expected a number as " + what + ", found " + found());
    return sign * parse_number();
  }

  /// Reads one C++ literal at pos_ (no sign) and returns its value.
  double parse_number() {
    const std::size_t at = pos_;
    std::string digits;  // the literal without separators and prefix, for from_chars
    bool floating = false;
    double value = 0;

    // A digit sequence in `base` with single ' separators between digits.
    const auto digit_seq = [&](auto is_base_digit) {
      std::size_t n = 0;
      while (!at_end()) {
        if (is_base_digit(peek())) {
          digits += peek();
          ++pos_;
          ++n;
        } else if (peek() == '\'' && n > 0 && is_base_digit(peek(1))) {
          ++pos_;  // a digit separator: skipped
        } else {
          break;
        }
      }
      return n;
    };
    const auto dec = [](char c) { return is_digit(c); };
    const auto hex = [](char c) { return is_hex(c); };

    if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      pos_ += 2;
      const std::size_t whole = digit_seq(hex);
      std::size_t frac = 0;
      if (peek() == '.') {
        floating = true;
        digits += '.';
        ++pos_;
        frac = digit_seq(hex);
      }
      if (whole + frac == 0) fail(at, "malformed hexadecimal literal: no digits after 0x");
      if (peek() == 'p' || peek() == 'P') {
        floating = true;
        digits += 'p';
        ++pos_;
        if (peek() == '+' || peek() == '-') digits += src_[pos_++];
        if (digit_seq(dec) == 0) fail(pos_, "expected the digits of the binary exponent");
      } else if (floating) {
        fail(pos_, "a hexadecimal floating literal needs a binary exponent (p...), found " +
                       found());
      }
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), value,
                                     std::chars_format::hex);
      check_conversion(at, r, digits.data() + digits.size());
    } else if (peek() == '0' && (peek(1) == 'b' || peek(1) == 'B')) {
      pos_ += 2;
      if (digit_seq([](char c) { return c == '0' || c == '1'; }) == 0)
        fail(at, "malformed binary literal: no digits after 0b");
      if (digits.size() > 64) fail(at, "binary literal too large");
      std::uint64_t v = 0;
      for (char c : digits) v = v * 2 + static_cast<std::uint64_t>(c - '0');
      value = static_cast<double>(v);
    } else {
      const std::size_t whole = digit_seq(dec);
      std::size_t frac = 0;
      if (peek() == '.') {
        floating = true;
        digits += '.';
        ++pos_;
        frac = digit_seq(dec);
      }
      if (whole + frac == 0) fail(at, "malformed number");
      if (peek() == 'e' || peek() == 'E') {
        floating = true;
        digits += 'e';
        ++pos_;
        if (peek() == '+' || peek() == '-') digits += src_[pos_++];
        if (digit_seq(dec) == 0) fail(pos_, "expected the digits of the exponent, found " + found());
      }
      if (!floating && whole > 1 && digits[0] == '0') {
        const auto first = digits.find_first_not_of('0');
        fail(at, "an integer with a leading 0 is an octal literal in C++ and is not accepted; "
                 "write " + (first == std::string::npos ? std::string("0") : digits.substr(first)) +
                 " for the decimal number");
      }
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), value,
                                     std::chars_format::general);
      check_conversion(at, r, digits.data() + digits.size());
    }

    if (floating && (peek() == 'f' || peek() == 'F')) {
      ++pos_;
      const auto narrow = static_cast<float>(value);
      if (!is_finite(static_cast<double>(narrow))) fail(at, "number out of the range of float");
      value = static_cast<double>(narrow);
    } else if (floating && (peek() == 'l' || peek() == 'L')) {
      ++pos_;  // long double: read as double, the precision thaw computes in
    }
    if (is_alnum(peek()) || peek() == '_' || peek() == '.' || peek() == '\'') {
      fail(pos_, "malformed number: unexpected " + found() + " after " +
                     std::string(src_.substr(at, pos_ - at)));
    }
    return value;
  }

  void check_conversion(std::size_t at, const std::from_chars_result& r, const char* end) const {
    if (r.ec == std::errc::result_out_of_range) fail(at, "number out of the range of double");
    if (r.ec != std::errc{} || r.ptr != end) fail(at, "malformed number");
  }

  std::string_view src_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace detail

/// The schedule a spec string describes; throws thaw::error naming the column on a bad spec.
inline any_schedule parse(std::string_view spec) { return detail::spec_parser(spec).parse(); }

}  // namespace thaw::sched
