// Data-pipeline throughput: sampling alone (samples/s) and sampling + batch assembly into
// (B, T + 1) token batches (tokens/s; the issue asks >= 50 M tokens/s on one core).
//
// The dataset is synthetic but shaped like the real ones: 4,000 documents of 40..8,000 tokens
// (mean ~2,000, like the KJV chapters and Python files), 16-bit tokens of a 50,257 vocabulary,
// written once to a temporary file and memory-mapped. Variants name the sampler and layout:
//   sampler/{sequential,shuffled,curriculum,mixture_of_curricula}
//   batch/{pack,pad}/{shuffled,mixture_of_curricula}/T
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "thaw/core/philox.hpp"
#include "thaw/data/batch.hpp"
#include "thaw/data/curriculum.hpp"
#include "thaw/data/dataset.hpp"
#include "thaw/data/interleave.hpp"
#include "thaw/data/mixture.hpp"
#include "thaw/data/sequential.hpp"
#include "thaw/data/shuffled.hpp"
#include "thaw/schedule/linear.hpp"

using namespace thaw::data;

namespace {

constexpr std::uint64_t kDocs = 4000;

struct fixture {
  std::filesystem::path file;
  token_dataset ds;
  std::vector<double> metric;
  fixture() {
    file = std::filesystem::temp_directory_path() / ("thaw_bench_data_" + std::to_string(::getpid()) + ".tokens");
    std::vector<std::uint32_t> toks;
    std::vector<std::uint64_t> offs{0};
    std::vector<std::uint32_t> dom;
    for (std::uint64_t d = 0; d < kDocs; ++d) {
      const double u = thaw::philox::uniform_at({1, 1}, d, 0, 1);
      const auto len = static_cast<std::uint64_t>(40 + 7960 * u * u);
      for (std::uint64_t i = 0; i < len; ++i) toks.push_back(thaw::philox::bits_at({2, d}, i) % 50257);
      offs.push_back(toks.size());
      dom.push_back(static_cast<std::uint32_t>(d % 4));
      metric.push_back(thaw::philox::uniform_at({3, 3}, d, 0, 1));
    }
    const std::vector<std::string> names = {"a", "b", "c", "d"};
    const std::vector<std::vector<std::uint32_t>> pre = {{1, 2}, {3}, {4, 5, 6}, {7}};
    detail::write_file_atomic(file, detail::serialize_dataset(toks, offs, dom, names, pre, 50257, 50256));
    ds = token_dataset::open(file);
  }
  ~fixture() {
    std::error_code ec;
    std::filesystem::remove(file, ec);
  }
};

fixture& data() {
  static fixture f;
  return f;
}

auto make_curriculum(std::uint64_t seed, difficulty_order order) {
  return curriculum(pool::all(kDocs), data().metric, true, order, pace::root(20000, 0.1), seed);
}

auto make_mixture_of_curricula() {
  auto curricula = interleave(make_curriculum(1, difficulty_order::easy_first),
                              make_curriculum(2, difficulty_order::hard_first));
  return mixture(thaw::sched::linear(0.8, 0.2, 10000), std::move(curricula), shuffled(pool::all(kDocs), 3),
                 {.per_step = 8});
}

template <class Make>
void sampler_bench(benchmark::State& state, Make make) {
  auto s = make();
  for (auto _ : state) {
    const auto x = s.next();
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Make>
void batch_bench(benchmark::State& state, layout mode, Make make) {
  const auto T = static_cast<std::size_t>(state.range(0));
  const std::size_t B = 8;
  auto b = make_batcher({&data().ds}, make(), {.batch = B, .context = T, .mode = mode});
  token_batch out;
  for (auto _ : state) {
    b.next(out);
    benchmark::DoNotOptimize(out.tokens.data());
    benchmark::DoNotOptimize(out.targets.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(B * T));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * B * T),
                                                  benchmark::Counter::kIsRate);
}

}  // namespace

static void sampler_sequential(benchmark::State& s) { sampler_bench(s, [] { return sequential(pool::all(kDocs)); }); }
static void sampler_shuffled(benchmark::State& s) { sampler_bench(s, [] { return shuffled(pool::all(kDocs), 1); }); }
static void sampler_curriculum(benchmark::State& s) {
  sampler_bench(s, [] { return make_curriculum(1, difficulty_order::easy_first); });
}
static void sampler_mixture_of_curricula(benchmark::State& s) { sampler_bench(s, make_mixture_of_curricula); }
BENCHMARK(sampler_sequential)->Name("sampler/sequential");
BENCHMARK(sampler_shuffled)->Name("sampler/shuffled");
BENCHMARK(sampler_curriculum)->Name("sampler/curriculum");
BENCHMARK(sampler_mixture_of_curricula)->Name("sampler/mixture_of_curricula");

static void batch_pack_shuffled(benchmark::State& s) {
  batch_bench(s, layout::pack, [] { return shuffled(pool::all(kDocs), 1); });
}
static void batch_pack_mixture(benchmark::State& s) { batch_bench(s, layout::pack, make_mixture_of_curricula); }
static void batch_pad_shuffled(benchmark::State& s) {
  batch_bench(s, layout::pad, [] { return shuffled(pool::all(kDocs), 1); });
}
static void batch_pad_mixture(benchmark::State& s) { batch_bench(s, layout::pad, make_mixture_of_curricula); }
BENCHMARK(batch_pack_shuffled)->Name("batch/pack/shuffled")->Arg(256)->Arg(1024);
BENCHMARK(batch_pack_mixture)->Name("batch/pack/mixture_of_curricula")->Arg(256)->Arg(1024);
BENCHMARK(batch_pad_shuffled)->Name("batch/pad/shuffled")->Arg(256)->Arg(1024);
BENCHMARK(batch_pad_mixture)->Name("batch/pad/mixture_of_curricula")->Arg(256)->Arg(1024);

BENCHMARK_MAIN();
