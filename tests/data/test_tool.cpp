// The thaw-data tool end to end: build, stats, sample with --save-state / --load-state, shards
// with --rank / --world and resumption on another world size, help texts, and one-line errors
// with a non-zero exit for bad arguments.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "thaw/data/tool.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;

namespace {

struct result {
  int rc;
  std::string out, err;
};

result run(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int rc = run_tool(args, out, err);
  return {rc, out.str(), err.str()};
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const char* kMix =
    "mixture(linear(0.9, 0.1, 300): curriculum(compression_ratio, easy, root(500, 0.1), seed=1),"
    " linear(0.1, 0.9, 300): shuffled(seed=2), per_step=2)";

}  // namespace

TEST_CASE("tool: build, stats and sample on a small corpus directory") {
  test_dir dir("tool");
  const auto c = small_corpus(50);
  for (std::size_t i = 0; i < c.documents.size(); ++i) dir.write("corpus/" + c.documents[i].domain + "/" + c.documents[i].name, c.documents[i].text);
  const auto ds = (dir.path / "ds").string();
  auto b = run({"build", "--corpus", (dir.path / "corpus").string(), "--out", ds, "--val-fraction", "0.2", "--seed", "4"});
  INFO(b.err);
  REQUIRE(b.rc == 0);
  CHECK_THAT(b.out, Catch::Contains("train: 40 documents"));
  CHECK_THAT(b.out, Catch::Contains("val:   10 documents"));
  auto s = run({"stats", "--dataset", ds});
  REQUIRE(s.rc == 0);
  CHECK_THAT(s.out, Catch::Contains("documents 40"));
  for (const char* m : {"compression_ratio", "ttr", "mtld", "flesch", "median"}) CHECK_THAT(s.out, Catch::Contains(m));
  // Stats computes a missing metrics cache from the stored tokenizer.
  std::filesystem::remove(dir.path / "ds" / "val.metrics");
  auto sv = run({"stats", "--dataset", ds, "--split", "val"});
  REQUIRE(sv.rc == 0);
  CHECK_THAT(sv.out, Catch::Contains("computed the metrics cache"));
  CHECK(std::filesystem::exists(dir.path / "ds" / "val.metrics"));

  SECTION("--count 400 --save-state, then --load-state --count 600, equals --count 1000") {
    const auto all = run({"sample", "--dataset", ds, "--sampler", kMix, "--count", "1000"});
    REQUIRE(all.rc == 0);
    const auto full = lines(all.out);
    REQUIRE(full.size() == 1000);
    for (const auto& l : full) REQUIRE(std::stoul(l) < 40);
    const auto st = (dir.path / "s.state").string();
    const auto a = run({"sample", "--dataset", ds, "--sampler", kMix, "--count", "400", "--save-state", st});
    const auto b2 = run({"sample", "--dataset", ds, "--sampler", kMix, "--count", "600", "--load-state", st});
    REQUIRE(a.rc == 0);
    REQUIRE(b2.rc == 0);
    auto joined = lines(a.out);
    const auto tail = lines(b2.out);
    joined.insert(joined.end(), tail.begin(), tail.end());
    CHECK(joined == full);
    // A state of another spec, or a damaged state, is refused.
    const auto other = run({"sample", "--dataset", ds, "--sampler", "shuffled(seed=3)", "--count", "1", "--load-state", st});
    CHECK(other.rc == 2);
    CHECK_THAT(other.err, Catch::Contains("different sampler spec"));
    dir.write("bad.state", "thaw-sampler-state 1\nspec zz\n");
    const auto bad = run({"sample", "--dataset", ds, "--sampler", kMix, "--count", "1", "--load-state", (dir.path / "bad.state").string()});
    CHECK(bad.rc == 2);
    CHECK_THAT(bad.err, Catch::Contains("bad.state") && Catch::Contains("not a thaw sampler state"));
  }

  SECTION("--rank/--world shards cover the stream; a state resumes on another world size") {
    const auto full = lines(run({"sample", "--dataset", ds, "--sampler", kMix, "--count", "600"}).out);
    std::vector<std::string> joined(240);
    const auto st = (dir.path / "w3.state").string();
    for (int r = 0; r < 3; ++r) {
      const auto o = run({"sample", "--dataset", ds, "--sampler", kMix, "--count", "80", "--rank", std::to_string(r),
                          "--world", "3", "--save-state", st + std::to_string(r)});
      REQUIRE(o.rc == 0);
      const auto l = lines(o.out);
      REQUIRE(l.size() == 80);
      for (int i = 0; i < 80; ++i) joined[static_cast<std::size_t>(i * 3 + r)] = l[static_cast<std::size_t>(i)];
    }
    CHECK(std::equal(joined.begin(), joined.end(), full.begin()));
    CHECK(detail::read_file(st + "0", "s") == detail::read_file(st + "2", "s"));  // rank-independent state
    std::vector<std::string> resumed(360);
    for (int r = 0; r < 4; ++r) {
      const auto o = run({"sample", "--dataset", ds, "--sampler", kMix, "--count", "90", "--rank", std::to_string(r),
                          "--world", "4", "--load-state", st + "1"});
      REQUIRE(o.rc == 0);
      const auto l = lines(o.out);
      for (int i = 0; i < 90; ++i) resumed[static_cast<std::size_t>(i * 4 + r)] = l[static_cast<std::size_t>(i)];
    }
    CHECK(std::equal(resumed.begin(), resumed.end(), full.begin() + 240));
  }

  SECTION("train-bpe, then build and stats with the trained vocabulary") {
    const auto v = (dir.path / "v.bpe").string();
    const auto t = run({"train-bpe", "--corpus", (dir.path / "corpus").string(), "--vocab", "300", "--out", v});
    REQUIRE(t.rc == 0);
    CHECK_THAT(t.out, Catch::Contains("merges"));
    const auto ds2 = (dir.path / "ds_bpe").string();
    REQUIRE(run({"build", "--corpus", (dir.path / "corpus").string(), "--out", ds2, "--tokenizer", "bpe:" + v}).rc == 0);
    const auto st = run({"stats", "--dataset", ds2});
    REQUIRE(st.rc == 0);
    CHECK_THAT(st.out, Catch::Contains("vocabulary 300"));
    CHECK(std::filesystem::exists(dir.path / "ds_bpe" / "tokenizer.bpe"));
  }

  SECTION("metadata tags and several datasets") {
    const auto o = run({"sample", "--dataset", ds, "--dataset", ds, "--sampler",
                        "meco(interleave(sequential(), sequential(source=1)), 2)", "--count", "4", "--show-tags"});
    REQUIRE(o.rc == 0);
    const auto l = lines(o.out);
    REQUIRE(l.size() == 4);
    CHECK(l[0].starts_with("0:0\tdom"));
    CHECK(l[1].starts_with("1:0\tdom"));
    CHECK(l[2] == "0:1\t-");
  }
}

TEST_CASE("tool: help texts") {
  const auto h = run({"sample", "--help"});
  CHECK(h.rc == 0);
  const auto l = lines(h.out);
  REQUIRE(!l.empty());
  CHECK(l.back().starts_with("example:"));
  CHECK_THAT(l.back(), Catch::Contains("mixture(") && Catch::Contains("curriculum(") && Catch::Contains("shuffled(") &&
                           Catch::Contains("linear("));
  CHECK_THAT(h.out, Catch::Contains("competence(") && Catch::Contains("meco(") && Catch::Contains("filter("));
  // The example spec in the help text is valid: it parses.
  const auto spec_start = l.back().find("--sampler \"") + 11;
  const auto spec = l.back().substr(spec_start, l.back().size() - spec_start - 1);
  CHECK_NOTHROW(parse_sampler_spec(spec));
  for (const char* cmd : {"build", "stats", "train-bpe"}) CHECK(run({cmd, "--help"}).rc == 0);
  CHECK(run({"--help"}).rc == 0);
  CHECK(run({}).rc == 2);
}

TEST_CASE("tool: bad arguments give one line and a non-zero exit") {
  test_dir dir("tool_bad");
  auto one_line_error = [](const result& r, const char* needle) {
    CHECK(r.rc == 2);
    CHECK(r.out.empty());
    CHECK(lines(r.err).size() == 1);
    CHECK_THAT(r.err, Catch::StartsWith("thaw-data: error: ") && Catch::Contains(needle));
  };
  one_line_error(run({"frobnicate"}), "unknown command \"frobnicate\"");
  one_line_error(run({"build", "--out", "x"}), "missing --corpus");
  one_line_error(run({"build", "--corpus", "nope-corpus", "--out", (dir.path / "o").string()}), "unknown corpus");
  one_line_error(run({"build", "--corpus", "kjv", "--out", "x", "--val-fraction", "abc"}), "--val-fraction must be a number");
  one_line_error(run({"build", "--corpus", "kjv", "--out", "x", "--tokenizer", "bpe:/none.bpe"}), "/none.bpe");
  one_line_error(run({"build", "--corpus", "kjv", "--bogus", "1"}), "unknown option --bogus");
  one_line_error(run({"build", "--corpus"}), "needs a value");
  one_line_error(run({"stats", "--dataset", (dir.path / "none").string()}), "does not exist");
  one_line_error(run({"sample", "--dataset", (dir.path / "none").string(), "--sampler", "shuffled()", "--count", "3"}),
                 "does not exist");
  build_dataset(small_corpus(10), tokenizer{}, dir.path / "ds", {.val_fraction = 0});
  const auto ds = (dir.path / "ds").string();
  one_line_error(run({"sample", "--dataset", ds, "--sampler", "shuffled(", "--count", "3"}), "sampler spec, column 10");
  one_line_error(run({"sample", "--dataset", ds, "--sampler", "shuffled()", "--count", "-3"}), "--count must be a whole number");
  one_line_error(run({"sample", "--dataset", ds, "--sampler", "shuffled()"}), "missing --count");
  one_line_error(run({"sample", "--dataset", ds, "--sampler", "shuffled()", "--count", "3", "--rank", "2", "--world", "2"}),
                 "--rank 2 must be below --world 2");
  one_line_error(run({"sample", "--dataset", ds, "--sampler", "mixture(0: shuffled(), 0: sequential())", "--count", "3"}),
                 "all zero");
  one_line_error(run({"sample", "--dataset", ds, "--sampler", "shuffled()", "--count", "3", "--load-state",
                      (dir.path / "none.state").string()}),
                 "none.state");
  std::filesystem::remove(dir.path / "ds" / "train.metrics");
  one_line_error(run({"sample", "--dataset", ds, "--sampler", "curriculum(ttr, easy, linear(10))", "--count", "3"}),
                 "train.metrics");
  one_line_error(run({"train-bpe", "--corpus", ds, "--vocab", "10", "--out", (dir.path / "v").string()}), "vocab_size must be >= 256");
}
