// Tests of the CUDA backend beyond the shared op cases: the kernel paths the small shapes of
// op_cases.hpp do not reach (block-per-row rows, unaligned pointers, Philox blocks at large
// offsets, many optimizer ranges), determinism of the column reductions, device-side id errors,
// error messages of failed CUDA / cuBLAS calls, and the reference model's shapes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "support/test_util.hpp"
#include "thaw/backend/cuda.hpp"
#include "thaw/backend/reference.hpp"

namespace {
using B = thaw::backend::cuda<>;
using T = float;
using ref = thaw::backend::reference<double>;
using thaw::test::download;
using thaw::test::random_values;
using thaw::test::upload;

double* p(std::vector<double>& v) { return v.data(); }
const double* cp(const std::vector<double>& v) { return v.data(); }

/// A device buffer holding `values` at element offset `shift` (shift 1 breaks 16-byte alignment).
struct shifted {
  thaw::tensor<B> storage;
  std::size_t shift, n;
  shifted(const std::vector<double>& values, std::size_t shift_by)
      : storage(thaw::shape{static_cast<std::int64_t>(values.size() + shift_by)}), shift(shift_by), n(values.size()) {
    std::vector<T> host(values.size() + shift_by, T(0));
    for (std::size_t i = 0; i < values.size(); ++i) host[i + shift_by] = static_cast<T>(values[i]);
    storage.assign_from_host(host);
  }
  T* data() { return storage.data() + shift; }
  std::vector<double> values() const {
    auto all = download(storage);
    return {all.begin() + static_cast<std::ptrdiff_t>(shift), all.end()};
  }
};
}  // namespace

TEST_CASE("cuda backend: identity and context", "[cuda]") {
  STATIC_REQUIRE(thaw::backend_for<B>);
  STATIC_REQUIRE(!B::host_accessible);
  REQUIRE(std::string(B::name()) == "cuda");
  REQUIRE(std::string(thaw::backend::cuda<thaw::backend::tf32>::name()) == "cuda-tf32");
  REQUIRE(std::string(thaw::backend::cuda<thaw::backend::bf16>::name()) == "cuda-bf16");
  STATIC_REQUIRE(std::is_same_v<thaw::backend::cuda<thaw::backend::bf16>::scalar, float>);  // bf16 compute, fp32 storage
  REQUIRE(B::device() >= 0);
  REQUIRE(B::stream() != nullptr);
  REQUIRE(B::blas_handle() != nullptr);
}

