// Benchmarks of the norm family (issue 10): reference (double, Eigen) vs the device kernel on the CPU launcher
// (and on CUDA when a GPU is present) at T = 4,096 rows, H = 2,816, bf16, one row per block; per-head q/k/v
// norm at T = 4,096, 16 q heads, 8 kv heads, head_dim 256. Results: BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "core/data.h"
#include "device/core/backend.h"
#include "device/norm/qkv_rmsnorm.h"
#include "device/norm/rmsnorm.h"
#include "reference/norm/qkv_rmsnorm.h"
#include "reference/norm/rmsnorm.h"

using namespace lockstep;

namespace {

constexpr int64_t kT = 4096, kH = 2816;

RmsNormCase norm_case(RmsNormVariant variant) {
  RmsNormCase c;
  c.variant = variant;
  c.dtype = DType::bf16;
  c.x = Tensor(DType::bf16, {kT, kH});
  fill_uniform(c.x, 1, 2.0);
  const RmsNormUses u = rmsnorm_uses(c);
  auto row = [&](Tensor& t, uint64_t seed) {
    t = Tensor(DType::bf16, {kT, kH});
    fill_uniform(t, seed, 2.0);
  };
  auto vec = [&](Tensor& t, uint64_t seed) {
    t = Tensor(DType::bf16, {kH});
    fill_uniform(t, seed, 1.5);
  };
  if (u.r) row(c.r, 2);
  if (u.x2) row(c.x2, 3);
  if (u.w) vec(c.w, 4);
  if (u.w2) vec(c.w2, 5);
  if (u.w3) vec(c.w3, 6);
  if (u.w4) vec(c.w4, 7);
  if (u.scalar) {
    c.scalar = Tensor(DType::bf16, {1});
    c.scalar.set(0, 0.75);
  }
  if (variant == RmsNormVariant::dual_rmsnorm_residual_scalar) c.eps2 = c.eps3 = 1e-6;
  return c;
}

QkvRmsNormCase qkv_case() {
  QkvRmsNormCase c;
  c.dtype = DType::bf16;
  c.num_q_heads = 16;
  c.num_kv_heads = 8;
  c.head_dim = 256;
  c.q = Tensor(DType::bf16, {kT, 16 * 256});
  c.k = Tensor(DType::bf16, {kT, 8 * 256});
  c.v = Tensor(DType::bf16, {kT, 8 * 256});
  c.q_weight = Tensor(DType::bf16, {256});
  c.k_weight = Tensor(DType::bf16, {256});
  fill_uniform(c.q, 1, 2.0);
  fill_uniform(c.k, 2, 2.0);
  fill_uniform(c.v, 3, 2.0);
  fill_uniform(c.q_weight, 4, 1.5);
  fill_uniform(c.k_weight, 5, 1.5);
  return c;
}

void rows_per_second(benchmark::State& state, int64_t rows) {
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * rows), benchmark::Counter::kIsRate);
}

void BM_NormReference(benchmark::State& state) {
  const RmsNormCase c = norm_case(static_cast<RmsNormVariant>(state.range(0)));
  state.SetLabel(enum_name(c.variant));
  for (auto _ : state) benchmark::DoNotOptimize(reference::rmsnorm(c));
  rows_per_second(state, kT);
}

void BM_NormDeviceCpu(benchmark::State& state) {
  const RmsNormCase c = norm_case(static_cast<RmsNormVariant>(state.range(0)));
  device::Options opt;
  opt.cpu_threads = static_cast<int>(state.range(1));
  state.SetLabel(enum_name(c.variant));
  for (auto _ : state) benchmark::DoNotOptimize(device::rmsnorm(c, opt));
  rows_per_second(state, kT);
}

void BM_NormDeviceCuda(benchmark::State& state) {
  std::string why;
  if (!device::cuda_available(&why)) {
    state.SkipWithError(("no GPU: " + why).c_str());
    return;
  }
  const RmsNormCase c = norm_case(static_cast<RmsNormVariant>(state.range(0)));
  device::Options opt;
  opt.backend = Backend::cuda;
  state.SetLabel(enum_name(c.variant));
  for (auto _ : state) benchmark::DoNotOptimize(device::rmsnorm(c, opt));  // includes upload and download
  rows_per_second(state, kT);
}

void BM_QkvNormReference(benchmark::State& state) {
  const QkvRmsNormCase c = qkv_case();
  for (auto _ : state) benchmark::DoNotOptimize(reference::qkv_rmsnorm(c));
  rows_per_second(state, kT);
}

void BM_QkvNormDeviceCpu(benchmark::State& state) {
  const QkvRmsNormCase c = qkv_case();
  device::Options opt;
  opt.cpu_threads = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(device::qkv_rmsnorm(c, opt));
  rows_per_second(state, kT);
}

void BM_QkvNormDeviceCuda(benchmark::State& state) {
  std::string why;
  if (!device::cuda_available(&why)) {
    state.SkipWithError(("no GPU: " + why).c_str());
    return;
  }
  const QkvRmsNormCase c = qkv_case();
  device::Options opt;
  opt.backend = Backend::cuda;
  for (auto _ : state) benchmark::DoNotOptimize(device::qkv_rmsnorm(c, opt));
  rows_per_second(state, kT);
}

}  // namespace

BENCHMARK(BM_NormReference)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NormDeviceCpu)->ArgsProduct({{0, 1, 2, 3, 4, 5}, {1, 2}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NormDeviceCuda)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QkvNormReference)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QkvNormDeviceCpu)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QkvNormDeviceCuda)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
