// <Eigen/Core> for the cpu backend, without GCC 12's false -Wmaybe-uninitialized warnings from
// its AVX-512 intrinsics (_mm512_undefined_ps, GCC bug 105593) in every program that includes
// thaw. The warnings are attributed to the intrinsics headers, so the suppression holds wherever
// those headers are first included here.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <Eigen/Core>
#pragma GCC diagnostic pop
#else
#include <Eigen/Core>
#endif
