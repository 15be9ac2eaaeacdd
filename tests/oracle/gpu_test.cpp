// Every registered op on the CUDA backend (ctest label: gpu): generated cases agree with the reference,
// and every named fault is still detected when the device kernels run on the GPU. Skips with the
// reason when no CUDA device is available.
#include <gtest/gtest.h>

#include "device/core/backend.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

#define LOCKSTEP_REQUIRE_GPU()                                                \
  do {                                                                        \
    std::string why;                                                          \
    if (!device::cuda_available(&why)) GTEST_SKIP() << "no GPU: " << why;    \
  } while (0)

CampaignResult cuda_campaign(const Op& op, const std::string& fault, int64_t cases) {
  CampaignOptions o;
  o.run = {Backend::cuda, fault};
  o.cases = cases;
  o.threads = 1;
  o.dump_dir = "";
  o.shrink_evaluations = 50;
  return run_campaign(op, o);
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (const auto& op : registry()) names.push_back(op->name());
  return names;
}

class CudaOp : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(CudaOp, MatchesReferenceOnGeneratedCases) {
  LOCKSTEP_REQUIRE_GPU();
  const auto r = cuda_campaign(find_op(GetParam()), "", 500);
  EXPECT_EQ(r.failures, 0) << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
}

TEST_P(CudaOp, DetectsEveryFault) {
  LOCKSTEP_REQUIRE_GPU();
  for (const auto& f : device::all_faults()) {
    if (GetParam() != f.op) continue;
    EXPECT_TRUE(cuda_campaign(find_op(GetParam()), f.name, 1000).first_failure.has_value()) << f.name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaOp, ::testing::ValuesIn(op_names()),
                         [](const auto& info) { return info.param; });
