// The batching (vmap) rule as a property of every op that declares batchable inputs (fuzz/core/batching.h,
// oracle/batching.h): op(batched) restricted to slice i == op(slice i), integers exactly, floats within
// tolerance. Applied to segment_seqlens_offsets (stacked extra leading dims, positions batched over all,
// some or none of them), nsa_metadata (per request) and ragged_paged_attention (per sequence), on the
// device kernels and on the reference.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/attention/ragged_paged_attention.h"
#include "device/core/faults.h"
#include "device/metadata/nsa_metadata.h"
#include "device/metadata/segment_seqlens_offsets.h"
#include "fuzz/attention/ragged_paged_attention.h"
#include "fuzz/metadata/nsa_metadata.h"
#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "oracle/batching.h"
#include "reference/metadata/nsa_metadata.h"
#include "reference/metadata/segment_seqlens_offsets.h"

using namespace lockstep;
using oracle::check_batching_rule;

namespace {

SegmentSeqlensOutputs seg_device(const SegmentSeqlensCase& c) { return device::segment_seqlens_offsets(c); }
SegmentSeqlensOutputs seg_reference(const SegmentSeqlensCase& c) { return reference::segment_seqlens_offsets(c); }
NsaOutputs nsa_device(const NsaCase& c) { return device::nsa_metadata(c); }
NsaOutputs nsa_reference(const NsaCase& c) { return reference::nsa_metadata(c); }
RpaOutputs rpa_device(const RpaCase& c) { return device::ragged_paged_attention(c); }

}  // namespace

RC_GTEST_PROP(BatchingRule, SegmentSeqlensOffsetsStackedExtraDims, ()) {
  const fuzz::SegmentSpec spec = *fuzz::gen_segment_spec();
  const SegmentSeqlensCase c = fuzz::materialize(spec);
  RC_TAG(spec.extra.size());
  const auto rule = fuzz::segment_batching_rule();
  const std::string dev = check_batching_rule<SegmentSeqlensCase, SegmentSeqlensOutputs>(rule, seg_device, c);
  if (!dev.empty()) RC_FAIL("device: " + dev);
  const std::string ref = check_batching_rule<SegmentSeqlensCase, SegmentSeqlensOutputs>(rule, seg_reference, c);
  if (!ref.empty()) RC_FAIL("reference: " + ref);
}

RC_GTEST_PROP(BatchingRule, NsaMetadataPerRequest, ()) {
  const NsaCase c = *fuzz::gen_nsa_case();
  RC_TAG(enum_name(c.mode));
  const auto rule = fuzz::nsa_batching_rule();
  const std::string dev = check_batching_rule<NsaCase, NsaOutputs>(rule, nsa_device, c);
  if (!dev.empty()) RC_FAIL("device: " + dev);
  const std::string ref = check_batching_rule<NsaCase, NsaOutputs>(rule, nsa_reference, c);
  if (!ref.empty()) RC_FAIL("reference: " + ref);
}

RC_GTEST_PROP(BatchingRule, RaggedPagedAttentionPerSequence, ()) {
  const RpaCase c = fuzz::materialize(*fuzz::gen_rpa_spec());
  int64_t max_kv = 1;
  for (int64_t i = 0; i < c.num_seqs; ++i) max_kv = std::max<int64_t>(max_kv, c.kv_len(i));
  const std::string dev = check_batching_rule<RpaCase, RpaOutputs>(fuzz::rpa_batching_rule(), rpa_device, c,
                                                                   oracle::tolerance_for(c.dtype, max_kv));
  if (!dev.empty()) RC_FAIL("device: " + dev);
}

TEST(BatchingRule, CatchesPositionsNotBroadcastWithoutAReference) {
  // The seed 002 bug breaks the batching rule by itself: the batched run pairs ids with the wrong
  // positions, while every unbatched slice is right.
  SegmentSeqlensCase c;
  c.mask = AttnMask::causal;
  c.max_segments_per_seq = 2;
  c.q_segment_ids = Tensor::from<int32_t>({2, 1, 4}, {1, 1, 2, 2, 1, 1, 2, 2});
  c.kv_segment_ids = c.q_segment_ids;
  c.q_segment_pos = Tensor::from<int32_t>({1, 4}, {0, 1, 0, 1});
  c.kv_segment_pos = c.q_segment_pos;
  const auto rule = fuzz::segment_batching_rule();
  EXPECT_EQ((check_batching_rule<SegmentSeqlensCase, SegmentSeqlensOutputs>(rule, seg_device, c)), "");
  const std::function<SegmentSeqlensOutputs(const SegmentSeqlensCase&)> faulty = [](const SegmentSeqlensCase& x) {
    return device::segment_seqlens_offsets(x, {Backend::cpu, device::fault_id("segment_seqlens_offsets", "positions_not_broadcast")});
  };
  const std::string f = check_batching_rule<SegmentSeqlensCase, SegmentSeqlensOutputs>(rule, faulty, c);
  EXPECT_NE(f.find("slice 1 of 2: output q_segment_pos"), std::string::npos) << f;
}

TEST(BatchingRule, StackAndSliceRoundTrip) {
  const Tensor a = Tensor::from<int32_t>({2}, {1, 2}), b = Tensor::from<int32_t>({2}, {3, 4});
  const Tensor s = fuzz::stack_leading({2, 1}, {2}, {a, b});
  EXPECT_EQ(s.shape(), (Shape{2, 1, 2}));
  EXPECT_EQ(fuzz::slice_leading(s, 2, 1), b);
  EXPECT_EQ(fuzz::slice_leading(s, 1, 0), Tensor::from<int32_t>({1, 2}, {1, 2}));
  EXPECT_EQ(fuzz::stack_leading({0}, {2}, {}).shape(), (Shape{0, 2}));
  EXPECT_THROW(fuzz::stack_leading({3}, {2}, {a, b}), Error);
}

TEST(BatchingRule, ExtraDimsReachEveryRankAndSize) {
  bool rank[4] = {}, zero = false, one = false, many = false;
  for (int i = 0; i < 400; ++i) {
    const Shape s = rc::gen::exec([] { return fuzz::pick_extra_dims(); })(rc::Random(i), 10).value();
    rank[s.size()] = true;
    for (int64_t d : s) (d == 0 ? zero : d == 1 ? one : many) = true;
  }
  EXPECT_TRUE(rank[0] && rank[1] && rank[2] && rank[3]);
  EXPECT_TRUE(zero && one && many);
}
