// thaw::backend::cpu — the fast host backend: float on the CPU, every op multi-threaded with
// OpenMP, the GEMMs from a policy type (gemm_policy::blas: OpenBLAS, gemm_policy::eigen: Eigen).
// Contracts: backend/concept.hpp; tested against backend::reference<double>.
//
// Default policy: automatic, i.e. OpenBLAS whenever it runs kernels tuned for the CPU, else
// Eigen. Measured on this project's machine (docs/benchmarks.md, "GEMM (issue 2)"): with its
// AVX-512 kernels OpenBLAS's sgemm runs the reference GPT's shapes 1.1-1.2x faster than Eigen's
// product; with the generic "Prescott" kernels that Debian's OpenBLAS 0.3.21 falls back to on
// CPUs newer than itself (unless OPENBLAS_CORETYPE is set) it runs 5-6x slower.
//
// Threads: one pool. Every op, the GEMMs included, runs on OpenMP's threads (OMP_NUM_THREADS);
// cpu<blas> keeps OpenBLAS single-threaded (openblas_set_num_threads(1) on its pthread build, a
// process-wide setting) and splits each GEMM over the OpenMP threads itself, because OpenBLAS's
// pool next to OpenMP's spinning threads slowed GEMM-op-GEMM sequences ~1.4x on 2 vCPUs.
//
// Reproducibility: no result depends on the thread count, on where the data sit in memory or on
// how a range is cut, whatever ISA the build targets: fixed-order reductions (cpu/parallel.hpp,
// cpu/math.hpp), element-wise kernels whose tail runs through the same vector code as the body
// (cpu/simd.hpp), GEMMs that compute every element of C in one serial call
// (cpu/gemm_policy.hpp). Tested on 1-7 threads, native and -march=x86-64-v3 (scripts/test.sh).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <string>

#include "thaw/backend/concept.hpp"
#include "thaw/backend/cpu/eigen_core.hpp"
#include "thaw/backend/cpu/gemm_policy.hpp"
#include "thaw/backend/cpu/math.hpp"
#include "thaw/backend/cpu/parallel.hpp"
#include "thaw/backend/cpu/simd.hpp"
#include "thaw/backend/ops.hpp"
#include "thaw/backend/reference.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"

namespace thaw::backend {

template <class GemmPolicy = gemm_policy::automatic>
struct cpu {
  using scalar = float;
  using T = float;
  using policy = GemmPolicy;

  static const char* name() {
    static const std::string full = std::string("cpu<") + GemmPolicy::name + ">";
    return full.c_str();
  }
  static constexpr bool host_accessible = true;

  /// Alignment of every allocation: a cache line, and one AVX-512 vector.
  static constexpr std::size_t kAlignment = 64;

  // ---- memory ----------------------------------------------------------------------------------

  template <class U>
  static U* allocate(std::size_t n) {
    static_assert(alignof(U) <= kAlignment);
    if (n > (std::numeric_limits<std::size_t>::max() - kAlignment) / sizeof(U))
      throw std::bad_alloc();
    // aligned_alloc needs a non-zero multiple of the alignment; allocate(0) returns a valid,
    // freeable pointer.
    const std::size_t bytes =
        std::max(kAlignment, (n * sizeof(U) + kAlignment - 1) / kAlignment * kAlignment);
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<U*>(p);
  }
  template <class U>
  static void deallocate(U* p) noexcept {
    std::free(p);
  }
  template <class U>
  static void copy(U* dst, const U* src, std::size_t n) {
    // Overlapping ranges (which the reference's memmove allows) must be copied in one piece.
    if (n > 0 && dst < src + n && src < dst + n) {
      std::memmove(dst, src, n * sizeof(U));
      return;
    }
    cpu_detail::for_chunks(n, [=](std::size_t begin, std::size_t end) {
      std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(U));
    });
  }
  template <class U>
  static void to_host(U* host_dst, const U* src, std::size_t n) {
    copy(host_dst, src, n);
  }
  template <class U>
  static void from_host(U* dst, const U* host_src, std::size_t n) {
    copy(dst, host_src, n);
  }
  static void fill(T* x, std::size_t n, T value) {
    cpu_detail::for_chunks(
        n, [=](std::size_t begin, std::size_t end) { std::fill(x + begin, x + end, value); });
  }
  static void synchronize() {}

