// The backend op test cases, written once and run over every backend type.
//
// Include after defining `using thaw_test_backends = std::tuple<...backend types...>;`.
// tests/backend/test_ops.cpp runs them over reference<float> and the cpu backends;
// tests/cuda/ runs them over the cuda backend. Each op is compared with reference<double> on
// the same inputs (rounded to the backend's scalar first), on shapes that include the awkward
// sizes 1, 7, 33 and 1023, with a tolerance stated per op. GEMMs take gemm_tolerance<B>
// (support/test_util.hpp), which a backend whose GEMMs round their inputs (the CUDA tf32 and
// bf16 policies) widens; every other op is exact float arithmetic under every policy and keeps
// its float tolerance.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "support/test_util.hpp"
#include "thaw/backend/ops.hpp"
#include "thaw/backend/reference.hpp"

namespace thaw::test {
using ref = backend::reference<double>;

/// Runs reference<double> on host vectors (host-accessible, so pointers are plain).
inline double* p(std::vector<double>& v) { return v.data(); }
inline const double* cp(const std::vector<double>& v) { return v.data(); }

struct row_shape {
  int rows, cols;
};
inline const std::vector<row_shape> kRowShapes{{1, 1}, {7, 33}, {33, 7}, {3, 1023}, {64, 384}};
}  // namespace thaw::test

TEMPLATE_LIST_TEST_CASE("memory: round trip, copy, fill, allocate(0)", "[ops][memory]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  const auto values = random_values<T>(1023, 1);
  auto a = upload<B>(values);
  REQUIRE(download(a) == values);
  thaw::tensor<B> b(a.shape());
  B::copy(b.data(), a.data(), a.size());
  REQUIRE(download(b) == values);
  B::fill(b.data(), b.size(), T(2.5));
  REQUIRE(download(b) == std::vector<double>(1023, 2.5));
  thaw::token_t* empty = B::template allocate<thaw::token_t>(0);
  REQUIRE(empty != nullptr);
  B::deallocate(empty);
  B::synchronize();
}

TEMPLATE_LIST_TEST_CASE("random fills equal the Philox element functions", "[ops][random]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  const thaw::philox_key key{42, 7};
  const std::size_t n = 1023;
  const std::uint64_t offset = 5;  // odd, so fills start mid-block
  thaw::tensor<B> x(thaw::shape{static_cast<std::int64_t>(n)});
  B::fill_uniform(x.data(), n, key, offset, -2.0, 3.0);
  auto u = x.to_host();
  B::fill_normal(x.data(), n, key, offset, 1.0, 0.5);
  auto g = x.to_host();
  B::fill_bernoulli(x.data(), n, key, offset, 0.3);
  auto m = x.to_host();
  for (std::size_t e = 0; e < n; ++e) {
    REQUIRE(u[e] == static_cast<T>(thaw::philox::uniform_at(key, offset + e, -2.0, 3.0)));
    REQUIRE(m[e] == (thaw::philox::bernoulli_at(key, offset + e, 0.3) ? T(1) : T(0)));
    // Normal fills may differ in the last bit of log/cos between libm and CUDA (philox.hpp).
    REQUIRE(std::abs(g[e] - static_cast<T>(thaw::philox::normal_at(key, offset + e, 1.0, 0.5))) <=
            4 * std::numeric_limits<T>::epsilon() * (1 + std::abs(g[e])));
  }
}

