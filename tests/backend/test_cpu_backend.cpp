// Checks specific to the cpu backend (the shared op cases in op_cases.hpp run over it too):
// both GEMM policies against a plain triple loop on the multi-threaded paths, batching,
// results that must not depend on the thread count, calls from inside a parallel region,
// the OpenBLAS threading arrangement, allocation alignment and input errors.
#include <cblas.h>
#include <omp.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "thaw/backend/cpu.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"

namespace {

using thaw::backend::cpu;
using blas_cpu = cpu<thaw::gemm_policy::blas>;
using eigen_cpu = cpu<thaw::gemm_policy::eigen>;
using floats = std::vector<float>;

floats random_floats(std::size_t n, std::uint64_t stream, double lo = -1.0, double hi = 1.0) {
  floats v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(thaw::philox::uniform_at({77, stream}, i, lo, hi));
  return v;
}

/// C = alpha op(A) op(B) + beta C in double over the m x n block, the obvious way.
void triple_loop(bool ta, bool tb, int m, int n, int k, double alpha, const floats& a, int lda,
                 const floats& b, int ldb, double beta, std::vector<double>& c, int ldc) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int p = 0; p < k; ++p)
        acc += double(ta ? a[std::size_t(p) * lda + i] : a[std::size_t(i) * lda + p]) *
               double(tb ? b[std::size_t(j) * ldb + p] : b[std::size_t(p) * ldb + j]);
      double& out = c[std::size_t(i) * ldc + j];
      out = beta == 0 ? alpha * acc : alpha * acc + beta * out;
    }
}

/// max |actual - expected| / max(max |expected|, 1) over the m x n block; padding columns
/// (n..ldc) must keep their old values, NaN included.
double gemm_error(const floats& actual, const std::vector<double>& expected, const floats& before,
                  int m, int n, int ldc) {
  double worst = 0, scale = 1;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < ldc; ++j) {
      const std::size_t e = std::size_t(i) * ldc + j;
      if (j >= n) {
        const bool same =
            actual[e] == before[e] || (std::isnan(actual[e]) && std::isnan(before[e]));
        if (!same) return std::numeric_limits<double>::infinity();
        continue;
      }
      if (std::isnan(actual[e])) return std::numeric_limits<double>::infinity();
      scale = std::max(scale, std::abs(expected[e]));
      worst = std::max(worst, std::abs(actual[e] - expected[e]));
    }
  return worst / scale;
}

/// v placed `shift` zeros into a new buffer: the same data at another address (alignment).
floats shifted_by(const floats& v, std::size_t shift) {
  floats shifted(v.size() + shift, 0.0f);
  std::copy(v.begin(), v.end(), shifted.begin() + shift);
  return shifted;
}
/// The data of a shifted_by buffer, without its first `shift` elements.
floats unshifted(const floats& v, std::size_t shift) { return floats(v.begin() + shift, v.end()); }

/// Runs `body` with the OpenMP thread count set to `threads`, restoring it afterwards.
void with_threads(int threads, const std::function<void()>& body) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  body();
  omp_set_num_threads(saved);
}

/// Requires two runs' outputs to be bit-identical, naming the first element that differs.
void require_identical(const std::vector<floats>& first, const std::vector<floats>& second) {
  REQUIRE(first.size() == second.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    REQUIRE(first[i].size() == second[i].size());
    const auto [a, b] = std::mismatch(first[i].begin(), first[i].end(), second[i].begin());
    INFO("output " << i << ", element " << (a - first[i].begin()));
    REQUIRE(a == first[i].end());
  }
}

