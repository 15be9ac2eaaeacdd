// Every committed dump in fixtures/dumps replays to the report stored in it, byte for byte: the dump
// format, the canonical case string and the kernels' numerics stay stable.
#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
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

// replay_file's fault override (`replay --fault`, used by `replay --expect-pass` under git bisect): every
// committed dump is a repro of its recorded fault, so it passes with the fault removed ("none") and fails
// again when that fault is named explicitly; a fault the dump's op does not have is an Error naming --fault.
TEST(FixtureDumps, FaultOverrideRemovesOrReinjectsTheRecordedFault) {
  const std::filesystem::path dir = std::filesystem::path(LOCKSTEP_SOURCE_DIR) / "fixtures" / "dumps";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".h5") continue;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    const LoadedCase lc = load_case(path, "", {});
    ASSERT_FALSE(lc.fault.empty());
    const ReplayResult none = replay_file(path, std::nullopt, {}, std::string("none"));
    EXPECT_TRUE(none.result.report.passed) << to_text(none.result.report);
    EXPECT_TRUE(none.result.report.fault.empty());
    EXPECT_FALSE(none.identical);  // the stored report is the faulty run's
    const ReplayResult again = replay_file(path, std::nullopt, {}, lc.fault);
    EXPECT_FALSE(again.result.report.passed);
    EXPECT_TRUE(again.identical);
    try {
      replay_file(path, std::nullopt, {}, std::string("no_such_fault"));
      ADD_FAILURE() << "an unknown --fault was accepted";
    } catch (const lockstep::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--fault"), std::string::npos) << e.what();
    }
    ++checked;
  }
  EXPECT_GE(checked, 3);
}
