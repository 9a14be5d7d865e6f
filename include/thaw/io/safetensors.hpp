// safetensors reading (memory-mapped, validated) and writing (atomic).
//
// The format (Hugging Face safetensors): an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}, then the byte buffer the offsets index (relative to its
// start). Every malformed file — truncated, header length past the end, bad JSON, unknown dtype,
// offsets out of range, overlapping or leaving holes, shape disagreeing with the byte count —
// gives a thaw::error naming the file and the problem; nothing is read out of bounds.
// F32, F16 and BF16 (and F64) tensors convert to float or double on reading.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/io/files.hpp"

namespace thaw::io {

enum class st_dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

inline constexpr std::size_t dtype_size(st_dtype t) noexcept {
  switch (t) {
    case st_dtype::f64: case st_dtype::i64: return 8;
    case st_dtype::f32: case st_dtype::i32: return 4;
    case st_dtype::f16: case st_dtype::bf16: case st_dtype::i16: return 2;
    default: return 1;
  }
}
inline constexpr std::string_view dtype_name(st_dtype t) noexcept {
  constexpr std::string_view names[] = {"F64", "F32", "F16", "BF16", "I64",
                                        "I32", "I16", "I8",  "U8",   "BOOL"};
  return names[static_cast<int>(t)];
}
inline std::optional<st_dtype> parse_dtype(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(st_dtype::boolean); ++i)
    if (dtype_name(static_cast<st_dtype>(i)) == s) return static_cast<st_dtype>(i);
  return std::nullopt;
}