  // ---- random fills: element e is philox::*_at(key, offset + e), as on every backend -----------

  /// A Philox evaluation costs about as much as this many elementwise adds.
  static constexpr std::size_t kPhiloxCost = 32;

  static void fill_uniform(T* x, std::size_t n, philox_key key, std::uint64_t offset, double lo,
                           double hi) {
    cpu_detail::for_chunks(
        n,
        [=](std::size_t begin, std::size_t end) {
          for (std::size_t e = begin; e < end; ++e)
            x[e] = static_cast<T>(philox::uniform_at(key, offset + e, lo, hi));
        },
        kPhiloxCost);
  }
  static void fill_normal(T* x, std::size_t n, philox_key key, std::uint64_t offset, double mean,
                          double stddev) {
    cpu_detail::for_chunks(
        n,
        [=](std::size_t begin, std::size_t end) {
          for (std::size_t e = begin; e < end; ++e)
            x[e] = static_cast<T>(philox::normal_at(key, offset + e, mean, stddev));
        },
        kPhiloxCost);
  }
  static void fill_bernoulli(T* x, std::size_t n, philox_key key, std::uint64_t offset, double p) {
    cpu_detail::for_chunks(
        n,
        [=](std::size_t begin, std::size_t end) {
          for (std::size_t e = begin; e < end; ++e)
            x[e] = philox::bernoulli_at(key, offset + e, p) ? T(1) : T(0);
        },
        kPhiloxCost);
  }

  // ---- GEMM ------------------------------------------------------------------------------------