TEMPLATE_LIST_TEST_CASE("gemm matches reference for every transpose, odd shapes, alpha, beta",
                        "[ops][gemm]", thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  struct case_t { int m, n, k; };
  const std::vector<case_t> cases{{1, 1, 1}, {7, 33, 1}, {33, 7, 1023}, {1023, 7, 33},
                                  {7, 1023, 33}, {64, 96, 128}};
  const double alphas[] = {1.0, -0.5};
  const double betas[] = {0.0, 1.0, 0.25};
  std::uint64_t stream = 100;
  for (auto [m, n, k] : cases)
    for (int t = 0; t < 4; ++t)
      for (double alpha : alphas)
        for (double beta : betas) {
          const bool ta = t & 1, tb = t & 2;
          // Leading dimensions larger than the minimum, to catch ld handling.
          const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
          const int a_rows = ta ? k : m, b_rows = tb ? n : k;
          auto a = random_values<T>(std::size_t(a_rows) * lda, ++stream);
          auto b = random_values<T>(std::size_t(b_rows) * ldb, ++stream);
          auto c = random_values<T>(std::size_t(m) * ldc, ++stream);
          if (beta == 0.0) std::fill(c.begin(), c.end(), std::numeric_limits<double>::quiet_NaN());
          auto expected = c;
          ref::gemm(ta, tb, m, n, k, alpha, cp(a), lda, cp(b), ldb, beta, p(expected), ldc);
          auto da = upload<B>(a), db = upload<B>(b), dc = upload<B>(c);
          B::gemm(ta, tb, m, n, k, T(alpha), da.data(), lda, db.data(), ldb, T(beta), dc.data(), ldc);
          auto actual = download(dc);
          // Only the m x n block is defined; padding columns must be untouched.
          for (int i = 0; i < m; ++i)
            for (int j = n; j < ldc; ++j) {
              const double before = c[std::size_t(i) * ldc + j];
              const double after = actual[std::size_t(i) * ldc + j];
              REQUIRE((after == before || (std::isnan(after) && std::isnan(before))));
              actual[std::size_t(i) * ldc + j] = expected[std::size_t(i) * ldc + j] = 0;
            }
          INFO("m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb
                    << " alpha=" << alpha << " beta=" << beta);
          // float GEMM: error grows like sqrt(k) * eps relative to the largest output; backends
          // whose GEMMs round their inputs (TF32, bf16 tensor cores) state their own bound.
          THAW_REQUIRE_CLOSE(actual, expected, gemm_tolerance<B>(2e-5 * std::sqrt(double(k) + 1)));
        }
}

TEMPLATE_LIST_TEST_CASE("gemm_strided_batched matches reference", "[ops][gemm]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  // Attention-like: (B*H) batches of (T x hd) @ (hd x T), with odd sizes, and strides padded.
  const int batch = 5, m = 33, n = 7, k = 17;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
    const std::int64_t sa = std::int64_t(m) * k + 5, sb = std::int64_t(k) * n + 3,
                       sc = std::int64_t(m) * n + 1;
    auto a = random_values<T>(std::size_t(sa) * batch, 11 + t);
    auto b = random_values<T>(std::size_t(sb) * batch, 21 + t);
    auto c = random_values<T>(std::size_t(sc) * batch, 31 + t);
    auto expected = c;
    ref::gemm_strided_batched(ta, tb, m, n, k, 0.75, cp(a), lda, sa, cp(b), ldb, sb, 0.5,
                              p(expected), ldc, sc, batch);
    auto da = upload<B>(a), db = upload<B>(b), dc = upload<B>(c);
    B::gemm_strided_batched(ta, tb, m, n, k, T(0.75), da.data(), lda, sa, db.data(), ldb, sb,
                            T(0.5), dc.data(), ldc, sc, batch);
    INFO("ta=" << ta << " tb=" << tb);
    THAW_REQUIRE_CLOSE(download(dc), expected, gemm_tolerance<B>(1e-5));
  }
}

TEMPLATE_LIST_TEST_CASE("softmax forward and backward match reference", "[ops][softmax]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  for (bool causal : {false, true})
    for (auto [rows, cols] : kRowShapes) {
      if (causal) rows = cols * 3;  // three attention matrices stacked
      const std::size_t n = std::size_t(rows) * cols;
      const double scale = 0.125;
      auto x = random_values<T>(n, 1, -8, 8);
      auto dy = random_values<T>(n, 2);
      std::vector<double> y(n), dx(n);
      ref::softmax_forward(p(y), cp(x), rows, cols, scale, causal);
      auto dx_y = upload<B>(y);  // backward is tested on the reference's y, independently
      ref::softmax_backward(p(dx), cp(y), cp(dy), rows, cols, scale);
      auto bx = upload<B>(x), bdy = upload<B>(dy);
      thaw::tensor<B> by(bx.shape()), bdx(bx.shape());
      B::softmax_forward(by.data(), bx.data(), rows, cols, T(scale), causal);
      B::softmax_backward(bdx.data(), dx_y.data(), bdy.data(), rows, cols, T(scale));
      INFO("rows=" << rows << " cols=" << cols << " causal=" << causal);
      THAW_REQUIRE_CLOSE(download(by), y, tolerance<B>(1e-5));
      THAW_REQUIRE_CLOSE(download(bdx), dx, tolerance<B>(1e-5));
      // In place: y may alias x, dx may alias dy.
      B::softmax_forward(bx.data(), bx.data(), rows, cols, T(scale), causal);
      THAW_REQUIRE_CLOSE(download(bx), y, tolerance<B>(1e-5));
      B::softmax_backward(bdy.data(), dx_y.data(), bdy.data(), rows, cols, T(scale));
      THAW_REQUIRE_CLOSE(download(bdy), dx, tolerance<B>(1e-5));
    }
}

