// Must not compile: a backend type that lacks layernorm_backward. The message must name it.
// With -DTHAW_CONTROL_COMPLETE the operation is present and the file compiles (the control).
#include <cstddef>
#include <span>

#include "thaw/backend/concept.hpp"

struct almost_a_backend {
  using scalar = float;
  using T = float;
  static const char* name() { return "almost"; }
  static constexpr bool host_accessible = true;
  template <class U> static U* allocate(std::size_t) { return nullptr; }
  template <class U> static void deallocate(U*) noexcept {}
  template <class U> static void copy(U*, const U*, std::size_t) {}
  template <class U> static void to_host(U*, const U*, std::size_t) {}
  template <class U> static void from_host(U*, const U*, std::size_t) {}
  static void fill(T*, std::size_t, T) {}
  static void synchronize() {}
  static void fill_uniform(T*, std::size_t, thaw::philox_key, std::uint64_t, double, double) {}
  static void fill_normal(T*, std::size_t, thaw::philox_key, std::uint64_t, double, double) {}
  static void fill_bernoulli(T*, std::size_t, thaw::philox_key, std::uint64_t, double) {}
  static void gemm(bool, bool, int, int, int, T, const T*, int, const T*, int, T, T*, int) {}
  static void gemm_strided_batched(bool, bool, int, int, int, T, const T*, int, std::int64_t,
                                   const T*, int, std::int64_t, T, T*, int, std::int64_t, int) {}
  static void softmax_forward(T*, const T*, int, int, T, bool) {}
  static void softmax_backward(T*, const T*, const T*, int, int, T) {}
  static void layernorm_forward(T*, T*, T*, const T*, const T*, const T*, int, int, T) {}
#ifdef THAW_CONTROL_COMPLETE
  static void layernorm_backward(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,
                                 int, int) {}
#endif
  static void rmsnorm_forward(T*, T*, const T*, const T*, int, int, T) {}
  static void rmsnorm_backward(T*, T*, const T*, const T*, const T*, const T*, int, int) {}
  static void gelu_forward(T*, const T*, std::size_t) {}
  static void gelu_backward(T*, const T*, const T*, std::size_t) {}
  static void cross_entropy_forward(T*, const T*, const thaw::token_t*, int, int, thaw::token_t) {}
  static void cross_entropy_backward(T*, const T*, const thaw::token_t*, int, int, thaw::token_t,
                                     T) {}
  static void embedding_forward(T*, const T*, const thaw::token_t*, int, int, int) {}
  static void embedding_backward(T*, const T*, const thaw::token_t*, int, int) {}
  static void add(T*, const T*, const T*, std::size_t) {}
  static void scale(T*, std::size_t, T) {}
  static void axpy(T*, T, const T*, std::size_t) {}
  static void add_bias(T*, const T*, int, int) {}
  static void sum_rows(T*, const T*, int, int) {}
  static double sum(const T*, std::size_t) { return 0; }
  static double sum_squares(const T*, std::size_t) { return 0; }
  static void relu_forward(T*, const T*, std::size_t) {}
  static void relu_backward(T*, const T*, const T*, std::size_t) {}
  static void im2col(T*, const T*, const thaw::conv_geometry&) {}
  static void col2im(T*, const T*, const thaw::conv_geometry&) {}
  static void maxpool_forward(T*, thaw::token_t*, const T*, const thaw::pool_geometry&) {}
  static void maxpool_backward(T*, const thaw::token_t*, const T*, const thaw::pool_geometry&) {}
  static void adamw_update(T*, const T*, T*, T*, std::span<const thaw::index_range>,
                           const thaw::adamw_args&) {}
  static void sgd_update(T*, const T*, T*, std::span<const thaw::index_range>,
                         const thaw::sgd_args&) {}
};

static_assert(thaw::assert_backend<almost_a_backend>());
#ifdef THAW_CONTROL_COMPLETE
static_assert(thaw::backend_for<almost_a_backend>);
#endif

int main() {}
