// Benchmarks of ragged paged attention: reference vs device (CPU launcher, and CUDA when present) on
// realistic shapes, and segment vs dense mask metadata bytes. Results: BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "device/attention/ragged_paged_attention.h"
#include "fuzz/attention/ragged_paged_attention.h"
#include "reference/attention/ragged_paged_attention.h"

using namespace lockstep;

namespace {

/// `seqs` prefill sequences of `tokens` new tokens each (no cached prefix), Hq/Hkv heads, head dim d.
RpaCase shape(int seqs, int tokens, int hq, int hkv, int d, DType dtype, MaskMode mode = MaskMode::causal) {
  fuzz::RpaSpec s;
  s.dtype = dtype;
  s.mode = mode;
  s.num_kv_heads = hkv;
  s.group = hq / hkv;
  s.head_dim = d;
  s.page_size = 16;
  s.block_q = 16;
  s.block_kv_pages = 4;
  s.data_seed = 1;
  for (int i = 0; i < seqs; ++i) {
    fuzz::RpaSeqSpec q;
    q.q_len = tokens;
    s.seqs.push_back(q);
  }
  return fuzz::materialize(s);
}

void report_flops(benchmark::State& state, const RpaCase& c) {
  double macs = 0;  // causal: QK and PV over the visible keys
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const double q = c.q_len(i), kv = c.kv_len(i);
    macs += 2.0 * c.num_q_heads * c.head_dim * (q * (kv - q) + q * (q + 1) / 2);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2 * macs * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_Reference(benchmark::State& state) {
  const RpaCase c = shape(state.range(0), state.range(1), 16, 4, 128, DType::bf16);
  for (auto _ : state) benchmark::DoNotOptimize(reference::ragged_paged_attention(c));
  report_flops(state, c);
}

/// Args: seqs, tokens, CPU-launcher threads (device/core/cpu_launch.h). Wall time (UseRealTime).
void BM_DeviceCpu(benchmark::State& state) {
  const RpaCase c = shape(state.range(0), state.range(1), 16, 4, 128, DType::bf16);
  device::Options o;
  o.cpu_threads = static_cast<int>(state.range(2));
  for (auto _ : state) benchmark::DoNotOptimize(device::ragged_paged_attention(c, o));
  report_flops(state, c);
  state.counters["threads"] = static_cast<double>(o.cpu_threads);
}

void BM_DeviceCuda(benchmark::State& state) {
  std::string why;
  if (!device::cuda_available(&why)) {
    state.SkipWithError(("no GPU: " + why).c_str());
    return;
  }
  const RpaCase c = shape(state.range(0), state.range(1), 16, 4, 128, DType::bf16,
                          static_cast<MaskMode>(state.range(2)));
  for (auto _ : state) benchmark::DoNotOptimize(device::ragged_paged_attention(c, {Backend::cuda, 0}));
  report_flops(state, c);
}

/// Mask metadata of one multi-item request of n tokens (query 7 + items of 7): segment bytes are what
/// the kernel reads (blocked segment starts + block map + prefix_end), dense bytes the i32 (n, n) mask.
void BM_MultiItemMetadataBytes(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  fuzz::RpaSpec s;
  s.head_dim = 8;
  s.block_q = 16;
  fuzz::RpaSeqSpec q;
  q.multi_item = true;
  q.query_len = 7;
  q.item_lens.assign(n / 8 - 1, 7);
  q.q_len = n;
  s.seqs.push_back(q);
  const RpaCase c = fuzz::materialize(s, MaskMode::segment);
  int64_t seg = 0;
  for (auto _ : state) {
    seg = device::rpa_blocked_metadata(c).segment_bytes(c.padded_seqs());
    benchmark::DoNotOptimize(seg);
  }
  state.counters["segment_bytes"] = static_cast<double>(seg);
  state.counters["dense_bytes"] = 4.0 * n * n;
  state.counters["dense/segment"] = 4.0 * n * n / static_cast<double>(seg);
}

/// A packed multi-item scoring request (query 15 + 63 items of 15 tokens = 1,024 tokens), Hq 16 / Hkv 4,
/// d 128, bf16: device CPU time in segment vs dense mode (seed 001 measured segment 2.01x dense on TPU).
void BM_MultiItemDeviceCpu(benchmark::State& state) {
  fuzz::RpaSpec s;
  s.dtype = DType::bf16;
  s.num_kv_heads = 4;
  s.group = 4;
  s.head_dim = 128;
  s.page_size = 16;
  s.block_q = 16;
  s.block_kv_pages = 4;
  fuzz::RpaSeqSpec q;
  q.multi_item = true;
  q.query_len = 15;
  q.item_lens.assign(63, 15);
  q.q_len = 1024;
  s.seqs.push_back(q);
  const RpaCase c = fuzz::materialize(s, static_cast<MaskMode>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(device::ragged_paged_attention(c, {Backend::cpu, 0}));
  state.SetLabel(state.range(0) == 2 ? "segment" : "dense");
}

}  // namespace

BENCHMARK(BM_MultiItemDeviceCpu)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Reference)->Args({4, 512})->Args({8, 128})->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_DeviceCpu)
    ->Args({4, 512, 1})
    ->Args({4, 512, 2})
    ->Args({8, 128, 1})
    ->Args({8, 128, 2})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2)
    ->UseRealTime();
BENCHMARK(BM_DeviceCuda)->Args({4, 512, 0})->Args({4, 512, 2})->Args({8, 128, 0})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MultiItemMetadataBytes)->Arg(1024)->Arg(8192)->Arg(32768)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
