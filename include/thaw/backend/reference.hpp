// thaw::backend::reference<T> — the executable specification of the Backend concept.
//
// Plain loops, no threads, no intrinsics, templated on the scalar so tests can run in double.
// Every other backend is tested against reference<double>; every module's backward is
// checked against finite differences on it. Speed is not a goal here; obviousness is.
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

#include "thaw/backend/concept.hpp"
#include "thaw/backend/ops.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"

namespace thaw::backend {

namespace detail {
/// 64-byte aligned host allocation; allocate(0) returns a valid, freeable pointer.
template <class U>
U* aligned_host_allocate(std::size_t n) {
  constexpr std::size_t kAlign = 64;
  std::size_t bytes = std::max<std::size_t>(n * sizeof(U), 1);
  THAW_CHECK(n <= std::numeric_limits<std::size_t>::max() / sizeof(U),
             "allocation of ", n, " elements overflows");
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<U*>(p);
}

/// Optimizer index ranges must be sorted, disjoint and well formed; says which one is not.
inline void check_ranges(std::span<const index_range> ranges) {
  std::size_t previous_end = 0;
  for (std::size_t r = 0; r < ranges.size(); ++r) {
    THAW_CHECK(ranges[r].begin <= ranges[r].end, "index range ", r, " [", ranges[r].begin, ", ",
               ranges[r].end, ") has begin > end");
    THAW_CHECK(r == 0 || ranges[r].begin >= previous_end, "index range ", r,
               " overlaps or precedes the previous one (ranges must be sorted and disjoint)");
    previous_end = ranges[r].end;
  }
}
}  // namespace detail

template <class T = double>
struct reference {
  using scalar = T;
  static const char* name() { return "reference"; }
  static constexpr bool host_accessible = true;

  // ---- memory ---------------------------------------------------------------------------------
  template <class U>
  static U* allocate(std::size_t n) { return detail::aligned_host_allocate<U>(n); }
  template <class U>
  static void deallocate(U* p) noexcept { std::free(p); }
  template <class U>
  static void copy(U* dst, const U* src, std::size_t n) {
    if (n) std::memmove(dst, src, n * sizeof(U));
  }
  template <class U>
  static void to_host(U* host_dst, const U* src, std::size_t n) { copy(host_dst, src, n); }
  template <class U>
  static void from_host(U* dst, const U* host_src, std::size_t n) { copy(dst, host_src, n); }
  static void fill(T* x, std::size_t n, T value) { std::fill(x, x + n, value); }
  static void synchronize() {}

  // ---- random fills (element e uses Philox counter offset + e) --------------------------------
  static void fill_uniform(T* x, std::size_t n, philox_key key, std::uint64_t offset, double lo,
                           double hi) {
    for (std::size_t e = 0; e < n; ++e) x[e] = static_cast<T>(philox::uniform_at(key, offset + e, lo, hi));
  }
  static void fill_normal(T* x, std::size_t n, philox_key key, std::uint64_t offset, double mean,
                          double stddev) {
    for (std::size_t e = 0; e < n; ++e) x[e] = static_cast<T>(philox::normal_at(key, offset + e, mean, stddev));
  }
  static void fill_bernoulli(T* x, std::size_t n, philox_key key, std::uint64_t offset, double p) {
    for (std::size_t e = 0; e < n; ++e) x[e] = philox::bernoulli_at(key, offset + e, p) ? T(1) : T(0);
  }

