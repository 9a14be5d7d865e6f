// The JSON config of thaw-lm train: every key read, unknown keys and wrong types named by
// their path, specs checked at parse time, and the commented example of docs/training.md valid.
#include <catch2/catch.hpp>

#include <fstream>

#include "thaw/train/config.hpp"
#include "train/train_util.hpp"

using namespace thaw;

namespace {

const char* kMinimal = R"({
  "model": {"vocab": 256, "context": 16, "layers": 2, "heads": 2, "width": 16},
  "data": {"datasets": {"english": {"dir": "d/en"}}},
  "train": {"steps": 10}
})";

/// kMinimal with `path` (a JSON pointer such as "/train/steps") set to `value` (JSON text).
std::string with(const std::string& path, const std::string& value, const std::string& base = kMinimal) {
  auto j = nlohmann::ordered_json::parse(base);
  j[nlohmann::ordered_json::json_pointer(path)] = nlohmann::ordered_json::parse(value);
  return j.dump();
}

std::string parse_error(const std::string& text) {
  return test::error_of([&] { train::parse_lm_train_config(text, "C.json"); });
}

}  // namespace

TEST_CASE("a full config is read into the run's settings", "[train][config]") {
  const auto c = train::parse_lm_train_config(R"J({
    // comments are allowed
    "out": "runs/x", "seed": 3, "threads": 2, "init": "w.safetensors",
    "model": {"vocab": 300, "context": 32, "layers": 3, "heads": 2, "width": 24, "mlp_ratio": 2,
              "eps": 1e-6, "tied_head": false, "bias": false},
    "data": {"datasets": {"zeta": {"dir": "d/z", "corpus": "kjv", "tokenizer": "byte", "val_fraction": 0.1,
                                   "split_seed": 4},
                          "alpha": {"dir": "d/a"}},
             "sources": ["alpha", "zeta"],
             "sampler": "mixture(0.5: shuffled(seed=1, source=0), 0.5: sequential(source=1))",
             "layout": "pad"},
    "train": {"steps": 100, "batch": 4, "accumulation": 2, "context": 16, "nonfinite": "skip"},
    "optimizer": {"type": "adamw", "lr": "linear(0, 1e-3, 10) >> cosine(1e-3, 1e-4, 90)", "weight_decay": 0.1,
                  "beta1": 0.8, "beta2": "constant(0.95)", "eps": 1e-7, "max_grad_norm": 2, "no_decay": null,
                  "layer_decay": 0.9, "groups": [{"select": "wte.*", "lr_scale": 0.5}, {"select": "h.*", "decay_scale": 0}]},
    "freeze": {"policy": "two_stage", "frozen": "blocks[0:1)", "unfreeze_at": 20},
    "eval": {"every": 10, "batches": 3, "sets": ["zeta"]},
    "checkpoint": {"every": 25, "keep": 0},
    "log": {"progress": "plain"},
    "track": {"ratio": 0.5, "other": "linear(0, 1, 10)"}
  })J", "C.json");
  CHECK(c.out == "runs/x");
  CHECK(c.seed == 3);
  CHECK(c.threads == 2);
  CHECK(c.init == std::filesystem::path("w.safetensors"));
  CHECK(c.model.vocab == 300);
  CHECK(c.model.mlp_ratio == 2);
  CHECK(c.model.eps == 1e-6);
  CHECK_FALSE(c.model.tied_head);
  REQUIRE(c.datasets.size() == 2);
  CHECK(c.datasets[0].name == "zeta");  // file order, not sorted
  CHECK(c.datasets[0].corpus == "kjv");
  CHECK(c.datasets[0].val_fraction == 0.1);
  CHECK(c.datasets[0].split_seed == 4);
  CHECK(c.datasets[1].name == "alpha");
  CHECK(c.sources == std::vector<std::string>{"alpha", "zeta"});
  CHECK(c.layout == data::layout::pad);
  CHECK(c.steps == 100);
  CHECK(c.batch == 4);
  CHECK(c.accumulation == 2);
  CHECK(c.context == 16);
  CHECK(c.nonfinite == train::nonfinite_policy::skip);
  CHECK(c.optimizer.lr == "linear(0, 1e-3, 10) >> cosine(1e-3, 1e-4, 90)");
  CHECK(c.optimizer.beta1 == "0.8");
  CHECK(c.optimizer.eps == 1e-7);
  CHECK_FALSE(c.optimizer.default_no_decay);
  CHECK_FALSE(c.optimizer.no_decay.has_value());
  REQUIRE(c.optimizer.groups.size() == 2);
  CHECK(c.optimizer.groups[0].lr_scale == 0.5);
  CHECK_FALSE(c.optimizer.groups[0].decay_scale.has_value());
  CHECK(c.optimizer.groups[1].decay_scale == 0.0);
  CHECK(c.freeze.policy == "two_stage");
  CHECK(c.freeze.unfreeze_at == 20);
  CHECK(c.eval_every == 10);
  CHECK(c.eval_batches == 3);
  CHECK(c.eval_sets == std::vector<std::string>{"zeta"});
  CHECK(c.checkpoint_every == 25);
  CHECK(c.checkpoint_keep == 0);
  CHECK(c.progress == train::progress_mode::plain);
  CHECK(c.track.size() == 2);
  // Defaults.
  const auto m = train::parse_lm_train_config(kMinimal);
  CHECK(m.context == 16);
  CHECK(m.sources == std::vector<std::string>{"english"});
  CHECK(m.optimizer.type == "adamw");
  CHECK(m.optimizer.default_no_decay);
  CHECK(m.freeze.policy == "none");
}

