// Tests for thaw/data/{unicode,pretokenize,bpe,tokenizer}.hpp: GPT-2 encodings, BPE training,
// round trips on arbitrary bytes, file formats and their bad-input errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "thaw/core/philox.hpp"
#include "thaw/data/bpe.hpp"
#include "thaw/data/pretokenize.hpp"
#include "thaw/data/tokenizer.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;

namespace {

const std::filesystem::path kGpt2 = std::filesystem::path(THAW_TEST_FIXTURES) / "gpt2";

const bpe_tokenizer& gpt2() {
  static const bpe_tokenizer tok =
      bpe_tokenizer::load_gpt2(kGpt2 / "vocab.json", kGpt2 / "merges.txt");
  return tok;
}

struct gpt2_case {
  std::string text;
  std::vector<token_t> ids;
};

// Expected ids produced by Hugging Face `tokenizers` 0.2x from PyPI (a reference byte-level BPE
// with GPT-2's pre-tokenizer) on tests/fixtures/gpt2/{vocab,merges}:
//   tok = Tokenizer(models.BPE.from_file("vocab.json", "merges.txt"))
//   tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
//   tok.encode(text).ids
// "Hello world" -> [15496, 995] is also the known answer in shared/data/gpt2/README.md.
const std::vector<gpt2_case> kGpt2Cases = {
    {"Hello world", {15496, 995}},
    {"Hello, world!", {15496, 11, 995, 0}},
    {" leading space", {3756, 2272}},
    {"two  spaces", {11545, 220, 9029}},
    {"trailing space ", {9535, 4386, 2272, 220}},
    {"tabs\tand\nnewlines\n\n", {8658, 82, 197, 392, 198, 3605, 6615, 628}},
    {"I'm here, you're there, they'll go, we've been, he'd say, it's, don't", {40, 1101, 994, 11, 345, 821, 612, 11, 484, 1183, 467, 11, 356, 1053, 587, 11, 339, 1549, 910, 11, 340, 338, 11, 836, 470}},
    {"I'M SHOUTING 'Quoted' words", {40, 6, 44, 6006, 12425, 2751, 705, 4507, 5191, 6, 2456}},
    {"numbers 12345 and 3.14159, 1,000,000", {77, 17024, 17031, 2231, 290, 513, 13, 1415, 19707, 11, 352, 11, 830, 11, 830}},
    {"na\u00EFve caf\u00E9 r\u00E9sum\u00E9", {2616, 38776, 40304, 40560, 16345, 2634}},
    {"\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8", {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302}},
    {"\u041F\u0440\u0438\u0432\u0435\u0442 \u043C\u0438\u0440", {140, 253, 21169, 18849, 38857, 16843, 20375, 12466, 120, 18849, 21169}},
    {"emoji \U0001F600\U0001F44D test", {368, 31370, 30325, 222, 41840, 235, 1332}},
    {"    indented code\n        more", {220, 220, 220, 773, 4714, 2438, 198, 220, 220, 220, 220, 220, 220, 220, 517}},
    {"def f(x):\n    return x**2  # square\n", {4299, 277, 7, 87, 2599, 198, 220, 220, 220, 1441, 2124, 1174, 17, 220, 1303, 6616, 198}},
    {"a\u00A0b\u3000c", {64, 1849, 65, 5099, 222, 66}},
    {"\u2028line sep", {447, 101, 1370, 41767}},
    {"\u03A9\u2248\u00E7\u221A\u222B", {138, 102, 35705, 230, 16175, 24861, 248, 24861, 104}},
    {"x = [1, 2, 3];", {87, 796, 685, 16, 11, 362, 11, 513, 11208}},
    {"!!!???...", {10185, 28358, 986}},
    {"mixed123abc", {76, 2966, 10163, 39305}},
    {"\u0663\u0664\u0665 arabic digits", {149, 96, 149, 97, 149, 98, 610, 397, 291, 19561}},
    {"\u216B roman", {158, 227, 104, 374, 5185}},
    {"e-mail: someone@example.com", {68, 12, 4529, 25, 2130, 31, 20688, 13, 785}},
    {"   ", {220, 220, 220}},
    {"'s's't", {338, 338, 470}},
    {"", {}},
};

}  // namespace

