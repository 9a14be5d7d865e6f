// Token datasets: the builder (split by document with a seed, tokens equal to the tokenizer's,
// atomic writes), memory-mapped reading (uint16 and uint32), and every bad-input case of the
// format: each a thaw::error naming the file and the field.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "thaw/data/builder.hpp"
#include "thaw/data/dataset.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> tmp_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
  }
  return out;
}
}  // namespace

TEST_CASE("dataset: build, open, and read back exactly the tokenizer's tokens") {
  test_dir dir("ds_build");
  const auto c = small_corpus(80);
  const tokenizer tok;
  const auto r = build_dataset(c, tok, dir.path, {.val_fraction = 0.25, .seed = 3});
  CHECK(r.train.docs == 60);
  CHECK(r.val.docs == 20);
  CHECK(tmp_files(dir.path).empty());
  const auto train = token_dataset::open(dir.path);
  const auto val = train.validation();
  CHECK(train.n_docs() == 60);
  CHECK(val.n_docs() == 20);
  CHECK(train.vocab_size() == 256);
  CHECK(train.token_bytes() == 2);
  CHECK(train.eot() == -1);
  CHECK(train.n_domains() == 3);
  // Every corpus document is in exactly one split, in corpus order, with its own tokens.
  std::map<std::string, std::string> domain_of;
  for (const auto& d : c.documents) domain_of[d.text] = d.domain;
  std::vector<std::string> texts;
  for (const auto* ds : {&train, &val}) {
    std::uint64_t total = 0;
    for (std::uint64_t d = 0; d < ds->n_docs(); ++d) {
      texts.push_back(tok.decode(ds->doc_tokens(d)));
      total += ds->doc_size(d);
      CHECK(ds->domain_name(ds->domain(d)) == domain_of.at(texts.back()));
    }
    CHECK(total == ds->n_tokens());
  }
  std::multiset<std::string> got(texts.begin(), texts.end()), want;
  for (const auto& d : c.documents) want.insert(d.text);
  CHECK(got == want);
  // The domain prefix is the tokenized "NAME\n\n".
  const auto prefix = train.domain_prefix(0);
  CHECK(tok.decode(std::vector<token_t>(prefix.begin(), prefix.end())) == train.domain_name(0) + "\n\n");
  // meta.json records how it was built.
  const auto meta = nlohmann::json::parse(detail::read_file(dir.path / "meta.json", "meta"));
  CHECK(meta["tokenizer"] == "byte");
  CHECK(meta["seed"] == 3);
  CHECK(meta["train"]["documents"] == 60);
  CHECK(dataset_tokenizer(dir.path).spec() == "byte");
}

TEST_CASE("dataset: the split is by document, fixed by the seed") {
  const auto a = validation_docs(1000, 0.1, 1), b = validation_docs(1000, 0.1, 1), c = validation_docs(1000, 0.1, 2);
  CHECK(a.size() == 100);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(std::set<std::uint64_t>(a.begin(), a.end()).size() == 100);
  CHECK(validation_docs(10, 0.01, 0).size() == 1);  // a positive fraction holds out at least one
  CHECK(validation_docs(10, 0.0, 0).empty());
  CHECK(validation_docs(2, 0.9, 0).size() == 1);    // never everything
  CHECK_THAT(error_of([] { (void)validation_docs(10, 1.0, 0); }), Catch::Contains("[0, 1)"));
}

TEST_CASE("dataset: BPE and wide vocabularies") {
  test_dir dir("ds_bpe");
  const auto c = small_corpus(30);
  std::vector<std::string> texts;
  for (const auto& d : c.documents) texts.push_back(d.text);
  bpe_tokenizer::train(texts, {.vocab_size = 300}).save(dir.path / "v.bpe");
  const auto tok = tokenizer::from_spec("bpe:" + (dir.path / "v.bpe").string());
  build_dataset(c, tok, dir.path / "ds", {.val_fraction = 0});
  const auto ds = token_dataset::open(dir.path / "ds");
  CHECK(ds.vocab_size() == tok.vocab_size());
  CHECK(ds.n_docs() == 30);
  CHECK(tok.decode(ds.doc_tokens(4)) == c.documents[4].text);
  CHECK(!fs::exists(dir.path / "ds" / "val.tokens"));
  CHECK(dataset_tokenizer(dir.path / "ds").encode("the cat") == tok.encode("the cat"));
  CHECK_THAT(error_of([&] { (void)ds.validation(); }), Catch::Contains("no val.tokens"));
  // 32-bit tokens when the vocabulary exceeds 65,536.
  const std::vector<std::uint32_t> toks = {1, 70000, 5, 69999};
  const std::vector<std::uint64_t> offs = {0, 3, 4};
  const std::vector<std::uint32_t> dd = {0, 0};
  const std::vector<std::string> names = {"d"};
  const std::vector<std::vector<std::uint32_t>> pre = {{7}};
  detail::write_file_atomic(dir.path / "wide.tokens", detail::serialize_dataset(toks, offs, dd, names, pre, 70001, 70000));
  const auto wide = token_dataset::open(dir.path / "wide.tokens");
  CHECK(wide.token_bytes() == 4);
  CHECK(wide.doc_tokens(0) == std::vector<token_t>{1, 70000, 5});
  CHECK(wide.doc_tokens(1) == std::vector<token_t>{69999});
  CHECK(wide.eot() == 70000);
  wide.verify();
}

