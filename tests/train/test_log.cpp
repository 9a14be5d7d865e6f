// Logs (JSON Lines, CSV summary), progress output, and the continual-learning measures
// computed from logs.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "thaw/train/continual.hpp"
#include "thaw/train/log.hpp"
#include "thaw/train/progress.hpp"
#include "train/train_util.hpp"

using namespace thaw;
using train::json;

TEST_CASE("JSON Lines logs round-trip doubles exactly and resume by truncation", "[train][log]") {
  test::temp_dir dir("log");
  const auto p = dir.path / "sub" / "log.jsonl";
  const double tricky = 0.1 + 0.2;  // not representable in few digits
  std::uint64_t after_two = 0;
  {
    auto log = train::jsonl_log::open(p);
    log.write(json{{"event", "step"}, {"step", 1}, {"loss", tricky}});
    log.write(json{{"event", "step"}, {"step", 2}, {"loss", train::number(std::nan(""))}});
    after_two = log.bytes();
    log.write(json{{"event", "step"}, {"step", 3}, {"loss", 1.0}});
    CHECK(log.bytes() == std::filesystem::file_size(p));
  }
  auto records = train::read_jsonl(p);
  REQUIRE(records.size() == 3);
  CHECK(records[0]["loss"].get<double>() == tricky);  // bit for bit
  CHECK(records[1]["loss"].is_null());                 // non-finite -> null
  {
    auto log = train::jsonl_log::open(p, after_two);  // resume: cut back, continue
    log.write(json{{"event", "step"}, {"step", 3}, {"loss", 2.0}});
  }
  records = train::read_jsonl(p);
  REQUIRE(records.size() == 3);
  CHECK(records[2]["loss"].get<double>() == 2.0);
  CHECK_THAT(test::error_of([&] { train::jsonl_log::open(p, 1'000'000); }),
             Catch::Contains("has ") && Catch::Contains("bytes but the checkpoint recorded 1000000"));
  // A torn last line (a killed writer) is ignored; a bad line in the middle is an error naming it.
  { std::ofstream(p, std::ios::app) << "{\"event\": \"st"; }
  CHECK(train::read_jsonl(p).size() == 3);
  test::temp_dir d2("log2");
  const auto bad = d2.write("bad.jsonl", "{\"a\": 1}\nnot json\n{\"b\": 2}\n");
  CHECK_THAT(test::error_of([&] { train::read_jsonl(bad); }), Catch::Contains("bad.jsonl', line 2: not JSON"));
  const auto arr = d2.write("arr.jsonl", "[1, 2]\n");
  CHECK_THAT(test::error_of([&] { train::read_jsonl(arr); }), Catch::Contains("line 1: not a JSON object"));
  CHECK_THAT(test::error_of([&] { train::read_jsonl(d2.path / "none.jsonl"); }), Catch::Contains("cannot open log"));
}

TEST_CASE("the CSV summary has one row per evaluation with the mean training loss since the last", "[train][log]") {
  std::vector<json> r{
      json{{"event", "start"}, {"step", 0}},
      json{{"event", "eval"}, {"step", 0}, {"val/en", 5.0}, {"time", 0.5}},
      json{{"event", "step"}, {"step", 1}, {"loss", 4.0}, {"lr", 0.1}, {"tokens", 10}},
      json{{"event", "step"}, {"step", 2}, {"loss", 2.0}, {"lr", 0.2}, {"tokens", 20}},
      json{{"event", "step"}, {"step", 3}, {"loss", nullptr}, {"lr", 0.2}, {"tokens", 30}, {"skipped", true}},
      json{{"event", "eval"}, {"step", 3}, {"val/en", 3.5}, {"val/code", 6.25}, {"time", 1.5}},
  };
  CHECK(train::csv_summary(r) ==
        "step,train_loss,lr,tokens,time,val/en,val/code\n"
        "0,,,0,0.5,5.0,\n"
        "3,3.0,0.2,30,1.5,3.5,6.25\n");
}

