// Constexpr-capable elementary functions for schedules: cos, sqrt, exp, log, log1p, pow, floor.
//
// At run time each forwards to <cmath>, so a schedule's value is bit-for-bit what the same
// formula gives in C or in Python's math module (both call the platform libm); that is what
// keeps thaw's values within rounding of PyTorch's schedulers. In a constant expression
// (static_assert, constexpr variables) GCC folds the <cmath> builtins itself (correctly rounded,
// via MPFR); other compilers use the short series below, accurate to a few ulp on the arguments
// schedules use. The series are plain constexpr functions, so tests also run them at run time
// against <cmath>.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace thaw::sched::detail {

inline constexpr double kPi = 3.14159265358979323846264338327950288;
inline constexpr double kLn2 = 0.69314718055994530941723212145817657;

constexpr bool is_nan(double x) { return x != x; }
constexpr bool is_finite(double x) { return x == x && x - x == 0.0; }
constexpr double abs(double x) { return x < 0 ? -x : x; }

/// The series versions, usable in any constant expression on any compiler.
namespace series {

constexpr double floor(double x) {
  // Doubles at or beyond 2^52 in magnitude are integers already (and NaN/inf pass through).
  if (!(abs(x) < 4503599627370496.0)) return x;
  auto t = static_cast<double>(static_cast<std::int64_t>(x));
  return t > x ? t - 1.0 : t;
}

/// x * 2^e without <cmath> (exact unless it overflows or underflows).
constexpr double ldexp(double x, int e) {
  while (e > 0) {
    const int k = e > 60 ? 60 : e;
    x *= static_cast<double>(std::uint64_t{1} << k);
    e -= k;
  }
  while (e < 0) {
    const int k = e < -60 ? 60 : -e;
    x /= static_cast<double>(std::uint64_t{1} << k);
    e += k;
  }
  return x;
}

constexpr double sqrt(double x) {
  if (is_nan(x) || x < 0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0 || !is_finite(x)) return x;
  // Scale into [0.25, 4) by powers of 4 (exact), Newton there, scale back.
  double scale = 1.0;
  while (x >= 4.0) { x *= 0.25; scale *= 2.0; }
  while (x < 0.25) { x *= 4.0; scale *= 0.5; }
  double r = 0.5 * (x + 1.0);
  for (int i = 0; i < 8; ++i) r = 0.5 * (r + x / r);
  return r * scale;
}

constexpr double exp(double x) {
  if (is_nan(x)) return x;
  if (x > 709.8) return std::numeric_limits<double>::infinity();
  if (x < -745.2) return 0.0;
  // x = k ln2 + r with |r| <= ln2 / 2, Cody-Waite split of ln2 keeps r accurate.
  const double k = floor(x / kLn2 + 0.5);
  constexpr double ln2_hi = 6.93147180369123816490e-01;
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  const double r = (x - k * ln2_hi) - k * ln2_lo;
  double term = 1.0, sum = 1.0;
  for (int i = 1; i < 24; ++i) {
    term *= r / i;
    sum += term;
  }
  return ldexp(sum, static_cast<int>(k));
}

/// log(1 + z) for |z| small, via 2 atanh(z / (2 + z)).
constexpr double log1p_small(double z) {
  const double u = z / (2.0 + z);
  const double u2 = u * u;
  double term = u, sum = 0.0;
  for (int i = 1; i < 60; i += 2) {
    sum += term / i;
    term *= u2;
  }
  return 2.0 * sum;
}

constexpr double log(double x) {
  if (is_nan(x) || x < 0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0) return -std::numeric_limits<double>::infinity();
  if (!is_finite(x)) return x;
  // x = m 2^e with m in [sqrt(1/2), sqrt(2)).
  int e = 0;
  while (x >= 1.4142135623730951) { x *= 0.5; ++e; }
  while (x < 0.7071067811865476) { x *= 2.0; --e; }
  return log1p_small(x - 1.0) + e * kLn2;
}

constexpr double log1p(double x) {
  if (abs(x) < 0.25) return log1p_small(x);
  return log(1.0 + x);
}

constexpr double pow(double x, double y) {
  if (y == 0) return 1.0;
  if (is_nan(x) || is_nan(y)) return std::numeric_limits<double>::quiet_NaN();
  const bool integral = floor(y) == y && abs(y) < 9007199254740992.0;
  if (integral) {
    // Exponentiation by squaring, then the reciprocal for negative powers.
    auto n = static_cast<std::uint64_t>(abs(y));
    double base = x, result = 1.0;
    while (n != 0) {
      if (n & 1) result *= base;
      base *= base;
      n >>= 1;
    }
    return y < 0 ? 1.0 / result : result;
  }
  if (x < 0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0) return y > 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return exp(y * log(x));
}

/// cos with a quadrant reduction (Cody-Waite split of pi/2) and Taylor series on |r| <= pi/4.
constexpr double cos(double x) {
  if (!is_finite(x)) return std::numeric_limits<double>::quiet_NaN();
  constexpr double pio2_1 = 1.57079632673412561417e+00;   // first 33 bits of pi/2
  constexpr double pio2_2 = 6.07710050630396597660e-11;   // next 33 bits
  constexpr double pio2_3 = 2.02226624871116645580e-21;   // the rest
  const double k = floor(x * (2.0 / kPi) + 0.5);
  const double r = ((x - k * pio2_1) - k * pio2_2) - k * pio2_3;
  const double r2 = r * r;
  // cos r and sin r by Taylor series; |r| <= pi/4 needs ~11 terms for full precision.
  double c = 0.0, s = 0.0, tc = 1.0, ts = r;
  for (int i = 0; i < 12; ++i) {
    c += tc;
    s += ts;
    tc *= -r2 / ((2 * i + 1) * (2 * i + 2));
    ts *= -r2 / ((2 * i + 2) * (2 * i + 3));
  }
  // Quadrant k mod 4 (k may be negative or huge: take it modulo 4 in floating point).
  const double q = k - 4.0 * floor(k / 4.0);
  if (q == 0) return c;
  if (q == 1) return -s;
  if (q == 2) return -c;
  return s;
}

}  // namespace series

// GCC evaluates the <cmath> builtins in constant expressions (an extension, correctly rounded);
// clang does not, so there the series run at compile time.
#if defined(__GNUC__) && !defined(__clang__)
#define THAW_SCHED_CONSTEXPR_CMATH 1
#else
#define THAW_SCHED_CONSTEXPR_CMATH 0
#endif

#if THAW_SCHED_CONSTEXPR_CMATH
#define THAW_SCHED_MATH(fn, ...)                                        \
  if (std::is_constant_evaluated()) return __builtin_##fn(__VA_ARGS__); \
  return std::fn(__VA_ARGS__)
#else
#define THAW_SCHED_MATH(fn, ...)                                        \
  if (std::is_constant_evaluated()) return series::fn(__VA_ARGS__);     \
  return std::fn(__VA_ARGS__)
#endif

constexpr double floor(double x) { THAW_SCHED_MATH(floor, x); }
constexpr double sqrt(double x) { THAW_SCHED_MATH(sqrt, x); }
constexpr double exp(double x) { THAW_SCHED_MATH(exp, x); }
constexpr double log(double x) { THAW_SCHED_MATH(log, x); }
constexpr double log1p(double x) { THAW_SCHED_MATH(log1p, x); }
constexpr double pow(double x, double y) { THAW_SCHED_MATH(pow, x, y); }
constexpr double cos(double x) { THAW_SCHED_MATH(cos, x); }

#undef THAW_SCHED_MATH

}  // namespace thaw::sched::detail
