// Every registered op on the CUDA backend (ctest label: gpu): generated cases agree with the reference,
// and every named fault of every registered op is still detected when the device kernels run on the GPU.
// One ctest per op and per fault; each skips with the reason when no CUDA device is available.
#include <gtest/gtest.h>

#include "device/core/backend.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/fault_campaign.h"

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

using lockstep::testing::FaultParam;
using lockstep::testing::registered_faults;
using lockstep::testing::registered_ops;

class CudaOp : public ::testing::TestWithParam<std::string> {};
class CudaFault : public ::testing::TestWithParam<FaultParam> {};

}  // namespace

TEST_P(CudaOp, MatchesReferenceOnGeneratedCases) {
  LOCKSTEP_REQUIRE_GPU();
  const auto r = cuda_campaign(find_op(GetParam()), "", 500);
  EXPECT_EQ(r.failures, 0) << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
}

TEST_P(CudaFault, Detected) {
  LOCKSTEP_REQUIRE_GPU();
  EXPECT_TRUE(cuda_campaign(find_op(GetParam().op), GetParam().fault, 1000).first_failure.has_value())
      << GetParam().op << " --fault " << GetParam().fault << " not detected on the GPU in 1000 cases";
}

// One ctest each (gtest_discover_tests): CudaOp.MatchesReferenceOnGeneratedCases/<op>, CudaFault.Detected/<op>__<fault>.
INSTANTIATE_TEST_SUITE_P(, CudaOp, ::testing::ValuesIn(registered_ops()), [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(, CudaFault, ::testing::ValuesIn(registered_faults()),
                         [](const auto& info) { return info.param.op + "__" + info.param.fault; });