TEST_CASE("progress: a bar with ETA on a terminal, plain periodic lines otherwise", "[train][progress]") {
  double now = 100;
  auto clock = [&] { return now; };
  SECTION("bar") {
    std::ostringstream out;
    {
      train::progress p(out, 0, 100, {.mode = train::progress_mode::bar, .bar_width = 10, .label = "pre", .clock = clock});
      now = 110;
      p.update(50, 2.5, 1500);  // 10 s for 50 steps: 10 s left
      CHECK(out.str() == "\rpre: [#####.....] 50/100  50%  loss 2.5000  1.5k tok/s  ETA 10s\x1b[K");
      now = 110.1;
      p.update(51, 2.4, 1500);  // within redraw_s: not redrawn
      CHECK(out.str().find("51/100") == std::string::npos);
      p.message("eval at step 51: en 2.1");
      CHECK_THAT(out.str(), Catch::EndsWith("\r\x1b[Kpre: eval at step 51: en 2.1\n"));
      now = 110.15;
      p.update(52, 2.4, 1500);  // redrawn after a message
      CHECK(out.str().find("52/100") != std::string::npos);
    }
    CHECK_THAT(out.str(), Catch::EndsWith("\n"));  // the bar's line ends
  }
  SECTION("plain") {
    std::ostringstream out;
    train::progress p(out, 20, 100, {.mode = train::progress_mode::plain, .plain_every_s = 30, .clock = clock});
    now = 101;
    p.update(21, 3.0, 950);  // the first step is always shown
    now = 110;
    p.update(40, 2.0, 950);  // not yet 30 s
    now = 140;
    p.update(60, 1.5, 2e6);
    now = 141;
    p.update(100, 1.0, 2e6);  // the last step is always shown
    CHECK(out.str() ==
          "step 21/100 (21%)  loss 3.0000  950 tok/s  elapsed 1.0s  ETA 1m19s\n"
          "step 60/100 (60%)  loss 1.5000  2.0M tok/s  elapsed 40s  ETA 40s\n"
          "step 100/100 (100%)  loss 1.0000  2.0M tok/s  elapsed 41s  ETA 0.0s\n");
  }
  SECTION("none") {
    std::ostringstream out;
    train::progress p(out, 0, 10, {.mode = train::progress_mode::none, .clock = clock});
    p.update(10, 1.0, 1.0);
    p.message("x");
    CHECK(out.str().empty());
  }
  CHECK(train::format_duration(3723) == "1h02m03s");
  CHECK(train::format_duration(-1) == "?");
  CHECK(train::format_rate(41234) == "41.2k");
}

namespace {
json eval(int step, double en, double code) { return json{{"event", "eval"}, {"step", step}, {"val/en", en}, {"val/code", code}}; }
}  // namespace

TEST_CASE("forgetting, stability gap and final losses from a log", "[train][continual]") {
  // code: 4.0 at the switch, rises to 4.6 at step 20, back below 4.0 at step 40.
  // en:   2.0 at the switch, ends at 2.5 after peaking at 2.7.
  std::vector<json> r{eval(0, 2.0, 4.0), eval(10, 2.4, 4.3), eval(20, 2.7, 4.6), eval(30, 2.6, 4.1),
                      eval(40, 2.5, 3.2), eval(50, 2.5, 2.9)};
  const auto curves = train::eval_curves(r);
  const auto m = train::measure_continual(train::get_curve(curves, "en"), train::get_curve(curves, "code"));
  CHECK(m.upstream_at_switch == 2.0);
  CHECK(m.upstream_final == 2.5);
  CHECK(m.forgetting == Approx(0.5));
  CHECK(m.max_forgetting == Approx(0.7));
  CHECK(m.downstream_final == 2.9);
  CHECK(m.downstream_gap.rise == Approx(0.6));
  CHECK(m.downstream_gap.peak == 20);
  CHECK(m.downstream_gap.recovery == 40);
  CHECK_FALSE(m.upstream_gap.recovery.has_value());  // English never gets back below 2.0

  SECTION("a curve that falls at once has no gap and recovers at the first evaluation") {
    train::curve c{{100, 110, 120}, {4.0, 3.5, 3.0}};
    const auto g = train::measure_stability_gap(c);
    CHECK(g.rise == 0);
    CHECK(g.recovery == 10);
  }
  SECTION("an explicit value at the switch (from the pre-training log)") {
    train::curve c{{10, 20}, {4.5, 3.9}};
    const auto g = train::measure_stability_gap(c, 4.0);
    CHECK(g.rise == Approx(0.5));
    CHECK(g.peak == 10);
    CHECK(g.recovery == 20);
    CHECK(train::measure_stability_gap(c, 4.0, 5).recovery == 15);
  }
  SECTION("a later record for the same step replaces the earlier one (a resumed log)") {
    auto again = r;
    again.push_back(eval(50, 2.4, 2.8));
    CHECK(train::eval_curves(again).at("code").last() == 2.8);
  }
  SECTION("a set the log does not have is an error listing those it has") {
    CHECK_THAT(test::error_of([&] { train::get_curve(curves, "english"); }),
               Catch::Contains("no evaluations of 'english' (it has: code, en)"));
    CHECK_THAT(test::error_of([&] { train::measure_stability_gap(train::curve{}); }), Catch::Contains("empty validation curve"));
  }
}