TEST_CASE("unknown keys are errors naming the key and what is expected there", "[train][config][errors]") {
  CHECK_THAT(parse_error(with("/stepz", "1")), Catch::Contains("config 'C.json': unknown key 'stepz'"));
  CHECK_THAT(parse_error(with("/train/stepz", "1")),
             Catch::Contains("unknown key 'train.stepz' (expected steps, batch, accumulation, context, nonfinite)"));
  CHECK_THAT(parse_error(with("/model/depth", "1")), Catch::Contains("unknown key 'model.depth'"));
  CHECK_THAT(parse_error(with("/data/datasets/english/path", "\"x\"")),
             Catch::Contains("unknown key 'data.datasets.english.path'"));
  CHECK_THAT(parse_error(with("/optimizer", R"({"lr": 1, "groups": [{"select": "all", "lr": 2}]})")),
             Catch::Contains("unknown key 'optimizer.groups[0].lr'"));
  // A key of another optimizer or policy is unknown here.
  CHECK_THAT(parse_error(with("/optimizer", R"({"type": "sgd", "beta1": 0.9})")),
             Catch::Contains("unknown key 'optimizer.beta1'"));
  CHECK_THAT(parse_error(with("/freeze", R"({"policy": "frozen", "frozen": "wte.*", "unfreeze_at": 3})")),
             Catch::Contains("unknown key 'freeze.unfreeze_at' (expected policy, frozen)"));
  CHECK_THAT(parse_error(with("/eval", R"({"evry": 3})")), Catch::Contains("unknown key 'eval.evry'"));
  CHECK_THAT(parse_error(with("/checkpoint", R"({"keep_last": 3})")), Catch::Contains("unknown key 'checkpoint.keep_last'"));
  CHECK_THAT(parse_error(with("/log", R"({"level": 3})")), Catch::Contains("unknown key 'log.level'"));
}

