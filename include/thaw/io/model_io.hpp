// Saving a model's parameters as safetensors and loading them back, checked by name and shape.
//
// Loading reports every mismatch at once — parameters missing from the file, tensors in the
// file the model does not have, wrong shapes — in one thaw::error, so a wrong config is seen
// in one run. Values convert from F32, F16 or BF16 (or F64) to the backend's scalar.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "thaw/io/safetensors.hpp"
#include "thaw/params/param_store.hpp"

namespace thaw::io {

struct load_options {
  /// Tensors in the file that are not parameters and are fine to skip, matched by name suffix
  /// (GPT-2 checkpoints carry the attention-mask buffers "attn.bias" / "attn.masked_bias").
  std::vector<std::string> ignore_suffixes{".attn.bias", ".attn.masked_bias"};
  /// Stripped from the file's names before matching ("transformer." in GPT2LMHeadModel files).
  std::string strip_prefix = "transformer.";
};

/// Writes every parameter (F32 by default) with its shape, plus `metadata`, atomically.
template <class B>
void save_parameters(const param_store<B>& params, const std::filesystem::path& path,
                     const std::map<std::string, std::string>& metadata = {},
                     st_dtype dtype = st_dtype::f32) {
  using T = typename B::scalar;
  std::vector<T> host(params.numel());
  B::to_host(host.data(), params.values(), host.size());
  std::vector<st_entry<T>> entries;
  for (const auto& r : params.refs()) {
    std::vector<std::int64_t> shape;
    for (int d = 0; d < r.shape.rank(); ++d) shape.push_back(r.shape[d]);
    entries.push_back({r.name, shape, std::span<const T>(host.data() + r.offset, r.size()), dtype});
  }
  save_safetensors(path, entries, metadata);
}

/// Loads every parameter from a safetensors file; throws one error listing all mismatches.
/// Nothing is written into the model unless everything matches.
template <class B>
void load_parameters(param_store<B>& params, const safetensors_file& file, const load_options& opt = {}) {
  using T = typename B::scalar;
  auto strip = [&](const std::string& name) {
    return !opt.strip_prefix.empty() && name.rfind(opt.strip_prefix, 0) == 0
               ? name.substr(opt.strip_prefix.size()) : name;
  };
  std::map<std::string, const st_tensor*> in_file;
  for (const auto& t : file.tensors()) in_file[strip(t.name)] = &t;

  std::vector<std::string> problems;
  std::vector<std::pair<const param_ref*, const st_tensor*>> matched;
  for (const auto& r : params.refs()) {
    auto it = in_file.find(r.name);
    if (it == in_file.end()) {
      problems.push_back(message("missing '", r.name, "' ", r.shape));
      continue;
    }
    const st_tensor& t = *it->second;
    bool same = static_cast<int>(t.shape.size()) == r.shape.rank();
    for (int d = 0; same && d < r.shape.rank(); ++d) same = t.shape[d] == r.shape[d];
    std::string file_shape = "[";
    for (std::size_t d = 0; d < t.shape.size(); ++d) file_shape += (d ? ", " : "") + std::to_string(t.shape[d]);
    file_shape += "]";
    if (!same)
      problems.push_back(message("wrong shape for '", r.name, "': file has ", file_shape,
                                 ", model expects ", r.shape));
    else if (t.dtype != st_dtype::f32 && t.dtype != st_dtype::f16 && t.dtype != st_dtype::bf16 &&
             t.dtype != st_dtype::f64)
      problems.push_back(message("'", r.name, "' has dtype ", dtype_name(t.dtype), ", not a float type"));
    else
      matched.push_back({&r, &t});
    in_file.erase(it);
  }
  for (const auto& [name, t] : in_file) {
    bool ignored = false;
    for (const auto& suffix : opt.ignore_suffixes)
      ignored |= name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (!ignored) problems.push_back(message("unexpected '", name, "' in the file"));
  }
  if (!problems.empty()) {
    std::string all = message("cannot load '", file.origin(), "' into the model (", problems.size(),
                              " problem", problems.size() == 1 ? "" : "s", "):");
    for (const auto& p : problems) all += "\n  " + p;
    throw error(all);
  }
  std::vector<T> host(params.numel());
  B::to_host(host.data(), params.values(), host.size());
  for (const auto& [r, t] : matched) file.read(*t, std::span<T>(host.data() + r->offset, r->size()));
  B::from_host(params.values(), host.data(), host.size());
}

template <class B>
void load_parameters(param_store<B>& params, const std::filesystem::path& path, const load_options& opt = {}) {
  load_parameters(params, safetensors_file::open(path), opt);
}

}  // namespace thaw::io