TEMPLATE_LIST_TEST_CASE("layernorm forward and backward match reference", "[ops][norm]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  for (auto [rows, cols] : kRowShapes)
    for (int variant = 0; variant < 3; ++variant) {
      // 0: weight + bias, all gradients; 1: no bias, no dx; 2: no weight/bias, dx only.
      const std::size_t n = std::size_t(rows) * cols;
      auto x = random_values<T>(n, 3, -3, 5);
      auto w = random_values<T>(cols, 4, 0.5, 1.5);
      auto bias = random_values<T>(cols, 5);
      auto dy = random_values<T>(n, 6);
      auto dw0 = random_values<T>(cols, 7);  // gradients accumulate into existing values
      auto db0 = random_values<T>(cols, 8);
      const bool use_w = variant != 2, use_b = variant == 0, want_dx = variant != 1;
      std::vector<double> y(n), mean(rows), rstd(rows), dx(n), dw = dw0, db = db0;
      ref::layernorm_forward(p(y), p(mean), p(rstd), cp(x), use_w ? cp(w) : nullptr,
                             use_b ? cp(bias) : nullptr, rows, cols, 1e-5);
      ref::layernorm_backward(want_dx ? p(dx) : nullptr, use_w ? p(dw) : nullptr,
                              use_b ? p(db) : nullptr, cp(dy), cp(x), use_w ? cp(w) : nullptr,
                              cp(mean), cp(rstd), rows, cols);
      auto bx = upload<B>(x), bw = upload<B>(w), bb = upload<B>(bias), bdy = upload<B>(dy),
           bdw = upload<B>(dw0), bdb = upload<B>(db0), bmean = upload<B>(mean),
           brstd = upload<B>(rstd);
      thaw::tensor<B> by(bx.shape()), bdx(bx.shape()), m2(thaw::shape{rows}), r2(thaw::shape{rows});
      B::layernorm_forward(by.data(), m2.data(), r2.data(), bx.data(), use_w ? bw.data() : nullptr,
                           use_b ? bb.data() : nullptr, rows, cols, T(1e-5));
      B::layernorm_backward(want_dx ? bdx.data() : nullptr, use_w ? bdw.data() : nullptr,
                            use_b ? bdb.data() : nullptr, bdy.data(), bx.data(),
                            use_w ? bw.data() : nullptr, bmean.data(), brstd.data(), rows, cols);
      INFO("rows=" << rows << " cols=" << cols << " variant=" << variant);
      THAW_REQUIRE_CLOSE(download(by), y, tolerance<B>(2e-5));
      THAW_REQUIRE_CLOSE(download(m2), mean, tolerance<B>(2e-5));
      THAW_REQUIRE_CLOSE(download(r2), rstd, tolerance<B>(2e-5));
      // A 1-wide row normalises to 0 and its dx is 0 in exact arithmetic; float rounding is then
      // amplified by rstd = 1/sqrt(eps) (~316), so that case gets a tolerance 316x wider.
      const double amplification = cols == 1 ? 1 / std::sqrt(1e-5) : 1.0;
      if (want_dx) THAW_REQUIRE_CLOSE(download(bdx), dx, tolerance<B>(2e-5 * amplification));
      THAW_REQUIRE_CLOSE(download(bdw), dw, tolerance<B>(2e-5 * std::sqrt(rows)));
      THAW_REQUIRE_CLOSE(download(bdb), db, tolerance<B>(2e-5 * std::sqrt(rows)));
    }
}

