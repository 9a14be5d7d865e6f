// Data: corpus -> tokenizer -> token dataset (built once, memory-mapped); samplers are streams of
// documents that resume exactly, even on another number of ranks; a batcher makes token rows.
#include <thaw/data/data.hpp>
#include <thaw/schedule/schedule.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace thaw;

int main() {
  auto fortunes = data::load_corpus("fortunes");  // Debian's fortunes: one document per fortune
  std::vector<std::string> texts;
  for (std::size_t d = 0; d < fortunes.size(); d += 8) texts.push_back(fortunes.documents[d].text);
  auto bpe = data::bpe_tokenizer::train(texts, {.vocab_size = 512});  // byte-level BPE
  const auto& text = fortunes.documents[1].text;
  std::printf("BPE: %zu bytes -> %zu tokens, decode(encode(x)) == x: %d\n", text.size(), bpe.encode(text).size(),
              bpe.decode(bpe.encode(text)) == text);

  const auto dir = std::filesystem::temp_directory_path() / "thaw_guide_fortunes";
  data::build_dataset(fortunes, data::tokenizer{}, dir, {.val_fraction = 0.05, .metrics = false});  // bytes
  const auto ds = data::token_dataset::open(dir, "train");
  std::vector<std::uint64_t> pools[2];  // two pools of documents, by domain (the fortune file)
  for (std::uint64_t d = 0; d < ds.n_docs(); ++d) {
    const auto& domain = ds.domain_name(ds.domain(d));
    if (domain == "computers" || domain == "literature") pools[domain == "literature"].push_back(d);
  }
  // A mixture whose share of "computers" falls from 90% to 10% over 1000 draws (a schedule).
  auto make = [&] {
    return data::mixture(sched::linear(0.9, 0.1, 1'000), data::shuffled(data::pool::of(pools[0], 0), 1),
                         data::shuffled(data::pool::of(pools[1], 1), 2));
  };
  auto stream = make();
  std::vector<data::sample> global;
  for (int i = 0; i < 1'000; ++i) global.push_back(stream.next());
  int early = 0, late = 0;
  for (int i = 0; i < 100; ++i) early += global[i].source == 0, late += global[900 + i].source == 0;
  std::printf("share of computers: draws 0-99 %d%%, draws 900-999 %d%%\n", early, late);

  // 2 ranks draw 100 rounds each and save the global state; 3 ranks resume it: the same stream.
  std::vector<data::sample> seen;
  auto r0 = data::shard(make(), 0, 2), r1 = data::shard(make(), 1, 2);
  for (int i = 0; i < 100; ++i) seen.push_back(r0.next()), seen.push_back(r1.next());
  data::sampler_state state;
  data::state_writer out(state);
  r0.save(out);
  std::vector ranks{data::shard(make(), 0, 3), data::shard(make(), 1, 3), data::shard(make(), 2, 3)};
  for (auto& r : ranks) {
    data::state_reader in(state);
    r.restore(in);
  }
  for (int i = 0; i < 200; ++i)
    for (auto& r : ranks) seen.push_back(r.next());
  const bool same = std::equal(seen.begin(), seen.end(), global.begin());
  std::printf("2 ranks, then 3 ranks: %zu draws, the global stream: %s\n", seen.size(), same ? "yes" : "NO");

  auto batches = data::make_batcher({&ds, &ds}, make(), {.batch = 4, .context = 64});  // source i -> ds
  data::token_batch b;
  batches.next(b);
  std::string row(b.row(0).begin(), b.row(0).end());  // byte tokens are the text
  std::replace(row.begin(), row.end(), '\n', ' ');
  std::printf("a batch of %zu x (%zu + 1) tokens, row 0: \"%s\"\n", b.B, b.T, row.c_str());
  std::filesystem::remove_all(dir);
  return same && early > 80 && late < 20 ? 0 : 1;
}
