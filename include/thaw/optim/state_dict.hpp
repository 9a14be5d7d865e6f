// thaw::state_dict — the checkpointable state of optimizers, EMA and freeze policies: a map
// of named host tensors, saved as (and loaded from) a safetensors file.
//
// Values are held as doubles, which represent every float and every integer below 2^53
// exactly, and are written as F64, F32 (state whose values are floats: optimizer moments of a
// float model, bit-exact) or U8 (packed masks). Loading a file gives back exactly what was
// saved, so a restored optimizer or policy continues bit for bit.
//
// Components write their entries under a prefix ("adamw.m", "freeze.grades.below") so that
// several of them share one dict: merge(dict, other) and the get_* helpers, which name the
// missing or malformed entry in their errors.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "thaw/backend/ops.hpp"
#include "thaw/core/error.hpp"
#include "thaw/io/files.hpp"
#include "thaw/io/safetensors.hpp"
#include "thaw/params/mask.hpp"

namespace thaw {

/// One named tensor of a state dict. For dtype u8 the values are bytes (0..255).
struct state_tensor {
  std::vector<std::int64_t> shape;
  std::vector<double> values;
  io::st_dtype dtype = io::st_dtype::f64;  ///< how it is stored: f64, f32 or u8
};

using state_dict = std::map<std::string, state_tensor>;

// ---- building and reading entries -----------------------------------------------------------

inline void put_scalar(state_dict& d, const std::string& key, double v) {
  d[key] = {{}, {v}, io::st_dtype::f64};
}
inline void put_vector(state_dict& d, const std::string& key, std::vector<double> v,
                       io::st_dtype dtype = io::st_dtype::f64) {
  const auto n = static_cast<std::int64_t>(v.size());
  d[key] = {{n}, std::move(v), dtype};
}
inline void put_bytes(state_dict& d, const std::string& key, std::span<const std::uint8_t> bytes) {
  d[key] = {{static_cast<std::int64_t>(bytes.size())}, std::vector<double>(bytes.begin(), bytes.end()),
            io::st_dtype::u8};
}
/// An index set as an (n, 2) tensor of [begin, end) pairs.
inline void put_ranges(state_dict& d, const std::string& key, std::span<const index_range> ranges) {
  std::vector<double> v;
  v.reserve(2 * ranges.size());
  for (const auto& r : ranges) {
    v.push_back(static_cast<double>(r.begin));
    v.push_back(static_cast<double>(r.end));
  }
  d[key] = {{static_cast<std::int64_t>(ranges.size()), 2}, std::move(v), io::st_dtype::f64};
}

inline const state_tensor& get_entry(const state_dict& d, const std::string& key) {
  auto it = d.find(key);
  THAW_CHECK(it != d.end(), "state has no entry '", key, "' (", d.size(),
             " entries; was it saved by the same component?)");
  return it->second;
}
inline double get_scalar(const state_dict& d, const std::string& key) {
  const auto& t = get_entry(d, key);
  THAW_CHECK(t.values.size() == 1, "state entry '", key, "' should hold one value, it holds ", t.values.size());
  return t.values[0];
}
/// A non-negative integer scalar (steps, counts), checked to be one.
inline std::int64_t get_count(const state_dict& d, const std::string& key) {
  const double v = get_scalar(d, key);
  THAW_CHECK(v >= 0 && v < 9007199254740992.0 && std::floor(v) == v, "state entry '", key,
             "' should be a non-negative integer, it is ", v);
  return static_cast<std::int64_t>(v);
}
inline const std::vector<double>& get_vector(const state_dict& d, const std::string& key, std::size_t expected_size) {
  const auto& t = get_entry(d, key);
  THAW_CHECK(t.values.size() == expected_size, "state entry '", key, "' has ", t.values.size(),
             " values, expected ", expected_size);
  return t.values;
}
inline std::vector<std::uint8_t> get_bytes(const state_dict& d, const std::string& key, std::size_t expected_size) {
  const auto& v = get_vector(d, key, expected_size);
  std::vector<std::uint8_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    THAW_CHECK(v[i] >= 0 && v[i] <= 255 && std::floor(v[i]) == v[i], "state entry '", key,
               "' should hold bytes, value ", i, " is ", v[i]);
    out[i] = static_cast<std::uint8_t>(v[i]);
  }
  return out;
}
/// An index set saved by put_ranges, checked to be sorted, disjoint and within `numel`.
inline std::vector<index_range> get_ranges(const state_dict& d, const std::string& key, std::size_t numel) {
  const auto& t = get_entry(d, key);
  THAW_CHECK(t.values.size() % 2 == 0, "state entry '", key, "' should hold [begin, end) pairs");
  std::vector<index_range> out(t.values.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double b = t.values[2 * i], e = t.values[2 * i + 1];
    THAW_CHECK(b >= 0 && e >= 0 && std::floor(b) == b && std::floor(e) == e && e <= 9007199254740992.0,
               "state entry '", key, "': range ", i, " is not a pair of non-negative integers");
    out[i] = {static_cast<std::size_t>(b), static_cast<std::size_t>(e)};
  }
  check_index_set(out, numel, "state entry '" + key + "'");
  return out;
}