TEMPLATE_LIST_TEST_CASE("rmsnorm forward and backward match reference", "[ops][norm]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  for (auto [rows, cols] : kRowShapes)
    for (bool want_dx : {true, false}) {
      const std::size_t n = std::size_t(rows) * cols;
      auto x = random_values<T>(n, 9, -2, 3);
      auto w = random_values<T>(cols, 10, 0.5, 1.5);
      auto dy = random_values<T>(n, 11);
      auto dw0 = random_values<T>(cols, 12);
      std::vector<double> y(n), rstd(rows), dx(n), dw = dw0;
      ref::rmsnorm_forward(p(y), p(rstd), cp(x), cp(w), rows, cols, 1e-6);
      ref::rmsnorm_backward(want_dx ? p(dx) : nullptr, p(dw), cp(dy), cp(x), cp(w), cp(rstd), rows,
                            cols);
      auto bx = upload<B>(x), bw = upload<B>(w), bdy = upload<B>(dy), bdw = upload<B>(dw0),
           brstd = upload<B>(rstd);
      thaw::tensor<B> by(bx.shape()), bdx(bx.shape()), r2(thaw::shape{rows});
      B::rmsnorm_forward(by.data(), r2.data(), bx.data(), bw.data(), rows, cols, T(1e-6));
      B::rmsnorm_backward(want_dx ? bdx.data() : nullptr, bdw.data(), bdy.data(), bx.data(),
                          bw.data(), brstd.data(), rows, cols);
      INFO("rows=" << rows << " cols=" << cols);
      THAW_REQUIRE_CLOSE(download(by), y, tolerance<B>(2e-5));
      THAW_REQUIRE_CLOSE(download(r2), rstd, tolerance<B>(2e-5));
      if (want_dx) THAW_REQUIRE_CLOSE(download(bdx), dx, tolerance<B>(2e-5));
      THAW_REQUIRE_CLOSE(download(bdw), dw, tolerance<B>(2e-5 * std::sqrt(rows)));
    }
}

TEMPLATE_LIST_TEST_CASE("gelu forward and backward match reference", "[ops][gelu]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(1023), std::size_t(2048 * 33)}) {
    auto x = random_values<T>(n, 13, -6, 6);
    auto dy = random_values<T>(n, 14);
    std::vector<double> y(n), dx(n);
    ref::gelu_forward(p(y), cp(x), n);
    ref::gelu_backward(p(dx), cp(x), cp(dy), n);
    auto bx = upload<B>(x), bdy = upload<B>(dy);
    thaw::tensor<B> by(bx.shape()), bdx(bx.shape());
    B::gelu_forward(by.data(), bx.data(), n);
    B::gelu_backward(bdx.data(), bx.data(), bdy.data(), n);
    INFO("n=" << n);  // float: 1 + tanh(u) and 1 - tanh^2 cancel for |x| >> 0
    THAW_REQUIRE_CLOSE(download(by), y, tolerance<B>(1e-5));
    THAW_REQUIRE_CLOSE(download(bdx), dx, tolerance<B>(5e-5));
    B::gelu_backward(bdy.data(), bx.data(), bdy.data(), n);  // dx may alias dy
    THAW_REQUIRE_CLOSE(download(bdy), dx, tolerance<B>(5e-5));
  }
}