TEST_CASE("cuda backend: row kernels on wide rows (block-per-row paths) and unaligned rows",
          "[cuda][rows]") {
  // 1500 / 1501: 128-thread rows; 4099 / 4100 / 9000: 512-thread rows. 1501 and 4099 are not
  // multiples of 4 (one element at a time), the others are (16-byte packs).
  for (int cols : {1500, 1501, 4099, 4100, 9000}) {
    const int rows = 5;
    const std::size_t n = std::size_t(rows) * cols;
    INFO("cols=" << cols);
    auto x = random_values<T>(n, 1, -6, 6);
    auto dy = random_values<T>(n, 2);
    auto w = random_values<T>(cols, 3, 0.5, 1.5);
    auto bias = random_values<T>(cols, 4);
    for (bool causal : {false, true}) {
      if (causal && cols > 4100) continue;  // a full 9000 x 9000 attention matrix is slow on the CPU side
      const int r = causal ? cols : rows;  // causal: one full attention matrix
      const std::size_t m = std::size_t(r) * cols;
      auto xs = random_values<T>(m, 5, -6, 6);
      std::vector<double> y(m);
      ref::softmax_forward(p(y), cp(xs), r, cols, 0.3, causal);
      auto bx = upload<B>(xs);
      thaw::tensor<B> by(bx.shape());
      B::softmax_forward(by.data(), bx.data(), r, cols, T(0.3), causal);
      THAW_REQUIRE_CLOSE(download(by), y, 1e-5);
    }
    {
      std::vector<double> y(n), mean(rows), rstd(rows), dx(n), dw(cols, 0.0), db(cols, 0.0);
      ref::layernorm_forward(p(y), p(mean), p(rstd), cp(x), cp(w), cp(bias), rows, cols, 1e-5);
      ref::layernorm_backward(p(dx), p(dw), p(db), cp(dy), cp(x), cp(w), cp(mean), cp(rstd), rows, cols);
      auto bx = upload<B>(x), bw = upload<B>(w), bb = upload<B>(bias), bdy = upload<B>(dy);
      thaw::tensor<B> by(bx.shape()), bdx(bx.shape()), bm(thaw::shape{rows}), br(thaw::shape{rows}),
          bdw(thaw::shape{cols}, T(0)), bdb(thaw::shape{cols}, T(0));
      B::layernorm_forward(by.data(), bm.data(), br.data(), bx.data(), bw.data(), bb.data(), rows, cols, T(1e-5));
      B::layernorm_backward(bdx.data(), bdw.data(), bdb.data(), bdy.data(), bx.data(), bw.data(), bm.data(),
                            br.data(), rows, cols);
      THAW_REQUIRE_CLOSE(download(by), y, 2e-5);
      THAW_REQUIRE_CLOSE(download(bdx), dx, 2e-5);
      THAW_REQUIRE_CLOSE(download(bdw), dw, 2e-5);
      THAW_REQUIRE_CLOSE(download(bdb), db, 2e-5);
    }
    {
      std::vector<double> y(n), rstd(rows), dx(n), dw(cols, 0.0);
      ref::rmsnorm_forward(p(y), p(rstd), cp(x), cp(w), rows, cols, 1e-6);
      ref::rmsnorm_backward(p(dx), p(dw), cp(dy), cp(x), cp(w), cp(rstd), rows, cols);
      auto bx = upload<B>(x), bw = upload<B>(w), bdy = upload<B>(dy);
      thaw::tensor<B> by(bx.shape()), bdx(bx.shape()), br(thaw::shape{rows}), bdw(thaw::shape{cols}, T(0));
      B::rmsnorm_forward(by.data(), br.data(), bx.data(), bw.data(), rows, cols, T(1e-6));
      B::rmsnorm_backward(bdx.data(), bdw.data(), bdy.data(), bx.data(), bw.data(), br.data(), rows, cols);
      THAW_REQUIRE_CLOSE(download(by), y, 2e-5);
      THAW_REQUIRE_CLOSE(download(bdx), dx, 2e-5);
      THAW_REQUIRE_CLOSE(download(bdw), dw, 2e-5);
    }
  }
}

TEST_CASE("cuda backend: cross-entropy over a GPT-2 sized vocabulary", "[cuda][cross_entropy]") {
  const int rows = 9, vocab = 50257;
  const std::size_t n = std::size_t(rows) * vocab;
  auto logits = random_values<T>(n, 6, -15, 15);
  std::vector<thaw::token_t> targets(rows);
  for (int r = 0; r < rows; ++r) targets[r] = r == 4 ? -100 : thaw::token_t(thaw::philox::bits_at({5, 5}, r) % vocab);
  targets[2] = vocab - 1;
  std::vector<double> losses(rows), dlogits(n);
  ref::cross_entropy_forward(p(losses), cp(logits), targets.data(), rows, vocab, -100);
  ref::cross_entropy_backward(p(dlogits), cp(logits), targets.data(), rows, vocab, -100, 0.5);
  auto bl = upload<B>(logits);
  auto bt = thaw::test::upload_ids<B>(targets);
  thaw::tensor<B> bloss(thaw::shape{rows});
  B::cross_entropy_forward(bloss.data(), bl.data(), bt.data(), rows, vocab, -100);
  B::cross_entropy_backward(bl.data(), bl.data(), bt.data(), rows, vocab, -100, T(0.5));
  THAW_REQUIRE_CLOSE(download(bloss), losses, 1e-5);
  THAW_REQUIRE_CLOSE(download(bl), dlogits, 1e-5);
}

