// Benchmarks of the metadata ops: the NSA metadata kernel (single launch, binary search per token) vs the
// straightforward host loop (the reference), seed 003's comparison (bs = 32, 1,000 iterations), and the
// throughput of the batching-rule property on the three ops that declare it. Results: BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "device/attention/ragged_paged_attention.h"
#include "device/metadata/nsa_metadata.h"
#include "device/metadata/segment_seqlens_offsets.h"
#include "fuzz/attention/ragged_paged_attention.h"
#include "core/data.h"
#include "fuzz/metadata/nsa_metadata.h"
#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "oracle/batching.h"
#include "reference/metadata/nsa_metadata.h"

using namespace lockstep;

namespace {

/// Seed 003's shape: draft_extend replay, bs requests with accept lengths 1..4 and kv lengths 50..500,
/// topk 2048, page-table rows of W token slots, buffers sized for bs * 4 tokens.
NsaCase draft_extend_case(int bs, int W) {
  SplitMix rng{3};
  NsaCase c;
  c.mode = NsaMode::draft_extend;
  c.topk = 2048;
  c.block_tokens = 128;
  std::vector<int32_t> seq(bs), ext(bs);
  for (int r = 0; r < bs; ++r) {
    ext[r] = 1 + static_cast<int32_t>(rng.below(4));
    seq[r] = 50 + static_cast<int32_t>(rng.below(451));
  }
  c.seq_lens = Tensor::from<int32_t>({bs}, seq);
  c.extend_lens = Tensor::from<int32_t>({bs}, ext);
  c.max_tokens = int64_t{bs} * 4;
  c.page_table = Tensor(DType::i32, {bs, W});
  for (int64_t e = 0; e < c.page_table.numel(); ++e) c.page_table.span<int32_t>()[e] = static_cast<int32_t>(e);
  return c;
}

void BM_NsaHostLoop(benchmark::State& state) {
  const NsaCase c = draft_extend_case(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(reference::nsa_metadata(c));
}

void BM_NsaKernelCpu(benchmark::State& state) {
  const NsaCase c = draft_extend_case(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(device::nsa_metadata(c, {Backend::cpu, 0}));
}

void BM_NsaKernelCuda(benchmark::State& state) {
  std::string why;
  if (!device::cuda_available(&why)) {
    state.SkipWithError(("no GPU: " + why).c_str());
    return;
  }
  const NsaCase c = draft_extend_case(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(device::nsa_metadata(c, {Backend::cuda, 0}));
}

/// Batching-rule property throughput: generated cases (campaign sizes 1..100) checked on the device.
template <class Case, class Outputs>
void batching_throughput(benchmark::State& state, const rc::Gen<Case>& gen, const fuzz::BatchingRule<Case, Outputs>& rule,
                         const std::function<Outputs(const Case&)>& run) {
  std::vector<Case> cases;
  for (int i = 0; i < 200; ++i) cases.push_back(gen(rc::Random(i + 1), 1 + i % 100).value());
  size_t i = 0, failures = 0;
  for (auto _ : state) failures += !oracle::check_batching_rule(rule, run, cases[i++ % cases.size()]).empty();
  state.counters["cases/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  if (failures) state.SkipWithError("batching rule failed");
}

void BM_BatchingRuleSegmentSeqlensOffsets(benchmark::State& state) {
  batching_throughput<SegmentSeqlensCase, SegmentSeqlensOutputs>(
      state, fuzz::gen_segment_case(), fuzz::segment_batching_rule(),
      [](const SegmentSeqlensCase& c) { return device::segment_seqlens_offsets(c); });
}

void BM_BatchingRuleNsaMetadata(benchmark::State& state) {
  batching_throughput<NsaCase, NsaOutputs>(state, fuzz::gen_nsa_case(), fuzz::nsa_batching_rule(),
                                           [](const NsaCase& c) { return device::nsa_metadata(c); });
}

void BM_BatchingRuleRaggedPagedAttention(benchmark::State& state) {
  batching_throughput<RpaCase, RpaOutputs>(state, fuzz::gen_rpa_case(), fuzz::rpa_batching_rule(),
                                           [](const RpaCase& c) { return device::ragged_paged_attention(c); });
}

}  // namespace

BENCHMARK(BM_NsaHostLoop)->Args({32, 0})->Args({32, 512})->Iterations(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NsaKernelCpu)->Args({32, 0})->Args({32, 512})->Iterations(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NsaKernelCuda)->Args({32, 0})->Args({32, 512})->Iterations(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BatchingRuleSegmentSeqlensOffsets)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BatchingRuleNsaMetadata)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BatchingRuleRaggedPagedAttention)->Unit(benchmark::kMillisecond);