TEST_CASE("unicode: classes of letters, numbers, spaces and invalid bytes") {
  using unicode::char_class;
  using unicode::classify;
  CHECK(classify('a') == char_class::letter);
  CHECK(classify('7') == char_class::number);
  CHECK(classify(' ') == char_class::space);
  CHECK(classify('!') == char_class::other);
  CHECK(classify(0x00E9) == char_class::letter);  // e acute
  CHECK(classify(0x65E5) == char_class::letter);  // CJK "sun"
  CHECK(classify(0x0663) == char_class::number);  // Arabic-Indic three
  CHECK(classify(0x216B) == char_class::number);  // Roman numeral twelve (Nl)
  CHECK(classify(0x00A0) == char_class::space);   // no-break space
  CHECK(classify(0x3000) == char_class::space);   // ideographic space
  CHECK(classify(0x1F600) == char_class::other);  // emoji
  CHECK(classify(unicode::kInvalid) == char_class::other);
  // Strict decoding: overlong, surrogate, truncated and stray bytes are invalid single bytes.
  CHECK(unicode::decode_utf8("\xC0\x80", 0).cp == unicode::kInvalid);
  CHECK(unicode::decode_utf8("\xED\xA0\x80", 0).cp == unicode::kInvalid);
  CHECK(unicode::decode_utf8("\xE6\x97", 0).cp == unicode::kInvalid);
  CHECK(unicode::decode_utf8("\x80", 0).len == 1);
  CHECK(unicode::decode_utf8("\xF0\x9F\x98\x80", 0).cp == 0x1F600);
}

TEST_CASE("pretokenize: GPT-2's pattern on hand-checked strings") {
  using V = std::vector<std::string>;
  CHECK(gpt2_pieces("Hello world") == V{"Hello", " world"});
  CHECK(gpt2_pieces("two  spaces") == V{"two", " ", " spaces"});
  CHECK(gpt2_pieces("end  ") == V{"end", "  "});
  CHECK(gpt2_pieces("a\n\nb") == V{"a", "\n", "\n", "b"});
  CHECK(gpt2_pieces("I'm you're") == V{"I", "'m", " you", "'re"});
  CHECK(gpt2_pieces("'S") == V{"'", "S"});  // contractions are case-sensitive
  CHECK(gpt2_pieces("x=1.5!") == V{"x", "=", "1", ".", "5", "!"});
  CHECK(gpt2_pieces(" !? ok") == V{" !?", " ok"});
  CHECK(gpt2_pieces("abc123") == V{"abc", "123"});
  CHECK(gpt2_pieces("\t\tx") == V{"\t", "\t", "x"});
}

TEST_CASE("pretokenize: pieces concatenate to any byte string") {
  const thaw::philox_key key{7, 1};
  for (std::uint64_t trial = 0; trial < 200; ++trial) {
    std::string s;
    const auto n = thaw::philox::bits_at(key, trial * 1000) % 64;
    for (std::uint64_t i = 0; i < n; ++i) {
      s.push_back(static_cast<char>(thaw::philox::bits_at(key, trial * 1000 + 1 + i) & 0xFF));
    }
    std::string joined;
    for (const auto& p : gpt2_pieces(s)) {
      CHECK(!p.empty());
      joined += p;
    }
    CHECK(joined == s);
  }
}

TEST_CASE("gpt2: encodes exactly as the reference on hand-checked strings") {
  const auto& tok = gpt2();
  CHECK(tok.vocab_size() == 50257);
  CHECK(tok.merges().size() == 50000);
  CHECK(tok.eot() == 50256);
  for (const auto& c : kGpt2Cases) {
    INFO("text: " << c.text);
    CHECK(tok.encode(c.text) == c.ids);
    CHECK(tok.decode(tok.encode(c.text)) == c.text);
  }
}

TEST_CASE("gpt2: the cache does not change encodings") {
  const auto& tok = gpt2();
  bpe_cache cache;
  for (int round = 0; round < 2; ++round) {
    for (const auto& c : kGpt2Cases) {
      std::vector<token_t> out;
      tok.encode(c.text, out, &cache);
      CHECK(out == c.ids);
    }
  }
  CHECK(!cache.pieces.empty());
}

TEST_CASE("gpt2: decode(encode(x)) == x for random bytes") {
  const auto& tok = gpt2();
  const thaw::philox_key key{11, 2};
  for (std::uint64_t trial = 0; trial < 100; ++trial) {
    std::string s;
    for (std::uint64_t i = 0; i < 80; ++i) {
      s.push_back(static_cast<char>(thaw::philox::bits_at(key, trial * 100 + i)));
    }
    CHECK(tok.decode(tok.encode(s)) == s);
  }
}

