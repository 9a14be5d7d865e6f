// Checkpoints: resuming reproduces the uninterrupted run bit for bit; directories are complete
// or absent; the last N are kept; every way a checkpoint can fail to fit is an error naming it.
#include <catch2/catch.hpp>

#include <fstream>

#include "thaw/freeze/two_stage.hpp"
#include "thaw/optim/sgd.hpp"
#include "thaw/params/select.hpp"
#include "train/train_util.hpp"

using namespace thaw;
using test::setup;
using cpu = backend::cpu<>;

namespace {

struct crash {};
/// Throws at a step, as a crash would end the run there.
struct crash_at {
  train::step_t at;
  void on_step(const train::step_record& r) {
    if (r.step == at) throw crash{};
  }
};

struct fixture {
  test::temp_dir dir{"checkpoint"};
  fixture() { test::build_synthetic_datasets(dir.path / "data"); }
  std::filesystem::path data() const { return dir.path / "data"; }
  train::trainer_cfg cfg(const std::string& name, train::step_t every = 5, std::size_t keep = 2) const {
    return {.steps = 17, .batch = 4, .context = 16, .eval_every = 4, .eval_batches = 1,
            .log = dir.path / name / "log.jsonl",
            .checkpoint = {.dir = dir.path / name / "ck", .every = every, .keep_last = keep}};
  }
};

std::vector<double> eval_values(const std::filesystem::path& log) {
  std::vector<double> out;
  for (const auto& r : train::read_jsonl(log))
    if (r["event"] == "eval") out.push_back(r["val/english"].get<double>());
  return out;
}

/// Rewrites manifest.json's entry for `name` after the file was edited on purpose.
void reseal(const std::filesystem::path& ck, const std::string& name) {
  auto m = nlohmann::json::parse(std::ifstream(ck / "manifest.json"));
  io::mapped_file f(ck / name);
  m["files"][name] = {{"bytes", f.bytes().size()}, {"fnv1a64", train::hex64(train::fnv1a64(f.bytes()))}};
  std::ofstream(ck / "manifest.json") << m.dump(2);
}

void flip_byte(const std::filesystem::path& p, std::size_t at) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c ^= 0x40;
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

}  // namespace

TEST_CASE("resuming from a checkpoint reproduces the uninterrupted run bit for bit", "[train][checkpoint]") {
  fixture f;
  // A two-stage freeze across the checkpoints: the freeze state matters too.
  const freeze::two_stage_cfg stages{.frozen = select::parse("wte.* | blocks[0:1)"), .unfreeze_at = 7};
  setup<cpu> whole(f.data(), f.cfg("whole"));
  freeze::two_stage<cpu> whole_policy(whole.model.params(), stages);
  whole.run.freeze_with(whole_policy);
  whole.run.fit();

  {  // crashes after step 13: the last checkpoint is step 10
    setup<cpu> first(f.data(), f.cfg("parts"));
    freeze::two_stage<cpu> policy(first.model.params(), stages);
    first.run.freeze_with(policy);
    CHECK_THROWS_AS(first.run.fit(crash_at{13}), crash);
  }
  REQUIRE(train::latest_checkpoint(f.dir.path / "parts" / "ck")->step == 10);
  setup<cpu> second(f.data(), f.cfg("parts"));
  freeze::two_stage<cpu> policy(second.model.params(), stages);
  second.run.freeze_with(policy);
  second.run.resume(f.dir.path / "parts" / "ck");
  CHECK(second.run.step() == 10);
  second.run.fit();

  CHECK(test::same_bits(whole.weights(), second.weights()));
  const auto a = test::step_losses(f.dir.path / "whole" / "log.jsonl");
  const auto b = test::step_losses(f.dir.path / "parts" / "log.jsonl");
  CHECK(a.size() == 17);
  CHECK(a == b);  // the resumed log holds each step once, with the same losses
  CHECK(eval_values(f.dir.path / "whole" / "log.jsonl") == eval_values(f.dir.path / "parts" / "log.jsonl"));
  // The optimizer continued from its state, not from scratch.
  CHECK(second.opt.steps() == 17);
}

