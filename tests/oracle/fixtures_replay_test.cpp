// Every committed dump in fixtures/dumps replays to the report stored in it, byte for byte: the dump
// format, the canonical case string and the kernels' numerics stay stable.
#include <filesystem>

#include <gtest/gtest.h>

#include "oracle/replay.h"

using namespace lockstep::oracle;

TEST(FixtureDumps, EveryDumpReplaysToItsStoredReport) {
  const std::filesystem::path dir = std::filesystem::path(LOCKSTEP_SOURCE_DIR) / "fixtures" / "dumps";
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".h5") continue;
    SCOPED_TRACE(entry.path().string());
    const ReplayResult r = replay_file(entry.path().string());
    EXPECT_TRUE(r.has_stored_report);
    EXPECT_TRUE(r.identical) << "stored:   " << r.stored_report_json << "\nreplayed: " << to_json(r.result.report).dump();
    EXPECT_FALSE(r.result.report.passed);  // these are crash repros of injected faults
    ++replayed;
  }
  EXPECT_GE(replayed, 3);
}
