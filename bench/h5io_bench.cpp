// Cost of parsing an input file in an isolated child process (fork + rlimits + pipe; issue 13) versus in
// process, over the committed fixture dumps. Command and figures: BENCHMARKS.md "Isolated HDF5 parsing".
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "oracle/h5io.h"

namespace {

std::vector<std::string> fixtures() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(LOCKSTEP_SOURCE_DIR "/fixtures/dumps")) {
    if (e.path().extension() == ".h5") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void read_all_fixtures(benchmark::State& state, bool isolate) {
  const std::vector<std::string> files = fixtures();
  lockstep::h5::ReadOptions o;
  o.isolate = isolate;
  for (auto _ : state) {
    for (const auto& f : files) benchmark::DoNotOptimize(lockstep::h5::read_file(f, o));
  }
  state.counters["files"] = static_cast<double>(files.size());
}

void BM_ReadFixtures_InProcess(benchmark::State& state) { read_all_fixtures(state, false); }
void BM_ReadFixtures_Isolated(benchmark::State& state) { read_all_fixtures(state, true); }
BENCHMARK(BM_ReadFixtures_InProcess)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadFixtures_Isolated)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
