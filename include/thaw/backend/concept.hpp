// The Backend concept: the complete set of operations the model layer may call.
//
// A backend is a type with only static member functions (no per-object state), chosen as a
// template argument: nn::linear<backend::cpu<>>, nn::linear<backend::cuda<>>. All pointers an op
// receives live in the backend's own memory (host memory for `reference` and `cpu`, device
// memory for `cuda`), except the optimizer's index ranges, which are host spans. Matrices are
// row-major. Every op's exact contract is written next to its requirement below; the
// `reference` backend (backend/reference.hpp) is the executable version of these contracts and
// every other backend is tested against it.
//
// Conventions shared by all ops:
//  - parameter gradients (dweight, dbias, dtable, sum_rows' out) ACCUMULATE (+=) so that
//    gradient accumulation over micro-batches is free; input gradients (dx) are OVERWRITTEN;
//  - a null gradient pointer means "not wanted": the op skips that work (freezing saves compute);
//  - sizes are `int` for matrix extents (BLAS convention) and `std::size_t` for element counts.
//
// `thaw::backend_for<B>` is the concept to constrain templates with. When it fails, call
// `thaw::assert_backend<B>()` (the library's class templates do) for a message that names the
// first missing operation.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "thaw/backend/ops.hpp"
#include "thaw/core/philox.hpp"

