#pragma once
/// The CPU launcher: the one place that runs a single-source kernel body on the host and spreads its
/// blocks over cores. Each block runs with one emulated thread (BlockCtx{0, 1}, barriers no-ops,
/// device/core/portability.h) and its own shared-memory buffer of `smem_bytes`.
///
/// Blocks are independent and write disjoint outputs, so any thread count gives the same outputs.
/// Out-of-range records are the one shared sink: with `threads` > 1 each worker takes a contiguous range
/// of blocks and records into a private log of the kernel log's capacity; the logs are then appended to
/// the kernel's log in block order with its capacity rule (record i of the run kept iff i < capacity,
/// every record counted). The log therefore holds the same bytes as a one-thread run.
///
/// A params type with an OobLog declares it with `OobLog* oob_log(Params&)` (found by ADL).
/// Not used inside campaign workers with more than one thread: the default is one thread (Options).
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "device/core/portability.h"

namespace lockstep::device {

/// Runs `body(params, BlockCtx{0, 1}, block, smem)` for every block in [0, blocks), on up to `threads`
/// std::threads (0 or 1 = on the calling thread).
template <class Params, class Body>
void cpu_launch(const Params& params, int64_t blocks, int64_t smem_bytes, int threads, Body body) {
  constexpr bool kHasOob = requires(Params& p) { oob_log(p); };
  const int64_t workers = std::clamp<int64_t>(threads, 1, std::max<int64_t>(blocks, 1));
  const BlockCtx ctx{0, 1};
  if (workers == 1) {
    std::vector<unsigned char> smem(static_cast<size_t>(std::max<int64_t>(smem_bytes, 0)));
    for (int64_t b = 0; b < blocks; ++b) body(params, ctx, b, smem.data());
    return;
  }
  struct Worker {
    Params params;
    std::vector<OobRead> records;
    int count = 0;
  };
  std::vector<Worker> ws(static_cast<size_t>(workers), Worker{params, {}, 0});
  std::vector<std::thread> pool;
  for (int64_t w = 0; w < workers; ++w) {
    Worker& me = ws[static_cast<size_t>(w)];
    if constexpr (kHasOob) {
      OobLog* log = oob_log(me.params);
      me.records.resize(static_cast<size_t>(std::max(log->capacity, 0)));
      *log = OobLog{me.records.data(), log->capacity, &me.count};
    }
    const int64_t first = blocks * w / workers, end = blocks * (w + 1) / workers;
    pool.emplace_back([&me, first, end, smem_bytes, body, ctx] {
      std::vector<unsigned char> smem(static_cast<size_t>(std::max<int64_t>(smem_bytes, 0)));
      for (int64_t b = first; b < end; ++b) body(me.params, ctx, b, smem.data());
    });
  }
  for (std::thread& t : pool) t.join();
  if constexpr (kHasOob) {
    Params copy = params;  // the same buffer and counter pointers as the kernel's log
    const OobLog* log = oob_log(copy);
    int total = *log->count;
    for (const Worker& w : ws) {
      for (int j = 0; j < std::min(w.count, log->capacity); ++j)
        if (total + j < log->capacity) log->records[total + j] = w.records[static_cast<size_t>(j)];
      total += w.count;
    }
    *log->count = total;
  }
}

}  // namespace lockstep::device
