// Properties of nsa_metadata (ctest label: property): device == reference exactly on generated cases,
// invariants of the outputs that hold independently of the reference, the generator's reach, and edge
// shapes (bs = 0, W = 0, draft_extend) replaying from a dump.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/metadata/nsa_metadata.h"
#include "fuzz/metadata/nsa_metadata.h"
#include "metadata/metadata_test_util.h"
#include "oracle/campaign.h"
#include "oracle/op.h"

using namespace lockstep;

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

TEST(NsaMetadataGenerator, ReachesTheEdges) {
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

TEST(NsaMetadataGenerator, EdgeShapesRoundTripThroughADump) {
  lockstep::testing::expect_edge_shapes_replay(oracle::find_op("nsa_metadata"), 3, [](const std::any& a) {
    const auto& n = std::any_cast<const NsaCase&>(a);
    return n.bs() == 0 ? 0 : n.width() == 0 ? 1 : n.mode == NsaMode::draft_extend ? 2 : -1;
  });
}