TEST_CASE("cuda backend: copy between overlapping ranges behaves as memmove", "[cuda][memory]") {
  std::vector<double> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  auto x = upload<B>(v);
  B::copy(x.data() + 10, x.data(), 900);  // forwards overlap
  auto expected = v;
  std::copy_backward(v.begin(), v.begin() + 900, expected.begin() + 910);
  REQUIRE(download(x) == expected);
  auto y = upload<B>(v);
  B::copy(y.data(), y.data() + 7, 993);  // backwards overlap
  expected = v;
  std::copy(v.begin() + 7, v.end(), expected.begin());
  REQUIRE(download(y) == expected);
}

TEST_CASE("cuda backend: unaligned pointers take the scalar paths", "[cuda][elementwise]") {
  const int rows = 33, cols = 64;  // cols % 4 == 0, but every pointer is 4 bytes off
  const std::size_t n = std::size_t(rows) * cols;
  auto a = random_values<T>(n, 7, -4, 4), b = random_values<T>(n, 8), bias = random_values<T>(cols, 9);
  shifted sa(a, 1), sb(b, 1), sbias(bias, 1), sy(std::vector<double>(n, 0.0), 1);
  std::vector<double> sum(n), g(n), biased = a, y(n);
  ref::add(p(sum), cp(a), cp(b), n);
  B::add(sy.data(), sa.data(), sb.data(), n);
  THAW_REQUIRE_CLOSE(sy.values(), sum, 1e-7);
  ref::gelu_forward(p(g), cp(a), n);
  B::gelu_forward(sy.data(), sa.data(), n);
  THAW_REQUIRE_CLOSE(sy.values(), g, 1e-6);
  ref::add_bias(p(biased), cp(bias), rows, cols);
  B::add_bias(sa.data(), sbias.data(), rows, cols);
  THAW_REQUIRE_CLOSE(sa.values(), biased, 1e-7);
  ref::softmax_forward(p(y), cp(b), rows, cols, 1.0, true);
  B::softmax_forward(sy.data(), sb.data(), rows, cols, T(1), true);
  THAW_REQUIRE_CLOSE(sy.values(), y, 1e-5);
}

// Uniform and Bernoulli fills must equal the host's element functions bit for bit (philox.hpp:
// the uniform value is one std::fma on both sides); normal fills may differ in the last bit of
// CUDA's log / cos against libm's.
TEST_CASE("cuda backend: Philox fills at large offsets equal the element functions", "[cuda][random]") {
  const thaw::philox_key key{0x123456789abcdefull, 99};
  for (std::uint64_t offset : {std::uint64_t(0), std::uint64_t(3), (std::uint64_t(1) << 40) + 2})
    for (std::size_t n : {std::size_t(1), std::size_t(2), std::size_t(10007)}) {
      INFO("offset=" << offset << " n=" << n);
      thaw::tensor<B> x(thaw::shape{static_cast<std::int64_t>(n)});
      B::fill_uniform(x.data(), n, key, offset, -0.02, 0.02);
      const auto u = x.to_host();
      B::fill_bernoulli(x.data(), n, key, offset, 0.9);
      const auto m = x.to_host();
      B::fill_normal(x.data(), n, key, offset, 0.0, 0.02);
      const auto g = x.to_host();
      for (std::size_t e = 0; e < n; ++e) {
        REQUIRE(u[e] == static_cast<T>(thaw::philox::uniform_at(key, offset + e, -0.02, 0.02)));
        REQUIRE(m[e] == (thaw::philox::bernoulli_at(key, offset + e, 0.9) ? T(1) : T(0)));
        const T expected = static_cast<T>(thaw::philox::normal_at(key, offset + e, 0.0, 0.02));
        REQUIRE(std::abs(g[e] - expected) <= 4 * std::numeric_limits<T>::epsilon() * std::abs(expected) + 1e-30);
      }
    }
}

