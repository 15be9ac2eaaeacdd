// The CUDA kernels of the metadata ops against the reference on generated cases, and the seed faults
// detected on the GPU too (ctest label: gpu). Skips with the reason when no CUDA device is available.
#include <gtest/gtest.h>

#include "device/core/backend.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

CampaignResult cuda_campaign(const std::string& op, const std::string& fault, int64_t cases) {
  CampaignOptions o;
  o.run = {Backend::cuda, fault};
  o.cases = cases;
  o.threads = 1;
  o.dump_dir = "";
  o.shrink_evaluations = 50;
  return run_campaign(find_op(op), o);
}

}  // namespace

#define LOCKSTEP_REQUIRE_GPU()                                            \
  do {                                                                    \
    std::string why;                                                      \
    if (!device::cuda_available(&why)) GTEST_SKIP() << "no GPU: " << why; \
  } while (0)

TEST(MetadataGpu, CudaMatchesReferenceOnGeneratedCases) {
  LOCKSTEP_REQUIRE_GPU();
  for (const char* op : {"segment_seqlens_offsets", "nsa_metadata"}) {
    const auto r = cuda_campaign(op, "", 2000);
    EXPECT_EQ(r.failures, 0) << op << ": " << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
  }
}

TEST(MetadataGpu, CudaDetectsEveryFault) {
  LOCKSTEP_REQUIRE_GPU();
  for (const auto& f : device::all_faults()) {
    const std::string op = f.op;
    if (op != "segment_seqlens_offsets" && op != "nsa_metadata") continue;
    EXPECT_TRUE(cuda_campaign(op, f.name, 1000).first_failure.has_value()) << f.name;
  }
}
