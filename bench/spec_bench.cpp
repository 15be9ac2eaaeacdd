// Benchmarks of spec_decode: one verify step (greedy verify + bookkeeping) of a full batch, reference
// vs the device kernel on the CPU launcher (and CUDA when present), and whole lockstep runs of a
// long generated command sequence. Results: BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "device/core/backend.h"
#include "device/spec/spec_verify.h"
#include "oracle/spec/spec_decode.h"
#include "reference/spec/verify.h"

using namespace lockstep;

namespace {

/// bs requests, N draft tokens; request b accepts b % N drafts.
SpecVerifyInputs verify_inputs(SpecPath path, int64_t bs, int64_t n) {
  SpecVerifyInputs in;
  in.path = path;
  in.bs = bs;
  in.num_draft_tokens = n;
  for (int64_t b = 0; b < bs; ++b) {
    for (int64_t j = 0; j < n; ++j) {
      in.target_predict.push_back(100 + j);
      in.candidates.push_back(j == 0 ? 7 : (j - 1 < b % n ? 100 + j - 1 : 5));
    }
    in.output_len.push_back(10);
    in.max_new_tokens.push_back(1000);
    in.stop_token.push_back(-1);
    in.eos_token.push_back(2);
    in.flags.push_back(0);
  }
  return in;
}

void BM_SpecVerifyReference(benchmark::State& state) {
  const auto in = verify_inputs(static_cast<SpecPath>(state.range(0)), 16, 8);
  for (auto _ : state) benchmark::DoNotOptimize(reference::spec::spec_verify(in));
}

void BM_SpecVerifyDeviceCpu(benchmark::State& state) {
  const auto in = verify_inputs(static_cast<SpecPath>(state.range(0)), 16, 8);
  for (auto _ : state) benchmark::DoNotOptimize(device::spec_verify(in, {Backend::cpu, 0}));
}

void BM_SpecVerifyDeviceCuda(benchmark::State& state) {
  std::string why;
  if (!device::cuda_available(&why)) {
    state.SkipWithError(("no GPU: " + why).c_str());
    return;
  }
  const auto in = verify_inputs(static_cast<SpecPath>(state.range(0)), 16, 8);
  for (auto _ : state) benchmark::DoNotOptimize(device::spec_verify(in, {Backend::cuda, 0}));
}

/// 16 requests prefilled into one batch, then `steps` mixed-acceptance decode steps, in lockstep.
void BM_SpecLockstepRun(benchmark::State& state) {
  using K = SpecCommandKind;
  std::vector<SpecCommand> cmds;
  for (int i = 0; i < 16; ++i) cmds.push_back({K::add_request, 16, 128, -1, i});
  cmds.push_back({K::prefill, 16});
  for (int i = 0; i < state.range(1); ++i) cmds.push_back({K::decode, 0, 0, i});
  SpecDecodeCase c;
  c.path = static_cast<SpecPath>(state.range(0));
  c.num_draft_tokens = 4;
  c.vocab_size = 4096;
  c.commands = spec_commands_tensor(cmds);
  for (auto _ : state) {
    oracle::SpecLockstep ls(c, {});
    for (int64_t i = 0; i < c.num_commands(); ++i) benchmark::DoNotOptimize(ls.step(c.command(i), i));
  }
  state.counters["steps/s"] = benchmark::Counter(static_cast<double>(state.range(1)) * state.iterations(),
                                                 benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_SpecVerifyReference)->Arg(1)->Arg(2)->ArgName("path");
BENCHMARK(BM_SpecVerifyDeviceCpu)->Arg(1)->Arg(2)->ArgName("path");
BENCHMARK(BM_SpecVerifyDeviceCuda)->Arg(1)->Arg(2)->ArgName("path");
BENCHMARK(BM_SpecLockstepRun)->Args({1, 40})->Args({2, 40})->ArgNames({"path", "steps"})->Unit(benchmark::kMillisecond);
