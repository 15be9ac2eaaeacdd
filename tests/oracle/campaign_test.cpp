// Campaigns at scale: summaries identical for any --threads, shards that cover exactly the cases of one
// run and merge back into its summary, and merge errors naming the field and value.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "core/error.h"
#include "oracle/campaign.h"
#include "oracle/summary.h"

namespace lockstep::oracle {
namespace {

/// A summary without its timing fields: what must be identical across threads and shard merges.
nlohmann::ordered_json untimed(const CampaignResult& r) {
  nlohmann::ordered_json j = summary_json(r);
  for (const char* k : {"seconds", "detect_seconds", "cases_per_second"}) j.erase(k);
  return j;
}

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("lockstep-campaign-test-" + name + "-" +
                                                             std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

CampaignOptions options(uint64_t seed, int64_t cases, const std::string& fault, const std::string& dump_dir) {
  CampaignOptions o;
  o.seed = seed;
  o.cases = cases;
  o.run.fault = fault;
  o.dump_dir = dump_dir;
  return o;
}

// The reproduction: a seed-5, 300-case fault campaign reported 11, 12 or 14 cases and 1 or 2
// failures across 2-thread runs. Every thread count, repeated, must give the 1-thread summary. (Before the
// in-order fold, this failed on the first or second repetition: cases past the first failure and their
// failures were counted by whichever workers had them in flight.)
TEST(Campaign, FaultCampaignSummaryIdenticalForAnyThreadCount) {
  const Op& op = find_op("ragged_paged_attention");
  for (const char* fault : {"segment_block_off_by_one", "read_past_kv_len"}) {
    const std::string dir = temp_dir("threads");
    CampaignOptions o = options(5, 300, fault, dir);
    o.threads = 1;
    const CampaignResult one = run_campaign(op, o);
    ASSERT_TRUE(one.first_failure) << fault;
    EXPECT_EQ(one.failures, 1);
    EXPECT_EQ(one.cases_run, one.first_failure->case_index + 1);  // every case below it, and it
    for (int threads : {2, 4, 2, 4, 2, 4}) {
      o.threads = threads;
      EXPECT_EQ(untimed(run_campaign(op, o)).dump(1), untimed(one).dump(1)) << fault << ", threads " << threads;
    }
    std::filesystem::remove_all(dir);
  }
}

// Without failures: stats (float means included) and coverage counters over every op, 1 vs 2 vs 4 threads.
TEST(Campaign, CleanCampaignSummaryIdenticalForAnyThreadCount) {
  for (const auto& op : registry()) {
    CampaignOptions o = options(11, 150, "", "");
    o.threads = 1;
    const CampaignResult one = run_campaign(*op, o);
    EXPECT_EQ(one.cases_run, 150);
    EXPECT_TRUE(one.complete);
    for (int threads : {2, 4}) {
      o.threads = threads;
      EXPECT_EQ(untimed(run_campaign(*op, o)).dump(1), untimed(one).dump(1)) << op->name() << ", threads " << threads;
    }
  }
}

TEST(Campaign, ShardRangesCoverTheRangeWithoutGapsOrOverlaps) {
  for (int64_t first : {0, 7, 1000000}) {
    for (int64_t cases : {0, 1, 2, 5, 299, 300, 1001}) {
      for (int64_t n : {1, 2, 3, 7, 16}) {
        int64_t expect = first;
        for (int64_t k = 0; k < n; ++k) {
          const auto [b, e] = shard_range(first, cases, Shard{k, n});
          EXPECT_EQ(b, expect) << first << " " << cases << " " << k << "/" << n;  // no gap, no overlap
          EXPECT_LE(b, e);
          EXPECT_LE(e - b, cases / n + 1);  // balanced
          expect = e;
        }
        EXPECT_EQ(expect, first + cases);  // nothing past the range, nothing missing at its end
      }
    }
  }
  // Huge ranges do not overflow.
  const auto [b, e] = shard_range(0, INT64_MAX, Shard{6, 7});
  EXPECT_EQ(e, INT64_MAX);
  EXPECT_GT(b, 0);
}

/// Runs the N shards, writes each summary as `lockstep --json fuzz --shard K/N` would and reads it back
/// (into `parts`, shard order), and merges them in reverse order (merge does not depend on file order).
CampaignResult sharded(const Op& op, CampaignOptions o, int64_t n, std::vector<CampaignResult>& parts) {
  std::vector<CampaignResult> reversed;
  std::vector<std::string> sources;
  for (int64_t k = n - 1; k >= 0; --k) {
    o.shard = Shard{k, n};
    const std::string text = summary_json(run_campaign(op, o)).dump(2);
    sources.push_back("shard" + std::to_string(k) + ".json");
    reversed.push_back(summary_from_json(nlohmann::ordered_json::parse(text), sources.back()));
    EXPECT_EQ(reversed.back().shard, (Shard{k, n}));
  }
  parts.assign(reversed.rbegin(), reversed.rend());
  return merge_campaigns(reversed, sources);
}

TEST(Campaign, MergedShardsEqualTheSingleRun) {
  struct Plan {
    const char* op;
    const char* fault;
    uint64_t seed;
    int64_t first, cases;
  };
  // A clean campaign (float stats, coverage) with a first case past 0; a fault found at case 0 (shard 0
  // of every N); and a fault first found at case 37 of 100: shard 1 of 3 and shard 2 of 7, with later
  // shards failing too (their failures lie past the campaign's first and are dropped).
  for (const Plan& p : {Plan{"spec_decode", "", 3, 5, 200}, Plan{"ragged_paged_attention", "read_past_kv_len", 5, 0, 60},
                        Plan{"kv_trace", "stale_trailing_entries_read", 1, 0, 100}}) {
    const Op& op = find_op(p.op);
    const std::string dir = temp_dir("shards");
    CampaignOptions o = options(p.seed, p.cases, p.fault, dir);
    o.first_case = p.first;
    const CampaignResult single = run_campaign(op, o);
    EXPECT_EQ(!single.fault.empty(), single.first_failure.has_value()) << p.op;
    for (int64_t n : {1, 3, 7}) {
      std::vector<CampaignResult> parts;
      const CampaignResult merged = sharded(op, o, n, parts);
      EXPECT_FALSE(merged.shard.has_value());
      EXPECT_EQ(untimed(merged).dump(1), untimed(single).dump(1)) << p.op << " N = " << n;
      if (std::string(p.op) == "kv_trace" && n > 1) {  // the plan's premise
        ASSERT_TRUE(single.first_failure);
        EXPECT_EQ(single.first_failure->case_index, 37);
        EXPECT_FALSE(parts[0].first_failure) << "N = " << n;
        int64_t failing_after = 0;
        for (int64_t k = 0; k < n; ++k)
          if (parts[k].first_failure && parts[k].first_failure->case_index > 37) ++failing_after;
        EXPECT_GE(failing_after, 1) << "N = " << n;
      }
    }
    std::filesystem::remove_all(dir);
  }
}

void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Campaign, BadShardsAndMergesNameTheFieldAndValue) {
  expect_error([] { parse_shard("3/2"); }, "--shard = 3/2");
  expect_error([] { parse_shard("0/0"); }, "--shard = 0/0");
  expect_error([] { parse_shard("1"); }, "--shard = 1");
  expect_error([] { parse_shard("-1/4"); }, "--shard = -1/4");
  expect_error([] { parse_shard("a/b"); }, "--shard = a/b");
  EXPECT_EQ(parse_shard("2/3"), (Shard{2, 3}));

  const Op& op = find_op("pool_sizing");
  CampaignOptions o = options(1, 30, "", "");
  std::vector<CampaignResult> parts;
  for (int64_t k = 0; k < 3; ++k) {
    o.shard = Shard{k, 3};
    parts.push_back(run_campaign(op, o));
  }
  const std::vector<std::string> src = {"a.json", "b.json", "c.json"};
  EXPECT_NO_THROW(merge_campaigns(parts, src));
  expect_error([&] { merge_campaigns({parts[0], parts[1]}, src); }, "merge = 2/3: shard");  // missing
  expect_error([&] { merge_campaigns({parts[0], parts[1], parts[1]}, src); }, "c.json: shard = 1/3: appears twice");
  auto other_seed = parts;
  other_seed[2].seed = 9;
  expect_error([&] { merge_campaigns(other_seed, src); }, "c.json: seed = 9");
  auto other_op = parts;
  other_op[1].op = "kv_trace";
  expect_error([&] { merge_campaigns(other_op, src); }, "b.json: op = kv_trace");
  auto other_fault = parts;
  other_fault[1].fault = "moe_ratio_for_dense_model";
  expect_error([&] { merge_campaigns(other_fault, src); }, "b.json: fault = moe_ratio_for_dense_model");
  auto other_range = parts;
  other_range[2].cases_requested = 31;
  expect_error([&] { merge_campaigns(other_range, src); }, "c.json: cases_requested = 31");
  auto other_n = parts;
  other_n[1].shard = Shard{1, 4};
  expect_error([&] { merge_campaigns(other_n, src); }, "b.json: shard count = 4");

  // Malformed summaries: a missing field, a wrong type, a bad shard string.
  nlohmann::ordered_json j = summary_json(parts[0]);
  j.erase("seed");
  expect_error([&] { summary_from_json(j, "x.json"); }, "x.json: seed: missing");
  j = summary_json(parts[0]);
  j["cases"] = "many";
  expect_error([&] { summary_from_json(j, "x.json"); }, "x.json: cases = \"many\": must be an integer");
  j = summary_json(parts[0]);
  j["shard"] = "5/3";
  expect_error([&] { summary_from_json(j, "x.json"); }, "x.json: shard = 5/3");
  j = summary_json(parts[0]);
  j["first_case"] = 5;
  j["cases_requested"] = INT64_MAX;
  expect_error([&] { summary_from_json(j, "x.json"); }, "x.json: cases_requested = 9223372036854775807");
  expect_error([&] { summary_from_json(nlohmann::ordered_json::array({1}), "x.json"); }, "x.json: summary");
}

}  // namespace
}  // namespace lockstep::oracle
