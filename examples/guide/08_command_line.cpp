// Command-line tools: thaw-sched, thaw-data and thaw-lm are thin main()s over functions in the
// headers. This program calls those functions with the words one would type and prints the
// transcript: a schedule's values, a dataset built and sampled, and a run from a JSON config.
#include <thaw/cli/lm_train.hpp>
#include <thaw/data/tool.hpp>
#include <thaw/schedule/cli.hpp>
#include <thaw/train/continual.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

int run(std::vector<std::string> words) {  // `thaw-sched ...`, `thaw-data ...` or `thaw-lm train ...`
  std::ostringstream out, err;
  std::vector<const char*> argv;
  for (const auto& w : words) std::printf("%s%s", argv.empty() ? "$ " : " ", w.c_str()), argv.push_back(w.c_str());
  const int argc = static_cast<int>(argv.size());
  const int rc = words[0] == "thaw-sched" ? thaw::sched::cli::run(argc, argv.data(), out, err)
                 : words[0] == "thaw-data" ? thaw::data::run_tool(std::span(words).subspan(1), out, err)
                                           : thaw::cli::lm_train(argc - 2, argv.data() + 2, out, err);
  std::printf("\n%s%s", out.str().c_str(), rc ? err.str().c_str() : "");
  return rc;
}

int main() {
  const fs::path root = fs::temp_directory_path() / "thaw_guide_cli";
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string data = (root / "fortunes").string(), config = (root / "run.json").string();
  std::ofstream(config) << R"J({
    "out": ")J" + (root / "run").string() + R"J(",
    "model": {"vocab": 256, "context": 64, "layers": 2, "heads": 4, "width": 64},
    "data": {"datasets": {"fortunes": {"dir": ")J" + data + R"J("}}, "sampler": "shuffled(seed=1)"},
    "train": {"steps": 40, "batch": 8},
    "optimizer": {"lr": "linear(0, 3e-3, 5) >> cosine(3e-3, 3e-4, 35)", "weight_decay": 0.1},
    "freeze": {"policy": "frozen", "frozen": "wpe.*"},
    "eval": {"every": 20, "batches": 2, "sets": ["fortunes"]},
    "log": {"progress": "none"}
  })J";
  int rc = run({"thaw-sched", "linear(0, 1e-3, 2) >> cosine(1e-3, 1e-4, 4)"});
  rc |= run({"thaw-data", "build", "--corpus", "fortunes", "--out", data, "--no-metrics"});
  rc |= run({"thaw-data", "sample", "--dataset", data, "--sampler", "shuffled(seed=1)", "--count", "4"});
  rc |= run({"thaw-lm", "train", "--config", config});
  const auto curves = thaw::train::eval_curves(root / "run" / "log.jsonl");  // the run's JSON Lines log
  const auto& loss = thaw::train::get_curve(curves, "fortunes");
  std::printf("validation loss %.3f -> %.3f\n", loss.first(), loss.last());
  fs::remove_all(root);
  return rc == 0 && loss.last() < loss.first() - 1.0 ? 0 : 1;
}