/// The same op run with 1, 2, 3, 4 and 7 threads must give bit-identical outputs (odd counts cut
/// the work at boundaries that are not multiples of any vector width); `run` computes the
/// outputs from fixed inputs into fresh buffers.
void require_thread_independent(const std::function<std::vector<floats>()>& run) {
  std::vector<floats> one;
  with_threads(1, [&] { one = run(); });
  for (const int threads : {2, 3, 4, 7}) {
    INFO(threads << " threads");
    std::vector<floats> other;
    with_threads(threads, [&] { other = run(); });
    require_identical(one, other);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("cpu gemm matches a triple loop on the threaded paths", "[cpu][gemm]", blas_cpu,
                   eigen_cpu) {
  using B = TestType;
  struct shape {
    int m, n, k;
  };
  // Large enough to be split over threads (rows when m >= n, else columns), with odd sizes;
  // k = 1 and skinny shapes exercise the kernels' edges.
  const shape shapes[] = {{1023, 33, 257}, {33, 1023, 257}, {1023, 1023, 1}, {1, 1023, 1023},
                          {7, 1023, 33},   {1023, 7, 33},   {257, 255, 129}};
  std::uint64_t stream = 1;
  for (const auto [m, n, k] : shapes)
    for (int t = 0; t < 4; ++t)
      for (const double beta : {0.0, 1.0, -0.75}) {
        const bool ta = t & 1, tb = t & 2;
        const double alpha = beta == 1.0 ? 1.0 : 0.5;
        const int lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 3, ldc = n + 2;
        const floats a = random_floats(std::size_t(ta ? k : m) * lda, ++stream);
        const floats b = random_floats(std::size_t(tb ? n : k) * ldb, ++stream);
        floats c = random_floats(std::size_t(m) * ldc, ++stream);
        // beta == 0 must ignore C entirely, NaN included.
        if (beta == 0.0) std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN());
        const floats before = c;
        std::vector<double> expected(before.begin(), before.end());
        triple_loop(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
        B::gemm(ta, tb, m, n, k, float(alpha), a.data(), lda, b.data(), ldb, float(beta), c.data(),
                ldc);
        INFO(B::name() << " m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb
                       << " beta=" << beta);
        REQUIRE(gemm_error(c, expected, before, m, n, ldc) <= 2e-6 * std::sqrt(double(k)) + 1e-6);
      }
}

TEMPLATE_TEST_CASE("cpu gemm with an empty dimension", "[cpu][gemm]", blas_cpu, eigen_cpu) {
  using B = TestType;
  const floats a(8, 1.0f), b(8, 1.0f);
  floats c{1, 2, std::numeric_limits<float>::quiet_NaN(), 4};
  // k == 0: C = beta C; with beta == 0, C = 0 whatever it held.
  B::gemm(false, false, 2, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 0.5f, c.data(), 2);
  REQUIRE(c[0] == 0.5f);
  REQUIRE(c[3] == 2.0f);
  REQUIRE(std::isnan(c[2]));
  B::gemm(false, false, 2, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 0.0f, c.data(), 2);
  REQUIRE(c == floats{0, 0, 0, 0});
  // m == 0 or n == 0: nothing to write.
  B::gemm(false, false, 0, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  B::gemm(true, true, 2, 0, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 1);
  REQUIRE(c == floats{0, 0, 0, 0});
}

TEMPLATE_TEST_CASE("cpu gemm_strided_batched matches a triple loop per problem", "[cpu][gemm]",
                   blas_cpu, eigen_cpu) {
  using B = TestType;
  // 48 problems split over threads; 3 problems on 2+ threads run one all-thread GEMM each.
  for (const int batch : {48, 3, 1})
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const int m = 65, n = 33, k = 17;
      const int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
      const std::int64_t sa = std::int64_t(m) * k + 3, sb = std::int64_t(k) * n + 1,
                         sc = std::int64_t(m) * n + 5;
      const floats a = random_floats(std::size_t(sa) * batch, 10 + t),
                   b = random_floats(std::size_t(sb) * batch, 20 + t);
      floats c = random_floats(std::size_t(sc) * batch, 30 + t);
      std::vector<double> expected(c.begin(), c.end());
      for (int i = 0; i < batch; ++i) {
        const floats ai(a.begin() + i * sa, a.begin() + (i + 1) * sa),
            bi(b.begin() + i * sb, b.begin() + (i + 1) * sb);
        std::vector<double> ci(expected.begin() + i * sc, expected.begin() + (i + 1) * sc);
        triple_loop(ta, tb, m, n, k, 0.5, ai, lda, bi, ldb, -1.0, ci, ldc);
        std::copy(ci.begin(), ci.end(), expected.begin() + i * sc);
      }
      B::gemm_strided_batched(ta, tb, m, n, k, 0.5f, a.data(), lda, sa, b.data(), ldb, sb, -1.0f,
                              c.data(), ldc, sc, batch);
      INFO(B::name() << " batch=" << batch << " ta=" << ta << " tb=" << tb);
      double worst = 0;
      for (std::size_t e = 0; e < c.size(); ++e)
        worst = std::max(worst, std::abs(c[e] - expected[e]));
      REQUIRE(worst <= 1e-5);
    }
}

TEMPLATE_TEST_CASE("cpu gemm called from inside a parallel region runs per thread", "[cpu][gemm]",
                   blas_cpu, eigen_cpu) {
  using B = TestType;
  const int m = 300, n = 200, k = 150, problems = 4;
  const floats a = random_floats(std::size_t(m) * k * problems, 1),
               b = random_floats(std::size_t(k) * n, 2);
  floats serial(std::size_t(m) * n * problems), nested(serial.size());
  for (int i = 0; i < problems; ++i)
    B::gemm(false, false, m, n, k, 1.0f, a.data() + i * m * k, k, b.data(), n, 0.0f,
            serial.data() + i * m * n, n);
  B::policy::prepare_concurrent();
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < problems; ++i)
    B::gemm(false, false, m, n, k, 1.0f, a.data() + i * m * k, k, b.data(), n, 0.0f,
            nested.data() + i * m * n, n);
  double worst = 0;
  for (std::size_t e = 0; e < serial.size(); ++e)
    worst = std::max(worst, double(std::abs(serial[e] - nested[e])));
  REQUIRE(worst <= 1e-4);
}

TEST_CASE("cpu<blas> keeps OpenBLAS's pthread pool out of thaw's OpenMP threads", "[cpu][gemm]") {
  if (openblas_get_parallel() != 1) {
    WARN("OpenBLAS is not the pthread build: nothing to check");
    return;
  }
  openblas_set_num_threads(2);  // as a user or the environment might have it
  const int m = 512, n = 256, k = 128;
  const floats a = random_floats(std::size_t(m) * k, 1), b = random_floats(std::size_t(k) * n, 2);
  floats c(std::size_t(m) * n);
  blas_cpu::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  REQUIRE(openblas_get_num_threads() == 1);
  std::vector<double> expected(c.size());
  triple_loop(false, false, m, n, k, 1.0, a, k, b, n, 0.0, expected, n);
  REQUIRE(gemm_error(c, expected, c, m, n, n) <= 1e-5);
}

TEST_CASE("cpu row, reduction and optimizer ops do not depend on the thread count",
          "[cpu][threads]") {
  using B = blas_cpu;
  // Above the fork thresholds, with row counts that are not multiples of the row block.
  const int rows = 1000, cols = 385, vocab = 257;
  const std::size_t n = std::size_t(rows) * cols;
  const floats x = random_floats(n, 1, -4, 4), dy = random_floats(n, 2),
               w = random_floats(cols, 3, 0.5, 1.5), bias = random_floats(cols, 4),
               logits = random_floats(std::size_t(rows) * vocab, 5, -8, 8);
  std::vector<thaw::token_t> ids(rows);
  for (int i = 0; i < rows; ++i) ids[i] = thaw::token_t(thaw::philox::bits_at({5, 5}, i) % 37);

  SECTION("softmax") {
    require_thread_independent([&] {
      floats y(n), dx(n);
      B::softmax_forward(y.data(), x.data(), rows, cols, 0.125f, true);
      B::softmax_backward(dx.data(), y.data(), dy.data(), rows, cols, 0.125f);
      return std::vector<floats>{y, dx};
    });
  }
  SECTION("layernorm and rmsnorm, with parameter gradients") {
    require_thread_independent([&] {
      floats y(n), mean(rows), rstd(rows), dx(n), dw(cols, 0.5f), db(cols, -0.5f), ry(n),
          rrstd(rows), rdx(n), rdw(cols, 0.25f);
      B::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), bias.data(),
                           rows, cols, 1e-5f);
      B::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(),
                            mean.data(), rstd.data(), rows, cols);
      B::rmsnorm_forward(ry.data(), rrstd.data(), x.data(), w.data(), rows, cols, 1e-6f);
      B::rmsnorm_backward(rdx.data(), rdw.data(), dy.data(), x.data(), w.data(), rrstd.data(), rows,
                          cols);
      return std::vector<floats>{y, mean, rstd, dx, dw, db, ry, rrstd, rdx, rdw};
    });
  }
  SECTION("gelu, cross-entropy, embedding, bias gradient") {
    require_thread_independent([&] {
      floats g(n), dg(n), losses(rows), dlogits(logits.size()),
          dtable(std::size_t(37) * cols, 1.0f), emb(n), bias_grad(cols, 2.0f);
      std::vector<thaw::token_t> targets(rows);
      for (int r = 0; r < rows; ++r) targets[r] = r % 11 == 0 ? -100 : (r * 7) % vocab;
      B::gelu_forward(g.data(), x.data(), n);
      B::gelu_backward(dg.data(), x.data(), dy.data(), n);
      B::cross_entropy_forward(losses.data(), logits.data(), targets.data(), rows, vocab, -100);
      B::cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), rows, vocab, -100,
                                1.0f / rows);
      B::embedding_forward(emb.data(), x.data(), ids.data(), rows, cols, rows);
      B::embedding_backward(dtable.data(), dy.data(), ids.data(), rows, cols);
      B::sum_rows(bias_grad.data(), dy.data(), rows, cols);
      return std::vector<floats>{g, dg, losses, dlogits, dtable, emb, bias_grad};
    });
  }
  SECTION("sum, sum_squares and the optimizers") {
    const std::vector<thaw::index_range> ranges{{3, 40000}, {40001, 40002}, {50000, 385000}};
    require_thread_independent([&] {
      const floats sums{float(B::sum(x.data(), n)), float(B::sum_squares(x.data(), n))};
      floats p = x, m(n, 0.01f), v(n, 0.02f), sp = x, buf(n, 0.1f);
      B::adamw_update(
          p.data(), dy.data(), m.data(), v.data(), ranges,
          {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1, .step = 3});
      B::sgd_update(sp.data(), dy.data(), buf.data(), ranges,
                    {.lr = 0.1, .momentum = 0.9, .nesterov = true});
      return std::vector<floats>{sums, p, m, v, sp, buf};
    });
  }
}

