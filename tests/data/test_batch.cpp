// Batching: pack and pad layouts on a hand-made dataset, separators, metadata prefixes with
// masked targets, exact resumption of the batcher, and its bad-input errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

#include "thaw/data/batch.hpp"
#include "thaw/data/builder.hpp"
#include "thaw/data/from_dataset.hpp"
#include "thaw/data/mixture.hpp"
#include "thaw/data/meco.hpp"
#include "thaw/data/sequential.hpp"
#include "thaw/data/shuffled.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;

namespace {

// Documents: [1 2 3], [4 5 6 7 8], [9], [10 .. 29]; vocabulary 64, end-of-text 63;
// domains "a" (prefix 50 51) for documents 0, 2 and "b" (prefix 52) for 1, 3.
std::filesystem::path make_dataset(const test_dir& dir, std::int64_t eot = 63) {
  std::vector<std::uint32_t> toks = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (std::uint32_t t = 10; t < 30; ++t) toks.push_back(t);
  const std::vector<std::uint64_t> offs = {0, 3, 8, 9, 29};
  const std::vector<std::uint32_t> dd = {0, 1, 0, 1};
  const std::vector<std::string> names = {"a", "b"};
  const std::vector<std::vector<std::uint32_t>> pre = {{50, 51}, {52}};
  const auto p = dir.path / ("t" + std::to_string(eot) + ".tokens");
  detail::write_file_atomic(p, detail::serialize_dataset(toks, offs, dd, names, pre, 64, eot));
  return p;
}

std::vector<std::int32_t> row(const token_batch& b, std::size_t r) {
  const auto s = b.row(r);
  return {s.begin(), s.end()};
}
std::vector<std::int32_t> targets(const token_batch& b, std::size_t r) {
  return {b.targets.begin() + static_cast<std::ptrdiff_t>(r * b.T),
          b.targets.begin() + static_cast<std::ptrdiff_t>((r + 1) * b.T)};
}
using V = std::vector<std::int32_t>;
constexpr std::int32_t I = -100;

}  // namespace

TEST_CASE("batch: pack concatenates documents, rows overlap by one token") {
  test_dir dir("batch_pack");
  const auto ds = token_dataset::open(make_dataset(dir, -1));
  auto b = make_batcher({&ds}, sequential(pool::all(4)), {.batch = 3, .context = 4, .mode = layout::pack});
  const auto x = b.next();
  CHECK(x.B == 3);
  CHECK(x.T == 4);
  CHECK(row(x, 0) == V{1, 2, 3, 4, 5});
  CHECK(row(x, 1) == V{5, 6, 7, 8, 9});
  CHECK(row(x, 2) == V{9, 10, 11, 12, 13});
  CHECK(targets(x, 0) == V{2, 3, 4, 5});
  const auto y = b.next();
  CHECK(row(y, 0) == V{13, 14, 15, 16, 17});
}

TEST_CASE("batch: pack puts the end-of-text separator between documents") {
  test_dir dir("batch_sep");
  const auto ds = token_dataset::open(make_dataset(dir, 63));
  auto b = make_batcher({&ds}, sequential(pool::all(4)), {.batch = 2, .context = 6});
  const auto x = b.next();
  CHECK(row(x, 0) == V{1, 2, 3, 63, 4, 5, 6});
  CHECK(row(x, 1) == V{6, 7, 8, 63, 9, 63, 10});
  auto none = make_batcher({&ds}, sequential(pool::all(4)), {.batch = 1, .context = 6, .separator = -1});
  CHECK(row(none.next(), 0) == V{1, 2, 3, 4, 5, 6, 7});
  auto custom = make_batcher({&ds}, sequential(pool::all(4)), {.batch = 1, .context = 6, .separator = 0});
  CHECK(row(custom.next(), 0) == V{1, 2, 3, 0, 4, 5, 6});
}

TEST_CASE("batch: pad keeps one document per row, pads and masks") {
  test_dir dir("batch_pad");
  const auto ds = token_dataset::open(make_dataset(dir));
  auto b = make_batcher({&ds}, sequential(pool::all(4)),
                        {.batch = 6, .context = 4, .mode = layout::pad, .pad_id = 0});
  const auto x = b.next();
  CHECK(row(x, 0) == V{1, 2, 3, 0, 0});
  CHECK(targets(x, 0) == V{2, 3, I, I});
  CHECK(row(x, 1) == V{4, 5, 6, 7, 8});  // exactly T + 1: ends in this row
  CHECK(targets(x, 1) == V{5, 6, 7, 8});
  CHECK(row(x, 2) == V{9, 0, 0, 0, 0});
  CHECK(targets(x, 2) == V{I, I, I, I});
  CHECK(row(x, 3) == V{10, 11, 12, 13, 14});  // a long document continues, overlapping by one
  CHECK(row(x, 4) == V{14, 15, 16, 17, 18});
  CHECK(row(x, 5) == V{18, 19, 20, 21, 22});
  const auto y = b.next();
  CHECK(row(y, 0) == V{22, 23, 24, 25, 26});
  CHECK(row(y, 1) == V{26, 27, 28, 29, 0});
  CHECK(targets(y, 1) == V{27, 28, 29, I});
  CHECK(row(y, 2) == V{1, 2, 3, 0, 0});  // next epoch
}