  // ---- GEMM (row-major) -----------------------------------------------------------------------
  static void gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b,
                   int ldb, T beta, T* c, int ldc) {
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        T acc = 0;
        for (int p = 0; p < k; ++p) {
          const T av = ta ? a[std::size_t(p) * lda + i] : a[std::size_t(i) * lda + p];
          const T bv = tb ? b[std::size_t(j) * ldb + p] : b[std::size_t(p) * ldb + j];
          acc += av * bv;
        }
        T& out = c[std::size_t(i) * ldc + j];
        out = beta == T(0) ? alpha * acc : alpha * acc + beta * out;
      }
  }
  static void gemm_strided_batched(bool ta, bool tb, int m, int n, int k, T alpha, const T* a,
                                   int lda, std::int64_t stride_a, const T* b, int ldb,
                                   std::int64_t stride_b, T beta, T* c, int ldc,
                                   std::int64_t stride_c, int batch) {
    for (int i = 0; i < batch; ++i)
      gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
           c + i * stride_c, ldc);
  }

  // ---- softmax --------------------------------------------------------------------------------
  static void softmax_forward(T* y, const T* x, int rows, int cols, T scale, bool causal) {
    for (int r = 0; r < rows; ++r) {
      const T* xr = x + std::size_t(r) * cols;
      T* yr = y + std::size_t(r) * cols;
      const int valid = causal ? (r % cols) + 1 : cols;
      T max = -std::numeric_limits<T>::infinity();
      for (int c = 0; c < valid; ++c) max = std::max(max, scale * xr[c]);
      T total = 0;
      for (int c = 0; c < valid; ++c) {
        yr[c] = std::exp(scale * xr[c] - max);
        total += yr[c];
      }
      for (int c = 0; c < valid; ++c) yr[c] /= total;
      for (int c = valid; c < cols; ++c) yr[c] = 0;
    }
  }
  static void softmax_backward(T* dx, const T* y, const T* dy, int rows, int cols, T scale) {
    for (int r = 0; r < rows; ++r) {
      const std::size_t o = std::size_t(r) * cols;
      T dot = 0;
      for (int c = 0; c < cols; ++c) dot += dy[o + c] * y[o + c];
      for (int c = 0; c < cols; ++c) dx[o + c] = scale * y[o + c] * (dy[o + c] - dot);
    }
  }

  // ---- normalisation --------------------------------------------------------------------------
  static void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight,
                                const T* bias, int rows, int cols, T eps) {
    for (int r = 0; r < rows; ++r) {
      const T* xr = x + std::size_t(r) * cols;
      T mu = 0;
      for (int c = 0; c < cols; ++c) mu += xr[c];
      mu /= cols;
      T var = 0;
      for (int c = 0; c < cols; ++c) var += (xr[c] - mu) * (xr[c] - mu);
      var /= cols;
      const T s = T(1) / std::sqrt(var + eps);
      for (int c = 0; c < cols; ++c) {
        const T w = weight ? weight[c] : T(1);
        const T b = bias ? bias[c] : T(0);
        y[std::size_t(r) * cols + c] = (xr[c] - mu) * s * w + b;
      }
      mean[r] = mu;
      rstd[r] = s;
    }
  }
  static void layernorm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x,
                                 const T* weight, const T* mean, const T* rstd, int rows,
                                 int cols) {
    for (int r = 0; r < rows; ++r) {
      const std::size_t o = std::size_t(r) * cols;
      // xhat = (x - mean) * rstd; dxhat = dy * w;
      // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
      T mean_dxhat = 0, mean_dxhat_xhat = 0;
      for (int c = 0; c < cols; ++c) {
        const T xhat = (x[o + c] - mean[r]) * rstd[r];
        const T dxhat = dy[o + c] * (weight ? weight[c] : T(1));
        mean_dxhat += dxhat;
        mean_dxhat_xhat += dxhat * xhat;
        if (dweight) dweight[c] += dy[o + c] * xhat;
        if (dbias) dbias[c] += dy[o + c];
      }
      mean_dxhat /= cols;
      mean_dxhat_xhat /= cols;
      if (!dx) continue;
      for (int c = 0; c < cols; ++c) {
        const T xhat = (x[o + c] - mean[r]) * rstd[r];
        const T dxhat = dy[o + c] * (weight ? weight[c] : T(1));
        dx[o + c] = rstd[r] * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat);
      }
    }
  }
  static void rmsnorm_forward(T* y, T* rstd, const T* x, const T* weight, int rows, int cols,
                              T eps) {
    for (int r = 0; r < rows; ++r) {
      const T* xr = x + std::size_t(r) * cols;
      T ms = 0;
      for (int c = 0; c < cols; ++c) ms += xr[c] * xr[c];
      const T s = T(1) / std::sqrt(ms / cols + eps);
      for (int c = 0; c < cols; ++c)
        y[std::size_t(r) * cols + c] = xr[c] * s * (weight ? weight[c] : T(1));
      rstd[r] = s;
    }
  }
  static void rmsnorm_backward(T* dx, T* dweight, const T* dy, const T* x, const T* weight,
                               const T* rstd, int rows, int cols) {
    for (int r = 0; r < rows; ++r) {
      const std::size_t o = std::size_t(r) * cols;
      // xhat = x * rstd; dx = rstd * (dxhat - xhat * mean(dxhat * xhat)).
      T mean_dxhat_xhat = 0;
      for (int c = 0; c < cols; ++c) {
        const T xhat = x[o + c] * rstd[r];
        mean_dxhat_xhat += dy[o + c] * (weight ? weight[c] : T(1)) * xhat;
        if (dweight) dweight[c] += dy[o + c] * xhat;
      }
      mean_dxhat_xhat /= cols;
      if (!dx) continue;
      for (int c = 0; c < cols; ++c) {
        const T xhat = x[o + c] * rstd[r];
        dx[o + c] = rstd[r] * (dy[o + c] * (weight ? weight[c] : T(1)) - xhat * mean_dxhat_xhat);
      }
    }
  }

  // ---- GELU (tanh approximation, as GPT-2) ----------------------------------------------------
  static constexpr T kGeluScale = T(0.7978845608028654);  // sqrt(2 / pi)
  static constexpr T kGeluCubic = T(0.044715);
  static void gelu_forward(T* y, const T* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const T v = x[i];
      y[i] = T(0.5) * v * (T(1) + std::tanh(kGeluScale * (v + kGeluCubic * v * v * v)));
    }
  }
  static void gelu_backward(T* dx, const T* x, const T* dy, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const T v = x[i];
      const T u = kGeluScale * (v + kGeluCubic * v * v * v);
      const T t = std::tanh(u);
      const T du = kGeluScale * (T(1) + T(3) * kGeluCubic * v * v);
      dx[i] = dy[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du);
    }
  }

  // ---- cross-entropy over logits --------------------------------------------------------------
  static void check_target(token_t t, int row, int vocab, token_t ignore_index) {
    THAW_CHECK(t == ignore_index || (t >= 0 && t < vocab), "cross-entropy target ", t, " at row ",
               row, " is outside the vocabulary [0, ", vocab, ") and is not the ignore index ",
               ignore_index);
  }
  static void cross_entropy_forward(T* losses, const T* logits, const token_t* targets, int rows,
                                    int vocab, token_t ignore_index) {
    for (int r = 0; r < rows; ++r) {
      check_target(targets[r], r, vocab, ignore_index);
      if (targets[r] == ignore_index) {
        losses[r] = 0;
        continue;
      }
      const T* lr = logits + std::size_t(r) * vocab;
      const T max = *std::max_element(lr, lr + vocab);
      T total = 0;
      for (int c = 0; c < vocab; ++c) total += std::exp(lr[c] - max);
      losses[r] = std::log(total) + max - lr[targets[r]];
    }
  }
  static void cross_entropy_backward(T* dlogits, const T* logits, const token_t* targets, int rows,
                                     int vocab, token_t ignore_index, T dloss) {
    for (int r = 0; r < rows; ++r) {
      check_target(targets[r], r, vocab, ignore_index);
      const std::size_t o = std::size_t(r) * vocab;
      if (targets[r] == ignore_index) {
        std::fill(dlogits + o, dlogits + o + vocab, T(0));
        continue;
      }
      const T max = *std::max_element(logits + o, logits + o + vocab);
      T total = 0;
      for (int c = 0; c < vocab; ++c) total += std::exp(logits[o + c] - max);
      for (int c = 0; c < vocab; ++c) {
        const T p = std::exp(logits[o + c] - max) / total;
        dlogits[o + c] = dloss * (p - (c == targets[r] ? T(1) : T(0)));
      }
    }
  }

  // ---- embeddings -----------------------------------------------------------------------------
  static void embedding_forward(T* y, const T* table, const token_t* ids, int n, int dim,
                                int table_rows) {
    for (int i = 0; i < n; ++i) {
      THAW_CHECK(ids[i] >= 0 && ids[i] < table_rows, "embedding id ", ids[i], " at position ", i,
                 " is outside the table's ", table_rows, " rows");
      std::copy_n(table + std::size_t(ids[i]) * dim, dim, y + std::size_t(i) * dim);
    }
  }
  static void embedding_backward(T* dtable, const T* dy, const token_t* ids, int n, int dim) {
    for (int i = 0; i < n; ++i)
      for (int d = 0; d < dim; ++d) dtable[std::size_t(ids[i]) * dim + d] += dy[std::size_t(i) * dim + d];
  }

  // ---- elementwise ----------------------------------------------------------------------------
  static void add(T* y, const T* a, const T* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
  }
  static void scale(T* x, std::size_t n, T alpha) {
    for (std::size_t i = 0; i < n; ++i) x[i] *= alpha;
  }
  static void axpy(T* y, T alpha, const T* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
  }
  static void add_bias(T* y, const T* bias, int rows, int cols) {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) y[std::size_t(r) * cols + c] += bias[c];
  }
  static void sum_rows(T* out, const T* x, int rows, int cols) {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) out[c] += x[std::size_t(r) * cols + c];
  }

  // ---- reductions -----------------------------------------------------------------------------
  static double sum(const T* x, std::size_t n) {
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) total += static_cast<double>(x[i]);
    return total;
  }
  static double sum_squares(const T* x, std::size_t n) {
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    return total;
  }

  // ---- convolution helpers (NCHW) -------------------------------------------------------------
  static void relu_forward(T* y, const T* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
  }
  static void relu_backward(T* dx, const T* x, const T* dy, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
  }
  static void im2col(T* col, const T* x, const conv_geometry& g) {
    const int oh = g.out_height(), ow = g.out_width();
    for (int b = 0; b < g.batch; ++b)
      for (int c = 0; c < g.channels; ++c)
        for (int ki = 0; ki < g.kernel; ++ki)
          for (int kj = 0; kj < g.kernel; ++kj) {
            const std::size_t row = (std::size_t(c) * g.kernel + ki) * g.kernel + kj;
            T* out = col + (std::size_t(b) * g.patch() + row) * oh * ow;
            for (int i = 0; i < oh; ++i)
              for (int j = 0; j < ow; ++j) {
                const int y = i * g.stride - g.pad + ki, xx = j * g.stride - g.pad + kj;
                const bool inside = y >= 0 && y < g.height && xx >= 0 && xx < g.width;
                out[i * ow + j] =
                    inside ? x[((std::size_t(b) * g.channels + c) * g.height + y) * g.width + xx] : T(0);
              }
          }
  }
  static void col2im(T* dx, const T* dcol, const conv_geometry& g) {
    const int oh = g.out_height(), ow = g.out_width();
    std::fill(dx, dx + std::size_t(g.batch) * g.channels * g.height * g.width, T(0));
    for (int b = 0; b < g.batch; ++b)
      for (int c = 0; c < g.channels; ++c)
        for (int ki = 0; ki < g.kernel; ++ki)
          for (int kj = 0; kj < g.kernel; ++kj) {
            const std::size_t row = (std::size_t(c) * g.kernel + ki) * g.kernel + kj;
            const T* in = dcol + (std::size_t(b) * g.patch() + row) * oh * ow;
            for (int i = 0; i < oh; ++i)
              for (int j = 0; j < ow; ++j) {
                const int y = i * g.stride - g.pad + ki, xx = j * g.stride - g.pad + kj;
                if (y >= 0 && y < g.height && xx >= 0 && xx < g.width)
                  dx[((std::size_t(b) * g.channels + c) * g.height + y) * g.width + xx] += in[i * ow + j];
              }
          }
  }
  static void maxpool_forward(T* y, token_t* argmax, const T* x, const pool_geometry& g) {
    const int oh = g.out_height(), ow = g.out_width();
    for (int p = 0; p < g.planes; ++p)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          int best = (i * g.stride) * g.width + j * g.stride;
          for (int ki = 0; ki < g.kernel; ++ki)
            for (int kj = 0; kj < g.kernel; ++kj) {
              const int at = (i * g.stride + ki) * g.width + j * g.stride + kj;
              if (x[std::size_t(p) * g.height * g.width + at] > x[std::size_t(p) * g.height * g.width + best]) best = at;
            }
          y[(std::size_t(p) * oh + i) * ow + j] = x[std::size_t(p) * g.height * g.width + best];
          argmax[(std::size_t(p) * oh + i) * ow + j] = best;
        }
  }
  static void maxpool_backward(T* dx, const token_t* argmax, const T* dy, const pool_geometry& g) {
    const std::size_t plane_out = std::size_t(g.out_height()) * g.out_width();
    std::fill(dx, dx + std::size_t(g.planes) * g.height * g.width, T(0));
    for (int p = 0; p < g.planes; ++p)
      for (std::size_t o = 0; o < plane_out; ++o)
        dx[std::size_t(p) * g.height * g.width + argmax[p * plane_out + o]] += dy[p * plane_out + o];
  }

  // ---- optimizers over compacted index ranges -------------------------------------------------
  static void adamw_update(T* params, const T* grads, T* m, T* v, std::span<const index_range> ranges,
                           const adamw_args& args) {
    detail::check_ranges(ranges);
    THAW_CHECK(args.step >= 1, "AdamW step counts from 1, got ", args.step);
    const double bias1 = 1.0 - std::pow(args.beta1, static_cast<double>(args.step));
    const double bias2 = 1.0 - std::pow(args.beta2, static_cast<double>(args.step));
    std::size_t s = 0;  // position in the compacted state
    for (const index_range& range : ranges)
      for (std::size_t e = range.begin; e < range.end; ++e, ++s) {
        const double g = grads[e];
        double p = params[e];
        p -= args.lr * args.weight_decay * p;
        const double mv = args.beta1 * m[s] + (1 - args.beta1) * g;
        const double vv = args.beta2 * v[s] + (1 - args.beta2) * g * g;
        m[s] = static_cast<T>(mv);
        v[s] = static_cast<T>(vv);
        p -= args.lr * (mv / bias1) / (std::sqrt(vv / bias2) + args.eps);
        params[e] = static_cast<T>(p);
      }
  }
  static void sgd_update(T* params, const T* grads, T* momentum, std::span<const index_range> ranges,
                         const sgd_args& args) {
    detail::check_ranges(ranges);
    std::size_t s = 0;
    for (const index_range& range : ranges)
      for (std::size_t e = range.begin; e < range.end; ++e, ++s) {
        double g = grads[e] + args.weight_decay * params[e];
        if (args.momentum != 0) {
          const double buf = args.first_step ? g : args.momentum * momentum[s] + (1 - args.dampening) * g;
          momentum[s] = static_cast<T>(buf);
          g = args.nesterov ? g + args.momentum * buf : buf;
        }
        params[e] = static_cast<T>(params[e] - args.lr * g);
      }
  }
};

static_assert(assert_backend<reference<double>>());
static_assert(assert_backend<reference<float>>());

}  // namespace thaw::backend
