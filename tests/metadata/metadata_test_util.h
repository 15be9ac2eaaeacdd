#pragma once
// Shared by the metadata ops' property files (tests/metadata/<op>_props.cpp).
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "oracle/campaign.h"
#include "oracle/op.h"
#include "oracle/replay.h"

namespace lockstep::testing {

/// Edge shapes round-trip through a dump: among the first 1,000 cases of campaign seed 3 of `op`, three
/// of each edge kind 0..kinds-1 (`edge_kind(case)`, -1 = not an edge shape) are dumped, and each dump
/// replays to the identical report and case string.
inline void expect_edge_shapes_replay(const oracle::Op& op, int kinds, const std::function<int(const std::any&)>& edge_kind) {
  const auto dir = (std::filesystem::temp_directory_path() /
                    ("lockstep-metadata-dumps-" + op.name() + "-" + std::to_string(::getpid())))
                       .string();
  std::vector<int> dumped(kinds, 0);
  for (int64_t i = 0; i < 1000; ++i) {
    const std::any c = oracle::campaign_case(op, 3, i).value();
    const int kind = edge_kind(c);
    if (kind < 0 || dumped[kind] >= 3) continue;
    ++dumped[kind];
    const auto result = op.run(c, {});
    const std::string path = oracle::write_failure_dump(op, c, result, dir, fmt::format("{}-{}", op.name(), i), {});
    const auto rep = oracle::replay_file(path);
    EXPECT_TRUE(rep.identical) << path << "\n" << rep.stored_report_json;
    EXPECT_EQ(rep.result.report.case_string, op.case_string(c));
  }
  for (int k = 0; k < kinds; ++k) EXPECT_EQ(dumped[k], 3) << op.name() << " edge kind " << k;
  std::filesystem::remove_all(dir);
}

}  // namespace lockstep::testing