// ---- half-precision conversions (IEEE binary16 and bfloat16) ----------------------------------
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalise
    int shift = 0;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      ++shift;
    }
    bits = sign | (std::uint32_t(113 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}
inline std::uint16_t float_to_half(float f) {  // round to nearest even
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return std::uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  if (abs >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // overflow to inf
  if (abs < 0x38800000u) {  // subnormal or zero in half
    const float magnitude = std::bit_cast<float>(abs);
    return std::uint16_t(sign | std::uint32_t(std::nearbyint(magnitude * 16777216.0f)));
  }
  const std::uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return std::uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}
inline float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }
inline std::uint16_t float_to_bf16(float f) {  // round to nearest even, NaN stays NaN
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((x >> 16) | 0x40u);
  return std::uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/// One tensor's entry in a safetensors header.
struct st_tensor {
  std::string name;
  st_dtype dtype{};
  std::vector<std::int64_t> shape;
  std::size_t begin = 0, end = 0;  // byte offsets into the data buffer
  [[nodiscard]] std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

/// A parsed, validated safetensors file. Construct from a path (memory-mapped) or validate a
/// byte buffer with parse() (used by the fuzzer).
class safetensors_file {
public:
  static safetensors_file open(const std::filesystem::path& path) {
    safetensors_file f;
    f.map_ = mapped_file(path);
    f.parse_bytes(f.map_.bytes(), path.string());
    return f;
  }
  /// Validates `bytes` as a safetensors file; `bytes` must outlive the result.
  static safetensors_file parse(std::span<const std::byte> bytes, std::string origin = "<memory>") {
    safetensors_file f;
    f.parse_bytes(bytes, std::move(origin));
    return f;
  }

  [[nodiscard]] const std::vector<st_tensor>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  [[nodiscard]] const std::string& origin() const noexcept { return origin_; }
  [[nodiscard]] const st_tensor* find(std::string_view name) const {
    for (const auto& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  [[nodiscard]] const st_tensor& at(std::string_view name) const {
    const st_tensor* t = find(name);
    THAW_CHECK(t != nullptr, "'", origin_, "' has no tensor named '", name, "'");
    return *t;
  }
  /// The tensor's raw bytes (little-endian, its own dtype).
  [[nodiscard]] std::span<const std::byte> raw(const st_tensor& t) const {
    return data_.subspan(t.begin, t.end - t.begin);
  }

  /// Converts a floating-point tensor into `out` (float or double), which must have numel
  /// elements.
  template <class T>
  void read(const st_tensor& t, std::span<T> out) const {
    static_assert(std::is_floating_point_v<T>, "safetensors tensors convert to float or double");
    THAW_CHECK(static_cast<std::int64_t>(out.size()) == t.numel(), "tensor '", t.name, "' in '",
               origin_, "' has ", t.numel(), " elements, the destination ", out.size());
    const std::byte* p = data_.data() + t.begin;
    const std::size_t n = out.size();
    switch (t.dtype) {
      case st_dtype::f32: for (std::size_t i = 0; i < n; ++i) out[i] = T(load<float>(p + 4 * i)); break;
      case st_dtype::f64: for (std::size_t i = 0; i < n; ++i) out[i] = T(load<double>(p + 8 * i)); break;
      case st_dtype::f16: for (std::size_t i = 0; i < n; ++i) out[i] = T(half_to_float(load<std::uint16_t>(p + 2 * i))); break;
      case st_dtype::bf16: for (std::size_t i = 0; i < n; ++i) out[i] = T(bf16_to_float(load<std::uint16_t>(p + 2 * i))); break;
      default:
        throw error(message("tensor '", t.name, "' in '", origin_, "' has dtype ", dtype_name(t.dtype),
                            ", which does not convert to a floating-point parameter"));
    }
  }
  template <class T>
  [[nodiscard]] std::vector<T> read(const st_tensor& t) const {
    std::vector<T> out(static_cast<std::size_t>(t.numel()));
    read(t, std::span<T>(out));
    return out;
  }

private:
  template <class U>
  static U load(const std::byte* p) {  // unaligned little-endian load (x86-64 and CUDA hosts)
    U v;
    std::memcpy(&v, p, sizeof(U));
    return v;
  }

  void parse_bytes(std::span<const std::byte> bytes, std::string origin) {
    origin_ = std::move(origin);
    auto fail = [&](const auto&... parts) { throw error(message("'", origin_, "' is not a valid safetensors file: ", parts...)); };
    if (bytes.size() < 8) fail("it has ", bytes.size(), " bytes, fewer than the 8-byte header length");
    const auto header_len = load<std::uint64_t>(bytes.data());
    if (header_len > bytes.size() - 8)
      fail("the header length ", header_len, " runs past the end of the file (", bytes.size() - 8,
           " bytes follow it)");
    const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(header_begin, header_begin + header_len);
    } catch (const nlohmann::json::exception& e) {
      fail("bad JSON header (", e.what(), ")");
    }
    if (!header.is_object()) fail("the JSON header is not an object");
    data_ = bytes.subspan(8 + header_len);

    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        if (!value.is_object()) fail("__metadata__ is not an object");
        for (const auto& [mk, mv] : value.items()) {
          if (!mv.is_string()) fail("metadata value of '", mk, "' is not a string");
          metadata_[mk] = mv.get<std::string>();
        }
        continue;
      }
      if (!value.is_object()) fail("entry '", key, "' is not an object");
      st_tensor t;
      t.name = key;
      const auto dtype = value.find("dtype");
      if (dtype == value.end() || !dtype->is_string()) fail("tensor '", key, "' has no dtype string");
      const auto parsed = parse_dtype(dtype->get<std::string>());
      if (!parsed) fail("tensor '", key, "' has unknown dtype '", dtype->get<std::string>(), "'");
      t.dtype = *parsed;
      const auto shape = value.find("shape");
      if (shape == value.end() || !shape->is_array()) fail("tensor '", key, "' has no shape array");
      std::uint64_t numel = 1;
      constexpr std::uint64_t kMaxNumel = std::uint64_t(1) << 56;  // guards the product below
      for (const auto& d : *shape) {
        if (!d.is_number_unsigned()) fail("tensor '", key, "' has a shape entry that is not a non-negative integer");
        const auto extent = d.get<std::uint64_t>();
        if (extent != 0 && numel > kMaxNumel / extent) fail("tensor '", key, "' has an absurdly large shape");
        numel *= extent;
        t.shape.push_back(static_cast<std::int64_t>(extent));
      }
      const auto offsets = value.find("data_offsets");
      if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
          !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
        fail("tensor '", key, "' needs data_offsets [begin, end] of non-negative integers");
      const auto begin = (*offsets)[0].get<std::uint64_t>(), end = (*offsets)[1].get<std::uint64_t>();
      if (begin > end || end > data_.size())
        fail("tensor '", key, "' has data_offsets [", begin, ", ", end, "] outside the ",
             data_.size(), "-byte data buffer");
      if (end - begin != numel * dtype_size(t.dtype))
        fail("tensor '", key, "' has shape of ", numel, " ", dtype_name(t.dtype), " elements (",
             numel * dtype_size(t.dtype), " bytes) but data_offsets span ", end - begin, " bytes");
      t.begin = static_cast<std::size_t>(begin);
      t.end = static_cast<std::size_t>(end);
      tensors_.push_back(std::move(t));
    }
    // The buffer must be covered exactly: no overlaps, no holes (as the format requires).
    std::vector<const st_tensor*> by_offset;
    for (const auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::size_t covered = 0;
    for (const st_tensor* t : by_offset) {
      if (t->begin < covered) fail("tensor '", t->name, "' overlaps the tensor before it in the data buffer");
      if (t->begin > covered) fail("bytes [", covered, ", ", t->begin, ") of the data buffer belong to no tensor");
      covered = t->end;
    }
    if (covered != data_.size())
      fail("the data buffer has ", data_.size() - covered, " trailing bytes that belong to no tensor");
  }

  mapped_file map_;
  std::span<const std::byte> data_;
  std::vector<st_tensor> tensors_;
  std::map<std::string, std::string> metadata_;
  std::string origin_;
};

/// One tensor to write: values in float or double, stored as `dtype` (F32, F16, BF16 or F64).
template <class T>
struct st_entry {
  std::string name;
  std::vector<std::int64_t> shape;
  std::span<const T> values;
  st_dtype dtype = st_dtype::f32;
};

/// Writes a safetensors file atomically (temporary file, fsync, rename). Names must be unique
/// and each entry's value count must match its shape.
template <class T>
void save_safetensors(const std::filesystem::path& path, const std::vector<st_entry<T>>& entries,
                      const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const auto& e : entries) {
    THAW_CHECK(e.name != "__metadata__" && !header.contains(e.name), "cannot write '", path.string(),
               "': tensor name '", e.name, "' is reserved or repeated");
    std::int64_t numel = 1;
    for (auto d : e.shape) {
      THAW_CHECK(d >= 0, "tensor '", e.name, "' has a negative extent");
      numel *= d;
    }
    THAW_CHECK(numel == static_cast<std::int64_t>(e.values.size()), "tensor '", e.name, "' has ",
               e.values.size(), " values for a shape of ", numel, " elements");
    THAW_CHECK(e.dtype == st_dtype::f32 || e.dtype == st_dtype::f16 || e.dtype == st_dtype::bf16 ||
                   e.dtype == st_dtype::f64,
               "tensor '", e.name, "': thaw writes F32, F16, BF16 or F64, not ", dtype_name(e.dtype));
    const std::size_t bytes = e.values.size() * dtype_size(e.dtype);
    header[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data buffer starts 8-byte aligned
  atomic_writer out(path);
  const std::uint64_t len = text.size();
  out.write(&len, 8);
  out.write(text.data(), text.size());
  std::vector<std::byte> buffer;
  for (const auto& e : entries) {
    buffer.resize(e.values.size() * dtype_size(e.dtype));
    std::byte* p = buffer.data();
    for (std::size_t i = 0; i < e.values.size(); ++i) {
      const T v = e.values[i];
      switch (e.dtype) {
        case st_dtype::f32: { const float f = float(v); std::memcpy(p + 4 * i, &f, 4); break; }
        case st_dtype::f64: { const double d = double(v); std::memcpy(p + 8 * i, &d, 8); break; }
        case st_dtype::f16: { const auto h = float_to_half(float(v)); std::memcpy(p + 2 * i, &h, 2); break; }
        default: { const auto b = float_to_bf16(float(v)); std::memcpy(p + 2 * i, &b, 2); break; }
      }
    }
    out.write(buffer);
  }
  out.commit();
}

}  // namespace thaw::io