TEST_CASE("bpe: training learns frequent pairs and round-trips any bytes") {
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) {
    texts.push_back("the cat sat on the mat with the hat; the end " + std::to_string(i));
  }
  const auto tok = bpe_tokenizer::train(texts, {.vocab_size = 300});
  CHECK(tok.vocab_size() > 256);
  CHECK(tok.vocab_size() <= 300);
  // The first merge is a pair inside " the", the most frequent piece.
  const auto& first = tok.merges().front();
  const std::string merged = tok.token_bytes(first.result);
  CHECK(merged.size() == 2);
  CHECK(std::string(" the").find(merged) != std::string::npos);
  CHECK(tok.encode(" the").size() == 1);
  CHECK(tok.encode(texts[3]).size() < texts[3].size() / 2);
  for (const auto& t : texts) CHECK(tok.decode(tok.encode(t)) == t);
  const thaw::philox_key key{3, 3};
  for (std::uint64_t trial = 0; trial < 100; ++trial) {
    std::string s;
    for (std::uint64_t i = 0; i < 100; ++i) {
      s.push_back(static_cast<char>(thaw::philox::bits_at(key, trial * 100 + i)));
    }
    CHECK(tok.decode(tok.encode(s)) == s);
  }
}

TEST_CASE("bpe: training is deterministic and stops when no pair repeats") {
  const std::vector<std::string> texts = {"abcd abcd abcd", "xyz"};
  const auto a = bpe_tokenizer::train(texts, {.vocab_size = 1000});
  const auto b = bpe_tokenizer::train(texts, {.vocab_size = 1000});
  REQUIRE(a.merges().size() == b.merges().size());
  for (std::size_t i = 0; i < a.merges().size(); ++i) {
    CHECK(a.merges()[i].a == b.merges()[i].a);
    CHECK(a.merges()[i].b == b.merges()[i].b);
  }
  CHECK(a.vocab_size() < 1000);           // "xyz" occurs once: its pairs never merge
  CHECK(a.encode(" abcd").size() == 1);  // occurs twice: fully merged
  CHECK(a.encode("xyz").size() == 3);
}

TEST_CASE("bpe: training agrees with a naive reference implementation") {
  // Naive BPE: recount every pair after each merge; the most frequent wins, ties to the
  // smaller (a, b); merge all non-overlapping occurrences left to right.
  const std::vector<std::string> texts = {"low lower lowest newer wider new news",
                                          "low low lower newest widest wide wide"};
  const auto tok = bpe_tokenizer::train(texts, {.vocab_size = 290});
  std::map<std::string, long> counts;
  for (const auto& t : texts) {
    gpt2_pretokenize(t, [&](std::string_view p) { ++counts[std::string(p)]; });
  }
  std::vector<std::pair<std::vector<token_t>, long>> words;
  for (const auto& [w, c] : counts) {
    std::vector<token_t> s;
    for (char ch : w) s.push_back(static_cast<unsigned char>(ch));
    words.emplace_back(s, c);
  }
  REQUIRE(tok.merges().size() > 5);
  token_t next_id = 256;
  for (const auto& m : tok.merges()) {
    std::map<std::pair<token_t, token_t>, long> pc;
    for (const auto& [s, c] : words) {
      for (std::size_t i = 0; i + 1 < s.size(); ++i) pc[{s[i], s[i + 1]}] += c;
    }
    std::pair<token_t, token_t> best{};
    long best_c = 0;
    for (const auto& [p, c] : pc) {
      if (c > best_c) {
        best = p;
        best_c = c;
      }
    }
    REQUIRE(best_c >= 2);
    CHECK(m.a == best.first);
    CHECK(m.b == best.second);
    for (auto& [s, c] : words) {
      std::vector<token_t> o;
      for (std::size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) {
          o.push_back(next_id);
          i += 2;
        } else {
          o.push_back(s[i++]);
        }
      }
      s = o;
    }
    ++next_id;
  }
}

TEST_CASE("bpe: save and load give the same tokenizer") {
  const std::vector<std::string> texts = {"hello hello hello world world", "hello there"};
  const auto tok = bpe_tokenizer::train(texts, {.vocab_size = 270});
  test_dir dir("bpe_save");
  tok.save(dir.path / "t.bpe");
  const auto back = bpe_tokenizer::load(dir.path / "t.bpe");
  CHECK(back.vocab_size() == tok.vocab_size());
  CHECK(back.encode("hello world, hello!") == tok.encode("hello world, hello!"));
  const auto via_spec = tokenizer::from_spec("bpe:" + (dir.path / "t.bpe").string());
  CHECK(via_spec.encode("hello world") == tok.encode("hello world"));
}

