// Seed + mask + trainable values: the storage format of "FreezeNet: Full Performance by Reduced
// Storage Costs" (Wimmer, Mehnert, Condurache, ACCV 2020). When the frozen elements of a model
// still hold the values its seeded initializer gave them (Philox, so regenerable on any
// backend), a checkpoint needs only the seed, which elements trained, and their values.
//
//   freeze::save_seeded(store, policy.mask(), seed, "run/model.seeded");
//   freeze::load_seeded(store, "run/model.seeded", [&](std::uint64_t s) { model.init(s); });
//
// The file is a safetensors file: the trainable values (F32 for a float model, F64 for double)
// in buffer order, the mask as packed bits (U8) or as [begin, end) ranges, whichever is smaller,
// and a checksum of the frozen values. Loading re-runs the initializer with the seed, checks
// that it reproduces the frozen values bit for bit (else a thaw::error: wrong seed, or the
// frozen values were changed after initialization), then writes the trainable values back.
// For a 1%-trainable float model the file is about (1/8 + 0.01 * 4) / 4 = 4% of a full F32
// checkpoint (tests/freeze/test_seeded_checkpoint.cpp measures it).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "thaw/optim/state_dict.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/param_store.hpp"

namespace thaw::freeze {

struct seeded_info {
  std::uint64_t seed = 0;
  std::size_t numel = 0;      ///< elements of the model
  std::size_t trainable = 0;  ///< elements stored as values
  std::uintmax_t bytes = 0;   ///< size of the file
};

namespace detail {

inline std::uint64_t fnv1a(std::uint64_t h, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
inline constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ull;

template <class B>
std::string layout_fingerprint(const param_store<B>& store) {
  std::uint64_t h = kFnvBasis;
  for (const auto& r : store.refs()) {
    h = fnv1a(h, r.name.data(), r.name.size());
    for (int d = 0; d < r.shape.rank(); ++d) {
      const std::int64_t e = r.shape[d];
      h = fnv1a(h, &e, sizeof e);
    }
  }
  return std::to_string(h);
}

/// FNV-1a over the bits of the elements outside `trainable`.
template <class T>
std::uint64_t frozen_checksum(const std::vector<T>& values, std::span<const index_range> trainable) {
  std::uint64_t h = kFnvBasis;
  std::size_t cursor = 0;
  for (const auto& r : trainable) {
    if (r.begin > cursor) h = fnv1a(h, values.data() + cursor, (r.begin - cursor) * sizeof(T));
    cursor = r.end;
  }
  if (cursor < values.size()) h = fnv1a(h, values.data() + cursor, (values.size() - cursor) * sizeof(T));
  return h;
}

}  // namespace detail

/// Saves the model as seed + mask + the values of the mask's elements. The frozen elements must
/// hold what the initializer gives them for `seed` (load_seeded checks it). Returns the size.
template <class B>
std::uintmax_t save_seeded(const param_store<B>& store, const element_mask& mask, std::uint64_t seed,
                           const std::filesystem::path& path, std::map<std::string, std::string> metadata = {}) {
  using T = typename B::scalar;
  THAW_CHECK(mask.size() == store.numel(), "save_seeded: the element mask has ", mask.size(),
             " elements but the model has ", store.numel());
  std::vector<T> host(store.numel());
  B::to_host(host.data(), store.values(), host.size());
  const auto ranges = mask.ranges();
  state_dict d;
  std::vector<double> values;
  values.reserve(mask.count());
  for (const auto& r : ranges)
    for (std::size_t e = r.begin; e < r.end; ++e) values.push_back(static_cast<double>(host[e]));
  put_vector(d, "values", std::move(values), sizeof(T) == sizeof(float) ? io::st_dtype::f32 : io::st_dtype::f64);
  if (ranges.size() * 16 < (store.numel() + 7) / 8) put_ranges(d, "mask_ranges", ranges);
  else put_bytes(d, "mask_bits", mask.to_bytes());
  const std::uint64_t sum = detail::frozen_checksum(host, ranges);
  put_vector(d, "frozen_checksum", {static_cast<double>(sum >> 32), static_cast<double>(sum & 0xffffffffu)});
  metadata["format"] = "thaw.seeded/1";
  metadata["seed"] = std::to_string(seed);
  metadata["numel"] = std::to_string(store.numel());
  metadata["layout"] = detail::layout_fingerprint(store);
  metadata["scalar_bytes"] = std::to_string(sizeof(T));
  save_state(d, path, metadata);
  return std::filesystem::file_size(path);
}

/// Restores a model saved by save_seeded: `init(seed)` must re-initialize the store's values
/// from the seed (e.g. [&](std::uint64_t s) { model.init(s); }); the trainable values are then
/// written over it. The result is bit-identical to the saved model.
template <class B, class Init>
seeded_info load_seeded(param_store<B>& store, const std::filesystem::path& path, Init&& init) {
  using T = typename B::scalar;
  std::map<std::string, std::string> meta;
  const state_dict d = load_state(path, &meta);
  auto field = [&](const char* k) -> const std::string& {
    auto it = meta.find(k);
    THAW_CHECK(it != meta.end(), "'", path.string(), "' is not a seeded checkpoint (no '", k, "' in its metadata)");
    return it->second;
  };
  THAW_CHECK(field("format") == "thaw.seeded/1", "'", path.string(), "' has format '", field("format"),
             "', not thaw.seeded/1");
  THAW_CHECK(field("numel") == std::to_string(store.numel()) && field("layout") == detail::layout_fingerprint(store),
             "'", path.string(), "' was saved from another model (", field("numel"), " elements, layout ",
             field("layout"), "; this model has ", store.numel(), ", layout ", detail::layout_fingerprint(store), ")");
  THAW_CHECK(field("scalar_bytes") == std::to_string(sizeof(T)), "'", path.string(), "' holds ", field("scalar_bytes"),
             "-byte values, this model ", sizeof(T), "-byte ones (the frozen values would not match)");
  std::uint64_t seed = 0;
  try {
    std::size_t used = 0;
    seed = std::stoull(field("seed"), &used);
    THAW_CHECK(used == field("seed").size(), "bad seed");
  } catch (const std::exception&) {
    throw error(message("'", path.string(), "' has a malformed seed '", field("seed"), "'"));
  }
  std::vector<index_range> ranges;
  if (d.count("mask_ranges")) {
    ranges = get_ranges(d, "mask_ranges", store.numel());
  } else {
    ranges = element_mask::from_bytes(store.numel(), get_bytes(d, "mask_bits", (store.numel() + 7) / 8)).ranges();
  }
  const std::size_t n = element_count(ranges);
  const auto& values = get_vector(d, "values", n);
  const auto& sum = get_vector(d, "frozen_checksum", 2);

  std::forward<Init>(init)(seed);
  std::vector<T> host(store.numel());
  B::to_host(host.data(), store.values(), host.size());
  const std::uint64_t expected = (static_cast<std::uint64_t>(sum[0]) << 32) | static_cast<std::uint64_t>(sum[1]);
  THAW_CHECK(detail::frozen_checksum(host, ranges) == expected, "'", path.string(),
             "': the initializer with seed ", seed, " does not reproduce the frozen values that were saved "
             "(another initializer or seed, or frozen values changed after initialization)");
  std::size_t s = 0;
  for (const auto& r : ranges)
    for (std::size_t e = r.begin; e < r.end; ++e) host[e] = static_cast<T>(values[s++]);
  B::from_host(store.values(), host.data(), host.size());
  return {seed, store.numel(), n, std::filesystem::file_size(path)};
}

}  // namespace thaw::freeze
