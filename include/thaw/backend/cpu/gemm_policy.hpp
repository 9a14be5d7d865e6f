// GEMM policies of the cpu backend: which library multiplies the matrices of cpu<Policy>.
//
// A policy provides, for float and row-major storage with m, n, k > 0:
//   name                       "blas" / "eigen";
//   gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
//                              C = alpha op(A) op(B) + beta C (beta == 0 ignores C), using
//                              every OpenMP thread when called outside a parallel region and
//                              only the calling thread inside one;
//   prepare_concurrent()       called outside any parallel region before gemm is called from
//                              several threads at once.
#pragma once

#include <cblas.h>

#include <cstdio>
#include <string_view>

#include "thaw/backend/cpu/eigen_core.hpp"
#include "thaw/backend/cpu/parallel.hpp"

namespace thaw::gemm_policy {

/// Runs serial_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) on slabs of C, one per
/// OpenMP thread: rows when C is tall, else columns (every slab needs all of the other operand,
/// so cutting the longer side keeps the repeated packing smallest); a single call when the
/// product is small or the caller is already inside a parallel region.
///
/// Reproducibility: each element of C is computed whole by one serial call, with the k-blocking
/// the library derives from k alone, and slab boundaries are multiples of 16 rows or columns, so
/// no element moves into a kernel's edge path when the thread count changes: the bits do not
/// depend on the thread count (tests/backend/test_cpu_backend.cpp checks 1 to 7 threads).
template <class SerialGemm>
void split_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                const float* b, int ldb, float beta, float* c, int ldc, SerialGemm serial_gemm) {
  // OpenBLAS's own threshold for going multi-threaded (SMP_THRESHOLD_MIN * 4).
  const int threads = backend::cpu_detail::threads_for(
      static_cast<std::size_t>(m) * static_cast<std::size_t>(n) * static_cast<std::size_t>(k),
      std::size_t{1} << 18);
  if (threads == 1) {
    serial_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const bool split_rows = m >= n;
#pragma omp parallel num_threads(threads)
  {
    const auto [begin, end] = backend::cpu_detail::part_of(
        static_cast<std::size_t>(split_rows ? m : n), backend::cpu_detail::thread_num(),
        backend::cpu_detail::num_threads());
    const auto count = static_cast<int>(end - begin);
    if (count > 0 && split_rows) {
      serial_gemm(ta, tb, count, n, k, alpha, ta ? a + begin : a + begin * lda, lda, b, ldb, beta,
                  c + begin * ldc, ldc);
    } else if (count > 0) {
      serial_gemm(ta, tb, m, count, k, alpha, a, lda, tb ? b + begin * ldb : b + begin, ldb, beta,
                  c + begin, ldc);
    }
  }
}

/// OpenBLAS's sgemm (Debian's libopenblas, pthread build). OpenBLAS runs single-threaded and
/// thaw splits C over its own OpenMP threads: with OpenBLAS's pthreads and OpenMP's threads
/// taking turns, each pool's idle threads spin while the other computes, and GEMMs alternating
/// with OpenMP ops ran ~1.4x slower on 2 vCPUs (bench_gemm's mlp/ benchmarks).
struct blas {
  static constexpr const char* name = "blas";

  static void prepare_concurrent() {
    warn_if_generic_kernels();
    // 1 = pthread build: its thread pool knows nothing of OpenMP, so keep it to the calling
    // thread. (An OpenMP build already runs serially inside a parallel region, and its
    // openblas_set_num_threads would change OpenMP's own thread count.)
    if (openblas_get_parallel() == 1 && openblas_get_num_threads() != 1)
      openblas_set_num_threads(1);
  }

  /// Says once, on stderr, when OpenBLAS runs its generic x86-64 ("Prescott") kernels on a CPU
  /// with AVX2: a DYNAMIC_ARCH OpenBLAS falls back to them on CPUs newer than itself (0.3.21 on
  /// a 2023 Xeon), 5-6x slower than its AVX-512 kernels, and nothing else would tell.
  static void warn_if_generic_kernels() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    [[maybe_unused]] static const bool checked = [] {
      if (std::string_view(openblas_get_corename()) == "Prescott" && __builtin_cpu_supports("avx2"))
        std::fputs(
            "thaw: OpenBLAS runs its generic Prescott kernels on this AVX2/AVX-512 CPU, ~5x "
            "slower than its tuned ones: set OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell "
            "(AVX2), or use gemm_policy::automatic (cpu<>'s default), which then uses Eigen\n",
            stderr);
      return true;
    }();
#endif
  }

  static void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
    if (!backend::cpu_detail::in_parallel()) prepare_concurrent();
    split_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, sgemm);
  }