TEST_CASE("the last N checkpoints are kept and stale temporaries are removed", "[train][checkpoint]") {
  fixture f;
  const auto root = f.dir.path / "keep" / "ck";
  std::filesystem::create_directories(root / ".tmp-step-00000003-12345");
  setup<cpu> s(f.data(), f.cfg("keep", 3, 2));
  s.run.fit();
  std::vector<train::step_t> steps;
  for (const auto& c : train::list_checkpoints(root)) steps.push_back(c.step);
  CHECK(steps == std::vector<train::step_t>{15, 17});
  for (const auto& e : std::filesystem::directory_iterator(root)) CHECK_FALSE(e.path().filename().string().starts_with(".tmp-"));
  // Each is complete: a manifest, and every file it lists verifies.
  const auto ck = train::checkpoint_reader::open(root);
  CHECK(ck.step() == 17);
  for (const char* name : {"model.safetensors", "optimizer.safetensors", "trainer.json"}) CHECK(ck.has(name));
  CHECK_FALSE(ck.has("freeze.safetensors"));  // no policy
}

TEST_CASE("a checkpoint writer that does not commit leaves nothing behind", "[train][checkpoint]") {
  test::temp_dir dir("writer");
  {
    train::checkpoint_writer w(dir.path, 4);
    w.write_json("trainer.json", {{"a", 1}});
  }
  CHECK(train::list_checkpoints(dir.path).empty());
  CHECK(std::filesystem::is_empty(dir.path));
  {  // a fault while writing: the stage callback throws after the first file
    train::checkpoint_writer w(dir.path, 5, [](std::string_view stage) {
      if (stage == "trainer.json") throw std::runtime_error("fault");
    });
    CHECK_THROWS_AS(w.write_json("trainer.json", {{"a", 1}}), std::runtime_error);
  }
  CHECK(std::filesystem::is_empty(dir.path));
  train::checkpoint_writer w(dir.path, 6);
  w.write_json("x.json", {{"a", 1}});
  CHECK(w.commit() == dir.path / "step-00000006");
  train::checkpoint_writer again(dir.path, 6);  // replacing an existing step directory
  again.write_json("y.json", {{"b", 2}});
  again.commit();
  const auto ck = train::checkpoint_reader::open(dir.path / "step-00000006");
  CHECK(ck.has("y.json"));
  CHECK_FALSE(ck.has("x.json"));
  CHECK(train::parse_checkpoint_name("step-00000006") == 6);
  CHECK_FALSE(train::parse_checkpoint_name("step-12a").has_value());
  CHECK_FALSE(train::parse_checkpoint_name("stepx-1").has_value());
}

