// Tests for thaw::sched::cli::run (cli.hpp), the thaw-sched command line.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "thaw/schedule/cli.hpp"
#include "thaw/schedule/schedule.hpp"

using namespace thaw::sched;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {
struct result {
  int rc;
  std::string out, err;
};
result run(std::vector<std::string> args) {
  args.insert(args.begin(), "thaw-sched");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int rc = cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}
std::string one_line_error(const result& r) {
  CHECK(r.rc != 0);
  CHECK(r.out.empty());
  const auto l = lines(r.err);
  CHECK(l.size() == 1);
  CHECK_THAT(r.err, StartsWith("thaw-sched: "));
  return r.err;
}
}  // namespace

TEST_CASE("thaw-sched prints step,value lines with %.17g", "[schedule][cli]") {
  const auto r = run({"linear(0, 1, 3) >> constant(0.1, 2)", "--steps", "6"});
  REQUIRE(r.rc == 0);
  CHECK(r.err.empty());
  const std::vector<std::string> want = {"0,0", "1,0.33333333333333331", "2,0.66666666666666663",
                                         "3,0.10000000000000001", "4,0.10000000000000001",
                                         "5,0.10000000000000001"};
  CHECK(lines(r.out) == want);
  // --steps=N and options before the spec work too.
  CHECK(run({"--steps=6", "linear(0, 1, 3) >> constant(0.1, 2)"}).out == r.out);
}

TEST_CASE("thaw-sched defaults --steps to a finite schedule's length", "[schedule][cli]") {
  const auto r = run({"cosine(1, 0, 4)"});
  REQUIRE(r.rc == 0);
  CHECK(lines(r.out).size() == 4);
  CHECK(lines(r.out).front() == "0,1");
  CHECK(run({"cosine(1, 0, 4)", "--steps", "0"}).out.empty());
  // Every value round-trips to the schedule's double.
  const auto big = run({"wsd(3e-4, 3e-5, 10, 30, 20, 1-sqrt)"});
  const auto s = parse("wsd(3e-4, 3e-5, 10, 30, 20, 1-sqrt)");
  const auto l = lines(big.out);
  REQUIRE(l.size() == 60);
  for (std::size_t i = 0; i < l.size(); ++i) {
    CHECK(std::strtod(l[i].c_str() + l[i].find(',') + 1, nullptr) == s(static_cast<step_t>(i)));
  }
}

TEST_CASE("thaw-sched: bad input is one line on stderr and a non-zero exit", "[schedule][cli]") {
  CHECK_THAT(one_line_error(run({})), Contains("missing SPEC"));
  CHECK_THAT(one_line_error(run({"linear(0, 1)"})), Contains("column 12"));
  CHECK_THAT(one_line_error(run({"linear(0, 1, 10)", "--steps", "ten"})),
             Contains("--steps needs a whole number >= 0, got 'ten'"));
  CHECK_THAT(one_line_error(run({"linear(0, 1, 10)", "--steps", "-3"})), Contains("whole number"));
  CHECK_THAT(one_line_error(run({"linear(0, 1, 10)", "--steps"})), Contains("--steps needs"));
  CHECK_THAT(one_line_error(run({"constant(1)"})), Contains("never ends"));
  CHECK_THAT(one_line_error(run({"linear(0, 1, 10)", "--frobnicate"})), Contains("unknown option"));
  CHECK_THAT(one_line_error(run({"linear(0, 1, 10)", "cosine(1, 0, 3)"})), Contains("one SPEC"));
  CHECK_THAT(one_line_error(run({"linear(0, 1, 10)", "--plot"})), Contains("--plot needs"));
  CHECK(run({"exp(0, 1, 10)"}).rc == 2);
  // A spec that starts with '-' is a spec, not an option.
  const auto neg = run({"-0.5", "--steps", "2"});
  CHECK(neg.rc == 0);
  CHECK(neg.out == "0,-0.5\n1,-0.5\n");
}

TEST_CASE("thaw-sched --help", "[schedule][cli]") {
  const auto r = run({"--help"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, StartsWith("usage: thaw-sched SPEC"));
  CHECK_THAT(r.out, Contains("wsd(peak, min, warmup, stable, decay"));
  CHECK(run({"-h"}).out == r.out);
}

TEST_CASE("thaw-sched --plot writes a PNG", "[schedule][cli][plot]") {
  const auto png = std::filesystem::temp_directory_path() / "thaw-sched-test-plot.png";
  std::filesystem::remove(png);
  const auto r = run({"linear(0, 3e-4, 50) >> cosine(3e-4, 3e-5, 450)", "--plot", png.string()});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(lines(r.out).size() == 500);  // the values are printed as well
  REQUIRE(std::filesystem::exists(png));
  std::ifstream f(png, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  CHECK(std::string(magic + 1, 3) == "PNG");
  CHECK(std::filesystem::file_size(png) > 5'000);
  std::filesystem::remove(png);
  // A plot that cannot be written is a one-line error and exit 1.
  const auto bad = run({"linear(0, 1, 10)", "--plot", "/nonexistent-dir/x.png"});
  CHECK(bad.rc == 1);
  CHECK(lines(bad.err).size() == 1);
  CHECK_THAT(bad.err, Contains("failed to draw"));
}
