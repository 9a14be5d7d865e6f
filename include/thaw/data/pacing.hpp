// Pacing functions for curricula: the share c(t) in (0, 1] of the difficulty-sorted pool that is
// available after t samples (t counts this sampler's own draws). All reach 1 at t = T.
//
//   linear(T, c0)         c = c0 + (1 - c0) t/T
//   root(T, c0, p)        c = c0 + (1 - c0) (t/T)^(1/p)                   (p = 2: square root)
//   exponential(T, c0, s) c = c0 + (1 - c0) (e^(s t/T) - 1) / (e^s - 1)   (slow start, s = 10)
//   step(T, c0, k)        c = c0 + (1 - c0) floor(k t/T) / k              (k equal steps)
//   geometric(T, c0)      c = c0 (1/c0)^(t/T)                             (doubles at a fixed rate)
//   competence(T, c0, p)  c = ((1 - c0^p) t/T + c0^p)^(1/p)               (Platanios et al.)
// each then clamped to at most 1.
//
// linear / root / exponential / step follow the pacing family of Wu, Dyer and Neyshabur, "When
// Do Curricula Work?" (ICLR 2021); geometric is the continuous form of the "fixed exponential
// pacing" of Hacohen and Weinshall, "On the Power of Curriculum Learning in Training Deep
// Networks" (ICML 2019); competence is c_sqrt (p = 2) / c_linear (p = 1) of Platanios et al.,
// "Competence-based Curriculum Learning for Neural Machine Translation" (NAACL 2019), where a
// sample of difficulty CDF d is allowed when d <= c(t), i.e. the first c(t) share of the pool
// sorted by difficulty.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>

#include "thaw/core/error.hpp"

namespace thaw::data {

namespace detail {
inline void check_pace(const char* name, double T, double c0) {
  THAW_CHECK(T >= 1 && std::isfinite(T), name, " pacing: T must be >= 1, got ", T);
  THAW_CHECK(c0 > 0 && c0 <= 1, name, " pacing: c0 must be in (0, 1], got ", c0);
}
inline double frac(std::uint64_t t, double T) { return std::min(1.0, static_cast<double>(t) / T); }
}  // namespace detail

struct linear_pace {
  double T, c0;
  linear_pace(double t, double c) : T(t), c0(c) { detail::check_pace("linear", T, c0); }
  double operator()(std::uint64_t t) const { return std::min(1.0, c0 + (1 - c0) * detail::frac(t, T)); }
};

struct root_pace {
  double T, c0, p;
  root_pace(double t, double c, double power = 2) : T(t), c0(c), p(power) {
    detail::check_pace("root", T, c0);
    THAW_CHECK(p > 0 && std::isfinite(p), "root pacing: p must be > 0, got ", p);
  }
  double operator()(std::uint64_t t) const {
    return std::min(1.0, c0 + (1 - c0) * std::pow(detail::frac(t, T), 1.0 / p));
  }
};

struct exponential_pace {
  double T, c0, s;
  exponential_pace(double t, double c, double sharpness = 10) : T(t), c0(c), s(sharpness) {
    detail::check_pace("exponential", T, c0);
    THAW_CHECK(s > 0 && s <= 700, "exponential pacing: s must be in (0, 700], got ", s);
  }
  double operator()(std::uint64_t t) const {
    return std::min(1.0, c0 + (1 - c0) * std::expm1(s * detail::frac(t, T)) / std::expm1(s));
  }
};

struct step_pace {
  double T, c0;
  std::uint64_t k;
  step_pace(double t, double c, std::uint64_t steps) : T(t), c0(c), k(steps) {
    detail::check_pace("step", T, c0);
    THAW_CHECK(k >= 1 && k <= (1u << 20), "step pacing: the number of steps k must be >= 1, got ", k);
  }
  double operator()(std::uint64_t t) const {
    const double kk = static_cast<double>(k);
    return std::min(1.0, c0 + (1 - c0) * std::floor(kk * detail::frac(t, T)) / kk);
  }
};

struct geometric_pace {
  double T, c0;
  geometric_pace(double t, double c) : T(t), c0(c) { detail::check_pace("geometric", T, c0); }
  double operator()(std::uint64_t t) const {
    return std::min(1.0, c0 * std::pow(1.0 / c0, detail::frac(t, T)));
  }
};

struct competence_pace {
  double T, c0, p;
  competence_pace(double t, double c, double power = 2) : T(t), c0(c), p(power) {
    detail::check_pace("competence", T, c0);
    THAW_CHECK(p > 0 && std::isfinite(p), "competence pacing: p must be > 0, got ", p);
  }
  double operator()(std::uint64_t t) const {
    const double c0p = std::pow(c0, p);
    return std::min(1.0, std::pow(detail::frac(t, T) * (1 - c0p) + c0p, 1.0 / p));
  }
};

/// Any pacing function chosen at run time.
using any_pace = std::function<double(std::uint64_t)>;

namespace pace {
inline linear_pace linear(double T, double c0 = 0.1) { return {T, c0}; }
inline root_pace root(double T, double c0 = 0.1, double p = 2) { return {T, c0, p}; }
inline exponential_pace exponential(double T, double c0 = 0.1, double s = 10) { return {T, c0, s}; }
inline step_pace step(double T, double c0 = 0.1, std::uint64_t k = 4) { return {T, c0, k}; }
inline geometric_pace geometric(double T, double c0 = 0.1) { return {T, c0}; }
inline competence_pace competence(double T, double c0 = 0.1, double p = 2) { return {T, c0, p}; }
}  // namespace pace

}  // namespace thaw::data
