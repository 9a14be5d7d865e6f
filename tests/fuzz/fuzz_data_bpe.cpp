// libFuzzer target: BPE vocabulary files, thaw's format and GPT-2's vocab.json + merges.txt
// (bpe.hpp). The input is split at its first NUL byte into (vocab.json, merges.txt); it is also
// read whole as a thaw BPE file. A vocabulary that loads must round-trip text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "thaw/data/bpe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string sample = "Hello, world! It's 2026 \xE2\x82\xAC \xFF\x00 end";
  try {
    const auto tok = thaw::data::bpe_tokenizer::parse(in, "fuzz.bpe");
    if (tok.decode(tok.encode(sample)) != sample) __builtin_trap();
  } catch (const thaw::error&) {
  }
  const auto nul = in.find('\0');
  const auto vocab = in.substr(0, nul);
  const auto merges = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  try {
    const auto tok = thaw::data::bpe_tokenizer::parse_gpt2(vocab, merges);
    if (tok.decode(tok.encode(sample)) != sample) __builtin_trap();
  } catch (const thaw::error&) {
  }
  return 0;
}
