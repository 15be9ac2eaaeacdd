#pragma once
/// The thin layer that lets one kernel body run on CUDA and on the CPU.
///
/// A kernel body is a function `body(params, BlockCtx, block_id, smem)` written as phases of
/// block-stride loops separated by `ctx.sync()`:
///
///   LS_FOR_THREADS(ctx, t, n) { ... }   // every thread of the block takes t = tid, tid+nthr, ...
///   ctx.sync();                          // __syncthreads() on the GPU, nothing on the CPU
///
/// On the GPU each block runs with blockDim.x threads; on the CPU a launcher runs each block with a
/// single emulated thread (tid 0, nthr 1), so every phase completes before the next begins and the
/// barriers are no-ops. Per-thread state that must survive a barrier therefore lives in shared memory,
/// indexed by the loop variable. Kernels must be correct for any thread count and any block size.
#include <cstdint>

#include "core/config.h"
#include "core/oob.h"

namespace lockstep::device {

struct BlockCtx {
  int tid;
  int nthr;
  LS_HD void sync() const {
#if defined(__CUDA_ARCH__)
    __syncthreads();
#endif
  }
};

#define LS_FOR_THREADS(ctx, var, n) for (int64_t var = (ctx).tid; var < static_cast<int64_t>(n); var += (ctx).nthr)

LS_HD inline int atomic_add(int* p, int v) {
#if defined(__CUDA_ARCH__)
  return atomicAdd(p, v);
#else
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
#endif
}

/// Device-visible log of out-of-range page index reads (a fixed buffer plus a counter; records past
/// the capacity are counted but dropped).
struct OobLog {
  OobRead* records;
  int capacity;
  int* count;
  LS_HD void record(int32_t seq, int32_t token, int32_t slot, int32_t page, int32_t bound) const {
    const int i = atomic_add(count, 1);
    if (i < capacity) records[i] = OobRead{seq, token, slot, page, bound};
  }
  /// For a Params' buffers() (device/core/staged_launch.h): the records and the count, both uploaded (a
  /// second kernel may append to a log) and downloaded.
  template <class V>
  void buffers(V& v) {
    v.inout(records, capacity);
    v.inout(count, 1);
  }
};

/// The one accessor through which paged KV is addressed. `row()` returns the cache row of a key
/// position, or -1 after recording an out-of-range page index (never dereferencing it).
struct PagedKv {
  const int32_t* page_indices;
  int32_t num_pages;
  int32_t page_size;
  OobLog oob;
  LS_HD int64_t row(int32_t seq, int32_t first_slot, int32_t pos) const {
    const int32_t slot = first_slot + pos / page_size;
    const int32_t page = page_indices[slot];
    if (page < 0 || page >= num_pages) {
      oob.record(seq, pos - pos % page_size, slot, page, num_pages);
      return -1;
    }
    return static_cast<int64_t>(page) * page_size + pos % page_size;
  }
};

}  // namespace lockstep::device
