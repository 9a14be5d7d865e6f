// The dataset builder: corpus + tokenizer -> a dataset directory (dataset.hpp describes the
// files) with a train / validation split by document and cached difficulty metrics; and the
// tokenizer a directory was built with. Every file is written to a temporary and renamed, so an
// interrupted or failed build leaves no half-written file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "thaw/core/error.hpp"
#include "thaw/data/corpus.hpp"
#include "thaw/data/dataset.hpp"
#include "thaw/data/detail/io.hpp"
#include "thaw/data/metrics.hpp"
#include "thaw/data/tokenizer.hpp"

namespace thaw::data {

struct build_cfg {
  double val_fraction = 0.05;  // share of documents held out (by document), in [0, 1)
  std::uint64_t seed = 0;      // which documents are held out
  bool metrics = true;         // compute and cache difficulty metrics (metrics.hpp)
};

struct split_report {
  std::uint64_t docs = 0, tokens = 0;
};

struct build_report {
  split_report train, val;
  std::uint64_t empty_docs_dropped = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
};


/// Tokenizes `c` and writes the dataset directory `dir` (created if missing; files replaced
/// atomically). Throws on an empty corpus or one whose documents are all empty.
inline build_report build_dataset(const corpus& c, const tokenizer& tok,
                                  const std::filesystem::path& dir, build_cfg cfg = {}) {
  const auto t0 = std::chrono::steady_clock::now();
  THAW_CHECK(!c.documents.empty(), "corpus ", c.name, " has no documents");
  THAW_CHECK(cfg.val_fraction >= 0 && cfg.val_fraction < 1,
             "validation fraction must be in [0, 1), got ", cfg.val_fraction);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  THAW_CHECK(std::filesystem::is_directory(dir, ec), "cannot create dataset directory ",
             dir.string(), ec ? ": " + ec.message() : std::string());
  build_report report;
  // Tokenize, dropping empty documents.
  std::vector<std::uint32_t> tokens;
  std::vector<std::uint64_t> offsets{0};
  std::vector<std::size_t> source;  // index into c.documents
  for (std::size_t i = 0; i < c.documents.size(); ++i) {
    const auto before = tokens.size();
    tok.encode(c.documents[i].text, tokens);
    report.bytes += c.documents[i].text.size();
    if (tokens.size() == before) {
      ++report.empty_docs_dropped;
      continue;
    }
    offsets.push_back(tokens.size());
    source.push_back(i);
  }
  THAW_CHECK(!source.empty(), "corpus ", c.name, " has only empty documents");
  // Domains in order of first appearance, with their tokenized prefixes.
  std::vector<std::string> domain_names;
  std::vector<std::vector<std::uint32_t>> domain_prefix;
  std::unordered_map<std::string, std::uint32_t> domain_id;
  std::vector<std::uint32_t> doc_domain;
  for (const auto i : source) {
    const auto& d = c.documents[i].domain.empty() ? c.name : c.documents[i].domain;
    auto [it, fresh] = domain_id.emplace(d, static_cast<std::uint32_t>(domain_names.size()));
    if (fresh) {
      domain_names.push_back(d);
      domain_prefix.push_back(tok.encode(d + "\n\n"));
    }
    doc_domain.push_back(it->second);
  }
  // Split by document.
  const std::uint64_t n = source.size();
  const auto val = validation_docs(n, cfg.val_fraction, cfg.seed);
  std::vector<bool> is_val(n, false);
  for (const auto v : val) is_val[v] = true;
  auto write_split = [&](bool want_val, const std::string& stem, split_report& rep) {
    std::vector<std::uint32_t> t;
    std::vector<std::uint64_t> o{0};
    std::vector<std::uint32_t> dd;
    std::vector<std::string_view> texts;
    std::vector<std::uint64_t> lengths;
    for (std::uint64_t d = 0; d < n; ++d) {
      if (is_val[d] != want_val) continue;
      t.insert(t.end(), tokens.begin() + static_cast<std::ptrdiff_t>(offsets[d]),
               tokens.begin() + static_cast<std::ptrdiff_t>(offsets[d + 1]));
      o.push_back(t.size());
      dd.push_back(doc_domain[d]);
      texts.push_back(c.documents[source[d]].text);
      lengths.push_back(offsets[d + 1] - offsets[d]);
    }
    rep.docs = o.size() - 1;
    rep.tokens = t.size();
    const auto bytes = detail::serialize_dataset(t, o, dd, domain_names, domain_prefix,
                                                 tok.vocab_size(), tok.eot());
    const auto file = dir / (stem + ".tokens");
    detail::write_file_atomic(file, bytes);
    if (cfg.metrics) {
      const auto ds = token_dataset::open(file);
      const auto table = compute_text_metrics(texts, lengths);
      save_metrics(metrics_path(ds), table, ds.fingerprint(), ds.n_docs());
    }
  };
  write_split(false, "train", report.train);
  if (!val.empty()) {
    write_split(true, "val", report.val);
  } else {
    std::filesystem::remove(dir / "val.tokens", ec);
    std::filesystem::remove(dir / "val.metrics", ec);
  }
  // The tokenizer travels with the data.
  std::string tok_spec = tok.spec();
  if (tok.spec().starts_with("bpe:")) {
    tok.bpe()->save(dir / "tokenizer.bpe");
    tok_spec = "bpe:tokenizer.bpe";
  }
  nlohmann::json meta = {{"format", "thaw-token-dataset"},
                         {"version", kDatasetVersion},
                         {"corpus", c.name},
                         {"tokenizer", tok_spec},
                         {"vocab_size", tok.vocab_size()},
                         {"seed", cfg.seed},
                         {"val_fraction", cfg.val_fraction},
                         {"train", {{"documents", report.train.docs}, {"tokens", report.train.tokens}}},
                         {"val", {{"documents", report.val.docs}, {"tokens", report.val.tokens}}},
                         {"empty_documents_dropped", report.empty_docs_dropped}};
  detail::write_file_atomic(dir / "meta.json", meta.dump(2) + "\n");
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

/// The tokenizer a dataset directory was built with (from its meta.json).
inline tokenizer dataset_tokenizer(const std::filesystem::path& dir) {
  const auto text = detail::read_file(dir / "meta.json", "dataset meta.json");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw thaw::error(thaw::message((dir / "meta.json").string(), ": not valid JSON: ", e.what()));
  }
  THAW_CHECK(meta.is_object() && meta.contains("tokenizer") && meta["tokenizer"].is_string(),
             (dir / "meta.json").string(), ": no \"tokenizer\" entry");
  const auto spec = meta["tokenizer"].get<std::string>();
  if (spec == "bpe:tokenizer.bpe") return tokenizer::from_spec("bpe:" + (dir / "tokenizer.bpe").string());
  return tokenizer::from_spec(spec);
}

}  // namespace thaw::data
