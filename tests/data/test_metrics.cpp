// Difficulty metrics against hand-computed values, and the metrics cache (round trip, staleness,
// the model-loss interface).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "thaw/core/philox.hpp"
#include "thaw/data/builder.hpp"
#include "thaw/data/metrics.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;

TEST_CASE("metrics: words, type-token ratio, MTLD, syllables, Flesch") {
  const auto w = words_of("The cat, the CAT's hat! 42 don't");
  CHECK(w == std::vector<std::string>{"the", "cat", "the", "cat's", "hat", "42", "don't"});
  CHECK(type_token_ratio(w) == Approx(6.0 / 7.0));
  CHECK(type_token_ratio(std::vector<std::string>{}) == 0);

  // MTLD by hand: "a b a b a b a b" forward: TTRs 1, 1, .667 (<= .72 -> factor 1, reset), ...
  // each factor closes after 3 words (a b a), then "b a b" closes, leaving "a b" (TTR 1 -> partial 0).
  // factors = 2 -> MTLD = 8 / 2 = 4 in both directions.
  const std::vector<std::string> ab = {"a", "b", "a", "b", "a", "b", "a", "b"};
  CHECK(mtld(ab) == Approx(4.0));
  // No repetition at all: no factor closes; MTLD falls back to the word count.
  CHECK(mtld(std::vector<std::string>{"x", "y", "z"}) == Approx(3.0));
  // A partial factor: "a a" -> TTR 0.5 closes at word 2; then "b" leaves TTR 1 -> partial 0; = 3/1.
  // Backward "b a a": TTRs 1, 1, .667 -> 1 factor; = 3/1.
  CHECK(mtld(std::vector<std::string>{"a", "a", "b"}) == Approx(3.0));

  CHECK(syllables("cat") == 1);
  CHECK(syllables("table") == 1);  // silent final e (heuristic)
  CHECK(syllables("reading") == 2);
  CHECK(syllables("beautiful") == 3);
  CHECK(syllables("rhythm") == 1);
  // "The cat sat. The dog ran." : 6 words, 2 sentences, 6 syllables.
  const std::string text = "The cat sat. The dog ran.";
  CHECK(flesch_reading_ease(text, words_of(text)) == Approx(206.835 - 1.015 * 3 - 84.6 * 1));
  CHECK(flesch_reading_ease("", {}) == 0);
}

TEST_CASE("metrics: compression ratio ranks redundant text above varied text") {
  std::string repetitive, varied;
  for (int i = 0; i < 200; ++i) repetitive += "the same words again ";
  for (std::uint64_t i = 0; i < 800; ++i) varied += static_cast<char>('!' + thaw::philox::bits_at({5, 5}, i) % 90);
  CHECK(compression_ratio(repetitive) > 10);
  CHECK(compression_ratio(varied) < 1.5);
  CHECK(compression_ratio("") == 1.0);
}

TEST_CASE("metrics: direction of every metric, unknown names") {
  CHECK(higher_is_harder("length"));
  CHECK(!higher_is_harder("compression_ratio"));
  CHECK(higher_is_harder("ttr"));
  CHECK(higher_is_harder("mtld"));
  CHECK(!higher_is_harder("flesch"));
  CHECK(higher_is_harder("loss:step1000"));
  CHECK_THAT(error_of([] { (void)higher_is_harder("perplexity"); }), Catch::Contains("unknown metric \"perplexity\""));
}

TEST_CASE("metrics: cached beside the dataset, checked against it, model loss added") {
  test_dir dir("metrics");
  const auto c = small_corpus();
  build_dataset(c, tokenizer{}, dir.path, {.val_fraction = 0.1, .seed = 1});
  const auto ds = token_dataset::open(dir.path);
  const auto t = load_metrics(ds);
  for (const auto* name : {"length", "compression_ratio", "ttr", "mtld", "flesch"}) CHECK(t.has(name));
  REQUIRE(t.get("length").size() == ds.n_docs());
  for (std::uint64_t d = 0; d < ds.n_docs(); ++d) {
    CHECK(t.get("length")[d] == static_cast<double>(ds.doc_size(d)));
    const auto text = tokenizer{}.decode(ds.doc_tokens(d));
    CHECK(t.get("compression_ratio")[d] == compression_ratio(text));
    CHECK(t.get("ttr")[d] == type_token_ratio(words_of(text)));
  }
  // Recomputing from the tokens gives the same cache.
  const auto again = compute_and_cache_metrics(ds, [](std::span<const token_t> ids) { return tokenizer{}.decode(ids); });
  CHECK(again.get("mtld") == t.get("mtld"));
  // The model-loss interface: any scorer of a document's tokens.
  const auto with_loss = add_model_loss(ds, "ckpt7", [](std::span<const token_t> toks) { return 0.5 * static_cast<double>(toks.size()); });
  CHECK(load_metrics(ds).get("loss:ckpt7")[3] == 0.5 * static_cast<double>(ds.doc_size(3)));
  CHECK(with_loss.has("ttr"));
  CHECK_THAT(error_of([&] { (void)t.get("loss:other"); }), Catch::Contains("not in the metrics cache"));
  // A cache of another dataset is stale, never used silently.
  const auto val = ds.validation();
  std::filesystem::copy_file(metrics_path(ds), metrics_path(val), std::filesystem::copy_options::overwrite_existing);
  CHECK_THAT(error_of([&] { (void)load_metrics(val); }), Catch::Contains("stale"));
  // Corrupt caches.
  const auto bytes = detail::read_file(metrics_path(ds), "x");
  CHECK_THAT(error_of([&] { (void)parse_metrics(bytes.substr(0, 40), "m", ds.fingerprint(), ds.n_docs()); }),
             Catch::Contains("truncated"));
  CHECK_THAT(error_of([&] { (void)parse_metrics("garbage", "m", 0, 0); }), Catch::Contains("bad magic"));
  // A cache of zero documents with one (empty) column parses (found by fuzzing: no memcpy from null).
  const auto empty = serialize_metrics(metrics_table{{"ttr"}, {{}}}, 9, 0);
  CHECK(parse_metrics(empty, "m", 9, 0).get("ttr").empty());
}
