// Corpora: lists of documents, with their boundaries kept, read from Debian packages or from
// plain files. Nothing is downloaded.
//
//   kjv             English prose: the King James Bible of `bible-kjv-text`
//                   (/usr/lib/bible.data, Unix-compress LZW in 64 KiB windows); one document per
//                   chapter (1,189), verses one per line without their references; domain = book.
//   python-stdlib   Source code: every .py file of Debian's python3 standard library
//                   (/usr/lib/python3.*/, site-/dist-packages excluded); one document per file;
//                   domain = top-level module or package.
//   fortunes        Short modern English: the `fortunes` / `fortunes-min` databases
//                   (/usr/share/games/fortunes/*, entries separated by "%" lines); one document
//                   per fortune; domain = the database (computers, science, ...).
//   PATH            A directory: one document per regular text file under it (recursive, sorted,
//                   hidden and binary files skipped); domain = the first path component.
//                   A file: one document per paragraph (blocks separated by blank lines).
//
// Every loader throws thaw::error naming the path when it is missing, unreadable or corrupt, and
// when the corpus would have no documents.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <cctype>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/detail/io.hpp"
#include "thaw/data/detail/lzw.hpp"

namespace thaw::data {

struct document {
  std::string name;    // where it comes from: "Ge 1", "json/decoder.py", "computers#12"
  std::string domain;  // a coarse source label for metadata conditioning (MeCo)
  std::string text;    // the bytes, as in the source
};

struct corpus {
  std::string name;
  std::vector<document> documents;

  [[nodiscard]] std::size_t size() const { return documents.size(); }
  [[nodiscard]] std::uint64_t bytes() const {
    std::uint64_t n = 0;
    for (const auto& d : documents) n += d.text.size();
    return n;
  }
};

namespace detail {

inline void check_not_empty(const corpus& c, const std::string& where) {
  THAW_CHECK(!c.documents.empty(), "corpus ", c.name, " (", where, ") has no documents");
}

inline std::uint32_t be32(const std::string& s, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) << 24) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 2])) << 8) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 3]));
}

/// Decompresses bible-kjv-text's data file (format of its tsl.c: "EC02", an 80-byte
/// description, window size and count as big-endian u32, wnum + 1 window offsets, then one
/// compress(1) header followed by the windows).
inline std::string kjv_plain_text(const std::string& file, std::string_view name) {
  constexpr std::size_t kHeader = 4 + 80 + 8;
  THAW_CHECK(file.size() >= kHeader && file.compare(0, 4, "EC02") == 0, name,
             ": not a bible-kjv-text data file (expected magic \"EC02\")");
  const std::uint32_t wsize = be32(file, 84), wnum = be32(file, 88);
  THAW_CHECK(wsize >= 1024 && wsize <= (1u << 24) && wnum >= 1 && wnum <= 100000, name,
             ": implausible window size ", wsize, " or count ", wnum);
  const std::size_t table_end = kHeader + 4 * (static_cast<std::size_t>(wnum) + 1);
  THAW_CHECK(file.size() >= table_end + 3, name, ": truncated window table");
  const auto z = reinterpret_cast<const unsigned char*>(file.data());
  THAW_CHECK(z[table_end] == 0x1F && z[table_end + 1] == 0x9D, name,
             ": missing compress(1) header after the window table");
  const int maxbits = z[table_end + 2] & 0x1F;
  const bool block = (z[table_end + 2] & 0x80) != 0;
  std::string text;
  for (std::uint32_t w = 0; w < wnum; ++w) {
    const std::uint32_t a = be32(file, kHeader + 4 * w), b = be32(file, kHeader + 4 * (w + 1));
    THAW_CHECK(a >= table_end + 3 && a <= b && b <= file.size(), name, ": window ", w,
               " has bad offsets [", a, ", ", b, ")");
    const auto part = lzw_decode({z + a, b - a}, maxbits, block, wsize, name);
    THAW_CHECK(part.size() == wsize || w + 1 == wnum, name, ": window ", w, " decodes to ",
               part.size(), " bytes, expected ", wsize);
    text += part;
  }
  return text;
}

inline bool looks_binary(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

inline void require_exists(const std::filesystem::path& p, std::string_view what) {
  std::error_code ec;
  THAW_CHECK(std::filesystem::exists(p, ec), what, " ", p.string(), " does not exist");
}

}  // namespace detail

/// The King James Bible, one document per chapter.
inline corpus load_kjv(const std::filesystem::path& file = "/usr/lib/bible.data") {
  detail::require_exists(file, "KJV data file (package bible-kjv-text)");
  const auto text = detail::kjv_plain_text(detail::read_file(file, "KJV data file"), file.string());
  corpus c{"kjv", {}};
  // Lines "Ge1:1 In the beginning ..."; the first line is a title.
  std::string_view rest(text);
  std::string book, chapter;
  while (!rest.empty()) {
    const auto e = rest.find('\n');
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 1);
    std::size_t i = 0;
    if (i < line.size() && line[i] >= '1' && line[i] <= '3') ++i;
    const std::size_t book_end = [&] {
      std::size_t j = i;
      while (j < line.size() && std::isalpha(static_cast<unsigned char>(line[j]))) ++j;
      return j;
    }();
    std::size_t j = book_end;
    while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
    const std::size_t colon = j;
    std::size_t k = colon + 1;
    while (k < line.size() && std::isdigit(static_cast<unsigned char>(line[k]))) ++k;
    const bool verse = book_end > i && j > book_end && colon < line.size() && line[colon] == ':' &&
                       k > colon + 1 && k < line.size() && line[k] == ' ';
    if (!verse) continue;  // the title line
    const std::string b(line.substr(0, book_end)), ch(line.substr(book_end, j - book_end));
    if (c.documents.empty() || b != book || ch != chapter) {
      book = b;
      chapter = ch;
      c.documents.push_back({book + " " + chapter, book, {}});
    }
    auto& doc = c.documents.back().text;
    doc.append(line.substr(k + 1));
    doc.push_back('\n');
  }
  detail::check_not_empty(c, file.string());
  return c;
}