TEST_CASE("missing, incomplete and corrupt checkpoints are errors naming the file", "[train][checkpoint][errors]") {
  fixture f;
  {
    setup<cpu> s(f.data(), f.cfg("src", 5, 0));
    s.run.fit();
  }
  const auto root = f.dir.path / "src" / "ck";
  const auto last = root / "step-00000017";
  auto resume_error = [&](const std::filesystem::path& p) {
    setup<cpu> s(f.data(), f.cfg("dst"));
    return test::error_of([&] { s.run.resume(p); });
  };
  auto copy_of = [&](const std::string& name) {
    const auto to = f.dir.path / "copies" / name / "step-00000017";
    std::filesystem::create_directories(to.parent_path());
    std::filesystem::copy(last, to, std::filesystem::copy_options::recursive);
    return to;
  };

  CHECK_THAT(resume_error(f.dir.path / "nowhere"), Catch::Contains("checkpoint '") && Catch::Contains("nowhere' does not exist"));
  std::filesystem::create_directories(f.dir.path / "empty");
  CHECK_THAT(resume_error(f.dir.path / "empty"), Catch::Contains("no checkpoint in"));

  auto no_manifest = copy_of("no_manifest");
  std::filesystem::remove(no_manifest / "manifest.json");
  CHECK_THAT(resume_error(no_manifest), Catch::Contains("is incomplete: it has no manifest.json"));

  auto missing = copy_of("missing");
  std::filesystem::remove(missing / "optimizer.safetensors");
  CHECK_THAT(resume_error(missing), Catch::Contains("is missing optimizer.safetensors"));

  auto flipped = copy_of("flipped");
  flip_byte(flipped / "model.safetensors", 4000);
  CHECK_THAT(resume_error(flipped), Catch::Contains("model.safetensors is corrupt (its hash does not match the manifest)"));

  auto truncated = copy_of("truncated");
  std::filesystem::resize_file(truncated / "optimizer.safetensors", 100);
  CHECK_THAT(resume_error(truncated), Catch::Contains("optimizer.safetensors is corrupt (100 bytes, the manifest says"));

  auto bad_manifest = copy_of("bad_manifest");
  std::ofstream(bad_manifest / "manifest.json") << "{\"format\": \"thaw.checkpoint\", ";
  CHECK_THAT(resume_error(bad_manifest), Catch::Contains("manifest.json is corrupt"));

  auto other_version = copy_of("other_version");
  {
    auto m = nlohmann::json::parse(std::ifstream(other_version / "manifest.json"));
    m["version"] = 99;
    std::ofstream(other_version / "manifest.json") << m.dump();
  }
  CHECK_THAT(resume_error(other_version), Catch::Contains("manifest version 99 is not the version this build reads"));

  // A sealed trainer.json with a field removed: named.
  auto no_step = copy_of("no_step");
  {
    auto t = nlohmann::json::parse(std::ifstream(no_step / "trainer.json"));
    t.erase("data_state");
    std::ofstream(no_step / "trainer.json") << t.dump();
    reseal(no_step, "trainer.json");
  }
  CHECK_THAT(resume_error(no_step), Catch::Contains("trainer.json has no 'data_state'"));

  auto other_format = copy_of("other_format");
  {
    auto m = nlohmann::json::parse(std::ifstream(other_format / "manifest.json"));
    m["format"] = "something.else";
    std::ofstream(other_format / "manifest.json") << m.dump();
  }
  CHECK_THAT(resume_error(other_format), Catch::Contains("manifest.json is not a thaw checkpoint manifest"));

  auto outside = copy_of("outside");
  {
    auto m = nlohmann::json::parse(std::ifstream(outside / "manifest.json"));
    m["files"]["../escape"] = {{"bytes", 1}, {"fnv1a64", "0000000000000000"}};
    std::ofstream(outside / "manifest.json") << m.dump();
  }
  CHECK_THAT(resume_error(outside), Catch::Contains("manifest names a file outside it ('../escape')"));

  auto malformed_entry = copy_of("malformed_entry");
  {
    auto m = nlohmann::json::parse(std::ifstream(malformed_entry / "manifest.json"));
    m["files"]["trainer.json"] = {{"bytes", "many"}};
    std::ofstream(malformed_entry / "manifest.json") << m.dump();
  }
  CHECK_THAT(resume_error(malformed_entry), Catch::Contains("manifest entry for trainer.json is malformed"));

  auto bad_state = copy_of("bad_state");
  {
    auto t = nlohmann::json::parse(std::ifstream(bad_state / "trainer.json"));
    t["data_state"][0] = "not hex at all!";
    std::ofstream(bad_state / "trainer.json") << t.dump();
    reseal(bad_state, "trainer.json");
  }
  CHECK_THAT(resume_error(bad_state), Catch::Contains("trainer.json 'data_state' is malformed"));

  auto negative_step = copy_of("negative_step");
  {
    auto t = nlohmann::json::parse(std::ifstream(negative_step / "trainer.json"));
    t["step"] = -3;
    std::ofstream(negative_step / "trainer.json") << t.dump();
    reseal(negative_step, "trainer.json");
  }
  CHECK_THAT(resume_error(negative_step), Catch::Contains("trainer.json 'step' should be a non-negative integer, it is -3"));

  auto not_trainer = copy_of("not_trainer");
  {
    auto t = nlohmann::json::parse(std::ifstream(not_trainer / "trainer.json"));
    t["format"] = "thaw.other";
    std::ofstream(not_trainer / "trainer.json") << t.dump();
    reseal(not_trainer, "trainer.json");
  }
  CHECK_THAT(resume_error(not_trainer), Catch::Contains("trainer.json is not a thaw trainer state"));

  // The latest of a directory is corrupt: the error points to the one before.
  flip_byte(last / "trainer.json", 10);
  CHECK_THAT(resume_error(root), Catch::Contains("trainer.json is corrupt") &&
                                     Catch::Contains("an earlier checkpoint is '" + (root / "step-00000015").string()));
}