TEMPLATE_LIST_TEST_CASE("cross-entropy forward and backward match reference, with ignore index",
                        "[ops][cross_entropy]", thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  const thaw::token_t ignore = -100;
  for (auto [rows, vocab] : std::vector<row_shape>{{1, 1}, {7, 33}, {33, 1023}, {64, 256}}) {
    const std::size_t n = std::size_t(rows) * vocab;
    auto logits = random_values<T>(n, 15, -10, 10);
    std::vector<thaw::token_t> targets(rows);
    for (int r = 0; r < rows; ++r)
      targets[r] = (r % 5 == 3) ? ignore : thaw::token_t(thaw::philox::bits_at({9, 9}, r) % vocab);
    std::vector<double> losses(rows), dlogits(n);
    const double dloss = 1.0 / rows;
    ref::cross_entropy_forward(p(losses), cp(logits), targets.data(), rows, vocab, ignore);
    ref::cross_entropy_backward(p(dlogits), cp(logits), targets.data(), rows, vocab, ignore, dloss);
    auto bl = upload<B>(logits);
    auto bt = upload_ids<B>(targets);
    thaw::tensor<B> bloss(thaw::shape{rows}), bd(bl.shape());
    B::cross_entropy_forward(bloss.data(), bl.data(), bt.data(), rows, vocab, ignore);
    B::cross_entropy_backward(bd.data(), bl.data(), bt.data(), rows, vocab, ignore, T(dloss));
    INFO("rows=" << rows << " vocab=" << vocab);
    THAW_REQUIRE_CLOSE(download(bloss), losses, tolerance<B>(1e-5));
    THAW_REQUIRE_CLOSE(download(bd), dlogits, tolerance<B>(1e-5));
    // In place, as the fused classifier uses it.
    B::cross_entropy_backward(bl.data(), bl.data(), bt.data(), rows, vocab, ignore, T(dloss));
    THAW_REQUIRE_CLOSE(download(bl), dlogits, tolerance<B>(1e-5));
  }
  if constexpr (B::host_accessible) {
    std::vector<thaw::token_t> bad{0, 33};
    auto bt = upload_ids<B>(bad);
    thaw::tensor<B> logits(thaw::shape{2, 33}, T(0)), out(thaw::shape{2});
    REQUIRE_THROWS_WITH(
        B::cross_entropy_forward(out.data(), logits.data(), bt.data(), 2, 33, ignore),
        Catch::Contains("target 33 at row 1"));
  }
}

TEMPLATE_LIST_TEST_CASE("embedding gather and scatter-add match reference", "[ops][embedding]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  const int table_rows = 33, dim = 7, n = 1023;
  auto table = random_values<T>(std::size_t(table_rows) * dim, 16);
  auto dy = random_values<T>(std::size_t(n) * dim, 17);
  auto dtable0 = random_values<T>(table.size(), 18);
  std::vector<thaw::token_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = thaw::token_t(thaw::philox::bits_at({3, 3}, i) % table_rows);
  std::vector<double> y(std::size_t(n) * dim), dtable = dtable0;
  ref::embedding_forward(p(y), cp(table), ids.data(), n, dim, table_rows);
  ref::embedding_backward(p(dtable), cp(dy), ids.data(), n, dim);
  auto bt = upload<B>(table), bdy = upload<B>(dy), bdt = upload<B>(dtable0);
  auto bids = upload_ids<B>(ids);
  thaw::tensor<B> by(thaw::shape{n, dim});
  B::embedding_forward(by.data(), bt.data(), bids.data(), n, dim, table_rows);
  B::embedding_backward(bdt.data(), bdy.data(), bids.data(), n, dim);
  REQUIRE(download(by) == y);  // a gather is exact
  // Each table row sums ~31 gradient rows.
  THAW_REQUIRE_CLOSE(download(bdt), dtable, tolerance<B>(1e-5));
  if constexpr (B::host_accessible) {
    std::vector<thaw::token_t> bad{1, -1};
    auto bb = upload_ids<B>(bad);
    REQUIRE_THROWS_WITH(B::embedding_forward(by.data(), bt.data(), bb.data(), 2, dim, table_rows),
                        Catch::Contains("embedding id -1 at position 1"));
  }
}