private:
  static void sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
};

/// Eigen 3.4's GEMM on row-major maps, run serially on thaw's slabs (split_gemm). Eigen's own
/// OpenMP parallelisation is kept off (Eigen::setNbThreads(1), process-wide like the blas
/// policy's OpenBLAS setting): it chooses its k-blocking from the thread count, so the same
/// product gave other bits on 1 and 2 threads.
struct eigen {
  static constexpr const char* name = "eigen";

  static void prepare_concurrent() {
    if (Eigen::nbThreads() != 1) Eigen::setNbThreads(1);
  }

  static void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
    if (!backend::cpu_detail::in_parallel()) prepare_concurrent();
    split_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, serial);
  }

private:
  static void serial(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                     const float* b, int ldb, float beta, float* c, int ldc) {
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using stride = Eigen::OuterStride<>;
    const Eigen::Map<const matrix, Eigen::Unaligned, stride> stored_a(a, ta ? k : m, ta ? m : k,
                                                                      stride(lda));
    const Eigen::Map<const matrix, Eigen::Unaligned, stride> stored_b(b, tb ? n : k, tb ? k : n,
                                                                      stride(ldb));
    Eigen::Map<matrix, Eigen::Unaligned, stride> out(c, m, n, stride(ldc));
    // alpha * A * B is recognised by Eigen and passed to its kernel as the GEMM's alpha; the
    // assignment with beta == 0 zeroes the destination first, so NaNs in C do not survive.
    const auto product = [&](const auto& op_a, const auto& op_b) {
      if (beta == 0.0f) {
        out.noalias() = alpha * op_a * op_b;
      } else {
        if (beta != 1.0f) out *= beta;
        out.noalias() += alpha * op_a * op_b;
      }
    };
    if (!ta && !tb)
      product(stored_a, stored_b);
    else if (!ta)
      product(stored_a, stored_b.transpose());
    else if (!tb)
      product(stored_a.transpose(), stored_b);
    else
      product(stored_a.transpose(), stored_b.transpose());
  }
};

/// The default: OpenBLAS where it runs kernels tuned for this CPU, Eigen where it would fall back
/// to its generic x86-64 ("Prescott") kernels. A DYNAMIC_ARCH OpenBLAS does that on CPUs newer
/// than itself: Debian 12's 0.3.21 on the Emerald Rapids Xeons this project's machines may be
/// (measured there: 5-6x slower than Eigen's AVX-512 product), while on Zen 4 it picks its AVX-512
/// kernels and beats Eigen (../shared/BENCHMARKING.md). The choice is made once per process.
struct automatic {
  static constexpr const char* name = "auto";

  /// True when OpenBLAS runs tuned kernels here (or OPENBLAS_CORETYPE chose them).
  static bool blas_is_tuned() {
    static const bool tuned = [] {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
      return !(std::string_view(openblas_get_corename()) == "Prescott" &&
               __builtin_cpu_supports("avx2"));
#else
      return true;
#endif
    }();
    return tuned;
  }
  static void prepare_concurrent() {
    if (blas_is_tuned()) blas::prepare_concurrent();
  }
  static void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
    if (blas_is_tuned())
      blas::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
      eigen::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
};

}  // namespace thaw::gemm_policy