TEST_CASE("cuda backend: column reductions are deterministic", "[cuda][reduction]") {
  const int rows = 2048, cols = 384;
  const std::size_t n = std::size_t(rows) * cols;
  auto x = random_values<T>(n, 10), dy = random_values<T>(n, 11);
  auto bx = upload<B>(x), bdy = upload<B>(dy);
  thaw::tensor<B> y(bx.shape()), mean(thaw::shape{rows}), rstd(thaw::shape{rows});
  B::layernorm_forward(y.data(), mean.data(), rstd.data(), bx.data(), nullptr, nullptr, rows, cols, T(1e-5));
  std::vector<std::vector<T>> runs;
  for (int run = 0; run < 3; ++run) {
    thaw::tensor<B> dw(thaw::shape{cols}, T(0)), db(thaw::shape{cols}, T(0)), rs(thaw::shape{cols}, T(0));
    B::layernorm_backward(nullptr, dw.data(), db.data(), bdy.data(), bx.data(), nullptr, mean.data(), rstd.data(),
                          rows, cols);
    B::sum_rows(rs.data(), bdy.data(), rows, cols);
    auto all = dw.to_host();
    for (T v : db.to_host()) all.push_back(v);
    for (T v : rs.to_host()) all.push_back(v);
    runs.push_back(all);
  }
  REQUIRE(runs[0] == runs[1]);
  REQUIRE(runs[0] == runs[2]);
  REQUIRE(B::sum(bx.data(), n) == B::sum(bx.data(), n));
  std::vector<double> rowsum(cols, 0.0);
  ref::sum_rows(p(rowsum), cp(dy), rows, cols);
  THAW_REQUIRE_CLOSE(std::vector<double>(runs[0].begin() + 2 * cols, runs[0].end()), rowsum, 1e-5);
}

TEST_CASE("cuda backend: sum and sum_squares over 2^24 + 3 elements accumulate in double", "[cuda][reduction]") {
  const std::size_t n = (std::size_t(1) << 24) + 3;
  thaw::tensor<B> x(thaw::shape{static_cast<std::int64_t>(n)});
  B::fill(x.data(), n, T(0.1f));
  const double v = static_cast<double>(0.1f);
  REQUIRE(std::abs(B::sum(x.data(), n) - v * n) <= 1e-9 * v * n);
  REQUIRE(std::abs(B::sum_squares(x.data(), n) - v * v * n) <= 1e-9 * v * v * n);
}

TEST_CASE("cuda backend: optimizers over many ranges, empty ones included", "[cuda][optimizer]") {
  const std::size_t n = 100000;
  std::vector<thaw::index_range> ranges;
  std::size_t at = 0, trainable = 0;
  for (int r = 0; at < n; ++r) {
    const std::size_t gap = thaw::philox::bits_at({7, 1}, r) % 50;
    const std::size_t len = r % 7 == 0 ? 0 : thaw::philox::bits_at({7, 2}, r) % 300;
    const std::size_t begin = std::min(n, at + gap), end = std::min(n, begin + len);
    ranges.push_back({begin, end});
    trainable += end - begin;
    at = end;
  }
  auto params0 = random_values<T>(n, 12), grads = random_values<T>(n, 13);
  auto m0 = random_values<T>(trainable, 14, -0.1, 0.1), v0 = random_values<T>(trainable, 15, 0, 0.01);
  const thaw::adamw_args args{.lr = 3e-4, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1, .step = 3};
  auto params = params0, m = m0, v = v0;
  ref::adamw_update(p(params), cp(grads), p(m), p(v), ranges, args);
  auto bp = upload<B>(params0), bg = upload<B>(grads), bm = upload<B>(m0), bv = upload<B>(v0);
  B::adamw_update(bp.data(), bg.data(), bm.data(), bv.data(), ranges, args);
  const auto got = download(bp);
  THAW_REQUIRE_CLOSE(got, params, 1e-6);
  THAW_REQUIRE_CLOSE(download(bm), m, 1e-6);
  THAW_REQUIRE_CLOSE(download(bv), v, 1e-6);
  std::vector<bool> trained(n, false);
  for (auto r : ranges)
    for (std::size_t e = r.begin; e < r.end; ++e) trained[e] = true;
  for (std::size_t e = 0; e < n; ++e)
    if (!trained[e]) REQUIRE(got[e] == params0[e]);
  // Two calls in a row with different range lists (the staging buffer is reused).
  const std::vector<thaw::index_range> one{{10, 20}};
  auto buf0 = random_values<T>(10, 16);
  auto ps = params0, buf = buf0;
  const thaw::sgd_args sgd{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};
  ref::sgd_update(p(ps), cp(grads), p(buf), one, sgd);
  auto bps = upload<B>(params0), bbuf = upload<B>(buf0);
  B::sgd_update(bps.data(), bg.data(), bbuf.data(), one, sgd);
  B::sgd_update(bp.data(), bg.data(), nullptr, std::span<const thaw::index_range>{}, {.lr = 1.0});
  THAW_REQUIRE_CLOSE(download(bps), ps, 1e-6);
  THAW_REQUIRE_CLOSE(download(bbuf), buf, 1e-6);
  REQUIRE_THROWS_WITH(B::adamw_update(bp.data(), bg.data(), bm.data(), bv.data(),
                                      std::vector<thaw::index_range>{{5, 9}, {8, 12}}, args),
                      Catch::Contains("overlaps"));
}