TEMPLATE_LIST_TEST_CASE("elementwise ops and bias helpers match reference", "[ops][elementwise]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  for (auto [rows, cols] : kRowShapes) {
    const std::size_t n = std::size_t(rows) * cols;
    auto a = random_values<T>(n, 19), b = random_values<T>(n, 20), bias = random_values<T>(cols, 21);
    auto out0 = random_values<T>(cols, 22);
    std::vector<double> sum(n), scaled = a, axpy = a, biased = a, rowsum = out0;
    ref::add(p(sum), cp(a), cp(b), n);
    ref::scale(p(scaled), n, -1.5);
    ref::axpy(p(axpy), 0.25, cp(b), n);
    ref::add_bias(p(biased), cp(bias), rows, cols);
    ref::sum_rows(p(rowsum), cp(a), rows, cols);
    auto ba = upload<B>(a), bb = upload<B>(b), bbias = upload<B>(bias), bout = upload<B>(out0);
    thaw::tensor<B> bsum(ba.shape());
    B::add(bsum.data(), ba.data(), bb.data(), n);
    THAW_REQUIRE_CLOSE(download(bsum), sum, tolerance<B>(1e-7));
    B::sum_rows(bout.data(), ba.data(), rows, cols);
    THAW_REQUIRE_CLOSE(download(bout), rowsum, tolerance<B>(1e-6 * std::sqrt(rows)));
    auto bs = upload<B>(a);
    B::scale(bs.data(), n, T(-1.5));
    THAW_REQUIRE_CLOSE(download(bs), scaled, tolerance<B>(1e-7));
    auto bx = upload<B>(a);
    B::axpy(bx.data(), T(0.25), bb.data(), n);
    THAW_REQUIRE_CLOSE(download(bx), axpy, tolerance<B>(1e-7));
    auto bbias_out = upload<B>(a);
    B::add_bias(bbias_out.data(), bbias.data(), rows, cols);
    THAW_REQUIRE_CLOSE(download(bbias_out), biased, tolerance<B>(1e-7));
  }
}

TEMPLATE_LIST_TEST_CASE("sum and sum_squares match reference", "[ops][reduction]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(1023),
                        std::size_t(1) << 20}) {
    auto x = random_values<T>(n, 23, -1, 2);
    auto bx = upload<B>(x);
    const double s = ref::sum(x.data(), n), q = ref::sum_squares(x.data(), n);
    INFO("n=" << n);
    REQUIRE(std::abs(B::sum(bx.data(), n) - s) <= tolerance<B>(1e-6) * (1 + q));
    REQUIRE(std::abs(B::sum_squares(bx.data(), n) - q) <= tolerance<B>(1e-6) * (1 + q));
  }
}

TEMPLATE_LIST_TEST_CASE("AdamW and SGD update exactly the trainable ranges", "[ops][optimizer]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  const std::size_t n = 1023;
  const std::vector<thaw::index_range> ranges{{0, 1}, {7, 40}, {500, 1023}};
  std::size_t trainable = 0;
  for (auto r : ranges) trainable += r.size();
  auto params0 = random_values<T>(n, 24);
  auto grads = random_values<T>(n, 25);
  auto m0 = random_values<T>(trainable, 26, -0.1, 0.1);
  auto v0 = random_values<T>(trainable, 27, 0, 0.01);

  SECTION("adamw") {
    for (long step : {1L, 10L}) {
      const thaw::adamw_args args{.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                                  .weight_decay = 0.1, .step = step};
      auto params = params0, m = m0, v = v0;
      ref::adamw_update(p(params), cp(grads), p(m), p(v), ranges, args);
      auto bp = upload<B>(params0), bg = upload<B>(grads), bm = upload<B>(m0), bv = upload<B>(v0);
      B::adamw_update(bp.data(), bg.data(), bm.data(), bv.data(), ranges, args);
      auto got = download(bp);
      THAW_REQUIRE_CLOSE(got, params, tolerance<B>(1e-6));
      THAW_REQUIRE_CLOSE(download(bm), m, tolerance<B>(1e-6));
      THAW_REQUIRE_CLOSE(download(bv), v, tolerance<B>(1e-6));
      // Frozen elements are bitwise untouched.
      for (std::size_t e = 1; e < 7; ++e) REQUIRE(got[e] == params0[e]);
      for (std::size_t e = 40; e < 500; ++e) REQUIRE(got[e] == params0[e]);
    }
  }
  SECTION("sgd") {
    for (bool nesterov : {false, true})
      for (bool first : {false, true}) {
        const thaw::sgd_args args{.lr = 0.1, .momentum = 0.9, .dampening = nesterov ? 0.0 : 0.1,
                                  .weight_decay = 0.01, .nesterov = nesterov, .first_step = first};
        auto params = params0, buf = m0;
        ref::sgd_update(p(params), cp(grads), p(buf), ranges, args);
        auto bp = upload<B>(params0), bg = upload<B>(grads), bbuf = upload<B>(m0);
        B::sgd_update(bp.data(), bg.data(), bbuf.data(), ranges, args);
        auto got = download(bp);
        THAW_REQUIRE_CLOSE(got, params, tolerance<B>(1e-6));
        THAW_REQUIRE_CLOSE(download(bbuf), buf, tolerance<B>(1e-6));
        for (std::size_t e = 40; e < 500; ++e) REQUIRE(got[e] == params0[e]);
      }
    // Plain SGD: no momentum buffer at all.
    auto params = params0;
    ref::sgd_update(p(params), cp(grads), nullptr, ranges, {.lr = 0.5});
    auto bp = upload<B>(params0), bg = upload<B>(grads);
    B::sgd_update(bp.data(), bg.data(), nullptr, ranges, {.lr = 0.5});
    THAW_REQUIRE_CLOSE(download(bp), params, tolerance<B>(1e-6));
  }
}

