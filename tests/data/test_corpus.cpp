// Corpora from the Debian packages (bible-kjv-text, fortunes, python3's standard library,
// dataset-fashion-mnist; installed by scripts/install-deps.sh) and from plain paths, with
// document boundaries kept; and every bad-input case of the loaders.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <array>
#include <filesystem>
#include <set>
#include <string>

#include "thaw/data/corpus.hpp"
#include "thaw/data/idx.hpp"
#include "data/test_support.hpp"

using namespace thaw::data;
namespace fs = std::filesystem;

TEST_CASE("corpus: the King James Bible, one document per chapter") {
  const auto c = load_kjv();
  CHECK(c.name == "kjv");
  CHECK(c.size() == 1189);  // chapters of the 66 books
  CHECK(c.documents.front().name == "Ge 1");
  CHECK(c.documents.front().text.starts_with("In the beginning God created the heaven and the earth.\n"));
  CHECK(c.documents.back().name == "Rev 22");
  CHECK(c.documents.back().text.ends_with("The grace of our Lord Jesus Christ be with you all. Amen.\n"));
  std::set<std::string> books;
  std::size_t verses = 0;
  for (const auto& d : c.documents) {
    books.insert(d.domain);
    for (char ch : d.text) verses += ch == '\n';
  }
  CHECK(books.size() == 66);
  CHECK(verses == 31102);
  CHECK(c.documents[1].name == "Ge 2");  // boundaries kept: a new document per chapter
  CHECK(c.documents[1].text.starts_with("Thus the heavens and the earth were finished"));
}

TEST_CASE("corpus: the KJV loader rejects corrupt data files") {
  test_dir dir("kjv_bad");
  const auto good = detail::read_file("/usr/lib/bible.data", "kjv");
  CHECK_THAT(error_of([&] { (void)load_kjv(dir.write("a", "XXXX" + good.substr(4))); }),
             Catch::Contains("expected magic \"EC02\""));
  CHECK_THAT(error_of([&] { (void)load_kjv(dir.write("b", good.substr(0, 200))); }),
             Catch::Contains("/b") && (Catch::Contains("window") || Catch::Contains("truncated")));
  std::string flipped = good;
  for (std::size_t i = 400; i < 600; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  CHECK_THAT(error_of([&] { (void)load_kjv(dir.write("c", flipped)); }), Catch::Contains("/c"));
  CHECK_THAT(error_of([&] { (void)load_kjv(dir.path / "none"); }), Catch::Contains("does not exist"));
}

TEST_CASE("corpus: fortunes, one document per fortune") {
  const auto c = load_fortunes();
  CHECK(c.size() > 5000);
  std::set<std::string> domains;
  for (const auto& d : c.documents) {
    domains.insert(d.domain);
    REQUIRE(d.text.find("\n%\n") == std::string::npos);
    REQUIRE(!d.text.starts_with("%\n"));
  }
  CHECK(domains.count("computers") == 1);
  CHECK(domains.count("science") == 1);
  CHECK(domains.count("computers.dat") == 0);
}

TEST_CASE("corpus: the Python standard library, one document per file") {
  const auto c = load_python_stdlib();
  CHECK(c.size() > 300);
  bool os_py = false;
  for (const auto& d : c.documents) {
    REQUIRE(d.name.ends_with(".py"));
    REQUIRE(d.name.find("site-packages") == std::string::npos);
    if (d.name == "os.py") {
      os_py = true;
      CHECK(d.domain == "os");
      CHECK(d.text.find("def ") != std::string::npos);
    }
  }
  CHECK(os_py);
}

TEST_CASE("corpus: paths, names, and bad input") {
  test_dir dir("corpus_path");
  dir.write("tree/a/x.txt", "alpha text\n");
  dir.write("tree/b.txt", "beta text\n");
  dir.write("tree/.hidden", "skip me\n");
  dir.write("tree/bin.dat", std::string("bin\0ary", 7));
  const auto t = load_corpus((dir.path / "tree").string());
  REQUIRE(t.size() == 2);
  CHECK(t.documents[0].name == "a/x.txt");
  CHECK(t.documents[0].domain == "a");
  CHECK(t.documents[1].text == "beta text\n");
  const auto f = dir.write("paras.txt", "first para\nline two\n\n\nsecond para\n   \nthird\n");
  const auto p = load_corpus(f.string());
  REQUIRE(p.size() == 3);
  CHECK(p.documents[0].text == "first para\nline two\n");
  CHECK(p.documents[2].text == "third\n");
  CHECK_THAT(error_of([] { (void)load_corpus("shakespeare"); }),
             Catch::Contains("unknown corpus \"shakespeare\"") && Catch::Contains("kjv, python-stdlib, fortunes"));
  fs::create_directories(dir.path / "empty");
  CHECK_THAT(error_of([&] { (void)load_corpus((dir.path / "empty").string()); }), Catch::Contains("has no documents"));
  const auto blank = dir.write("blank.txt", "\n\n  \n");
  CHECK_THAT(error_of([&] { (void)load_corpus(blank.string()); }), Catch::Contains("blank.txt") && Catch::Contains("no documents"));
  const auto bin = dir.write("bin.txt", std::string("a\0b", 3));
  CHECK_THAT(error_of([&] { (void)load_corpus(bin.string()); }), Catch::Contains("binary"));
  CHECK_THAT(error_of([&] { (void)load_fortunes(dir.path / "nope"); }), Catch::Contains("nope") && Catch::Contains("does not exist"));
  CHECK_THAT(error_of([&] { (void)load_python_stdlib(dir.path / "empty"); }), Catch::Contains("no documents"));
  if (::geteuid() != 0) {  // root reads anything
    const auto locked = dir.write("locked.txt", "secret\n");
    fs::permissions(locked, fs::perms::none);
    CHECK_THAT(error_of([&] { (void)load_corpus(locked.string()); }), Catch::Contains("cannot be opened"));
  }
}

namespace {
std::string idx_bytes(std::uint8_t type, std::vector<std::uint32_t> dims, std::size_t data_bytes) {
  std::string s(2, '\0');
  s.push_back(static_cast<char>(type));
  s.push_back(static_cast<char>(dims.size()));
  for (const auto d : dims) {
    for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>((d >> (8 * k)) & 0xFF));
  }
  s.append(data_bytes, '\x01');
  return s;
}
std::string gzip(const std::string& raw) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, raw.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
}  // namespace

