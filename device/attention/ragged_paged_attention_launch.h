#pragma once
/// Host-side launch contract shared by the CPU launcher and the CUDA launcher (no Eigen/fmt: included
/// by the .cu file). Pointers in the params are HOST pointers; the CUDA launcher copies them to the GPU.
#include <string>

#include "device/attention/ragged_paged_attention_kernel.h"

namespace lockstep::device {

/// Element counts of every array in RpaParams / RpaCacheParams.
struct RpaSizes {
  int64_t q, kv_new, cache, seqs_padded, custom_mask, seg_blocked, page_slots, oob_capacity;
  int64_t cache_items;  ///< work items of the cache-update kernel
};

/// Runs attention + cache update on CUDA. `out`, `cache_out` and the OOB log are written back to the
/// host pointers in the params. Returns "" or the CUDA error.
template <class T, class O>
std::string rpa_run_cuda(const RpaParams<T, O>& attn, const RpaCacheParams<T>& cache, const RpaSizes& sizes);

}  // namespace lockstep::device