/// Every .py file of the Python standard library directories /usr/lib/python3.* (or of `root`
/// when given), one document per file, sorted by path.
inline corpus load_python_stdlib(const std::filesystem::path& root = {}) {
  namespace fs = std::filesystem;
  std::vector<fs::path> roots;
  if (!root.empty()) {
    detail::require_exists(root, "Python library directory");
    roots.push_back(root);
  } else {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib", ec)) {
      const auto n = e.path().filename().string();
      if (n.starts_with("python3.") && e.is_directory()) roots.push_back(e.path());
    }
    std::sort(roots.begin(), roots.end());
    THAW_CHECK(!roots.empty(), "no /usr/lib/python3.* directory (package python3 missing?)");
  }
  corpus c{"python-stdlib", {}};
  for (const auto& r : roots) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(r, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const auto n = it->path().filename().string();
      if (it->is_directory() &&
          (n == "site-packages" || n == "dist-packages" || n == "__pycache__")) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && !it->is_symlink() && it->path().extension() == ".py") {
        files.push_back(it->path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto text = detail::read_file(f, "Python source");
      if (text.empty()) continue;  // empty __init__.py files carry nothing
      const auto rel = fs::relative(f, r).string();
      const auto slash = rel.find('/');
      std::string domain = slash == std::string::npos ? fs::path(rel).stem().string() : rel.substr(0, slash);
      c.documents.push_back({rel, std::move(domain), std::move(text)});
    }
  }
  detail::check_not_empty(c, root.empty() ? std::string("/usr/lib/python3.*") : root.string());
  return c;
}

namespace detail {
/// Splits a fortune database ("%" lines between entries) into documents.
inline void split_fortunes(const std::string& text, const std::string& domain, corpus& c) {
  std::string_view rest(text);
  std::string cur;
  int index = 0;
  auto flush = [&] {
    if (cur.find_first_not_of(" \t\r\n") != std::string::npos) {
      c.documents.push_back({domain + "#" + std::to_string(index), domain, cur});
    }
    ++index;
    cur.clear();
  };
  while (!rest.empty()) {
    const auto e = rest.find('\n');
    const std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 1);
    if (line == "%") {
      flush();
    } else {
      cur.append(line);
      cur.push_back('\n');
    }
  }
  flush();
}
}  // namespace detail

/// Every fortune of the databases in `dir` (data files only: not *.dat indexes, not *.u8 links).
inline corpus load_fortunes(const std::filesystem::path& dir = "/usr/share/games/fortunes") {
  namespace fs = std::filesystem;
  detail::require_exists(dir, "fortune directory (package fortunes)");
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && !e.is_symlink() && ext != ".dat" && ext != ".u8" &&
        !e.path().filename().string().starts_with('.')) {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  corpus c{"fortunes", {}};
  for (const auto& f : files) {
    const auto text = detail::read_file(f, "fortune file");
    if (detail::looks_binary(text)) continue;
    detail::split_fortunes(text, f.filename().string(), c);
  }
  detail::check_not_empty(c, dir.string());
  return c;
}

/// A directory (one document per text file) or a file (one document per paragraph).
inline corpus load_text_path(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  detail::require_exists(path, "corpus path");
  corpus c{path.filename().string(), {}};
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const auto n = it->path().filename().string();
      if (n.starts_with('.')) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto text = detail::read_file(f, "corpus file");
      if (text.empty() || detail::looks_binary(text)) continue;
      const auto rel = fs::relative(f, path).string();
      const auto slash = rel.find('/');
      std::string domain = slash == std::string::npos ? c.name : rel.substr(0, slash);
      c.documents.push_back({rel, std::move(domain), std::move(text)});
    }
  } else {
    const auto text = detail::read_file(path, "corpus file");
    THAW_CHECK(!detail::looks_binary(text), "corpus file ", path.string(),
               " is binary (contains NUL bytes), expected text");
    std::string_view rest(text);
    std::string cur;
    int index = 0;
    auto flush = [&] {
      if (!cur.empty()) c.documents.push_back({c.name + "#" + std::to_string(index++), c.name, cur});
      cur.clear();
    };
    while (!rest.empty()) {
      const auto e = rest.find('\n');
      const std::string_view line = rest.substr(0, e);
      rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 1);
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
        flush();
      } else {
        cur.append(line);
        cur.push_back('\n');
      }
    }
    flush();
  }
  detail::check_not_empty(c, path.string());
  return c;
}

/// `kjv`, `python-stdlib`, `fortunes`, or a path (see the top of this header).
inline corpus load_corpus(std::string_view name_or_path) {
  if (name_or_path == "kjv") return load_kjv();
  if (name_or_path == "python-stdlib") return load_python_stdlib();
  if (name_or_path == "fortunes") return load_fortunes();
  std::error_code ec;
  const std::filesystem::path p{std::string(name_or_path)};
  THAW_CHECK(!name_or_path.empty() && std::filesystem::exists(p, ec), "unknown corpus \"",
             std::string(name_or_path),
             "\": expected kjv, python-stdlib, fortunes, or an existing file or directory");
  return load_text_path(p);
}

}  // namespace thaw::data