TEST_CASE("cpu elementwise, fill, image and GEMM ops do not depend on the thread count",
          "[cpu][threads]") {
  // Sizes above every fork threshold, not multiples of any vector width or of the threads.
  const std::size_t n = 200'003;
  const floats x = random_floats(n, 11, -3, 3), y0 = random_floats(n, 12);
  SECTION("add, scale, axpy, add_bias, relu, copy") {
    require_thread_independent([&] {
      using B = blas_cpu;
      floats sum(n), scaled = x, axpy = y0, biased = y0, relu(n), drelu(n), copied(n);
      B::add(sum.data(), x.data(), y0.data(), n);
      B::scale(scaled.data(), n, 0.3f);
      B::axpy(axpy.data(), -0.7f, x.data(), n);
      B::add_bias(biased.data(), x.data(), 1000, 200);  // the first 200 of x as the bias
      B::relu_forward(relu.data(), x.data(), n);
      B::relu_backward(drelu.data(), x.data(), y0.data(), n);
      B::copy(copied.data(), x.data(), n);
      return std::vector<floats>{sum, scaled, axpy, biased, relu, drelu, copied};
    });
  }
  SECTION("random fills") {
    require_thread_independent([&] {
      using B = blas_cpu;
      floats u(n), g(n), b(n), f(n);
      B::fill_uniform(u.data(), n, {9, 1}, 12345, -0.5, 2.0);
      B::fill_normal(g.data(), n, {9, 2}, 7, 0.0, 0.02);
      B::fill_bernoulli(b.data(), n, {9, 3}, 0, 0.3);
      B::fill(f.data(), n, 0.25f);
      return std::vector<floats>{u, g, b, f};
    });
  }
  SECTION("im2col, col2im, max-pool") {
    require_thread_independent([&] {
      using B = blas_cpu;
      const thaw::conv_geometry conv{.batch = 7, .channels = 3, .height = 13, .width = 11,
                                     .kernel = 3, .stride = 2, .pad = 1};
      const thaw::pool_geometry pool{.planes = 21, .height = 13, .width = 11, .kernel = 2, .stride = 2};
      const std::size_t image = std::size_t(conv.batch) * conv.channels * conv.height * conv.width;
      const std::size_t col =
          std::size_t(conv.batch) * conv.patch() * conv.out_height() * conv.out_width();
      floats cols(col), back(image, 0.0f), pooled(std::size_t(pool.planes) *
                                                    pool.out_height() * pool.out_width()),
          dpool(image, 0.0f);
      std::vector<thaw::token_t> argmax(pooled.size());
      B::im2col(cols.data(), x.data(), conv);
      B::col2im(back.data(), y0.data(), conv);
      B::maxpool_forward(pooled.data(), argmax.data(), x.data(), pool);
      B::maxpool_backward(dpool.data(), argmax.data(), y0.data(), pool);
      floats argmax_floats(argmax.begin(), argmax.end());
      return std::vector<floats>{cols, back, pooled, dpool, argmax_floats};
    });
  }
  // Each thread computes whole elements of C (a slab of rows or columns), so the sum over k, in
  // the library's own order, is the same whichever thread computes it.
  const floats ga = random_floats(std::size_t(2048) * 1152, 13),
               gb = random_floats(std::size_t(2048) * 1152, 14);
  SECTION("gemm, blas policy") {
    require_thread_independent([&] {
      std::vector<floats> out;
      for (const auto [m, nn, k] : {std::array{2048, 384, 1152}, std::array{384, 1152, 2048},
                                    std::array{1001, 257, 385}})
        for (const bool ta : {false, true}) {
          floats c(std::size_t(m) * nn, 0.5f);
          blas_cpu::gemm(ta, !ta, m, nn, k, 1.0f, ga.data(), ta ? m : k, gb.data(), ta ? nn : k,
                         1.0f, c.data(), nn);
          out.push_back(c);
        }
      return out;
    });
  }
  SECTION("gemm, eigen policy") {
    require_thread_independent([&] {
      std::vector<floats> out;
      for (const auto [m, nn, k] : {std::array{2048, 384, 1152}, std::array{1001, 257, 385}}) {
        floats c(std::size_t(m) * nn, 0.5f);
        eigen_cpu::gemm(false, false, m, nn, k, 1.0f, ga.data(), k, gb.data(), nn, 1.0f, c.data(),
                        nn);
        out.push_back(c);
      }
      return out;
    });
  }
}