  static void gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b,
                   int ldb, T beta, T* c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {  // op(A) op(B) is empty: C = beta C (BLAS would reject the leading dimensions)
      for (int r = 0; r < m; ++r) {
        T* row = c + static_cast<std::size_t>(r) * ldc;
        if (beta == T(0))
          std::fill(row, row + n, T(0));
        else
          std::transform(row, row + n, row, [beta](T v) { return beta * v; });
      }
      return;
    }
    GemmPolicy::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  static void gemm_strided_batched(bool ta, bool tb, int m, int n, int k, T alpha, const T* a,
                                   int lda, std::int64_t stride_a, const T* b, int ldb,
                                   std::int64_t stride_b, T beta, T* c, int ldc,
                                   std::int64_t stride_c, int batch) {
    const auto one = [=](int i) {
      gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
           c + i * stride_c, ldc);
    };
    // Many small problems (one layer's attention: 48 of 256x64x256) run faster one whole problem
    // per thread than each split over all threads: 1.16x with OpenBLAS, 1.3-1.7x with Eigen
    // (bench_gemm batched/). That needs the problems to keep the threads busy: at least 7/8 of
    // rounds x threads (3 problems on 2 threads would leave a quarter idle: split those).
    const int threads = cpu_detail::in_parallel() ? 1 : std::min(cpu_detail::max_threads(), batch);
    const int rounds = threads > 0 ? (batch + threads - 1) / threads : 0;
    if (threads > 1 && 8 * batch >= 7 * rounds * threads) {
      GemmPolicy::prepare_concurrent();
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int i = 0; i < batch; ++i) one(i);
    } else {
      for (int i = 0; i < batch; ++i) one(i);
    }
  }

  // ---- fused row ops: one row per task, the row stays in L1 between its passes -----------------

  static void softmax_forward(T* y, const T* x, int rows, int cols, T scale, bool causal) {
    if (cols <= 0) return;
    cpu_detail::for_rows(rows, cols, [=](int r) {
      const T* xr = x + static_cast<std::size_t>(r) * cols;
      T* yr = y + static_cast<std::size_t>(r) * cols;
      const int valid = causal ? std::min(r % cols + 1, cols) : cols;
      const T max = cpu_detail::lane_max(valid, [=](std::size_t c) { return scale * xr[c]; });
      // y may alias x: each exp replaces its own input.
      const T total = cpu_detail::lane_sum<T>(valid, [=](std::size_t c) {
        const T e = cpu_detail::exp_nonpositive(scale * xr[c] - max);
        yr[c] = e;
        return e;
      });
      const T inverse = T(1) / total;
      for (int c = 0; c < valid; ++c) yr[c] *= inverse;
      std::fill(yr + valid, yr + cols, T(0));
    });
  }

  static void softmax_backward(T* dx, const T* y, const T* dy, int rows, int cols, T scale) {
    cpu_detail::for_rows(rows, cols, [=](int r) {
      const std::size_t offset = static_cast<std::size_t>(r) * cols;
      const T* yr = y + offset;
      const T* dyr = dy + offset;
      T* dxr = dx + offset;
      const T dot = cpu_detail::lane_sum<T>(cols, [=](std::size_t c) { return dyr[c] * yr[c]; });
      for (int c = 0; c < cols; ++c) dxr[c] = scale * yr[c] * (dyr[c] - dot);
    });
  }

  static void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias,
                                int rows, int cols, T eps) {
    cpu_detail::for_rows(rows, cols, [=](int r) {
      const T* xr = x + static_cast<std::size_t>(r) * cols;
      T* yr = y + static_cast<std::size_t>(r) * cols;
      // The centred variance, not E[x^2] - E[x]^2, which cancels when |mean| >> std.
      const T mu = cpu_detail::lane_sum<T>(cols, [=](std::size_t c) { return xr[c]; }) /
                   static_cast<T>(cols);
      const T var = cpu_detail::lane_sum<T>(cols,
                                            [=](std::size_t c) {
                                              const T d = xr[c] - mu;
                                              return d * d;
                                            }) /
                    static_cast<T>(cols);
      const T rs = T(1) / std::sqrt(var + eps);
      for (int c = 0; c < cols; ++c) {
        const T xhat = (xr[c] - mu) * rs;
        yr[c] = (weight != nullptr ? xhat * weight[c] : xhat) + (bias != nullptr ? bias[c] : T(0));
      }
      if (mean != nullptr) mean[r] = mu;
      if (rstd != nullptr) rstd[r] = rs;
    });
  }

  static void layernorm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x,
                                 const T* weight, const T* mean, const T* rstd, int rows,
                                 int cols) {
    // Row r's share of each gradient; dweight_row / dbias_row are block partials or null.
    const auto row = [=](int r, T* dweight_row, T* dbias_row) {
      const std::size_t offset = static_cast<std::size_t>(r) * cols;
      const T* dyr = dy + offset;
      const T* xr = x + offset;
      const T mu = mean[r], rs = rstd[r];
      if (dweight_row != nullptr)
        for (int c = 0; c < cols; ++c) dweight_row[c] += dyr[c] * ((xr[c] - mu) * rs);
      if (dbias_row != nullptr)
        for (int c = 0; c < cols; ++c) dbias_row[c] += dyr[c];
      if (dx == nullptr) return;
      // dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy * weight.
      const auto g = [=](std::size_t c) { return weight != nullptr ? dyr[c] * weight[c] : dyr[c]; };
      const T g_mean = cpu_detail::lane_sum<T>(cols, g) / static_cast<T>(cols);
      const T gx_mean =
          cpu_detail::lane_sum<T>(cols, [=](std::size_t c) { return g(c) * ((xr[c] - mu) * rs); }) /
          static_cast<T>(cols);
      T* dxr = dx + offset;
      for (int c = 0; c < cols; ++c) dxr[c] = (g(c) - g_mean - ((xr[c] - mu) * rs) * gx_mean) * rs;
    };
    if (dweight == nullptr && dbias == nullptr) {
      if (dx != nullptr) cpu_detail::for_rows(rows, cols, [&](int r) { row(r, nullptr, nullptr); });
      return;
    }
    cpu_detail::column_sums<2>(rows, cols, {dweight, dbias}, [&](int r0, int r1, T* partial) {
      for (int r = r0; r < r1; ++r)
        row(r, dweight != nullptr ? partial : nullptr, dbias != nullptr ? partial + cols : nullptr);
    });
  }

  static void rmsnorm_forward(T* y, T* rstd, const T* x, const T* weight, int rows, int cols,
                              T eps) {
    cpu_detail::for_rows(rows, cols, [=](int r) {
      const T* xr = x + static_cast<std::size_t>(r) * cols;
      T* yr = y + static_cast<std::size_t>(r) * cols;
      const T ms = cpu_detail::lane_sum<T>(cols, [=](std::size_t c) { return xr[c] * xr[c]; }) /
                   static_cast<T>(cols);
      const T rs = T(1) / std::sqrt(ms + eps);
      for (int c = 0; c < cols; ++c)
        yr[c] = weight != nullptr ? (xr[c] * rs) * weight[c] : xr[c] * rs;
      if (rstd != nullptr) rstd[r] = rs;
    });
  }

  static void rmsnorm_backward(T* dx, T* dweight, const T* dy, const T* x, const T* weight,
                               const T* rstd, int rows, int cols) {
    const auto row = [=](int r, T* dweight_row) {
      const std::size_t offset = static_cast<std::size_t>(r) * cols;
      const T* dyr = dy + offset;
      const T* xr = x + offset;
      const T rs = rstd[r];
      if (dweight_row != nullptr)
        for (int c = 0; c < cols; ++c) dweight_row[c] += dyr[c] * (xr[c] * rs);
      if (dx == nullptr) return;
      // dx = rstd (g - xhat mean(g xhat)) with g = dy * weight.
      const auto g = [=](std::size_t c) { return weight != nullptr ? dyr[c] * weight[c] : dyr[c]; };
      const T gx_mean =
          cpu_detail::lane_sum<T>(cols, [=](std::size_t c) { return g(c) * (xr[c] * rs); }) /
          static_cast<T>(cols);
      T* dxr = dx + offset;
      for (int c = 0; c < cols; ++c) dxr[c] = (g(c) - (xr[c] * rs) * gx_mean) * rs;
    };
    if (dweight == nullptr) {
      if (dx != nullptr) cpu_detail::for_rows(rows, cols, [&](int r) { row(r, nullptr); });
      return;
    }
    cpu_detail::column_sums<1>(rows, cols, {dweight}, [&](int r0, int r1, T* partial) {
      for (int r = r0; r < r1; ++r) row(r, partial);
    });
  }

  // ---- GELU (tanh approximation) ---------------------------------------------------------------

  static constexpr T kSqrt2OverPi = 0.7978845608028654f;
  static constexpr T kGeluCubic = 0.044715f;
  /// A GELU element costs about as much as this many elementwise adds (for the fork decision).
  static constexpr std::size_t kGeluCost = 8;

  static void gelu_forward(T* y, const T* x, std::size_t n) {
    cpu_detail::for_chunks(
        n,
        [=](std::size_t begin, std::size_t end) {
          for (std::size_t e = begin; e < end; ++e) {
            const T v = x[e];
            y[e] = T(0.5) * v *
                   (T(1) + cpu_detail::tanh_approx(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
          }
        },
        kGeluCost);
  }

  static void gelu_backward(T* dx, const T* x, const T* dy, std::size_t n) {
    cpu_detail::for_chunks(
        n,
        [=](std::size_t begin, std::size_t end) {
          for (std::size_t e = begin; e < end; ++e) {
            const T v = x[e];
            const T t = cpu_detail::tanh_approx(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
            const T du = kSqrt2OverPi * (T(1) + T(3) * kGeluCubic * v * v);
            dx[e] = dy[e] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du);
          }
        },
        kGeluCost);
  }

  // ---- cross-entropy ---------------------------------------------------------------------------

  static void cross_entropy_forward(T* losses, const T* logits, const token_t* targets, int rows,
                                    int vocab, token_t ignore_index) {
    check_targets("cross_entropy_forward", targets, rows, vocab, ignore_index);
    cpu_detail::for_rows(rows, vocab, [=](int r) {
      const token_t target = targets[r];
      if (target == ignore_index) {
        losses[r] = T(0);
        return;
      }
      const T* xr = logits + static_cast<std::size_t>(r) * vocab;
      const T max = cpu_detail::lane_max(vocab, [=](std::size_t c) { return xr[c]; });
      const T total = cpu_detail::lane_sum<T>(
          vocab, [=](std::size_t c) { return cpu_detail::exp_nonpositive(xr[c] - max); });
      losses[r] = std::log(total) + (max - xr[target]);
    });
  }

  static void cross_entropy_backward(T* dlogits, const T* logits, const token_t* targets, int rows,
                                     int vocab, token_t ignore_index, T dloss) {
    check_targets("cross_entropy_backward", targets, rows, vocab, ignore_index);
    cpu_detail::for_rows(rows, vocab, [=](int r) {
      const std::size_t offset = static_cast<std::size_t>(r) * vocab;
      T* dr = dlogits + offset;
      const token_t target = targets[r];
      if (target == ignore_index) {
        std::fill(dr, dr + vocab, T(0));
        return;
      }
      // In place when dlogits aliases logits (llm.c's fused classifier): the max is read first,
      // then each exp replaces its own logit.
      const T* xr = logits + offset;
      const T max = cpu_detail::lane_max(vocab, [=](std::size_t c) { return xr[c]; });
      const T total = cpu_detail::lane_sum<T>(vocab, [=](std::size_t c) {
        const T e = cpu_detail::exp_nonpositive(xr[c] - max);
        dr[c] = e;
        return e;
      });
      const T factor = dloss / total;
      for (int c = 0; c < vocab; ++c) dr[c] *= factor;
      dr[target] -= dloss;
    });
  }

  // ---- embedding -------------------------------------------------------------------------------

  static void embedding_forward(T* y, const T* table, const token_t* ids, int n, int dim,
                                int table_rows) {
    for (int i = 0; i < n; ++i)
      THAW_CHECK(ids[i] >= 0 && ids[i] < table_rows, "embedding id ", ids[i], " at position ", i,
                 " is outside the table's ", table_rows, " rows");
    cpu_detail::for_rows(n, dim, [=](int i) {
      std::memcpy(y + static_cast<std::size_t>(i) * dim,
                  table + static_cast<std::size_t>(ids[i]) * dim,
                  static_cast<std::size_t>(dim) * sizeof(T));
    });
  }

  static void embedding_backward(T* dtable, const T* dy, const token_t* ids, int n, int dim) {
    if (n <= 0) return;
    // Threads own column slices, so repeated ids never race and every element sums its rows in
    // order i = 0, 1, ... whatever the thread count.
    cpu_detail::for_chunks(
        static_cast<std::size_t>(dim),
        [=](std::size_t c0, std::size_t c1) {
          for (int i = 0; i < n; ++i) {
            T* dst = dtable + static_cast<std::size_t>(ids[i]) * dim;
            const T* src = dy + static_cast<std::size_t>(i) * dim;
            for (std::size_t c = c0; c < c1; ++c) dst[c] += src[c];
          }
        },
        static_cast<std::size_t>(n));
  }

  // ---- elementwise and reductions --------------------------------------------------------------

  static void add(T* y, const T* a, const T* b, std::size_t n) {
    cpu_detail::for_chunks(n, [=](std::size_t begin, std::size_t end) {
      for (std::size_t e = begin; e < end; ++e) y[e] = a[e] + b[e];
    });
  }
  static void scale(T* x, std::size_t n, T alpha) {
    cpu_detail::for_chunks(n, [=](std::size_t begin, std::size_t end) {
      for (std::size_t e = begin; e < end; ++e) x[e] *= alpha;
    });
  }
  static void axpy(T* y, T alpha, const T* x, std::size_t n) {
    cpu_detail::for_chunks(n, [=](std::size_t begin, std::size_t end) {
      for (std::size_t e = begin; e < end; ++e) y[e] += alpha * x[e];
    });
  }
  static void add_bias(T* y, const T* bias, int rows, int cols) {
    cpu_detail::for_rows(rows, cols, [=](int r) {
      T* yr = y + static_cast<std::size_t>(r) * cols;
      for (int c = 0; c < cols; ++c) yr[c] += bias[c];
    });
  }
  static void sum_rows(T* out, const T* x, int rows, int cols) {
    cpu_detail::column_sums<1>(rows, cols, {out}, [=](int r0, int r1, T* partial) {
      for (int r = r0; r < r1; ++r) {
        const T* xr = x + static_cast<std::size_t>(r) * cols;
        for (int c = 0; c < cols; ++c) partial[c] += xr[c];
      }
    });
  }
  static double sum(const T* x, std::size_t n) {
    return cpu_detail::blocked_sum(x, n, [](double v) { return v; });
  }
  static double sum_squares(const T* x, std::size_t n) {
    return cpu_detail::blocked_sum(x, n, [](double v) { return v * v; });
  }

  // ---- optimizers (torch.optim semantics, float arithmetic as torch's float kernels) -----------

  static void adamw_update(T* params, const T* grads, T* m, T* v,
                           std::span<const index_range> ranges, const adamw_args& args) {
    // Overlapping ranges would have two threads update the same parameters.
    detail::check_ranges(ranges);
    THAW_CHECK(args.step >= 1, "AdamW step counts from 1, got ", args.step);
    const auto step = static_cast<double>(args.step);
    const T decay = static_cast<T>(1.0 - args.lr * args.weight_decay);
    const T beta1 = static_cast<T>(args.beta1), one_minus_beta1 = static_cast<T>(1.0 - args.beta1);
    const T beta2 = static_cast<T>(args.beta2), one_minus_beta2 = static_cast<T>(1.0 - args.beta2);
    const T step_size = static_cast<T>(args.lr / (1.0 - std::pow(args.beta1, step)));
    const T correction2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(args.beta2, step)));
    const T eps = static_cast<T>(args.eps);
    // One pass over p, g, m and v, every element through the same vector instructions whatever
    // its position (cpu/simd.hpp), with a correctly rounded sqrt as torch's.
    cpu_detail::for_ranges(ranges, [=](std::size_t param, std::size_t state, std::size_t count) {
      cpu_detail::simd_for_each(
          count,
          [=](auto& p, const auto& g, auto& ms, auto& vs) {
            ms = beta1 * ms + one_minus_beta1 * g;
            vs = beta2 * vs + one_minus_beta2 * (g * g);
            p = decay * p - step_size * (ms / (cpu_detail::sqrt_exact(vs) / correction2_sqrt + eps));
          },
          params + param, grads + param, m + state, v + state);
    });
  }

  static void sgd_update(T* params, const T* grads, T* momentum,
                         std::span<const index_range> ranges, const sgd_args& args) {
    detail::check_ranges(ranges);
    const T lr = static_cast<T>(args.lr), wd = static_cast<T>(args.weight_decay);
    const T mu = static_cast<T>(args.momentum),
            one_minus_dampening = static_cast<T>(1.0 - args.dampening);
    const bool nesterov = args.nesterov, first = args.first_step;
    cpu_detail::for_ranges(ranges, [=](std::size_t param, std::size_t state, std::size_t count) {
      if (args.momentum == 0.0) {
        cpu_detail::simd_for_each(
            count, [=](auto& p, const auto& g) { p = p - lr * (g + wd * p); }, params + param,
            grads + param);
        return;
      }
      cpu_detail::simd_for_each(
          count,
          [=](auto& p, const auto& g, auto& buf) {
            const auto d = g + wd * p;
            buf = first ? d : mu * buf + one_minus_dampening * d;
            p = p - lr * (nesterov ? d + mu * buf : buf);
          },
          params + param, grads + param, momentum + state);
    });
  }

