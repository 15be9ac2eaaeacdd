// The CUDA verify kernels against the reference on generated command sequences (ctest label: gpu).
// Skips with the reason when no CUDA device is available.
#include <gtest/gtest.h>

#include "test_gpu.h"
#include "device/core/backend.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

TEST(SpecDecodeGpu, CudaMatchesReferenceOnGeneratedSequences) {
  LOCKSTEP_REQUIRE_GPU();
  CampaignOptions o;
  o.run.backend = Backend::cuda;
  o.cases = 500;
  o.threads = 1;
  o.dump_dir = "";
  const auto r = run_campaign(find_op("spec_decode"), o);
  EXPECT_EQ(r.failures, 0) << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
}

TEST(SpecDecodeGpu, CudaDetectsEveryFault) {
  LOCKSTEP_REQUIRE_GPU();
  for (const auto& f : device::all_faults()) {
    if (std::string(f.op) != "spec_decode") continue;
    CampaignOptions o;
    o.run = {Backend::cuda, f.name};
    o.cases = 200;
    o.threads = 1;
    o.dump_dir = "";
    o.shrink_evaluations = 50;
    const auto r = run_campaign(find_op("spec_decode"), o);
    EXPECT_TRUE(r.first_failure.has_value()) << f.name;
  }
}