TEST_CASE("batch: metadata-conditioned samples get their domain prefix, without loss on it") {
  test_dir dir("batch_meco");
  const auto ds = token_dataset::open(make_dataset(dir));
  auto b = make_batcher({&ds}, meco(sequential(pool::all(4)), 2), {.batch = 3, .context = 5, .mode = layout::pad});
  const auto x = b.next();
  CHECK(row(x, 0) == V{50, 51, 1, 2, 3, 0});
  CHECK(targets(x, 0) == V{I, 1, 2, 3, I});  // the tag token 51 is not a target; doc tokens are
  CHECK(row(x, 1) == V{52, 4, 5, 6, 7, 8});
  CHECK(targets(x, 1) == V{4, 5, 6, 7, 8});
  CHECK(row(x, 2) == V{9, 0, 0, 0, 0, 0});  // cool-down: no tag
  auto packed = make_batcher({&ds}, meco(sequential(pool::all(4)), 1), {.batch = 1, .context = 7, .separator = -1});
  const auto p = packed.next();
  CHECK(row(p, 0) == V{50, 51, 1, 2, 3, 4, 5, 6});
  CHECK(targets(p, 0) == V{I, 1, 2, 3, 4, 5, 6});
  auto unmasked = make_batcher({&ds}, meco(sequential(pool::all(4)), 1),
                               {.batch = 1, .context = 7, .separator = -1, .mask_tags = false});
  CHECK(targets(unmasked.next(), 0) == V{51, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("batch: the batcher resumes its exact token stream") {
  test_dir dir("batch_resume");
  const auto ds = token_dataset::open(make_dataset(dir));
  for (const auto mode : {layout::pack, layout::pad}) {
    auto make = [&] {
      return make_batcher({&ds}, meco(shuffled(pool::all(4), 3), 9), {.batch = 2, .context = 3, .mode = mode});
    };
    auto ref = make();
    std::vector<token_batch> full;
    for (int i = 0; i < 20; ++i) full.push_back(ref.next());
    for (const int k : {0, 1, 5, 13}) {
      auto a = make();
      for (int i = 0; i < k; ++i) (void)a.next();
      sampler_state st;
      state_writer w(st);
      a.save(w);
      auto b = make();
      (void)b.next();
      state_reader r(st);
      b.restore(r);
      r.finish();
      for (int i = k; i < 20; ++i) {
        const auto x = b.next();
        REQUIRE(x.tokens == full[static_cast<std::size_t>(i)].tokens);
        REQUIRE(x.targets == full[static_cast<std::size_t>(i)].targets);
      }
    }
  }
}

TEST_CASE("batch: bad input is an error naming the dataset") {
  test_dir dir("batch_bad");
  const auto ds = token_dataset::open(make_dataset(dir));
  CHECK_THAT(error_of([&] { (void)make_batcher({&ds}, sequential(pool::all(4)), {.batch = 1, .context = 29}); }),
             Catch::Contains("t63.tokens") && Catch::Contains("shorter than one context of T + 1 = 30"));
  CHECK(error_of([&] { (void)make_batcher({&ds}, sequential(pool::all(4)), {.batch = 1, .context = 28}); }) == "no error");
  CHECK_THAT(error_of([&] { (void)make_batcher({&ds}, sequential(pool::all(4)), {.batch = 0}); }),
             Catch::Contains("batch size"));
  auto wrong = make_batcher({&ds}, sequential(pool::all(9)), {.batch = 8, .context = 28, .mode = layout::pad});
  CHECK_THAT(error_of([&] { (void)wrong.next(); }), Catch::Contains("document 4") && Catch::Contains("has 4"));
  auto wrong_src = make_batcher({&ds}, sequential(pool::all(4, 1)), {.batch = 1, .context = 2});
  CHECK_THAT(error_of([&] { (void)wrong_src.next(); }), Catch::Contains("source 1"));
}

TEST_CASE("from_dataset: DESIGN.md's mixture of a shuffled and a curriculum dataset sampler") {
  test_dir dir("from_dataset");
  build_dataset(small_corpus(40), tokenizer{}, dir.path / "english", {.val_fraction = 0});
  build_dataset(small_corpus(30), tokenizer{}, dir.path / "code", {.val_fraction = 0});
  const auto english = token_dataset::open(dir.path / "english");
  const auto code = token_dataset::open(dir.path / "code");
  auto stream = mixture([](thaw::sched::step_t) { return 0.25; }, shuffled(english, 1, 0),
                        curriculum(code, metric::compression_ratio, pace::root(2'000), difficulty_order::easy_first, 2, 1));
  auto b = make_batcher({&english, &code}, std::move(stream), {.batch = 4, .context = 32});
  const auto x = b.next();
  CHECK(x.tokens.size() == 4 * 33);
  // Easy first by compression ratio (lower ratio = harder): the first code draws are the most
  // compressible code documents.
  const auto t = load_metrics(code);
  auto c = curriculum(code, metric::compression_ratio, pace::step(1e9, 0.1, 1), difficulty_order::easy_first, 2, 1);
  CHECK(c.available(0) == 3);
  const auto& cr = t.get("compression_ratio");
  std::vector<double> sorted(cr.begin(), cr.end());
  std::sort(sorted.rbegin(), sorted.rend());
  for (int i = 0; i < 20; ++i) {
    const auto s = c.next();
    CHECK(s.source == 1);
    CHECK(cr[s.doc] >= sorted[2]);  // among the 3 most compressible (10% of 30)
  }
}
