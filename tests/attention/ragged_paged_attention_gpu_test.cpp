// The CUDA backend against the reference on generated cases (ctest label: gpu). Skips with the reason
// when no CUDA device is available.
#include <gtest/gtest.h>

#include "test_gpu.h"
#include "device/core/backend.h"
#include "oracle/campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

TEST(RpaGpu, CudaMatchesReferenceOnGeneratedCases) {
  LOCKSTEP_REQUIRE_GPU();
  CampaignOptions o;
  o.run.backend = Backend::cuda;
  o.cases = 500;
  o.threads = 1;
  o.dump_dir = "";
  const auto r = run_campaign(find_op("ragged_paged_attention"), o);
  EXPECT_EQ(r.failures, 0) << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
}

TEST(RpaGpu, CudaDetectsEveryFault) {
  LOCKSTEP_REQUIRE_GPU();
  for (const char* fault : {"segment_block_off_by_one", "segment_mask_or_for_and", "read_past_kv_len"}) {
    CampaignOptions o;
    o.run = {Backend::cuda, fault};
    o.cases = 1000;
    o.threads = 1;
    o.dump_dir = "";
    o.shrink_evaluations = 50;
    const auto r = run_campaign(find_op("ragged_paged_attention"), o);
    EXPECT_TRUE(r.first_failure.has_value()) << fault;
  }
}
