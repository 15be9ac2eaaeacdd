#pragma once
/// Block-level pieces shared by the norm kernels (rmsnorm_kernel.h, qkv_rmsnorm_kernel.h): the block sum
/// of squares and rsqrt. Single source: nvcc and the host compiler.
#include <cmath>
#include <cstdint>

#include "core/config.h"
#include "device/core/portability.h"

namespace lockstep::device {

/// 1 / sqrt(v): the hardware rsqrtf on the GPU (<= 2 ulp), 1/sqrtf (two correctly rounded operations) on the CPU.
LS_HD inline float norm_rsqrt(float v) {
#if defined(__CUDA_ARCH__)
  return rsqrtf(v);
#else
  return 1.0f / sqrtf(v);
#endif
}

/// Sum over the block of each thread's `part`, in fp32: every thread writes its partial sum to `red`
/// (nthr floats of shared memory), then a tree over the power-of-two prefix plus the remainder. Every thread
/// returns the total; `red` may be reused after the call (it ends with a barrier).
LS_HD inline float block_sum(float part, float* red, const BlockCtx& ctx) {
  red[ctx.tid] = part;
  ctx.sync();
  int n = ctx.nthr;
  while (n > 1) {
    const int half = (n + 1) / 2;
    if (ctx.tid < n - half) red[ctx.tid] += red[ctx.tid + half];
    ctx.sync();
    n = half;
  }
  const float total = red[0];
  ctx.sync();
  return total;
}

/// rrms of a row from its fp32 sum of squares: rsqrt(sum / H + eps).
LS_HD inline float rrms_from_sum(float sum_sq, int64_t H, float eps) {
  return norm_rsqrt(sum_sq / static_cast<float>(H) + eps);
}

}  // namespace lockstep::device