TEST_CASE("idx: Fashion-MNIST from the Debian package") {
  const auto train = load_fashion_mnist("train");
  CHECK(train.n == 60000);
  CHECK(train.rows == 28);
  CHECK(train.cols == 28);
  CHECK(train.images.size() == 60000u * 28 * 28);
  std::array<int, 10> per_class{};
  for (const auto l : train.labels) ++per_class[l];
  for (const int n : per_class) CHECK(n == 6000);  // Fashion-MNIST is balanced
  const auto test = load_fashion_mnist("t10k");
  CHECK(test.n == 10000);
  CHECK(test.image(9999).size() == 784);
  CHECK_THAT(error_of([] { (void)load_fashion_mnist("dev"); }), Catch::Contains("train or t10k"));
}

TEST_CASE("idx: magic, type, sizes and lengths are checked and named") {
  auto err = [](const std::string& b) {
    return error_of([&] { (void)parse_idx(std::as_bytes(std::span(b.data(), b.size())), "f.idx"); });
  };
  CHECK(err(idx_bytes(0x08, {2, 3}, 6)) == "no error");
  const auto ok = idx_bytes(0x08, {2, 3}, 6);
  const auto arr = parse_idx(std::as_bytes(std::span(ok.data(), ok.size())), "f");
  CHECK(arr.dims == std::vector<std::uint32_t>{2, 3});
  CHECK(arr.count() == 6);
  CHECK_THAT(err("\0\0"), Catch::Contains("f.idx") && Catch::Contains("too short"));
  CHECK_THAT(err("\x01\0\x08\x01" + std::string(8, '\0')), Catch::Contains("bad IDX magic"));
  CHECK_THAT(err(idx_bytes(0x07, {1}, 1)), Catch::Contains("unknown IDX element type code 7"));
  CHECK_THAT(err(idx_bytes(0x08, {}, 0)), Catch::Contains("zero dimensions"));
  CHECK_THAT(err(idx_bytes(0x08, {2, 3}, 0).substr(0, 9)), Catch::Contains("truncated IDX header"));
  CHECK_THAT(err(idx_bytes(0x08, {2, 3}, 5)), Catch::Contains("length mismatch") && Catch::Contains("6 elements"));
  CHECK_THAT(err(idx_bytes(0x08, {2, 3}, 7)), Catch::Contains("length mismatch"));
  CHECK_THAT(err(idx_bytes(0x0D, {2}, 4)), Catch::Contains("16 bytes in all") && Catch::Contains("file has 12 bytes"));
  // Files: gzip or raw, images paired with labels.
  test_dir dir("idx");
  const auto img = dir.write("img.gz", gzip(idx_bytes(0x08, {2, 2, 2}, 8)));
  const auto lab = dir.write("lab", idx_bytes(0x08, {2}, 2));
  const auto lab3 = dir.write("lab3", idx_bytes(0x08, {3}, 3));
  const auto set = load_idx_images(img, lab);
  CHECK(set.n == 2);
  CHECK(set.labels == std::vector<std::uint8_t>{1, 1});
  CHECK_THAT(error_of([&] { (void)load_idx_images(img, lab3); }), Catch::Contains("2 images") && Catch::Contains("3 labels"));
  CHECK_THAT(error_of([&] { (void)load_idx_images(lab, lab); }), Catch::Contains("3 dimensions"));
  CHECK_THAT(error_of([&] { (void)load_idx_images(img, lab, 1); }), Catch::Contains("label 1") && Catch::Contains("not below 1"));
  const auto gz = gzip(idx_bytes(0x08, {4}, 4));
  const auto cut = dir.write("cut.gz", gz.substr(0, gz.size() - 6));
  CHECK_THAT(error_of([&] { (void)load_idx(cut); }), Catch::Contains("cut.gz") && Catch::Contains("gzip"));
  CHECK_THAT(error_of([&] { (void)load_idx(dir.path / "none.idx"); }), Catch::Contains("does not exist"));
}
