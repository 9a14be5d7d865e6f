// `thaw-lm train` end to end: builds the datasets a config names, trains, writes its outputs,
// and resumes from a checkpoint to the same final weights; command-line and setup errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "thaw/cli/lm_train.hpp"
#include "train/train_util.hpp"

using namespace thaw;

namespace {

struct cli_result {
  int status = 0;
  std::string out, err;
};

cli_result run_cli(std::vector<std::string> args) {
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  cli_result r;
  r.status = cli::lm_train(static_cast<int>(argv.size()), argv.data(), out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

/// A directory of small text files: a corpus the config can name by path.
void write_corpus(const test::temp_dir& dir, const std::string& name, bool code) {
  const auto c = test::synthetic_corpus(code, 30, code ? 11 : 12);
  for (const auto& d : c.documents) dir.write(name + "/" + std::to_string(&d - c.documents.data()) + ".txt", d.text);
}

std::string config_text(const std::filesystem::path& root, const std::string& out, int steps,
                        const std::string& extra = "") {
  auto q = [](const std::filesystem::path& p) { return "\"" + p.string() + "\""; };
  return R"J({
    "out": )J" + q(root / out) + R"J(,
    "seed": 1,
    "model": {"vocab": 256, "context": 16, "layers": 2, "heads": 2, "width": 16},
    "data": {
      "datasets": {
        "english": {"dir": )J" + q(root / "data/en") + R"J(, "corpus": )J" + q(root / "corpus_en") + R"J(, "val_fraction": 0.2},
        "code": {"dir": )J" + q(root / "data/code") + R"J(, "corpus": )J" + q(root / "corpus_code") + R"J(, "val_fraction": 0.2}
      },
      "sources": ["code", "english"],
      "sampler": "mixture(0.75: shuffled(seed=1, source=0), 0.25: shuffled(seed=2, source=1))"
    },
    "train": {"steps": )J" + std::to_string(steps) + R"J(, "batch": 4},
    "optimizer": {"lr": "linear(0, 3e-3, 4) >> cosine(3e-3, 3e-4, 8)", "weight_decay": 0.1, "max_grad_norm": 1.0},
    "eval": {"every": 4, "batches": 2, "sets": ["english", "code"]},
    "checkpoint": {"every": 4, "keep": 5},
    "log": {"progress": "plain"})J" + extra + R"J(
  })J";
}

std::vector<char> bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("thaw-lm train runs a config end to end and resumes to the same weights", "[train][cli]") {
  test::temp_dir dir("lm_train");
  write_corpus(dir, "corpus_en", false);
  write_corpus(dir, "corpus_code", true);
  const auto whole_cfg = dir.write("whole.json", config_text(dir.path, "whole", 12, R"J(,
    "freeze": {"policy": "two_stage", "frozen": "wte.* | wpe.*", "unfreeze_at": 6},
    "track": {"replay": 0.25})J"));
  const auto r = run_cli({"--config", whole_cfg.string()});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("building dataset 'english' from"));
  CHECK_THAT(r.out, Catch::Contains("steps 12  tokens 768") && Catch::Contains("val english ") &&
                        Catch::Contains("val code ") && Catch::Contains("weights "));
  for (const char* f : {"config.json", "log.jsonl", "summary.csv", "model.safetensors"})
    CHECK(std::filesystem::exists(dir.path / "whole" / f));
  std::vector<train::step_t> kept;
  for (const auto& c : train::list_checkpoints(dir.path / "whole" / "checkpoints")) kept.push_back(c.step);
  CHECK(kept == std::vector<train::step_t>{4, 8, 12});
  const auto records = train::read_jsonl(dir.path / "whole" / "log.jsonl");
  bool tracked = false, froze = false;
  for (const auto& rec : records) {
    tracked |= rec["event"] == "step" && rec.contains("replay");
    froze |= rec["event"] == "freeze";
  }
  CHECK(tracked);
  CHECK(froze);

  // The same experiment, stopped after 7 steps (a config with fewer steps ends there), resumed
  // from its checkpoint at step 4 with the full length: the same weights, bit for bit.
  const auto part_cfg = dir.write("part.json", config_text(dir.path, "part", 7, R"J(,
    "freeze": {"policy": "two_stage", "frozen": "wte.* | wpe.*", "unfreeze_at": 6},
    "track": {"replay": 0.25})J"));
  REQUIRE(run_cli({"--config", part_cfg.string()}).status == 0);
  std::filesystem::remove_all(dir.path / "part" / "checkpoints" / "step-00000007");  // as if killed at step 7
  const auto full_cfg = dir.write("part_full.json", config_text(dir.path, "part", 12, R"J(,
    "freeze": {"policy": "two_stage", "frozen": "wte.* | wpe.*", "unfreeze_at": 6},
    "track": {"replay": 0.25})J"));
  const auto resumed = run_cli({"--config", full_cfg.string(), "--resume", (dir.path / "part" / "checkpoints").string()});
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK(bytes_of(dir.path / "part" / "model.safetensors") == bytes_of(dir.path / "whole" / "model.safetensors"));
  CHECK(test::step_losses(dir.path / "part" / "log.jsonl") == test::step_losses(dir.path / "whole" / "log.jsonl"));
}

TEST_CASE("thaw-lm train: command-line and setup errors", "[train][cli][errors]") {
  test::temp_dir dir("lm_train_errors");
  write_corpus(dir, "corpus_en", false);
  write_corpus(dir, "corpus_code", true);

  auto r = run_cli({});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("thaw-lm train: error: missing --config"));
  r = run_cli({"--config"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("option --config needs a value"));
  r = run_cli({"--config", "x.json", "--steps", "3"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("unknown argument '--steps'"));
  r = run_cli({"--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("usage: thaw-lm train --config C.json [--resume DIR]"));
  r = run_cli({"--config", (dir.path / "none.json").string()});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot open config"));

  auto err_of = [&](const std::string& text, std::vector<std::string> extra = {}) {
    const auto cfg = dir.write("c.json", text);
    std::vector<std::string> args{"--config", cfg.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto res = run_cli(args);
    CHECK(res.status == 1);
    CHECK(std::count(res.err.begin(), res.err.end(), '\n') >= 1);
    return res.err;
  };
  // A dataset directory that does not exist and names no corpus to build it from.
  auto text = config_text(dir.path, "o", 4);
  const std::string corpus_key = ", \"corpus\": \"" + (dir.path / "corpus_en").string() + "\"";
  text.replace(text.find(corpus_key), corpus_key.size(), "");
  CHECK_THAT(err_of(text), Catch::Contains("dataset 'english': '") &&
                               Catch::Contains("has no train.tokens (give 'data.datasets.english.corpus' to build it"));
  // A freeze selector that matches nothing in this model.
  CHECK_THAT(err_of(config_text(dir.path, "o", 4, R"J(, "freeze": {"policy": "frozen", "frozen": "blocks[7:9)"})J")),
             Catch::Contains("'freeze': ") && Catch::Contains("blocks[7:9)"));
  // A model vocabulary smaller than the data's.
  auto small_vocab = config_text(dir.path, "o", 4);
  small_vocab.replace(small_vocab.find("\"vocab\": 256"), 12, "\"vocab\": 100");
  CHECK_THAT(err_of(small_vocab), Catch::Contains("'data.datasets.") &&
                                      Catch::Contains("vocabulary has 256 tokens, more than the model's vocab 100"));
  // A sampler that names a source the run does not have.
  CHECK_THAT(err_of(config_text(dir.path, "o", 4, "").replace(
                 config_text(dir.path, "o", 4, "").find("source=1"), 8, "source=5")),
             Catch::Contains("'data.sampler': "));
  // A checkpoint that does not exist.
  CHECK_THAT(err_of(config_text(dir.path, "o", 4), {"--resume", (dir.path / "nothing").string()}),
             Catch::Contains("nothing' does not exist"));
  // Invalid optimizer settings are named.
  auto bad_sgd = config_text(dir.path, "o", 4);
  bad_sgd.replace(bad_sgd.find("\"lr\":"), 5, "\"type\": \"sgd\", \"nesterov\": true, \"lr\":");
  CHECK_THAT(err_of(bad_sgd), Catch::Contains("'optimizer': sgd: Nesterov momentum requires a momentum"));
}