TEST_CASE("bpe: bad files give errors naming the file and the problem") {
  auto err = [](std::string_view text) {
    return error_of([&] { (void)bpe_tokenizer::parse(text, "my.bpe"); });
  };
  CHECK_THAT(err(""), Catch::Contains("my.bpe") && Catch::Contains("not a thaw BPE file"));
  CHECK_THAT(err("thaw-bpe 2\nmerges 0\n"), Catch::Contains("not a thaw BPE file"));
  CHECK_THAT(err("thaw-bpe 1\nmerges x\n"), Catch::Contains("merge count"));
  CHECK_THAT(err("thaw-bpe 1\nmerges 2\n1 2\n"), Catch::Contains("expected 2 merges, found 1"));
  CHECK_THAT(err("thaw-bpe 1\nmerges 1\n1 256\n"), Catch::Contains("not defined before it"));
  CHECK_THAT(err("thaw-bpe 1\nmerges 2\n1 2\n1 2\n"), Catch::Contains("duplicate merge"));
  CHECK_THAT(err("thaw-bpe 1\nmerges 1\n12\n"), Catch::Contains("expected \"a b\""));
  CHECK_THAT(err("thaw-bpe 1\nmerges 1\n1 -2\n"), Catch::Contains("non-negative integer"));
  CHECK_THAT(err("thaw-bpe 1\nmerges 1\n1 2\njunk\n"), Catch::Contains("unexpected text"));
  CHECK(err("thaw-bpe 1\nmerges 1\n1 2\n") == "no error");
  CHECK_THAT(error_of([] { (void)bpe_tokenizer::load("/nonexistent/x.bpe"); }),
             Catch::Contains("/nonexistent/x.bpe") && Catch::Contains("does not exist"));
  CHECK_THAT(error_of([] {
               (void)bpe_tokenizer::train(std::vector<std::string>{"a"}, {.vocab_size = 10});
             }),
             Catch::Contains("vocab_size must be >= 256"));
}

TEST_CASE("gpt2: bad vocab.json / merges.txt give errors naming the file") {
  auto err = [](std::string_view vocab, std::string_view merges) {
    return error_of([&] { (void)bpe_tokenizer::parse_gpt2(vocab, merges, "v.json", "m.txt"); });
  };
  CHECK_THAT(err("{not json", ""), Catch::Contains("v.json") && Catch::Contains("not valid JSON"));
  CHECK_THAT(err("[1, 2]", ""), Catch::Contains("expected a JSON object"));
  CHECK_THAT(err(R"({"a": 5})", ""), Catch::Contains("out of range"));
  CHECK_THAT(err(R"({"a": -1})", ""), Catch::Contains("non-negative"));
  CHECK_THAT(err(R"({"a": 0})", ""), Catch::Contains("no token for byte 0"));
  // A full byte alphabet plus "ab", then merges that name unknown tokens.
  std::string vocab = "{";
  const auto& b2c = detail::gpt2_byte_to_cp();
  for (int b = 0; b < 256; ++b) {
    std::string k;
    unicode::append_utf8(k, b2c[b]);
    if (k == "\"" || k == "\\") k = "\\" + k;
    vocab += (b ? ", \"" : "\"") + k + "\": " + std::to_string(b);
  }
  vocab += ", \"ab\": 256}";
  CHECK(err(vocab, "#version: 0.2\na b\n") == "no error");
  CHECK_THAT(err(vocab, "#version: 0.2\na c\n"),
             Catch::Contains("m.txt:2") && Catch::Contains("missing from v.json"));
  CHECK_THAT(err(vocab, "#version: 0.2\nab\n"), Catch::Contains("two tokens"));
  CHECK_THAT(error_of([] { (void)tokenizer::from_spec("gpt2:/nonexistent"); }),
             Catch::Contains("/nonexistent/vocab.json"));
  CHECK_THAT(error_of([] { (void)tokenizer::from_spec("wordpiece"); }),
             Catch::Contains("unknown tokenizer \"wordpiece\""));
}

TEST_CASE("byte tokenizer: identity on bytes, vocabulary 256") {
  const byte_tokenizer tok;
  const std::string s("\x00\xFFhi\n", 5);
  const auto ids = tok.encode(s);
  CHECK(ids == std::vector<token_t>{0, 255, 'h', 'i', '\n'});
  CHECK(tok.decode(ids) == s);
  CHECK(tok.vocab_size() == 256);
  const std::vector<token_t> bad{300};
  CHECK_THAT(error_of([&] { (void)tok.decode(bad); }), Catch::Contains("300"));
  CHECK(tokenizer::from_spec("byte").encode("ab") == std::vector<token_t>{'a', 'b'});
}