TEST_CASE("cuda backend: GEMM edge cases and the reference model's shapes", "[cuda][gemm]") {
  SECTION("k == 0 gives C = beta C") {
    auto c = random_values<T>(6, 17);
    auto bc = upload<B>(c);
    B::gemm(false, false, 2, 3, 0, T(1), nullptr, 1, nullptr, 3, T(0.5), bc.data(), 3);
    std::vector<double> half = c;
    for (double& v : half) v = static_cast<double>(static_cast<T>(v) * 0.5f);
    REQUIRE(download(bc) == half);
    B::gemm(false, false, 2, 3, 0, T(1), nullptr, 1, nullptr, 3, T(0), bc.data(), 3);
    REQUIRE(download(bc) == std::vector<double>(6, 0.0));
  }
  SECTION("linear-layer shapes, forward and both gradients") {
    struct shape_t { int m, k, n; };
    // (512 x 384)(384 x 1152) etc.: the reference shapes with 512 rows to keep the CPU side short.
    for (auto [m, k, n] : {shape_t{512, 384, 1152}, shape_t{512, 1536, 384}, shape_t{512, 384, 256}}) {
      INFO("m=" << m << " k=" << k << " n=" << n);
      auto a = random_values<T>(std::size_t(m) * k, 18), w = random_values<T>(std::size_t(n) * k, 19);
      std::vector<double> y(std::size_t(m) * n);
      ref::gemm(false, true, m, n, k, 1.0, cp(a), k, cp(w), k, 0.0, p(y), n);  // y = a w^T
      auto ba = upload<B>(a), bw = upload<B>(w);
      thaw::tensor<B> by(thaw::shape{m, n});
      B::gemm(false, true, m, n, k, T(1), ba.data(), k, bw.data(), k, T(0), by.data(), n);
      THAW_REQUIRE_CLOSE(download(by), y, 2e-5 * std::sqrt(double(k)));
      std::vector<double> dw(std::size_t(n) * k);  // dw = y^T a (k = m in the product)
      ref::gemm(true, false, n, k, m, 1.0, cp(y), n, cp(a), k, 0.0, p(dw), k);
      thaw::tensor<B> bdw(thaw::shape{n, k});
      B::gemm(true, false, n, k, m, T(1), by.data(), n, ba.data(), k, T(0), bdw.data(), k);
      THAW_REQUIRE_CLOSE(download(bdw), dw, 2e-5 * std::sqrt(double(m)));
    }
  }
  SECTION("the tf32 and bf16 policies run, within their accuracy (the measured error is printed)") {
    using B32 = thaw::backend::cuda<thaw::backend::tf32>;
    using B16 = thaw::backend::cuda<thaw::backend::bf16>;
    const int m = 64, k = 256, n = 96;
    auto a = random_values<T>(std::size_t(m) * k, 20), b = random_values<T>(std::size_t(k) * n, 21);
    std::vector<double> c(std::size_t(m) * n);
    ref::gemm(false, false, m, n, k, 1.0, cp(a), k, cp(b), n, 0.0, p(c), n);
    auto ba = upload<B>(a), bb = upload<B>(b);
    thaw::tensor<B> bc(thaw::shape{m, n});
    B::gemm(false, false, m, n, k, T(1), ba.data(), k, bb.data(), n, T(0), bc.data(), n);
    const double e32 = thaw::test::relative_error(download(bc), c);
    B32::gemm(false, false, m, n, k, T(1), ba.data(), k, bb.data(), n, T(0), bc.data(), n);
    const double etf = thaw::test::relative_error(download(bc), c);
    B16::gemm(false, false, m, n, k, T(1), ba.data(), k, bb.data(), n, T(0), bc.data(), n);
    const double ebf = thaw::test::relative_error(download(bc), c);
    // On the record in the log: what each policy's GEMM actually does on this GPU (emulated on
    // the CPU: about 3e-4 for TF32 and 3e-3 for bf16 with round-to-nearest inputs).
    WARN("GEMM 64x256x96 relative error against double: fp32 " << e32 << ", tf32 " << etf << ", bf16 " << ebf);
    REQUIRE(e32 <= 2e-5 * std::sqrt(double(k)));
    REQUIRE(etf <= 2e-3);
    REQUIRE(ebf <= 2e-2);
    // Strided batched under bf16 as well (attention's GEMMs).
    std::vector<double> cb(std::size_t(m) * n * 2);
    auto a2 = random_values<T>(std::size_t(m) * k * 2, 22), b2 = random_values<T>(std::size_t(k) * n * 2, 23);
    ref::gemm_strided_batched(false, true, m, n, k, 1.0, cp(a2), k, std::int64_t(m) * k, cp(b2), k,
                              std::int64_t(k) * n, 0.0, p(cb), n, std::int64_t(m) * n, 2);
    auto ba2 = upload<B>(a2), bb2 = upload<B>(b2);
    thaw::tensor<B> bcb(thaw::shape{2, m, n});
    B16::gemm_strided_batched(false, true, m, n, k, T(1), ba2.data(), k, std::int64_t(m) * k, bb2.data(), k,
                              std::int64_t(k) * n, T(0), bcb.data(), n, std::int64_t(m) * n, 2);
    THAW_REQUIRE_CLOSE(download(bcb), cb, 2e-2);
  }
  SECTION("bf16: GEMMs on bf16 operand copies (aligned rows) and on fp32 matrices (unaligned), every layout") {
    using B16 = thaw::backend::cuda<thaw::backend::bf16>;
    // n = 96 keeps every row a multiple of 8 elements (the copies' path); n = 97 does not.
    for (const int n : {96, 97})
      for (const bool ta : {false, true})
        for (const bool tb : {false, true}) {
          const int m = 64, k = 256;
          INFO("n=" << n << " ta=" << ta << " tb=" << tb);
          const int lda = ta ? m : k, ldb = tb ? k : n;
          auto a = random_values<T>(std::size_t(m) * k, 24), b = random_values<T>(std::size_t(k) * n, 25);
          auto c0 = random_values<T>(std::size_t(m) * n, 26);
          std::vector<double> c(c0.begin(), c0.end());
          ref::gemm(ta, tb, m, n, k, 0.5, cp(a), lda, cp(b), ldb, 2.0, p(c), n);  // alpha, beta both used
          auto ba = upload<B>(a), bb = upload<B>(b), bc = upload<B>(c0);
          B16::gemm(ta, tb, m, n, k, T(0.5), ba.data(), lda, bb.data(), ldb, T(2), bc.data(), n);
          const double e = thaw::test::relative_error(download(bc), c);
          if (!ta && !tb) WARN("bf16 GEMM 64x256x" << n << ": relative error " << e);
          REQUIRE(e <= 2e-2);
        }
  }
}

