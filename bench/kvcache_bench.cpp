// Benchmarks of the kvcache family: page-table construction + SWA translation + checked read walk,
// reference vs device kernel on the CPU launcher, the KV memory model's decode step, and a YOCO
// (kv_sharing) step with and without shared layers. Results:
// BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "device/kvcache/kv_sharing.h"
#include "device/kvcache/page_table.h"
#include "fuzz/kvcache/kv_sharing.h"
#include "reference/kvcache/kv_sharing.h"
#include "reference/kvcache/kv_trace.h"
#include "reference/kvcache/page_table.h"
#include "reference/kvcache/pool.h"

using namespace lockstep;
using namespace lockstep::reference::kvcache;

namespace {

/// `batch` decode rows of `seq` tokens each, prefilled through the pool model (window 1024), so the
/// mapping, req_to_token and the evictions are real.
struct Batch {
  KvMemory m;
  PageTableInput in;
  ReadWindow w;
  Batch(int64_t batch, int64_t seq, int64_t page)
      : m(KvConfig{batch * seq + 64 * page, batch * seq + 64 * page, page, 1024, batch, seq + 1}) {
    for (int64_t b = 0; b < batch; ++b) {
      const int32_t id = *m.add_request();
      m.extend(id, seq - 1);
      m.decode(id);
      m.evict_swa(id);
    }
    in = batch_input(m);
    w = read_window(m);
  }
};

void set_counters(benchmark::State& state, const Batch& b) {
  state.counters["entries/s"] = benchmark::Counter(
      static_cast<double>(b.in.req_pool_indices.size()) * page_table_cols(b.in.max_seq_len_k, b.in.page_size) *
          static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void BM_PageTableReference(benchmark::State& state) {
  const Batch b(state.range(0), state.range(1), state.range(2));
  for (auto _ : state) {
    const PageTables t = build_page_tables(b.in);
    benchmark::DoNotOptimize(validate_page_tables(t, b.in.cache_seqlens, b.in.q_lens, b.w));
  }
  set_counters(state, b);
}

void BM_PageTableDeviceCpu(benchmark::State& state) {
  const Batch b(state.range(0), state.range(1), state.range(2));
  for (auto _ : state) benchmark::DoNotOptimize(device::build_page_tables(b.in, b.w, device::Options{Backend::cpu, 0}));
  set_counters(state, b);
}

void BM_PageTableDeviceCuda(benchmark::State& state) {
  std::string why;
  if (!device::cuda_available(&why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  const Batch b(state.range(0), state.range(1), state.range(2));
  for (auto _ : state) benchmark::DoNotOptimize(device::build_page_tables(b.in, b.w, device::Options{Backend::cuda, 0}));
  set_counters(state, b);
}

/// One decode step of every request of the batch through the pool model (alloc_decode + mapping).
void BM_PoolDecodeStep(benchmark::State& state) {
  const int64_t batch = state.range(0), page = state.range(1);
  int64_t steps = 0;
  for (auto _ : state) {
    state.PauseTiming();
    KvMemory m(KvConfig{batch * 1100 + page * 64, batch * 1100 + page * 64, page, 1024, batch, 1100});
    for (int64_t b = 0; b < batch; ++b) m.extend(*m.add_request(), 64);
    state.ResumeTiming();
    for (int i = 0; i < 1000; ++i)
      for (int32_t id = 0; id < batch; ++id) m.decode(id);
    steps += 1000;
  }
  state.counters["decode_steps/s"] = benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate);
}

/// A YOCO step of a Gemma-like stack: 12 layers (5 sliding : 1 full, twice), the last `shared` KV-shared; 4
/// prefill chunks of `chunk` tokens (last token's logits, 256 cached) + 4 decode requests; 8/2 heads, d 64, bf16,
/// page 16, window 128.
KvSharingCase yoco_case(int32_t shared, int32_t chunk) {
  fuzz::KvSharingSpec s;
  s.dtype = DType::bf16;
  s.layer_types = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
  s.num_kv_shared_layers = shared;
  for (int r = 0; r < 8; ++r) s.reqs.push_back(r < 4 ? fuzz::KvSharingReqSpec{chunk, 256, 1, 0} : fuzz::KvSharingReqSpec{1, 512, 1, 0});
  s.num_kv_heads = 2;
  s.group = 4;
  s.head_dim = 64;
  s.page_size = 16;
  s.sliding_window = 128;
  s.block_q = 16;
  s.block_kv_pages = 4;
  s.data_seed = 7;
  return fuzz::materialize(s);
}

void BM_KvSharingReference(benchmark::State& state) {
  const KvSharingCase c = yoco_case(static_cast<int32_t>(state.range(0)), static_cast<int32_t>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(reference::kv_sharing(c));
}

void BM_KvSharingDeviceCpu(benchmark::State& state) {
  const KvSharingCase c = yoco_case(static_cast<int32_t>(state.range(0)), static_cast<int32_t>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(device::kv_sharing(c, device::Options{Backend::cpu, 0}));
}

}  // namespace

// (num_kv_shared_layers, prefill chunk): no sharing vs 4 of 12 layers shared (the reduced block is 8 rows).
BENCHMARK(BM_KvSharingReference)->Args({0, 128})->Args({4, 128})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KvSharingDeviceCpu)->Args({0, 128})->Args({4, 128})->Unit(benchmark::kMillisecond);
// (batch, seq_len, page_size): decode batches of 8k-token requests, sglang page sizes 1 and 64.
BENCHMARK(BM_PageTableReference)->Args({64, 8192, 1})->Args({64, 8192, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PageTableDeviceCpu)->Args({64, 8192, 1})->Args({64, 8192, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PageTableDeviceCuda)->Args({64, 8192, 1})->Args({64, 8192, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PoolDecodeStep)->Args({64, 1})->Args({64, 64})->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