TEST_CASE("a checkpoint of another configuration is refused, naming what differs", "[train][checkpoint][errors]") {
  fixture f;
  {
    setup<cpu> s(f.data(), f.cfg("src", 5, 0));
    s.run.fit();
  }
  const auto ck = f.dir.path / "src" / "ck";

  SECTION("another model") {
    auto m = test::tiny_lm();
    m.width = 32;
    setup<cpu> s(f.data(), f.cfg("dst"), "mixture(0.7: shuffled(seed=3, source=0), 0.3: shuffled(seed=4, source=1))",
                 {.lr = 3e-3}, m);
    CHECK_THAT(test::error_of([&] { s.run.resume(ck); }),
               Catch::Contains("is for another model") && Catch::Contains("wrong shape for 'wte.weight'"));
  }
  SECTION("another batch size") {
    auto c = f.cfg("dst");
    c.batch = 2;
    setup<cpu> s(f.data(), c);
    CHECK_THAT(test::error_of([&] { s.run.resume(ck); }), Catch::Contains("was written with batch 4, this run has 2"));
  }
  SECTION("another context") {
    auto c = f.cfg("dst");
    c.context = 8;
    setup<cpu> s(f.data(), c);
    CHECK_THAT(test::error_of([&] { s.run.resume(ck); }), Catch::Contains("was written with context 16, this run has 8"));
  }
  SECTION("another accumulation") {
    auto c = f.cfg("dst");
    c.accumulation = 2;
    setup<cpu> s(f.data(), c);
    CHECK_THAT(test::error_of([&] { s.run.resume(ck); }), Catch::Contains("was written with accumulation 1, this run has 2"));
  }
  SECTION("another sampler") {
    setup<cpu> s(f.data(), f.cfg("dst"), "shuffled(seed=3, source=0)");
    CHECK_THAT(test::error_of([&] { s.run.resume(ck); }), Catch::Contains("the data state does not fit this run's data stream"));
  }
  SECTION("another optimizer") {
    setup<cpu> s(f.data(), f.cfg("dst"));
    optim::sgd<cpu> opt(s.model, {.lr = 0.1, .momentum = 0.9});
    train::trainer run(s.model, opt, s.batches, s.with_defaults(f.cfg("dst")));
    CHECK_THAT(test::error_of([&] { run.resume(ck); }), Catch::Contains("holds adamw optimizer state, this run uses sgd"));
  }
  SECTION("a freeze policy where there was none") {
    setup<cpu> s(f.data(), f.cfg("dst"));
    freeze::two_stage<cpu> p(s.model.params(), {.frozen = select::parse("wte.*"), .unfreeze_at = 3});
    s.run.freeze_with(p);
    CHECK_THAT(test::error_of([&] { s.run.resume(ck); }), Catch::Contains("was trained without a freeze policy, this run has one"));
  }
  SECTION("another static freeze mask") {
    setup<cpu> s(f.data(), f.cfg("dst"));
    group_mask::frozen(s.model.params(), select::parse("wpe.*")).apply(s.model.params());
    CHECK_THAT(test::error_of([&] { s.run.resume(ck); }),
               Catch::Contains("trains 'wpe.weight' but this run freezes it"));
  }
  SECTION("the log is not the checkpointed run's") {
    setup<cpu> s(f.data(), f.cfg("src"));
    std::ofstream(f.dir.path / "src" / "log.jsonl", std::ios::trunc) << "{}\n";
    s.run.resume(ck);
    CHECK_THAT(test::error_of([&] { s.run.fit(); }), Catch::Contains("it is not the log of the checkpointed run"));
  }
}

TEST_CASE("another freeze policy configuration is refused", "[train][checkpoint][errors]") {
  fixture f;
  {
    setup<cpu> s(f.data(), f.cfg("src", 5, 0));
    freeze::two_stage<cpu> p(s.model.params(), {.frozen = select::parse("wte.*"), .unfreeze_at = 3});
    s.run.freeze_with(p);
    s.run.fit();
  }
  setup<cpu> s(f.data(), f.cfg("dst"));
  freeze::two_stage<cpu> p(s.model.params(), {.frozen = select::parse("wte.*"), .unfreeze_at = 4});
  s.run.freeze_with(p);
  CHECK_THAT(test::error_of([&] { s.run.resume(f.dir.path / "src" / "ck"); }),
             Catch::Contains("freeze.safetensors does not fit this run's freeze policy") &&
                 Catch::Contains("unfreeze_at 3, this policy 4"));
  setup<cpu> none(f.data(), f.cfg("dst2"));
  CHECK_THAT(test::error_of([&] { none.run.resume(f.dir.path / "src" / "ck"); }),
             Catch::Contains("was trained with a freeze policy, this run has none"));
}
