// libFuzzer target for thaw::select::parse (thaw/params/select.hpp).
//
// Properties checked on every input, beyond "no crash, no sanitizer report":
//  - a bad spec throws thaw::error and nothing else, with one line that names a column;
//  - a good spec describes itself in the grammar, and that description parses again to a
//    selector with the same description that matches the same parameters of a GPT-like list;
//  - resolving against the list either gives a non-empty, sorted set or a thaw::error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/params/select.hpp"

namespace {

const std::vector<thaw::param_ref>& refs() {
  static const std::vector<thaw::param_ref> list = [] {
    using thaw::param_kind;
    std::vector<thaw::param_ref> r;
    auto add = [&](std::string name, int depth, param_kind kind, std::string type) {
      r.push_back({std::move(name), 0, thaw::shape{4}, depth, kind, std::move(type)});
    };
    add("wte.weight", 0, param_kind::embedding, "embedding");
    add("wpe.weight", 0, param_kind::embedding, "position_embedding");
    for (int i = 0; i < 3; ++i) {
      const std::string h = "h." + std::to_string(i) + ".";
      for (const char* ln : {"ln_1", "ln_2"}) {
        add(h + ln + ".weight", i + 1, param_kind::norm, "layer_norm");
        add(h + ln + ".bias", i + 1, param_kind::norm, "layer_norm");
      }
      for (const char* lin : {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}) {
        add(h + lin + ".weight", i + 1, param_kind::weight, "linear");
        add(h + lin + ".bias", i + 1, param_kind::bias, "linear");
      }
    }
    add("ln_f.weight", 4, param_kind::norm, "layer_norm");
    add("ln_f.bias", 4, param_kind::norm, "layer_norm");
    add("lm_head.weight", 4, param_kind::weight, "linear");
    return r;
  }();
  return list;
}

void check_error(const thaw::error& e) {
  const std::string_view what = e.what();
  if (what.find('\n') != std::string_view::npos) __builtin_trap();       // one line
  if (what.find("column ") == std::string_view::npos) __builtin_trap();  // names the position
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  thaw::select::any_selector s;
  try {
    s = thaw::select::parse(spec);
  } catch (const thaw::error& e) {
    check_error(e);
    return 0;
  }
  const std::string text = s.describe();
  thaw::select::any_selector again;
  try {
    again = thaw::select::parse(text);
  } catch (const thaw::error&) {
    __builtin_trap();  // a description must parse
  }
  if (again.describe() != text) __builtin_trap();
  for (const auto& r : refs())
    if (s.matches(r) != again.matches(r)) __builtin_trap();
  try {
    const auto ids = thaw::select::resolve(s, std::span<const thaw::param_ref>(refs()));
    if (ids.empty()) __builtin_trap();
    for (std::size_t i = 1; i < ids.size(); ++i)
      if (ids[i] <= ids[i - 1]) __builtin_trap();
    for (auto id : ids)
      if (!s.matches(refs()[id])) __builtin_trap();
  } catch (const thaw::error& e) {
    if (std::string_view(e.what()).find("matches no parameter") == std::string_view::npos &&
        std::string_view(e.what()).find("match no parameter") == std::string_view::npos)
      __builtin_trap();
  }
  return 0;
}
