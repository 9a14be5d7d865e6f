// Tests for thaw/io/plot.hpp (kept with the schedule tests, its first user).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "thaw/io/plot.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
// PNG width and height from the IHDR chunk.
std::pair<int, int> png_size(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  unsigned char h[24] = {};
  f.read(reinterpret_cast<char*>(h), 24);
  const auto be = [&](int i) { return (h[i] << 24) | (h[i + 1] << 16) | (h[i + 2] << 8) | h[i + 3]; };
  return {be(16), be(20)};
}
}  // namespace

TEST_CASE("plot_png draws several series at the asked size", "[plot]") {
  const auto png = fs::temp_directory_path() / "thaw-plot-test.png";
  fs::remove(png);
  thaw::io::series a{.label = "train", .x = {}, .y = {}}, b{.label = "valid $x$", .x = {}, .y = {}};
  for (int i = 1; i <= 100; ++i) {
    a.x.push_back(i);
    a.y.push_back(1.0 / i);
    b.x.push_back(i);
    b.y.push_back(1.2 / std::sqrt(i));
  }
  thaw::io::plot_png(png, {a, b}, {.title = "loss \"quoted\" 'title' $1", .log_y = true,
                                   .width_px = 640, .height_px = 320});
  REQUIRE(fs::exists(png));
  CHECK(png_size(png) == std::pair{640, 320});
  fs::remove(png);
}

TEST_CASE("plot_png says clearly when python or matplotlib is missing", "[plot]") {
  const auto png = fs::temp_directory_path() / "thaw-plot-missing.png";
  thaw::io::series s{.label = "", .x = {0, 1}, .y = {1, 2}};
  CHECK_THROWS_WITH(thaw::io::plot_png(png, {s}, {.python = "/nonexistent/python3"}),
                    Contains("needs Python at /nonexistent/python3") &&
                        Contains("python3-matplotlib"));
  // An interpreter without matplotlib: a stand-in that fails the import the way the script does.
  const auto fake = fs::temp_directory_path() / "thaw-fake-python.sh";
  std::ofstream(fake) << "#!/bin/sh\necho 'No module named matplotlib' >&2\nexit 3\n";
  fs::permissions(fake, fs::perms::owner_all);
  CHECK_THROWS_WITH(thaw::io::plot_png(png, {s}, {.python = fake.string()}),
                    Contains("cannot import matplotlib") && Contains("apt-get install python3-matplotlib"));
  fs::remove(fake);
  thaw::io::series bad{.label = "bad", .x = {0, 1}, .y = {1}};
  CHECK_THROWS_WITH(thaw::io::plot_png(png, {bad}), Contains("2 x values but 1 y values"));
}