/// Adds every entry of `from` to `into` (keys must not collide).
inline void merge(state_dict& into, const state_dict& from) {
  for (const auto& [k, v] : from) {
    THAW_CHECK(!into.count(k), "state entry '", k, "' is written by two components");
    into[k] = v;
  }
}

// ---- files ------------------------------------------------------------------------------------

/// Writes the state as a safetensors file (atomically), each entry in its dtype.
inline void save_state(const state_dict& d, const std::filesystem::path& path,
                       const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const auto& [name, t] : d) {
    THAW_CHECK(name != "__metadata__", "state entry name '__metadata__' is reserved");
    THAW_CHECK(t.dtype == io::st_dtype::f64 || t.dtype == io::st_dtype::f32 || t.dtype == io::st_dtype::u8,
               "state entry '", name, "': dtype ", io::dtype_name(t.dtype), " is not F64, F32 or U8");
    std::int64_t numel = 1;
    for (auto e : t.shape) numel *= e;
    THAW_CHECK(numel == static_cast<std::int64_t>(t.values.size()), "state entry '", name, "' has ",
               t.values.size(), " values for a shape of ", numel, " elements");
    const std::size_t bytes = t.values.size() * io::dtype_size(t.dtype);
    header[name] = {{"dtype", io::dtype_name(t.dtype)}, {"shape", t.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  io::atomic_writer out(path);
  const std::uint64_t len = text.size();
  out.write(&len, 8);
  out.write(text.data(), text.size());
  std::vector<std::byte> buffer;
  for (const auto& [name, t] : d) {
    buffer.resize(t.values.size() * io::dtype_size(t.dtype));
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      const double v = t.values[i];
      if (t.dtype == io::st_dtype::f64) {
        std::memcpy(buffer.data() + 8 * i, &v, 8);
      } else if (t.dtype == io::st_dtype::f32) {
        const auto f = static_cast<float>(v);
        THAW_CHECK(static_cast<double>(f) == v || std::isnan(v), "state entry '", name, "': value ", i,
                   " (", v, ") is not exactly a float; store it as F64");
        std::memcpy(buffer.data() + 4 * i, &f, 4);
      } else {
        THAW_CHECK(v >= 0 && v <= 255 && std::floor(v) == v, "state entry '", name, "': value ", i,
                   " (", v, ") is not a byte");
        buffer[i] = static_cast<std::byte>(static_cast<std::uint8_t>(v));
      }
    }
    out.write(buffer);
  }
  out.commit();
}

/// Reads a state file written by save_state (F64, F32 and U8 entries); its metadata goes to
/// `metadata` when given.
inline state_dict load_state(const std::filesystem::path& path,
                             std::map<std::string, std::string>* metadata = nullptr) {
  const auto file = io::safetensors_file::open(path);
  if (metadata) *metadata = file.metadata();
  state_dict d;
  for (const auto& t : file.tensors()) {
    state_tensor s;
    s.shape = t.shape;
    s.dtype = t.dtype;
    if (t.dtype == io::st_dtype::u8) {
      const auto raw = file.raw(t);
      s.values.resize(raw.size());
      for (std::size_t i = 0; i < raw.size(); ++i) s.values[i] = static_cast<double>(std::to_integer<std::uint8_t>(raw[i]));
    } else {
      THAW_CHECK(t.dtype == io::st_dtype::f64 || t.dtype == io::st_dtype::f32, "'", path.string(),
                 "': state entry '", t.name, "' has dtype ", io::dtype_name(t.dtype), ", not F64, F32 or U8");
      s.values = file.read<double>(t);
    }
    d[t.name] = std::move(s);
  }
  return d;
}

}  // namespace thaw