private:
  static void check_targets(const char* op, const token_t* targets, int rows, int vocab,
                            token_t ignore_index) {
    for (int r = 0; r < rows; ++r)
      THAW_CHECK(targets[r] == ignore_index || (targets[r] >= 0 && targets[r] < vocab), op,
                 ": target ", targets[r], " at row ", r, " is outside the vocabulary [0, ", vocab,
                 ") and is not the ignore index ", ignore_index);
  }

public:
  // ---- image ops (LeNet-scale: the reference loops, parallel over images / planes) -----------

  static void relu_forward(T* y, const T* x, std::size_t n) {
    cpu_detail::for_chunks(n, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    });
  }
  static void relu_backward(T* dx, const T* x, const T* dy, std::size_t n) {
    cpu_detail::for_chunks(n, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    });
  }
  static void im2col(T* col, const T* x, const conv_geometry& g) {
    conv_geometry one = g;
    one.batch = 1;
    const std::size_t col_size = std::size_t(g.patch()) * g.out_height() * g.out_width();
    const std::size_t image = std::size_t(g.channels) * g.height * g.width;
#pragma omp parallel for schedule(static) if (g.batch > 1)
    for (int b = 0; b < g.batch; ++b)
      reference<float>::im2col(col + b * col_size, x + b * image, one);
  }
  static void col2im(T* dx, const T* dcol, const conv_geometry& g) {
    conv_geometry one = g;
    one.batch = 1;
    const std::size_t col_size = std::size_t(g.patch()) * g.out_height() * g.out_width();
    const std::size_t image = std::size_t(g.channels) * g.height * g.width;
#pragma omp parallel for schedule(static) if (g.batch > 1)
    for (int b = 0; b < g.batch; ++b)
      reference<float>::col2im(dx + b * image, dcol + b * col_size, one);
  }
  static void maxpool_forward(T* y, token_t* argmax, const T* x, const pool_geometry& g) {
    pool_geometry one = g;
    one.planes = 1;
    const std::size_t in = std::size_t(g.height) * g.width,
                      out = std::size_t(g.out_height()) * g.out_width();
#pragma omp parallel for schedule(static) if (g.planes > 1)
    for (int p = 0; p < g.planes; ++p)
      reference<float>::maxpool_forward(y + p * out, argmax + p * out, x + p * in, one);
  }
  static void maxpool_backward(T* dx, const token_t* argmax, const T* dy, const pool_geometry& g) {
    pool_geometry one = g;
    one.planes = 1;
    const std::size_t in = std::size_t(g.height) * g.width,
                      out = std::size_t(g.out_height()) * g.out_width();
#pragma omp parallel for schedule(static) if (g.planes > 1)
    for (int p = 0; p < g.planes; ++p)
      reference<float>::maxpool_backward(dx + p * in, argmax + p * out, dy + p * out, one);
  }
};

static_assert(assert_backend<cpu<gemm_policy::blas>>());
static_assert(assert_backend<cpu<gemm_policy::eigen>>());
static_assert(assert_backend<cpu<gemm_policy::automatic>>());

}  // namespace thaw::backend