TEST_CASE("dataset: corrupt files are errors naming the file and the field") {
  test_dir dir("ds_bad");
  build_dataset(small_corpus(10), tokenizer{}, dir.path / "ok", {.val_fraction = 0});
  const auto good = detail::read_file(dir.path / "ok" / "train.tokens", "x");
  auto open_bytes = [&](const std::string& bytes) {
    const auto f = dir.write("bad.tokens", bytes);
    return error_of([&] { (void)token_dataset::open(f); });
  };
  auto patched = [&](std::size_t at, const void* v, std::size_t n) {
    std::string b = good;
    std::memcpy(b.data() + at, v, n);
    return b;
  };
  const std::uint32_t v2 = 2, w3 = 3;
  const std::uint64_t huge = 1ull << 40, one = 1;
  CHECK_THAT(open_bytes(good.substr(0, 10)), Catch::Contains("bad.tokens") && Catch::Contains("too short for a header"));
  CHECK_THAT(open_bytes("NOTTHAW!" + good.substr(8)), Catch::Contains("bad magic"));
  CHECK_THAT(open_bytes(patched(8, &v2, 4)), Catch::Contains("unsupported version 2"));
  CHECK_THAT(open_bytes(patched(12, &w3, 4)), Catch::Contains("bad token width 3"));
  CHECK_THAT(open_bytes(patched(16, &huge, 8)), Catch::Contains("more than the file holds"));
  CHECK_THAT(open_bytes(patched(24, &huge, 8)), Catch::Contains("file is too short"));
  CHECK_THAT(open_bytes(patched(32, &huge, 8)), Catch::Contains("vocabulary size"));
  CHECK_THAT(open_bytes(patched(56, &one, 8)), Catch::Contains("reserved"));
  CHECK_THAT(open_bytes(patched(64, &one, 8)), Catch::Contains("offsets are corrupt at document 0"));
  CHECK_THAT(open_bytes(good.substr(0, good.size() - 3)), Catch::Contains("truncated") || Catch::Contains("too short"));
  CHECK_THAT(open_bytes(good + "extra!!!"), Catch::Contains("unexpected bytes"));
  CHECK(open_bytes(good) == "no error");
  CHECK_THAT(error_of([&] { (void)token_dataset::open(dir.path / "missing.tokens"); }),
             Catch::Contains("missing.tokens") && Catch::Contains("does not exist"));
  CHECK_THAT(error_of([&] { (void)token_dataset::open(dir.path); }), Catch::Contains("has no train.tokens"));
  CHECK_THAT(error_of([&] { (void)token_dataset::open(dir.path / "ok", "test"); }), Catch::Contains("train or val"));
  // A token outside the vocabulary is caught by verify().
  std::string bad_token = good;
  const auto ds = token_dataset::open(dir.path / "ok" / "train.tokens");
  const std::size_t first_token = detail::pad8(64 + 8 * (ds.n_docs() + 1) + 4 * ds.n_docs());
  const std::uint16_t big = 300;
  std::memcpy(bad_token.data() + first_token, &big, 2);
  const auto f = dir.write("badtok.tokens", bad_token);
  CHECK_THAT(error_of([&] { token_dataset::open(f).verify(); }), Catch::Contains("id 300 outside the vocabulary"));
}

TEST_CASE("builder: empty corpora and unwritable outputs fail cleanly, nothing half-written") {
  test_dir dir("ds_builder_bad");
  CHECK_THAT(error_of([&] { build_dataset(corpus{"none", {}}, tokenizer{}, dir.path / "a"); }),
             Catch::Contains("corpus none has no documents"));
  corpus empties{"blank", {{"x", "d", ""}, {"y", "d", ""}}};
  CHECK_THAT(error_of([&] { build_dataset(empties, tokenizer{}, dir.path / "b"); }),
             Catch::Contains("only empty documents"));
  const auto file = dir.write("not_a_dir", "x");
  CHECK_THAT(error_of([&] { build_dataset(small_corpus(5), tokenizer{}, file); }),
             Catch::Contains("cannot create dataset directory"));
  CHECK_THAT(error_of([&] { build_dataset(small_corpus(5), tokenizer{}, dir.path / "c", {.val_fraction = 1.5}); }),
             Catch::Contains("[0, 1)"));
  // An existing good dataset is replaced whole by a rebuild; no temporaries are left.
  build_dataset(small_corpus(20), tokenizer{}, dir.path / "d", {.val_fraction = 0.1});
  build_dataset(small_corpus(40), tokenizer{}, dir.path / "d", {.val_fraction = 0.1});
  CHECK(token_dataset::open(dir.path / "d").n_docs() == 36);
  CHECK(tmp_files(dir.path / "d").empty());
  CHECK(empties.documents.size() == 2);
}