namespace thaw {

/*
The contracts, op by op:

allocate<U>(n) -> U*; deallocate(p); copy(dst, src, n) within the backend;
to_host(host_dst, src, n); from_host(dst, host_src, n); fill(x, n, value); synchronize().
Element e of each fill is philox::{uniform,normal,bernoulli}_at(key, offset + e, ...)
rounded to the scalar; bernoulli writes 1 or 0.
gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
  C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C, row-major; lda is the row
  stride of A as stored (A is m x k, or k x m when ta). beta == 0 ignores C's old contents.
gemm_strided_batched(..., stride_a, ..., stride_b, ..., stride_c, batch): the same for
  `batch` independent problems at element strides stride_a / stride_b / stride_c.
softmax_forward(y, x, rows, cols, scale, causal): y[r, :] = softmax(scale * x[r, :]);
  when causal, only columns c <= r % cols take part and the others get y = 0 (row r of an
  attention matrix (B*H*T, T) is query position r % T). y may alias x.
softmax_backward(dx, y, dy, rows, cols, scale): dx = scale * y * (dy - sum(dy * y)) per row.
  dx may alias dy.
layernorm_forward(y, mean, rstd, x, weight, bias, rows, cols, eps):
  mean[r], rstd[r] = 1/sqrt(var[r] + eps) (biased variance) saved for backward;
  y = (x - mean) * rstd * weight + bias; weight or bias null means 1 or 0.
layernorm_backward(dx, dweight, dbias, dy, x, weight, mean, rstd, rows, cols):
  dx overwritten, dweight / dbias accumulated; each may be null (not computed).
rmsnorm_forward(y, rstd, x, weight, rows, cols, eps): rstd = 1/sqrt(mean(x^2) + eps);
  y = x * rstd * weight ("Root Mean Square Layer Normalization", Zhang & Sennrich 2019).
rmsnorm_backward(dx, dweight, dy, x, weight, rstd, rows, cols): as layernorm's.
gelu_forward(y, x, n): tanh approximation, y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
gelu_backward(dx, x, dy, n): dx = dy * gelu'(x); dx may alias dy.
cross_entropy_forward(losses, logits, targets, rows, vocab, ignore_index):
  losses[r] = logsumexp(logits[r, :]) - logits[r, targets[r]], 0 where targets[r] ==
  ignore_index. Targets must be in [0, vocab) or equal ignore_index (host backends throw).
cross_entropy_backward(dlogits, logits, targets, rows, vocab, ignore_index, dloss):
  dlogits[r, :] = dloss * (softmax(logits[r, :]) - onehot(targets[r])), zero for ignored
  rows. dlogits may alias logits (computed in place, as llm.c's fused classifier).
embedding_forward(y, table, ids, n, dim, table_rows): y[i, :] = table[ids[i], :].
  ids must be in [0, table_rows) (host backends throw).
embedding_backward(dtable, dy, ids, n, dim): dtable[ids[i], :] += dy[i, :] (scatter-add;
  repeated ids accumulate).
add(y, a, b, n): y = a + b.  scale(x, n, alpha): x *= alpha.  axpy(y, alpha, x, n): y += alpha x.
add_bias(y, bias, rows, cols): y[r, :] += bias.  sum_rows(out, x, rows, cols): out[c] +=
sum_r x[r, c] (a bias gradient).  All may alias where the formula allows.
sum(x, n), sum_squares(x, n): reductions returned to the host as double (accumulated in at
least the scalar's precision; `reference` and `cpu` accumulate in double).
relu_forward(y, x, n): y = max(x, 0). relu_backward(dx, x, dy, n): dx = x > 0 ? dy : 0.
im2col(col, x, g): x is (batch, channels, height, width); col is (batch, channels * k * k,
  out_height * out_width) with rows in (channel, kernel row, kernel column) order; positions in
  the padding read 0 (ops.hpp, conv_geometry). col2im(dx, dcol, g): the adjoint, dx
  OVERWRITTEN with the sum of the col entries that read each pixel.
maxpool_forward(y, argmax, x, g): per plane, y = max over each kernel window (no padding,
  partial windows dropped) and argmax = the window's first maximal position (index in the
  plane). maxpool_backward(dx, argmax, dy, g): dx OVERWRITTEN, dy scattered to the argmax
  positions (added where windows overlap).
copy may be given overlapping ranges (memmove semantics). allocate(0) returns a valid pointer.
Bad ids or targets: host backends throw thaw::error at once; a device backend reports them at
  its next synchronising call.
adamw_update(params, grads, m, v, ranges, args) and sgd_update(params, grads, buf, ranges,
args): update only the elements in `ranges` (sorted, disjoint, host memory); m, v and buf are
compacted (range r's state begins at the total length of ranges 0..r-1). Formulas in ops.hpp.
*/

namespace detail {

// Every requirement is written over the same argument names:
//   p: T*, c: const T*, ip: token_t*, ci: const token_t*, n: std::size_t, i: int, s: T,
//   f: bool, st: std::int64_t, key: philox_key, off: std::uint64_t, d: double, tok: token_t,
//   r: std::span<const index_range>, aa: adamw_args, sa: sgd_args.
#define THAW_DETAIL_BACKEND_ARGS                                                              \
  T *p, const T *c, token_t *ip, const token_t *ci, std::size_t n, int i, T s, bool f,        \
      std::int64_t st, philox_key key, std::uint64_t off, double d, token_t tok,              \
      std::span<const index_range> r, const adamw_args &aa, const sgd_args &sa

template <class B, class T = typename B::scalar>
concept backend_has_allocate = requires(THAW_DETAIL_BACKEND_ARGS) { { B::template allocate<T>(n) } -> std::same_as<T*>; { B::template allocate<token_t>(n) } -> std::same_as<token_t*>; };
template <class B, class T = typename B::scalar>
concept backend_has_deallocate = requires(THAW_DETAIL_BACKEND_ARGS) { B::deallocate(p); B::deallocate(ip); };
template <class B, class T = typename B::scalar>
concept backend_has_copy = requires(THAW_DETAIL_BACKEND_ARGS) { B::copy(p, c, n); };
template <class B, class T = typename B::scalar>
concept backend_has_to_host = requires(THAW_DETAIL_BACKEND_ARGS) { B::to_host(p, c, n); B::to_host(ip, ci, n); };
template <class B, class T = typename B::scalar>
concept backend_has_from_host = requires(THAW_DETAIL_BACKEND_ARGS) { B::from_host(p, c, n); B::from_host(ip, ci, n); };
template <class B, class T = typename B::scalar>
concept backend_has_fill = requires(THAW_DETAIL_BACKEND_ARGS) { B::fill(p, n, s); };
template <class B, class T = typename B::scalar>
concept backend_has_synchronize = requires(THAW_DETAIL_BACKEND_ARGS) { B::synchronize(); };
template <class B, class T = typename B::scalar>
concept backend_has_fill_uniform = requires(THAW_DETAIL_BACKEND_ARGS) { B::fill_uniform(p, n, key, off, d, d); };
template <class B, class T = typename B::scalar>
concept backend_has_fill_normal = requires(THAW_DETAIL_BACKEND_ARGS) { B::fill_normal(p, n, key, off, d, d); };
template <class B, class T = typename B::scalar>
concept backend_has_fill_bernoulli = requires(THAW_DETAIL_BACKEND_ARGS) { B::fill_bernoulli(p, n, key, off, d); };
template <class B, class T = typename B::scalar>
concept backend_has_gemm = requires(THAW_DETAIL_BACKEND_ARGS) { B::gemm(f, f, i, i, i, s, c, i, c, i, s, p, i); };
template <class B, class T = typename B::scalar>
concept backend_has_gemm_strided_batched = requires(THAW_DETAIL_BACKEND_ARGS) { B::gemm_strided_batched(f, f, i, i, i, s, c, i, st, c, i, st, s, p, i, st, i); };
template <class B, class T = typename B::scalar>
concept backend_has_softmax_forward = requires(THAW_DETAIL_BACKEND_ARGS) { B::softmax_forward(p, c, i, i, s, f); };
template <class B, class T = typename B::scalar>
concept backend_has_softmax_backward = requires(THAW_DETAIL_BACKEND_ARGS) { B::softmax_backward(p, c, c, i, i, s); };
template <class B, class T = typename B::scalar>
concept backend_has_layernorm_forward = requires(THAW_DETAIL_BACKEND_ARGS) { B::layernorm_forward(p, p, p, c, c, c, i, i, s); };
template <class B, class T = typename B::scalar>
concept backend_has_layernorm_backward = requires(THAW_DETAIL_BACKEND_ARGS) { B::layernorm_backward(p, p, p, c, c, c, c, c, i, i); };
template <class B, class T = typename B::scalar>
concept backend_has_rmsnorm_forward = requires(THAW_DETAIL_BACKEND_ARGS) { B::rmsnorm_forward(p, p, c, c, i, i, s); };
template <class B, class T = typename B::scalar>
concept backend_has_rmsnorm_backward = requires(THAW_DETAIL_BACKEND_ARGS) { B::rmsnorm_backward(p, p, c, c, c, c, i, i); };
template <class B, class T = typename B::scalar>
concept backend_has_gelu_forward = requires(THAW_DETAIL_BACKEND_ARGS) { B::gelu_forward(p, c, n); };
template <class B, class T = typename B::scalar>
concept backend_has_gelu_backward = requires(THAW_DETAIL_BACKEND_ARGS) { B::gelu_backward(p, c, c, n); };
template <class B, class T = typename B::scalar>
concept backend_has_cross_entropy_forward = requires(THAW_DETAIL_BACKEND_ARGS) { B::cross_entropy_forward(p, c, ci, i, i, tok); };
template <class B, class T = typename B::scalar>
concept backend_has_cross_entropy_backward = requires(THAW_DETAIL_BACKEND_ARGS) { B::cross_entropy_backward(p, c, ci, i, i, tok, s); };
template <class B, class T = typename B::scalar>
concept backend_has_embedding_forward = requires(THAW_DETAIL_BACKEND_ARGS) { B::embedding_forward(p, c, ci, i, i, i); };
template <class B, class T = typename B::scalar>
concept backend_has_embedding_backward = requires(THAW_DETAIL_BACKEND_ARGS) { B::embedding_backward(p, c, ci, i, i); };
template <class B, class T = typename B::scalar>
concept backend_has_add = requires(THAW_DETAIL_BACKEND_ARGS) { B::add(p, c, c, n); };
template <class B, class T = typename B::scalar>
concept backend_has_scale = requires(THAW_DETAIL_BACKEND_ARGS) { B::scale(p, n, s); };
template <class B, class T = typename B::scalar>
concept backend_has_axpy = requires(THAW_DETAIL_BACKEND_ARGS) { B::axpy(p, s, c, n); };
template <class B, class T = typename B::scalar>
concept backend_has_add_bias = requires(THAW_DETAIL_BACKEND_ARGS) { B::add_bias(p, c, i, i); };
template <class B, class T = typename B::scalar>
concept backend_has_sum_rows = requires(THAW_DETAIL_BACKEND_ARGS) { B::sum_rows(p, c, i, i); };
template <class B, class T = typename B::scalar>
concept backend_has_sum = requires(THAW_DETAIL_BACKEND_ARGS) { { B::sum(c, n) } -> std::convertible_to<double>; };
template <class B, class T = typename B::scalar>
concept backend_has_sum_squares = requires(THAW_DETAIL_BACKEND_ARGS) { { B::sum_squares(c, n) } -> std::convertible_to<double>; };
template <class B, class T = typename B::scalar>
concept backend_has_relu_forward = requires(THAW_DETAIL_BACKEND_ARGS) { B::relu_forward(p, c, n); };
template <class B, class T = typename B::scalar>
concept backend_has_relu_backward = requires(THAW_DETAIL_BACKEND_ARGS) { B::relu_backward(p, c, c, n); };
template <class B, class T = typename B::scalar>
concept backend_has_im2col = requires(THAW_DETAIL_BACKEND_ARGS, const conv_geometry& cg) { B::im2col(p, c, cg); };
template <class B, class T = typename B::scalar>
concept backend_has_col2im = requires(THAW_DETAIL_BACKEND_ARGS, const conv_geometry& cg) { B::col2im(p, c, cg); };
template <class B, class T = typename B::scalar>
concept backend_has_maxpool_forward = requires(THAW_DETAIL_BACKEND_ARGS, const pool_geometry& pg) { B::maxpool_forward(p, ip, c, pg); };
template <class B, class T = typename B::scalar>
concept backend_has_maxpool_backward = requires(THAW_DETAIL_BACKEND_ARGS, const pool_geometry& pg) { B::maxpool_backward(p, ci, c, pg); };
template <class B, class T = typename B::scalar>
concept backend_has_adamw_update = requires(THAW_DETAIL_BACKEND_ARGS) { B::adamw_update(p, c, p, p, r, aa); };
template <class B, class T = typename B::scalar>
concept backend_has_sgd_update = requires(THAW_DETAIL_BACKEND_ARGS) { B::sgd_update(p, c, p, r, sa); };

#undef THAW_DETAIL_BACKEND_ARGS

template <class B>
concept backend_has_identity = requires {
  typename B::scalar;
  { B::name() } -> std::convertible_to<const char*>;
  { B::host_accessible } -> std::convertible_to<bool>;
};

}  // namespace detail

/// A type that provides every operation the model layer needs (contracts above).
template <class B>
concept backend_for = detail::backend_has_identity<B> &&
    detail::backend_has_allocate<B> &&
    detail::backend_has_deallocate<B> &&
    detail::backend_has_copy<B> &&
    detail::backend_has_to_host<B> &&
    detail::backend_has_from_host<B> &&
    detail::backend_has_fill<B> &&
    detail::backend_has_synchronize<B> &&
    detail::backend_has_fill_uniform<B> &&
    detail::backend_has_fill_normal<B> &&
    detail::backend_has_fill_bernoulli<B> &&
    detail::backend_has_gemm<B> &&
    detail::backend_has_gemm_strided_batched<B> &&
    detail::backend_has_softmax_forward<B> &&
    detail::backend_has_softmax_backward<B> &&
    detail::backend_has_layernorm_forward<B> &&
    detail::backend_has_layernorm_backward<B> &&
    detail::backend_has_rmsnorm_forward<B> &&
    detail::backend_has_rmsnorm_backward<B> &&
    detail::backend_has_gelu_forward<B> &&
    detail::backend_has_gelu_backward<B> &&
    detail::backend_has_cross_entropy_forward<B> &&
    detail::backend_has_cross_entropy_backward<B> &&
    detail::backend_has_embedding_forward<B> &&
    detail::backend_has_embedding_backward<B> &&
    detail::backend_has_add<B> &&
    detail::backend_has_scale<B> &&
    detail::backend_has_axpy<B> &&
    detail::backend_has_add_bias<B> &&
    detail::backend_has_sum_rows<B> &&
    detail::backend_has_sum<B> &&
    detail::backend_has_sum_squares<B> &&
    detail::backend_has_relu_forward<B> &&
    detail::backend_has_relu_backward<B> &&
    detail::backend_has_im2col<B> &&
    detail::backend_has_col2im<B> &&
    detail::backend_has_maxpool_forward<B> &&
    detail::backend_has_maxpool_backward<B> &&
    detail::backend_has_adamw_update<B> &&
    detail::backend_has_sgd_update<B>;

/// Fails to compile unless B is a backend, with one message per missing operation that names
/// it and gives the signature to write. Use in class templates:
/// `static_assert(thaw::assert_backend<B>());`
template <class B>
consteval bool assert_backend() {
  static_assert(detail::backend_has_identity<B>,
                "thaw: not a backend: it needs `using scalar = ...;`, "
                "`static const char* name()` and `static constexpr bool host_accessible`");
  if constexpr (detail::backend_has_identity<B>) {
    static_assert(detail::backend_has_allocate<B>,
                  "thaw: backend is missing operation 'allocate': template <class U> static U* allocate(std::size_t n)");
    static_assert(detail::backend_has_deallocate<B>,
                  "thaw: backend is missing operation 'deallocate': template <class U> static void deallocate(U* p) noexcept");
    static_assert(detail::backend_has_copy<B>,
                  "thaw: backend is missing operation 'copy': static void copy(U* dst, const U* src, std::size_t n)");
    static_assert(detail::backend_has_to_host<B>,
                  "thaw: backend is missing operation 'to_host': static void to_host(U* host_dst, const U* src, std::size_t n)");
    static_assert(detail::backend_has_from_host<B>,
                  "thaw: backend is missing operation 'from_host': static void from_host(U* dst, const U* host_src, std::size_t n)");
    static_assert(detail::backend_has_fill<B>,
                  "thaw: backend is missing operation 'fill': static void fill(T* x, std::size_t n, T value)");
    static_assert(detail::backend_has_synchronize<B>,
                  "thaw: backend is missing operation 'synchronize': static void synchronize()");
    static_assert(detail::backend_has_fill_uniform<B>,
                  "thaw: backend is missing operation 'fill_uniform': static void fill_uniform(T* x, std::size_t n, philox_key key, std::uint64_t offset, double lo, double hi)");
    static_assert(detail::backend_has_fill_normal<B>,
                  "thaw: backend is missing operation 'fill_normal': static void fill_normal(T* x, std::size_t n, philox_key key, std::uint64_t offset, double mean, double stddev)");
    static_assert(detail::backend_has_fill_bernoulli<B>,
                  "thaw: backend is missing operation 'fill_bernoulli': static void fill_bernoulli(T* x, std::size_t n, philox_key key, std::uint64_t offset, double p)");
    static_assert(detail::backend_has_gemm<B>,
                  "thaw: backend is missing operation 'gemm': static void gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta, T* c, int ldc)");
    static_assert(detail::backend_has_gemm_strided_batched<B>,
                  "thaw: backend is missing operation 'gemm_strided_batched': static void gemm_strided_batched(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, std::int64_t stride_a, const T* b, int ldb, std::int64_t stride_b, T beta, T* c, int ldc, std::int64_t stride_c, int batch)");
    static_assert(detail::backend_has_softmax_forward<B>,
                  "thaw: backend is missing operation 'softmax_forward': static void softmax_forward(T* y, const T* x, int rows, int cols, T scale, bool causal)");
    static_assert(detail::backend_has_softmax_backward<B>,
                  "thaw: backend is missing operation 'softmax_backward': static void softmax_backward(T* dx, const T* y, const T* dy, int rows, int cols, T scale)");
    static_assert(detail::backend_has_layernorm_forward<B>,
                  "thaw: backend is missing operation 'layernorm_forward': static void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int rows, int cols, T eps)");
    static_assert(detail::backend_has_layernorm_backward<B>,
                  "thaw: backend is missing operation 'layernorm_backward': static void layernorm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int rows, int cols)");
    static_assert(detail::backend_has_rmsnorm_forward<B>,
                  "thaw: backend is missing operation 'rmsnorm_forward': static void rmsnorm_forward(T* y, T* rstd, const T* x, const T* weight, int rows, int cols, T eps)");
    static_assert(detail::backend_has_rmsnorm_backward<B>,
                  "thaw: backend is missing operation 'rmsnorm_backward': static void rmsnorm_backward(T* dx, T* dweight, const T* dy, const T* x, const T* weight, const T* rstd, int rows, int cols)");
    static_assert(detail::backend_has_gelu_forward<B>,
                  "thaw: backend is missing operation 'gelu_forward': static void gelu_forward(T* y, const T* x, std::size_t n)");
    static_assert(detail::backend_has_gelu_backward<B>,
                  "thaw: backend is missing operation 'gelu_backward': static void gelu_backward(T* dx, const T* x, const T* dy, std::size_t n)");
    static_assert(detail::backend_has_cross_entropy_forward<B>,
                  "thaw: backend is missing operation 'cross_entropy_forward': static void cross_entropy_forward(T* losses, const T* logits, const token_t* targets, int rows, int vocab, token_t ignore_index)");
    static_assert(detail::backend_has_cross_entropy_backward<B>,
                  "thaw: backend is missing operation 'cross_entropy_backward': static void cross_entropy_backward(T* dlogits, const T* logits, const token_t* targets, int rows, int vocab, token_t ignore_index, T dloss)");
    static_assert(detail::backend_has_embedding_forward<B>,
                  "thaw: backend is missing operation 'embedding_forward': static void embedding_forward(T* y, const T* table, const token_t* ids, int n, int dim, int table_rows)");
    static_assert(detail::backend_has_embedding_backward<B>,
                  "thaw: backend is missing operation 'embedding_backward': static void embedding_backward(T* dtable, const T* dy, const token_t* ids, int n, int dim)");
    static_assert(detail::backend_has_add<B>,
                  "thaw: backend is missing operation 'add': static void add(T* y, const T* a, const T* b, std::size_t n)");
    static_assert(detail::backend_has_scale<B>,
                  "thaw: backend is missing operation 'scale': static void scale(T* x, std::size_t n, T alpha)");
    static_assert(detail::backend_has_axpy<B>,
                  "thaw: backend is missing operation 'axpy': static void axpy(T* y, T alpha, const T* x, std::size_t n)");
    static_assert(detail::backend_has_add_bias<B>,
                  "thaw: backend is missing operation 'add_bias': static void add_bias(T* y, const T* bias, int rows, int cols)");
    static_assert(detail::backend_has_sum_rows<B>,
                  "thaw: backend is missing operation 'sum_rows': static void sum_rows(T* out, const T* x, int rows, int cols)");
    static_assert(detail::backend_has_sum<B>,
                  "thaw: backend is missing operation 'sum': static double sum(const T* x, std::size_t n)");
    static_assert(detail::backend_has_sum_squares<B>,
                  "thaw: backend is missing operation 'sum_squares': static double sum_squares(const T* x, std::size_t n)");
    static_assert(detail::backend_has_relu_forward<B>,
                  "thaw: backend is missing operation 'relu_forward': static void relu_forward(T* y, const T* x, std::size_t n)");
    static_assert(detail::backend_has_relu_backward<B>,
                  "thaw: backend is missing operation 'relu_backward': static void relu_backward(T* dx, const T* x, const T* dy, std::size_t n)");
    static_assert(detail::backend_has_im2col<B>,
                  "thaw: backend is missing operation 'im2col': static void im2col(T* col, const T* x, const conv_geometry& g)");
    static_assert(detail::backend_has_col2im<B>,
                  "thaw: backend is missing operation 'col2im': static void col2im(T* dx, const T* dcol, const conv_geometry& g)");
    static_assert(detail::backend_has_maxpool_forward<B>,
                  "thaw: backend is missing operation 'maxpool_forward': static void maxpool_forward(T* y, token_t* argmax, const T* x, const pool_geometry& g)");
    static_assert(detail::backend_has_maxpool_backward<B>,
                  "thaw: backend is missing operation 'maxpool_backward': static void maxpool_backward(T* dx, const token_t* argmax, const T* dy, const pool_geometry& g)");
    static_assert(detail::backend_has_adamw_update<B>,
                  "thaw: backend is missing operation 'adamw_update': static void adamw_update(T* params, const T* grads, T* m, T* v, std::span<const index_range> ranges, const adamw_args& args)");
    static_assert(detail::backend_has_sgd_update<B>,
                  "thaw: backend is missing operation 'sgd_update': static void sgd_update(T* params, const T* grads, T* momentum, std::span<const index_range> ranges, const sgd_args& args)");
  }
  return true;
}

}  // namespace thaw
