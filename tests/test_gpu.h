#pragma once
/// GPU test guard: skips the test with the reason when no CUDA device can run kernels.
#include <string>

#include <gtest/gtest.h>

#include "device/core/backend.h"

#define LOCKSTEP_REQUIRE_GPU()                                                      \
  do {                                                                              \
    std::string why_no_gpu;                                                         \
    if (!::lockstep::device::cuda_available(&why_no_gpu)) GTEST_SKIP() << "no GPU: " << why_no_gpu; \
  } while (0)
