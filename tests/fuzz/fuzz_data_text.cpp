// libFuzzer target: the text paths — GPT-2 pre-tokenization (pieces concatenate to the input),
// a BPE trained on the input (round trip), the bible-kjv-text LZW container (corpus.hpp), and
// the word-level metrics (metrics.hpp) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/data/bpe.hpp"
#include "thaw/data/corpus.hpp"
#include "thaw/data/metrics.hpp"
#include "thaw/data/pretokenize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  std::string joined;
  thaw::data::gpt2_pretokenize(in, [&](std::string_view p) {
    if (p.empty()) __builtin_trap();
    joined += p;
  });
  if (joined != in) __builtin_trap();
  const std::vector<std::string> texts = {in, in.substr(0, in.size() / 2)};
  const auto tok = thaw::data::bpe_tokenizer::train(texts, {.vocab_size = 300});
  if (tok.decode(tok.encode(in)) != in) __builtin_trap();
  const auto words = thaw::data::words_of(in);
  (void)thaw::data::mtld(words);
  (void)thaw::data::flesch_reading_ease(in, words);
  try {
    (void)thaw::data::detail::kjv_plain_text(in, "fuzz.data");
  } catch (const thaw::error&) {
  }
  return 0;
}