TEMPLATE_LIST_TEST_CASE("relu, im2col, col2im and max pooling match reference", "[ops][image]",
                        thaw_test_backends) {
  using B = TestType;
  using T = typename B::scalar;
  using namespace thaw::test;
  for (const thaw::conv_geometry g : {thaw::conv_geometry{2, 3, 7, 5, 3, 1, 0}, thaw::conv_geometry{1, 2, 9, 8, 3, 2, 1},
                                      thaw::conv_geometry{3, 1, 28, 28, 5, 1, 0}}) {
    const std::size_t image = std::size_t(g.batch) * g.channels * g.height * g.width;
    const std::size_t cols = std::size_t(g.batch) * g.patch() * g.out_height() * g.out_width();
    auto x = random_values<T>(image, 31);
    auto dcol = random_values<T>(cols, 32);
    std::vector<double> col(cols), dx(image), y(image), dr(image);
    ref::im2col(p(col), cp(x), g);
    ref::col2im(p(dx), cp(dcol), g);
    ref::relu_forward(p(y), cp(x), image);
    ref::relu_backward(p(dr), cp(x), cp(dcol), image);
    auto bx = upload<B>(x), bdcol = upload<B>(dcol);
    thaw::tensor<B> bcol(thaw::shape{static_cast<std::int64_t>(cols)}),
        bdx(thaw::shape{static_cast<std::int64_t>(image)}, T(7)), by(bdx.shape()), bdr(bdx.shape());
    B::im2col(bcol.data(), bx.data(), g);
    B::col2im(bdx.data(), bdcol.data(), g);  // overwrites the 7s
    B::relu_forward(by.data(), bx.data(), image);
    B::relu_backward(bdr.data(), bx.data(), bdcol.data(), image);
    INFO("kernel " << g.kernel << " stride " << g.stride << " pad " << g.pad);
    REQUIRE(download(bcol) == col);  // copies are exact
    THAW_REQUIRE_CLOSE(download(bdx), dx, tolerance<B>(1e-6));
    REQUIRE(download(by) == y);
    REQUIRE(download(bdr) == dr);

    const thaw::pool_geometry pg{g.batch * g.channels, g.height, g.width, 2, 2};
    const std::size_t pooled = std::size_t(pg.planes) * pg.out_height() * pg.out_width();
    std::vector<double> py(pooled), pdx(image);
    std::vector<thaw::token_t> arg(pooled);
    auto dy = random_values<T>(pooled, 33);
    ref::maxpool_forward(p(py), arg.data(), cp(x), pg);
    ref::maxpool_backward(p(pdx), arg.data(), cp(dy), pg);
    thaw::tensor<B> bpy(thaw::shape{static_cast<std::int64_t>(pooled)}), bpdx(bdx.shape());
    thaw::tensor<B, thaw::token_t> barg(thaw::shape{static_cast<std::int64_t>(pooled)});
    auto bdy = upload<B>(dy);
    B::maxpool_forward(bpy.data(), barg.data(), bx.data(), pg);
    B::maxpool_backward(bpdx.data(), barg.data(), bdy.data(), pg);
    REQUIRE(download(bpy) == py);
    REQUIRE(barg.to_host() == arg);
    REQUIRE(download(bpdx) == pdx);
  }
}
