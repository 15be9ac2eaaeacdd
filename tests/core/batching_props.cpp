// The batching (vmap) rule as a property of every registered op that declares one (its registry row's
// `batching`, fuzz/core/batching.h; checked by oracle/batching.h): op(batched) restricted to slice i ==
// op(slice i), integers exactly, floats within the op's tolerance — on the device kernels and on the
// reference, over the op's own generator. Today: segment_seqlens_offsets (stacked extra leading dims,
// positions batched over all, some or none of them), nsa_metadata (per request), ragged_paged_attention
// (per sequence). An op added with a rule is checked here with no edit (one ctest per op).
#include <algorithm>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "device/metadata/segment_seqlens_offsets.h"
#include "device/core/faults.h"
#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "oracle/batching.h"
#include "oracle/op.h"

using namespace lockstep;
using oracle::check_batching_rule;

namespace {

std::vector<std::string> ops_with_batching_rules() {
  std::vector<std::string> names;
  for (const auto& op : oracle::registry())
    if (op->has_batching_rule()) names.push_back(op->name());
  return names;
}

class Batching : public ::testing::TestWithParam<std::string> {};

SegmentSeqlensOutputs seg_device(const SegmentSeqlensCase& c) { return device::segment_seqlens_offsets(c); }

}  // namespace

TEST_P(Batching, HoldsOnGeneratedCasesOnBothSides) {
  const oracle::Op& op = oracle::find_op(GetParam());
  const bool ok = rc::check(op.name() + " batching rule", [&op] {
    const std::any c = *op.generator();
    for (const char* side : {"device", "reference"}) {
      const std::string failure = op.check_batching(c, side, oracle::RunOptions{});
      if (!failure.empty()) RC_FAIL(std::string(side) + ": " + failure + "\ncase: " + op.case_string(c));
    }
  });
  EXPECT_TRUE(ok);
}

INSTANTIATE_TEST_SUITE_P(Registry, Batching, ::testing::ValuesIn(ops_with_batching_rules()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(BatchingRule, TheRegistrySuiteCatchesSeed002sBatchingBug) {
  // The same check as the suite, on the device side with the seed 002 fault: rapidcheck must find a case.
  const oracle::Op& op = oracle::find_op("segment_seqlens_offsets");
  const oracle::RunOptions faulty{Backend::cpu, "positions_not_broadcast"};
  const bool ok = rc::check("segment_seqlens_offsets batching rule under positions_not_broadcast", [&] {
    const std::any c = *op.generator();
    RC_ASSERT(op.check_batching(c, "device", faulty).empty());
  });
  EXPECT_FALSE(ok);
}

TEST(BatchingRule, TheRegistryDeclaresTheBatchableOps) {
  // Guards the table: the three ops whose inputs batch keep their rule (dropping one would silently
  // shrink the suite above).
  const std::vector<std::string> ops = ops_with_batching_rules();
  for (const char* name : {"ragged_paged_attention", "segment_seqlens_offsets", "nsa_metadata"})
    EXPECT_NE(std::find(ops.begin(), ops.end(), name), ops.end()) << name;
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
