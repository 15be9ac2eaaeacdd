// Properties of the metadata ops (ctest label: property): device == reference exactly on generated cases,
// and invariants of the outputs that hold independently of the reference.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/metadata/nsa_metadata.h"
#include "fuzz/metadata/nsa_metadata.h"
#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "oracle/campaign.h"
#include "oracle/op.h"
#include "oracle/replay.h"
#include "reference/metadata/segment_seqlens_offsets.h"

using namespace lockstep;

RC_GTEST_PROP(SegmentSeqlensOffsets, DeviceMatchesReference, ()) {
  const SegmentSeqlensCase c = fuzz::materialize(*fuzz::gen_segment_spec());
  RC_TAG(enum_name(c.layout), enum_name(c.mask));
  const auto r = oracle::find_op("segment_seqlens_offsets").run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

RC_GTEST_PROP(SegmentSeqlensOffsets, SeqlensNeverExceedTokensAndOffsetsIncrease, ()) {
  fuzz::SegmentSpec spec = *fuzz::gen_segment_spec();
  spec.layout = QkvLayout::thd;
  const SegmentSeqlensCase c = fuzz::materialize(spec);
  const auto o = reference::segment_seqlens_offsets(c);
  const int64_t S = c.max_segments_per_seq, rows = o.q_seqlens.numel() / S;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t total = 0;
    for (int64_t k = 0; k < S; ++k) total += o.q_seqlens.get_int(r * S + k);
    RC_ASSERT(total <= c.q_tokens());
    int64_t prev = -1;
    bool ended = false;
    for (int64_t k = 0; k <= S; ++k) {
      const int64_t off = o.q_offsets.get_int(r * (S + 1) + k);
      if (off == -1) ended = true;
      else {
        RC_ASSERT(!ended);  // -1 only as a tail
        RC_ASSERT(off > prev);
        RC_ASSERT(off < c.q_tokens());
        prev = off;
      }
    }
  }
}

RC_GTEST_PROP(NsaMetadata, DeviceMatchesReference, ()) {
  const NsaCase c = *fuzz::gen_nsa_case();
  RC_TAG(enum_name(c.mode));
  const auto r = oracle::find_op("nsa_metadata").run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

RC_GTEST_PROP(NsaMetadata, ClampedLengthsAndPrefixSums, ()) {
  const NsaCase c = *fuzz::gen_nsa_case();
  const auto o = device::nsa_metadata(c);
  const int64_t n = o.num_tokens.get_int(0);
  RC_ASSERT(n <= c.max_tokens);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t e = o.seqlens_expanded.get_int(t), k = o.nsa_cache_seqlens.get_int(t);
    RC_ASSERT(e >= 1);  // kv_len >= qo_len: every token sees at least itself
    RC_ASSERT(k == std::min<int64_t>(e, c.topk));
    RC_ASSERT(o.nsa_cu_seqlens_k.get_int(t + 1) - o.nsa_cu_seqlens_k.get_int(t) == k);
  }
}

TEST(MetadataGenerators, SegmentCasesReachTheEdges) {
  const auto& op = oracle::find_op("segment_seqlens_offsets");
  int bshd = 0, cross = 0, generated = 0, unbatched_pos = 0, partial_pos = 0, zero_extra = 0, more_runs = 0;
  int masks[6] = {};
  for (int64_t i = 0; i < 1000; ++i) {
    const std::any a = oracle::campaign_case(op, 1, i).value();
    const auto& c = std::any_cast<const SegmentSeqlensCase&>(a);
    bshd += c.layout == QkvLayout::bshd;
    cross += c.q_tokens() != c.kv_tokens();
    generated += c.q_segment_pos.rank() == 0;
    masks[static_cast<int>(c.mask)]++;
    zero_extra += c.num_slices() == 0;
    const int64_t ps = segment_pos_slices(c.q_segment_pos);
    unbatched_pos += c.num_slices() >= 2 && c.q_segment_pos.rank() == 2;
    partial_pos += c.q_segment_pos.rank() > 2 && ps < c.num_slices();
    if (c.layout == QkvLayout::thd) {
      const auto o = reference::segment_seqlens_offsets(c);
      const int64_t S = c.max_segments_per_seq;
      for (int64_t k = S; k < o.q_offsets.numel(); k += S + 1) more_runs += o.q_offsets.get_int(k) != -1;
    }
  }
  for (int m : masks) EXPECT_GT(m, 50);
  EXPECT_GT(bshd, 50);
  EXPECT_GT(cross, 100);
  EXPECT_GT(generated, 100);
  EXPECT_GT(zero_extra, 10);
  EXPECT_GT(unbatched_pos, 50);  // seed 002: batched ids with unbatched positions
  EXPECT_GT(partial_pos, 10);    // positions batched over some trailing extra dims only
  EXPECT_GT(more_runs, 10);      // more runs than segment slots
}