TEST_CASE("cpu optimizers give the same bits however the index ranges are cut",
          "[cpu][threads]") {
  // The same 100,003 parameters updated as one range, as ranges cut at odd places, and
  // starting at odd offsets of their buffers (another alignment): every element must come out
  // the same, as it would when a freeze mask splits the ranges or a thread cuts them.
  using B = blas_cpu;
  const std::size_t n = 100'003;
  const floats p0 = random_floats(n, 21), g = random_floats(n, 22), m0 = random_floats(n, 23),
               v0 = random_floats(n, 24, 0.0, 0.1);
  const auto run = [&](const std::vector<std::size_t>& cuts, std::size_t shift) {
    const auto at = [shift](const floats& v) { return shifted_by(v, shift); };
    floats p = at(p0), gs = at(g), m = at(m0), v = at(v0), sp = at(p0), buf = at(m0);
    std::vector<thaw::index_range> ranges;
    std::size_t begin = 0;
    for (const std::size_t cut : cuts) {
      ranges.push_back({shift + begin, shift + cut});
      begin = cut;
    }
    ranges.push_back({shift + begin, shift + n});
    // The state of range r starts where the previous ranges' states end: with the one-range run,
    // the compacted state is then m[shift...] in both cases.
    B::adamw_update(
        p.data(), gs.data(), m.data() + shift, v.data() + shift, ranges,
        {.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1, .step = 7});
    B::sgd_update(sp.data(), gs.data(), buf.data() + shift, ranges,
                  {.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
    const auto tail = [shift](const floats& v) { return unshifted(v, shift); };
    return std::vector<floats>{tail(p), tail(m), tail(v), tail(sp), tail(buf)};
  };
  const std::vector<floats> whole = run({}, 0);
  for (const std::size_t shift : {0, 1, 3, 7})
    for (const auto& cuts : {std::vector<std::size_t>{1}, std::vector<std::size_t>{5, 17, 40'001},
                             std::vector<std::size_t>{33'333, 66'667, 99'999}}) {
      INFO("shift " << shift << ", " << cuts.size() << " cuts from " << cuts.front());
      with_threads(cuts.size() == 1 ? 1 : 3, [&] { require_identical(whole, run(cuts, shift)); });
    }
}

TEST_CASE("cpu row ops give the same bits wherever the data sits in memory", "[cpu][threads]") {
  // A row's result must not depend on its address (vector loops peel or mask differently at
  // different alignments), or the same rows would give other bits in another batch layout.
  using B = blas_cpu;
  const int rows = 3, cols = 333;
  const std::size_t n = std::size_t(rows) * cols;
  const floats x = random_floats(n, 1, -6, 6), dy = random_floats(n, 2),
               w = random_floats(cols, 3, 0.5, 1.5);
  const std::vector<thaw::token_t> targets{5, 0, 332};
  const auto run = [&](std::size_t shift) {
    // Inputs and outputs start `shift` floats into their buffers.
    const auto at = [shift](const floats& v) { return shifted_by(v, shift); };
    floats xs = at(x), dys = at(dy), y(n + shift), mean(rows + shift), rstd(rows + shift),
           dx(n + shift), losses(rows + shift), g(n + shift), dg(n + shift), sums(2);
    float* const o = nullptr;
    B::softmax_forward(y.data() + shift, xs.data() + shift, rows, cols, 0.5f, false);
    floats softmax(y.begin() + shift, y.end());
    B::layernorm_forward(y.data() + shift, mean.data() + shift, rstd.data() + shift,
                         xs.data() + shift, w.data(), o, rows, cols, 1e-5f);
    B::layernorm_backward(dx.data() + shift, o, o, dys.data() + shift, xs.data() + shift, w.data(),
                          mean.data() + shift, rstd.data() + shift, rows, cols);
    B::cross_entropy_forward(losses.data() + shift, xs.data() + shift, targets.data(), rows, cols,
                             -1);
    B::gelu_forward(g.data() + shift, xs.data() + shift, n);
    B::gelu_backward(dg.data() + shift, xs.data() + shift, dys.data() + shift, n);
    sums = {float(B::sum(xs.data() + shift, n)), float(B::sum_squares(xs.data() + shift, n))};
    floats params = at(x), m(n + shift, 0.01f), v(n + shift, 0.02f);
    const std::vector<thaw::index_range> all{{shift, shift + n}};
    B::adamw_update(
        params.data(), dys.data(), m.data() + shift, v.data() + shift, all,
        {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1, .step = 2});
    const auto tail = [shift](const floats& v) { return unshifted(v, shift); };
    return std::vector<floats>{softmax, tail(y),  tail(mean), tail(rstd),   tail(dx), tail(losses),
                               tail(g), tail(dg), sums,       tail(params), tail(m),  tail(v)};
  };
  const std::vector<floats> aligned = run(0);
  for (const std::size_t shift : {1, 2, 3, 5}) {
    INFO("shift " << shift);
    require_identical(aligned, run(shift));
  }
}

TEST_CASE("cpu sum and sum_squares accumulate in double", "[cpu][reduction]") {
  // 2^24 + 1 ones: a float accumulator stops at 2^24.
  const std::size_t n = (std::size_t(1) << 24) + 1;
  const floats ones(n, 1.0f);
  REQUIRE(blas_cpu::sum(ones.data(), n) == double(n));
  REQUIRE(blas_cpu::sum_squares(ones.data(), n) == double(n));
}

TEST_CASE("cpu allocations are 64-byte aligned and allocate(0) is valid", "[cpu][memory]") {
  for (const std::size_t n : {0, 1, 3, 17, 1000}) {
    float* f = blas_cpu::allocate<float>(n);
    thaw::token_t* t = blas_cpu::allocate<thaw::token_t>(n);
    REQUIRE(f != nullptr);
    REQUIRE(reinterpret_cast<std::uintptr_t>(f) % 64 == 0);
    REQUIRE(reinterpret_cast<std::uintptr_t>(t) % 64 == 0);
    blas_cpu::deallocate(f);
    blas_cpu::deallocate(t);
  }
  REQUIRE_THROWS_AS(blas_cpu::allocate<float>(std::numeric_limits<std::size_t>::max() / 2),
                    std::bad_alloc);
}

TEST_CASE("cpu copy handles large and overlapping ranges", "[cpu][memory]") {
  const std::size_t n = 100'000;  // above the fork threshold
  floats original(n + 1);
  for (std::size_t i = 0; i <= n; ++i) original[i] = float(i);
  floats copied(n + 1, -1.0f);
  blas_cpu::copy(copied.data(), original.data(), n);
  REQUIRE(std::equal(copied.begin(), copied.begin() + n, original.begin()));
  REQUIRE(copied[n] == -1.0f);
  floats up = original, down = original;
  blas_cpu::copy(up.data() + 1, up.data(), n);  // overlapping, in both directions
  blas_cpu::copy(down.data(), down.data() + 1, n);
  REQUIRE(std::equal(up.begin() + 1, up.end(), original.begin()));
  REQUIRE(std::equal(down.begin(), down.end() - 1, original.begin() + 1));
}

TEST_CASE("cpu optimizers reject malformed index ranges", "[cpu][errors]") {
  floats params(10, 1.0f), grads(10, 1.0f), m(10), v(10);
  const std::vector<thaw::index_range> overlapping{{0, 5}, {4, 8}}, backwards{{6, 3}};
  REQUIRE_THROWS_AS(
      blas_cpu::adamw_update(params.data(), grads.data(), m.data(), v.data(), overlapping, {}),
      thaw::error);
  REQUIRE_THROWS_AS(blas_cpu::sgd_update(params.data(), grads.data(), nullptr, backwards, {}),
                    thaw::error);
  REQUIRE_THROWS_AS(blas_cpu::adamw_update(params.data(), grads.data(), m.data(), v.data(),
                                           std::vector<thaw::index_range>{{0, 10}}, {.step = 0}),
                    thaw::error);
  REQUIRE(params == floats(10, 1.0f));
}

TEST_CASE("cpu backends name their policy", "[cpu]") {
  REQUIRE(std::string(blas_cpu::name()) == "cpu<blas>");
  REQUIRE(std::string(eigen_cpu::name()) == "cpu<eigen>");
}

TEST_CASE("cpu cross-entropy and embedding reject out-of-range indices", "[cpu][errors]") {
  using B = blas_cpu;
  const int vocab = 5;
  floats logits(3 * vocab, 0.0f), losses(3), dlogits(3 * vocab);
  const auto forward = [&](std::vector<thaw::token_t> targets, thaw::token_t ignore) {
    B::cross_entropy_forward(losses.data(), logits.data(), targets.data(), 3, vocab, ignore);
  };
  const auto backward = [&](std::vector<thaw::token_t> targets) {
    B::cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), 3, vocab, -100, 1.0f);
  };
  REQUIRE_THROWS_AS(forward({0, 5, 1}, -100), thaw::error);
  REQUIRE_THROWS_WITH(forward({0, 1, -1}, -100), Catch::Contains("target -1 at row 2"));
  REQUIRE_THROWS_WITH(backward({7, 1, 1}), Catch::Contains("target 7 at row 0"));
  REQUIRE_NOTHROW(forward({-100, 4, 0}, -100));
  REQUIRE(losses[0] == 0.0f);
  // An ignore index inside the vocabulary ignores that class.
  REQUIRE_NOTHROW(forward({2, 2, 1}, 2));
  REQUIRE(losses[0] == 0.0f);
  REQUIRE(losses[2] == Approx(std::log(5.0)));

  const floats table(4 * 3, 1.0f);
  floats y(2 * 3);
  const std::vector<thaw::token_t> good{3, 0}, past_end{0, 4}, negative{-2, 0};
  REQUIRE_NOTHROW(B::embedding_forward(y.data(), table.data(), good.data(), 2, 3, 4));
  REQUIRE_THROWS_WITH(B::embedding_forward(y.data(), table.data(), past_end.data(), 2, 3, 4),
                      Catch::Contains("id 4 at position 1"));
  REQUIRE_THROWS_AS(B::embedding_forward(y.data(), table.data(), negative.data(), 2, 3, 4),
                    thaw::error);
}
