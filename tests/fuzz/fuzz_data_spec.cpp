// libFuzzer target: sampler spec strings (thaw/data/spec.hpp). Any input either builds a sampler
// that then draws, saves and restores, or throws thaw::error; nothing else may happen.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "thaw/data/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<double> metric = [] {
    std::vector<double> m(50);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<double>((i * 17) % 50);
    return m;
  }();
  thaw::data::spec_context ctx;
  ctx.n_docs = {50, 50};
  ctx.metric = [](std::uint32_t, const std::string& name) -> std::span<const double> {
    (void)thaw::data::higher_is_harder(name);
    return metric;
  };
  const std::string spec(reinterpret_cast<const char*>(data), size);
  try {
    auto s = thaw::data::build_sampler(spec, ctx);
    for (int i = 0; i < 64; ++i) {
      const auto x = s.next();
      if (x.doc >= 50 || x.source >= 2) __builtin_trap();
    }
    const auto st = thaw::data::save_state(s);
    auto t = thaw::data::build_sampler(spec, ctx);
    thaw::data::restore_state(t, st);
    if (!(t.next() == s.next())) __builtin_trap();
  } catch (const thaw::error&) {
  }
  return 0;
}
