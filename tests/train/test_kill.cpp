// kill -9 at random moments, then resume: the run ends with the same weights, bit for bit, as
// an uninterrupted one, and every checkpoint directory on disk is always complete.
//
// The test runs this test executable again as a child process (the hidden test case below),
// which trains with frequent checkpoints, resuming from the latest one when there is one, and
// writes its final weights. The parent kills children with SIGKILL at random times, and in
// some rounds the child kills itself at a chosen stage of a checkpoint write (after the model,
// the optimizer state, trainer.json, the manifest, or right after the rename), so kills land
// inside checkpoint writes for sure, not only by chance. Children run with one OpenMP thread,
// as the uninterrupted reference does.
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "thaw/io/files.hpp"
#include "thaw/freeze/two_stage.hpp"
#include "thaw/params/select.hpp"
#include "train/train_util.hpp"

extern char** environ;

using namespace thaw;
using cpu = backend::cpu<>;

namespace {

constexpr const char* kChildName = "kill test child: train with checkpoints and resume from the latest";
constexpr train::step_t kSteps = 30;

train::trainer_cfg child_cfg(const std::filesystem::path& dir) {
  return {.steps = kSteps, .batch = 4, .context = 16, .eval_every = 5, .eval_batches = 1,
          .log = dir / "log.jsonl", .checkpoint = {.dir = dir / "ck", .every = 3, .keep_last = 2}};
}

/// Runs this executable's child test case in `dir` (optionally killing itself at `stage` of the
/// checkpoint of step `stage_step`); returns the pid.
pid_t spawn_child(const std::filesystem::path& dir, const std::string& stage = "", long stage_step = -1) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string s = *e;
    if (!s.starts_with("OMP_NUM_THREADS=") && !s.starts_with("THAW_KILL_")) env_strings.push_back(s);
  }
  env_strings.push_back("OMP_NUM_THREADS=1");
  env_strings.push_back("THAW_KILL_DIR=" + dir.string());
  if (!stage.empty()) {
    env_strings.push_back("THAW_KILL_STAGE=" + stage);
    env_strings.push_back("THAW_KILL_STEP=" + std::to_string(stage_step));
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = std::filesystem::read_symlink("/proc/self/exe").string(), name = kChildName;
  std::string warn = "--warn", no_tests = "NoTests";  // fail when the name matches no test
  std::vector<char*> argv{exe.data(), name.data(), warn.data(), no_tests.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string out = (dir / "child.out").string();
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

/// Waits for the child (at most 5 minutes); returns its wait status.
int wait_child(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 300'000; ++i) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  FAIL("the child did not finish in 5 minutes");
  return status;
}

std::vector<char> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Step records in a log so far (0 when there is none yet).
std::size_t steps_logged(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::size_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += line.find("\"event\":\"step\"") != std::string::npos;
  return n;
}

/// Every checkpoint directory present is complete and verifies.
void check_checkpoints_complete(const std::filesystem::path& root) {
  for (const auto& c : train::list_checkpoints(root)) {
    INFO(c.dir.string());
    CHECK_NOTHROW(train::checkpoint_reader::open(c.dir));
  }
}

}  // namespace

// The child: hidden (not run unless named), driven by the environment.
TEST_CASE("kill test child: train with checkpoints and resume from the latest", "[.][kill-child]") {
  const char* dir_env = std::getenv("THAW_KILL_DIR");
  REQUIRE(dir_env != nullptr);
  const std::filesystem::path dir = dir_env;
  const std::string stage = std::getenv("THAW_KILL_STAGE") ? std::getenv("THAW_KILL_STAGE") : "";
  const long stage_step = std::getenv("THAW_KILL_STEP") ? std::atol(std::getenv("THAW_KILL_STEP")) : -1;
  auto cfg = child_cfg(dir);
  const train::trainer<nn::gpt<cpu>, optim::adamw<cpu>, data::batcher<data::any_sampler>>* running = nullptr;
  cfg.checkpoint.on_stage = [&](std::string_view s) {
    if (!stage.empty() && s == stage && running && running->step() == stage_step) ::raise(SIGKILL);
  };
  test::setup<cpu> s(dir.parent_path() / "data", cfg);
  freeze::two_stage<cpu> policy(s.model.params(), {.frozen = select::parse("wte.* | wpe.*"), .unfreeze_at = 11});
  s.run.freeze_with(policy);
  running = &s.run;
  if (train::latest_checkpoint(dir / "ck")) s.run.resume(dir / "ck");
  s.run.fit();
  const auto w = s.weights();
  io::atomic_writer out(dir / "final.bin");
  out.write(w.data(), w.size() * sizeof(float));
  out.commit();
}

TEST_CASE("kill -9 at random moments, then resume: the same final weights bit for bit", "[train][checkpoint][kill]") {
  test::temp_dir dir("kill");
  test::build_synthetic_datasets(dir.path / "data");

  // The uninterrupted reference, in a child like the others (same thread count).
  const auto ref = dir.path / "reference";
  std::filesystem::create_directories(ref);
  const auto t0 = std::chrono::steady_clock::now();
  const int ref_status = wait_child(spawn_child(ref));
  const double ref_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(WIFEXITED(ref_status));
  REQUIRE(WEXITSTATUS(ref_status) == 0);
  const auto want = read_bytes(ref / "final.bin");
  REQUIRE(want.size() == nn::gpt<cpu>(test::tiny_lm()).params().numel() * sizeof(float));
  const auto want_losses = test::step_losses(ref / "log.jsonl");
  REQUIRE(want_losses.size() == kSteps);

  int kills = 0, self_kills = 0, resumes = 0;
  auto finish_round = [&](const std::filesystem::path& d) {
    // Run to completion, then compare.
    const int st = wait_child(spawn_child(d));
    const auto out = read_bytes(d / "child.out");
    INFO(std::string(out.begin(), out.end()));
    REQUIRE(WIFEXITED(st));
    REQUIRE(WEXITSTATUS(st) == 0);
    CHECK(read_bytes(d / "final.bin") == want);
    CHECK(test::step_losses(d / "log.jsonl") == want_losses);
    for (const auto& r : train::read_jsonl(d / "log.jsonl")) resumes += r["event"] == "resume" ? 1 : 0;
  };

  SECTION("kills at random times") {
    for (int round = 0; round < 3; ++round) {
      const auto d = dir.path / ("random-" + std::to_string(round));
      std::filesystem::create_directories(d);
      for (int k = 0; k < 3; ++k) {
        // A random moment: once the log shows a random number of steps, plus a random delay
        // of up to a tenth of the whole run (timing alone is unreliable on a busy machine).
        const auto key = philox_key{2024, std::uint64_t(round)};
        const std::size_t at_steps = 1 + philox::bits_at(key, 2 * std::uint64_t(k)) % (kSteps - 2);
        const double delay = philox::uniform_at(key, 2 * std::uint64_t(k) + 1, 0.0, 0.1) * ref_seconds;
        const pid_t pid = spawn_child(d);
        int status = 0;
        bool exited = false;
        while (!(exited = ::waitpid(pid, &status, WNOHANG) == pid) && steps_logged(d / "log.jsonl") < at_steps)
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        if (!exited) {
          std::this_thread::sleep_for(std::chrono::duration<double>(delay));
          ::kill(pid, SIGKILL);
          status = wait_child(pid);
        }
        kills += WIFSIGNALED(status) ? 1 : 0;
        check_checkpoints_complete(d / "ck");
      }
      finish_round(d);
    }
    INFO(kills << " kills, " << resumes << " resumes from a checkpoint");
    CHECK(kills >= 6);     // nearly every kill lands before the child finishes
    CHECK(resumes >= 2);   // and many after a checkpoint was written
  }

  SECTION("kills inside a checkpoint write, at every stage") {
    const char* stages[] = {"model.safetensors", "optimizer.safetensors", "freeze.safetensors", "trainer.json",
                            "manifest.json", "commit"};
    int round = 0;
    for (const char* stage : stages) {
      const auto d = dir.path / ("stage-" + std::to_string(round));
      std::filesystem::create_directories(d);
      const long step = 3 * (1 + round % 5);  // a checkpoint step
      const int st = wait_child(spawn_child(d, stage, step));
      REQUIRE(WIFSIGNALED(st));
      REQUIRE(WTERMSIG(st) == SIGKILL);
      ++self_kills;
      check_checkpoints_complete(d / "ck");
      const auto latest = train::latest_checkpoint(d / "ck");
      if (std::string_view(stage) == "commit") {
        REQUIRE(latest);
        CHECK(latest->step == step);  // killed after the rename: the new checkpoint is there
      } else if (latest) {
        CHECK(latest->step == step - 3);  // killed before it: the previous one is the latest
      }
      finish_round(d);
      ++round;
    }
    CHECK(self_kills == 6);
    CHECK(resumes >= 5);  // all but the kill inside the first checkpoint resume from one
  }
}