TEST(MetadataGenerators, NsaCasesReachTheEdges) {
  const auto& op = oracle::find_op("nsa_metadata");
  int empty_req = 0, clamped = 0, spare = 0, no_reqs = 0, boundary_in_block = 0, modes[3] = {};
  for (int64_t i = 0; i < 1000; ++i) {
    const std::any a = oracle::campaign_case(op, 1, i).value();
    const auto& c = std::any_cast<const NsaCase&>(a);
    modes[static_cast<int>(c.mode)]++;
    no_reqs += c.bs() == 0;
    int64_t n = 0;
    for (int64_t r = 0; r < c.bs(); ++r) {
      empty_req += c.qo_len(r) == 0;
      clamped += c.kv_len(r) > c.topk;
      if (n % c.block_tokens != 0) ++boundary_in_block;
      n += c.qo_len(r);
    }
    spare += c.max_tokens > n;
  }
  for (int m : modes) EXPECT_GT(m, 200);
  EXPECT_GT(no_reqs, 10);
  EXPECT_GT(empty_req, 50);
  EXPECT_GT(clamped, 200);
  EXPECT_GT(spare, 100);
  EXPECT_GT(boundary_in_block, 200);
}

TEST(MetadataGenerators, EdgeShapesRoundTripThroughADump) {
  // Zero-sized extra dims, absent (generated) positions, BSHD's empty offsets, bs = 0, W = 0: the dump
  // written for such a case replays to the identical report.
  const auto dir = (std::filesystem::temp_directory_path() / ("lockstep-metadata-dumps-" + std::to_string(::getpid())))
                       .string();
  auto edge_kind = [](const std::any& a) -> int {  // -1: not an edge shape
    if (const auto* c = std::any_cast<SegmentSeqlensCase>(&a)) {
      if (c->num_slices() == 0) return 0;
      if (c->layout == QkvLayout::bshd) return 1;
      if (c->q_segment_pos.rank() == 0 && c->kv_segment_pos.rank() == 0) return 2;
      return -1;
    }
    const auto& n = std::any_cast<const NsaCase&>(a);
    return n.bs() == 0 ? 3 : n.width() == 0 ? 4 : n.mode == NsaMode::draft_extend ? 5 : -1;
  };
  int dumped[6] = {};
  for (const char* name : {"segment_seqlens_offsets", "nsa_metadata"}) {
    const auto& op = oracle::find_op(name);
    for (int64_t i = 0; i < 1000; ++i) {
      const std::any c = oracle::campaign_case(op, 3, i).value();
      const int kind = edge_kind(c);
      if (kind < 0 || dumped[kind] >= 3) continue;
      ++dumped[kind];
      const auto result = op.run(c, {});
      const std::string path = oracle::write_failure_dump(op, c, result, dir, fmt::format("{}-{}", name, i), {});
      const auto rep = oracle::replay_file(path);
      EXPECT_TRUE(rep.identical) << path << "\n" << rep.stored_report_json;
      EXPECT_EQ(rep.result.report.case_string, op.case_string(c));
    }
  }
  for (int d : dumped) EXPECT_EQ(d, 3);
  std::filesystem::remove_all(dir);
}