TEST_CASE("cuda backend: ids outside their range throw at the next synchronising call", "[cuda][errors]") {
  thaw::tensor<B> logits(thaw::shape{2, 33}, T(0)), losses(thaw::shape{2});
  auto bad_targets = thaw::test::upload_ids<B>({0, 33});
  B::cross_entropy_forward(losses.data(), logits.data(), bad_targets.data(), 2, 33, -100);
  REQUIRE_THROWS_WITH(B::synchronize(), Catch::Contains("target 33 at row 1"));
  B::synchronize();  // reported once
  auto l = losses.to_host();
  REQUIRE(l[0] == Approx(std::log(33.0)));
  REQUIRE(std::isnan(l[1]));

  thaw::tensor<B> table(thaw::shape{4, 8}, T(1)), y(thaw::shape{2, 8});
  auto bad_ids = thaw::test::upload_ids<B>({1, -1});
  B::embedding_forward(y.data(), table.data(), bad_ids.data(), 2, 8, 4);
  REQUIRE_THROWS_WITH(y.to_host(), Catch::Contains("embedding id -1 at position 1"));
  REQUIRE_NOTHROW(y.to_host());
}

TEST_CASE("cuda backend: failed CUDA and cuBLAS calls throw thaw::error naming the call", "[cuda][errors]") {
  REQUIRE_THROWS_WITH(B::allocate<float>(std::size_t(1) << 60), Catch::Contains("cudaMalloc"));
  thaw::tensor<B> a(thaw::shape{4, 4}, T(1)), c(thaw::shape{4, 4});
  // lda smaller than the row length: cuBLAS rejects it.
  REQUIRE_THROWS_WITH(B::gemm(false, false, 4, 4, 4, T(1), a.data(), 1, a.data(), 4, T(0), c.data(), 4),
                      Catch::Contains("cublasGemmEx") && Catch::Contains("CUBLAS_STATUS_INVALID_VALUE"));
  // The backend still works afterwards (no stale error is left behind).
  B::gemm(false, false, 4, 4, 4, T(1), a.data(), 4, a.data(), 4, T(0), c.data(), 4);
  REQUIRE(download(c) == std::vector<double>(16, 4.0));
}

