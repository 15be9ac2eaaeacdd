// Benchmarks of moe_routing at Gemma-4 26B-A4B's shape (E = 128, K = 8; spec §1.5), T = 4,096 tokens of
// N(0, 1) logits (the upstream test's randn) and uniform [0, 1) scales: the reference (double, a comparator
// sort per row) vs the device kernel on the CPU launcher (packed keys, bitonic sort over next_pow2(E)) with
// 1 and 2 launcher threads, and on CUDA when a GPU is present. Results: BENCHMARKS.md.
#include <cmath>

#include <benchmark/benchmark.h>

#include "core/data.h"
#include "device/core/backend.h"
#include "device/moe/moe_routing.h"
#include "reference/moe/moe_routing.h"

using namespace lockstep;

namespace {

MoeRoutingCase routing_case(int64_t T, int64_t E, int64_t K, DType dtype) {
  SplitMix rng{0};
  MoeRoutingCase c;
  c.topk = K;
  c.gating_output = Tensor(dtype, {T, E});
  for (int64_t i = 0; i < T * E; ++i) {  // Box-Muller N(0, 1)
    const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
    c.gating_output.set(i, std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  c.per_expert_scale = Tensor(DType::f32, {E});
  for (int64_t e = 0; e < E; ++e) c.per_expert_scale.set(e, rng.uniform());
  return c;
}

DType dtype_arg(int64_t i) { return i == 0 ? DType::f32 : i == 1 ? DType::bf16 : DType::f16; }

void BM_MoeRoutingReference(benchmark::State& state) {
  const MoeRoutingCase c = routing_case(state.range(0), state.range(1), state.range(2), dtype_arg(state.range(3)));
  for (auto _ : state) benchmark::DoNotOptimize(reference::moe_routing(c));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                  benchmark::Counter::kIsRate);
}

void BM_MoeRoutingDeviceCpu(benchmark::State& state) {
  const MoeRoutingCase c = routing_case(state.range(0), state.range(1), state.range(2), dtype_arg(state.range(3)));
  device::Options opt;
  opt.cpu_threads = static_cast<int>(state.range(4));
  for (auto _ : state) benchmark::DoNotOptimize(device::moe_routing(c, opt));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                  benchmark::Counter::kIsRate);
}

void BM_MoeRoutingDeviceCuda(benchmark::State& state) {
  std::string why;
  if (!device::cuda_available(&why)) {
    state.SkipWithError(("no GPU: " + why).c_str());
    return;
  }
  const MoeRoutingCase c = routing_case(state.range(0), state.range(1), state.range(2), dtype_arg(state.range(3)));
  for (auto _ : state) benchmark::DoNotOptimize(device::moe_routing(c, {Backend::cuda, 0}));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                  benchmark::Counter::kIsRate);
}

}  // namespace

// Args: T, E, K, dtype (0 f32, 1 bf16, 2 f16)[, CPU launcher threads].
BENCHMARK(BM_MoeRoutingReference)->Args({4096, 128, 8, 0})->Args({4096, 128, 8, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoeRoutingDeviceCpu)
    ->Args({4096, 128, 8, 0, 1})
    ->Args({4096, 128, 8, 1, 1})
    ->Args({4096, 128, 8, 1, 2})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoeRoutingDeviceCuda)->Args({4096, 128, 8, 0})->Args({4096, 128, 8, 1})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