TEST_CASE("wrong types and values are errors naming the key", "[train][config][errors]") {
  CHECK_THAT(parse_error(with("/train/steps", "\"100\"")),
             Catch::Contains("'train.steps' must be an integer >= 1, got \"100\""));
  CHECK_THAT(parse_error(with("/train/steps", "0")), Catch::Contains("'train.steps' must be an integer >= 1, got 0"));
  CHECK_THAT(parse_error(with("/model/width", "12.5")), Catch::Contains("'model.width' must be an integer in [1, "));
  CHECK_THAT(parse_error(with("/model/heads", "5")), Catch::Contains("'model': GPT config: n_embd (width) 16 is not divisible by n_head (heads) 5"));
  CHECK_THAT(parse_error(with("/model/tied_head", "1")), Catch::Contains("'model.tied_head' must be true or false, got 1"));
  CHECK_THAT(parse_error(with("/model/eps", "\"small\"")), Catch::Contains("'model.eps' must be a number"));
  CHECK_THAT(parse_error(with("/out", "3")), Catch::Contains("'out' must be a string, got 3"));
  CHECK_THAT(parse_error(with("/train/context", "64")), Catch::Contains("'train.context' must be an integer in [1, 16], got 64"));
  CHECK_THAT(parse_error(with("/train/nonfinite", "\"ignore\"")),
             Catch::Contains("'train.nonfinite' must be one of stop, skip, got \"ignore\""));
  CHECK_THAT(parse_error(with("/data/layout", "\"packed\"")), Catch::Contains("'data.layout' must be one of pack, pad"));
  CHECK_THAT(parse_error(with("/data/datasets/english/val_fraction", "1.5")),
             Catch::Contains("'data.datasets.english.val_fraction' must be in [0, 1), got 1.5"));
  CHECK_THAT(parse_error(with("/optimizer", R"({"lr": [1]})")),
             Catch::Contains("'optimizer.lr' must be a number or a schedule spec string, got [1]"));
  CHECK_THAT(parse_error(with("/optimizer", R"({"lr": "cosine(1e-3, 1e-4"})")),
             Catch::Contains("'optimizer.lr': ") && Catch::Contains("column"));
  CHECK_THAT(parse_error(with("/optimizer", R"({"type": "adam"})")),
             Catch::Contains("'optimizer.type' must be one of adamw, sgd, got \"adam\""));
  CHECK_THAT(parse_error(with("/optimizer", R"({"groups": {"select": "all"}})")),
             Catch::Contains("'optimizer.groups' must be an array of objects"));
  CHECK_THAT(parse_error(with("/freeze", R"({"policy": "frozen", "frozen": "blocks[0:"})")),
             Catch::Contains("'freeze.frozen': "));
  CHECK_THAT(parse_error(with("/freeze", R"({"policy": "thaw"})")), Catch::Contains("'freeze.policy' must be one of none, frozen"));
  CHECK_THAT(parse_error(with("/data/sampler", "\"shuffled(seed=1\"")),
             Catch::Contains("'data.sampler': sampler spec, column"));
  CHECK_THAT(parse_error(with("/eval/sets", "\"english\"")), Catch::Contains("'eval.sets' must be an array of strings"));
  CHECK_THAT(parse_error(with("/model", "[1, 2]")), Catch::Contains("'model' must be a JSON object"));
  CHECK_THAT(parse_error(with("/track", R"({"ratio": "linear(0, 1"})")), Catch::Contains("'track.ratio': "));
}

TEST_CASE("missing parts and names that point nowhere are errors naming them", "[train][config][errors]") {
  CHECK_THAT(parse_error("{\"model\": "), Catch::Contains("config 'C.json' is not valid JSON"));
  CHECK_THAT(parse_error("[]"), Catch::Contains("the config must be a JSON object"));
  CHECK_THAT(parse_error(R"({"data": {}, "train": {"steps": 1}})"), Catch::Contains("missing 'model'"));
  CHECK_THAT(parse_error(R"({"model": {}, "train": {"steps": 1}})"), Catch::Contains("missing 'data'"));
  CHECK_THAT(parse_error(with("/train", "{}")), Catch::Contains("missing 'train.steps'"));
  CHECK_THAT(parse_error(with("/data/datasets/english", "{}")), Catch::Contains("missing 'data.datasets.english.dir'"));
  CHECK_THAT(parse_error(with("/data/datasets", "{}")), Catch::Contains("'data.datasets' names no dataset"));
  CHECK_THAT(parse_error(with("/data/sources", R"(["code"])")),
             Catch::Contains("'data.sources' names 'code', which is not in 'data.datasets'"));
  CHECK_THAT(parse_error(with("/eval", R"({"sets": ["code"]})")),
             Catch::Contains("'eval.sets' names 'code', which is not in 'data.datasets'"));
  CHECK_THAT(parse_error(with("/freeze", R"({"policy": "two_stage", "frozen": "wte.*"})")),
             Catch::Contains("missing 'freeze.unfreeze_at'"));
  CHECK_THAT(parse_error(with("/freeze", R"({"policy": "subtuning"})")), Catch::Contains("missing 'freeze.trainable'"));
  CHECK_THAT(test::error_of([] { train::load_lm_train_config("/nonexistent/C.json"); }),
             Catch::Contains("cannot open config '/nonexistent/C.json'"));
}

TEST_CASE("the commented example config of docs/training.md is valid", "[train][config][docs]") {
  const std::filesystem::path doc = std::filesystem::path(THAW_TEST_FIXTURES) / ".." / ".." / "docs" / "training.md";
  std::ifstream in(doc);
  REQUIRE(in.good());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto begin = text.find("```jsonc\n");
  REQUIRE(begin != std::string::npos);
  const auto end = text.find("```", begin + 9);
  const auto config = text.substr(begin + 9, end - begin - 9);
  const auto c = train::parse_lm_train_config(config, "docs/training.md");
  CHECK(c.model.width == 128);
  CHECK(c.datasets.size() == 2);
  CHECK(c.freeze.policy == "frozen");
  CHECK(c.eval_sets.size() == 2);
  // Every top-level section of the config struct appears in the example.
  for (const char* key : {"\"out\"", "\"seed\"", "\"threads\"", "\"init\"", "\"model\"", "\"data\"", "\"train\"",
                          "\"optimizer\"", "\"freeze\"", "\"eval\"", "\"checkpoint\"", "\"log\"", "\"track\""})
    CHECK(config.find(key) != std::string::npos);
}
