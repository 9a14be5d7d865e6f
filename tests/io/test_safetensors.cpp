// safetensors: round trips in every float dtype, metadata, atomic writes, a file written by
// Python's own encoder, and every kind of malformed file named in the error.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "thaw/io/safetensors.hpp"

namespace fs = std::filesystem;
using namespace thaw::io;

namespace {
fs::path scratch_dir() {
  const fs::path dir = fs::temp_directory_path() / ("thaw_st_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}
std::vector<std::byte> file_bytes(const std::string& header, const std::vector<std::byte>& data,
                                  std::uint64_t declared_len) {
  std::vector<std::byte> out(8);
  std::memcpy(out.data(), &declared_len, 8);
  for (char c : header) out.push_back(std::byte(c));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
std::vector<std::byte> file_bytes(const std::string& header, std::size_t data_bytes) {
  return file_bytes(header, std::vector<std::byte>(data_bytes), header.size());
}
std::string parse_error(const std::vector<std::byte>& bytes) {
  try {
    safetensors_file::parse(bytes);
  } catch (const thaw::error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("half and bfloat16 conversions are exact where they should be", "[io][safetensors]") {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f}) {
    REQUIRE(half_to_float(float_to_half(f)) == f);
    REQUIRE(std::signbit(half_to_float(float_to_half(f))) == std::signbit(f));
  }
  REQUIRE(std::isinf(half_to_float(float_to_half(1e6f))));
  REQUIRE(std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN()))));
  REQUIRE(half_to_float(float_to_half(1.0f + 1.0f / 4096)) == 1.0f);  // ties to even
  REQUIRE(half_to_float(0x3555) == Approx(0.333251953125f).epsilon(0));
  for (float f : {0.0f, 1.0f, -3.0f, 1.5e30f, 1e-30f})
    REQUIRE(std::abs(bf16_to_float(float_to_bf16(f)) - f) <= std::abs(f) / 128);
  REQUIRE(bf16_to_float(float_to_bf16(1.0f + 1.0f / 256)) == 1.0f);  // ties to even
  REQUIRE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("safetensors round trip keeps names, shapes, values and metadata", "[io][safetensors]") {
  const fs::path path = scratch_dir() / "roundtrip.safetensors";
  std::vector<float> w(6), b{0.5f, -1.25f};
  for (int i = 0; i < 6; ++i) w[i] = 0.1f * float(i) - 0.2f;
  std::vector<st_entry<float>> entries{
      {"h.0.attn.c_attn.weight", {2, 3}, w, st_dtype::f32},
      {"h.0.attn.c_attn.bias", {2}, b, st_dtype::f16},
      {"wte.weight", {3, 2}, w, st_dtype::bf16},
  };
  save_safetensors(path, entries, {{"format", "pt"}, {"thaw", "test"}});
  auto f = safetensors_file::open(path);
  REQUIRE(f.tensors().size() == 3);
  REQUIRE(f.metadata().at("format") == "pt");
  REQUIRE(f.metadata().at("thaw") == "test");
  const auto& t = f.at("h.0.attn.c_attn.weight");
  REQUIRE(t.shape == std::vector<std::int64_t>{2, 3});
  REQUIRE(f.read<float>(t) == w);
  REQUIRE(f.read<float>(f.at("h.0.attn.c_attn.bias")) == b);  // exact in f16
  const auto bf = f.read<double>(f.at("wte.weight"));
  for (int i = 0; i < 6; ++i) REQUIRE(std::abs(bf[i] - w[i]) <= std::abs(w[i]) / 128 + 1e-12);
  REQUIRE_THROWS_WITH(f.at("nope"), Catch::Contains("no tensor named 'nope'"));
  // The data buffer starts 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  std::uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  REQUIRE(len % 8 == 0);
}

TEST_CASE("a failed write leaves the previous file intact", "[io][safetensors]") {
  const fs::path path = scratch_dir() / "atomic.safetensors";
  std::vector<float> good{1, 2, 3};
  save_safetensors<float>(path, {{"x", {3}, good}});
  // Repeated name: rejected before anything replaces the file.
  REQUIRE_THROWS_WITH(save_safetensors<float>(path, {{"x", {3}, good}, {"x", {3}, good}}),
                      Catch::Contains("repeated"));
  REQUIRE_THROWS_WITH(save_safetensors<float>(path, {{"y", {2, 2}, good}}),
                      Catch::Contains("3 values for a shape of 4"));
  REQUIRE(safetensors_file::open(path).read<float>(safetensors_file::open(path).at("x")) == good);
  for (const auto& entry : fs::directory_iterator(path.parent_path()))
    REQUIRE(entry.path().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("malformed safetensors files give errors that name the problem", "[io][safetensors]") {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(parse_error(file_bytes(ok, 8)) == "(no error)");
  REQUIRE_THAT(parse_error({std::byte(1), std::byte(2)}), Catch::Contains("fewer than the 8-byte"));
  REQUIRE_THAT(parse_error(file_bytes(ok, {}, 1000)), Catch::Contains("runs past the end"));
  REQUIRE_THAT(parse_error(file_bytes("{\"a\":", 0)), Catch::Contains("bad JSON"));
  REQUIRE_THAT(parse_error(file_bytes("[1,2]", 0)), Catch::Contains("not an object"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8)),
               Catch::Contains("unknown dtype 'F33'"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8)),
               Catch::Contains("outside the 8-byte data buffer"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
               Catch::Contains("12 bytes") && Catch::Contains("span 8 bytes"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
               Catch::Contains("overlaps"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
               Catch::Contains("belong to no tensor"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0)),
               Catch::Contains("not a non-negative integer"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)),
               Catch::Contains("outside"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8)),
               Catch::Contains("absurdly large"));
  REQUIRE_THAT(parse_error(file_bytes(R"({"__metadata__":{"k":1}})", 0)), Catch::Contains("not a string"));
  // An integer tensor parses but does not convert to a parameter.
  auto bytes = file_bytes(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8);
  auto f = safetensors_file::parse(bytes);
  REQUIRE_THROWS_WITH(f.read<float>(f.at("a")), Catch::Contains("dtype I64"));
  REQUIRE_THROWS_WITH(safetensors_file::open("/nonexistent/x.safetensors"),
                      Catch::Contains("cannot open '/nonexistent/x.safetensors'"));
}

TEST_CASE("reads a safetensors file written by Python's reference encoder", "[io][safetensors][interop]") {
  // The writer below follows the format's specification with Python's struct and json modules
  // (and NumPy for float16), as the safetensors package writes it.
  const fs::path path = scratch_dir() / "python.safetensors";
  const std::string script = R"PY(
import json, struct, sys
import numpy as np
w = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
h = np.array([1.5, -2.25, 65504.0], dtype=np.float16)
b = (np.array([0.1, 0.2], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
blobs = [("w", "F32", [3, 4], w.tobytes()), ("h", "F16", [3], h.tobytes()), ("b", "BF16", [2], b.tobytes())]
header, offset = {"__metadata__": {"format": "pt"}}, 0
for name, dtype, shape, blob in blobs:
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
    offset += len(blob)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blob for *_, blob in blobs))
)PY";
  const fs::path py = scratch_dir() / "write.py";
  std::ofstream(py) << script;
  REQUIRE(std::system(("/usr/bin/python3 " + py.string() + " " + path.string()).c_str()) == 0);
  auto f = safetensors_file::open(path);
  REQUIRE(f.metadata().at("format") == "pt");
  auto w = f.read<float>(f.at("w"));
  for (int i = 0; i < 12; ++i) REQUIRE(w[i] == float(i) / 7.0f);
  REQUIRE(f.read<double>(f.at("h")) == std::vector<double>{1.5, -2.25, 65504.0});
  auto b = f.read<float>(f.at("b"));
  REQUIRE(b[0] == bf16_to_float(std::uint16_t(std::bit_cast<std::uint32_t>(0.1f) >> 16)));
  REQUIRE(f.at("w").shape == std::vector<std::int64_t>{3, 4});
}