TEST_CASE("cuda backend: the op profiler times each op while on and names GEMMs by shape", "[cuda][profile]") {
  B::synchronize();
  B::reset_op_profile();
  thaw::tensor<B> a(thaw::shape{4, 6}), b(thaw::shape{6, 5}), c(thaw::shape{4, 5});
  B::profile_ops(true);
  B::fill(a.data(), a.size(), T(1));
  B::fill(b.data(), b.size(), T(2));
  B::gemm(false, false, 4, 5, 6, T(1), a.data(), 6, b.data(), 5, T(0), c.data(), 5);
  B::add(c.data(), c.data(), c.data(), c.size());
  B::profile_ops(false);
  B::add(c.data(), c.data(), c.data(), c.size());  // not recorded: profiling is off again
  const auto ops = B::op_profile();
  auto find = [&](const std::string& name) {
    const auto it = std::find_if(ops.begin(), ops.end(), [&](const auto& op) { return op.name == name; });
    REQUIRE(it != ops.end());
    return *it;
  };
  REQUIRE(ops.size() == 3);
  CHECK(find("fill").calls == 2);
  CHECK(find("gemm nn 4x5x6").calls == 1);
  CHECK(find("add").calls == 1);
  for (const auto& op : ops) CHECK(op.ms >= 0.0);
  CHECK(std::is_sorted(ops.begin(), ops.end(), [](const auto& x, const auto& y) { return x.ms > y.ms; }));
  REQUIRE(thaw::test::download(c) == std::vector<double>(20, 48.0));  // 2 x (6 x 1 x 2) each, doubled twice
  B::reset_op_profile();
  CHECK(B::op_profile().empty());
}
