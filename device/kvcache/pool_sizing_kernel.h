#pragma once
/// Single-source pool sizing as the serving engine's configurator runs it at startup (the "device"
/// side of `pool_sizing`; reference: reference/kvcache/pool_sizing.h). One work item, float math
/// exactly as upstream (CPython `//`, int() truncation, page alignment).
#include <cstdint>

#include "core/kvcache/floordiv.h"

namespace lockstep::device {

enum PoolSizingFault : int {
  kPoolSizingFaultNone = 0,
  kPoolSizingFaultMoeRatioForDenseModel = 1,  ///< seed 004 Patch 2: 0.15 for every Gemma-4, dense included
};

struct PoolSizingParams {
  int64_t available_bytes, num_full_layers, num_swa_layers, full_bytes, swa_bytes, page_size, num_experts;
  double ratio;  // 0 = model default
  int32_t fault;
  int64_t* out;  // (2) {full_tokens, swa_tokens}

  /// The engine sizes its pools on the host at startup: the cuda backend runs this item on the host too
  /// (device/core/launch.h), the cpu and staged backends exactly as for every other kernel.
  static constexpr bool kHostOnly = true;
  template <class V>
  void buffers(V& v) {
    v.out(out, 2);
  }
};

/// Writes {full_tokens, swa_tokens} to out.
LS_HD inline void pool_sizing_item(const PoolSizingParams& p, int64_t* out) {
  double r = p.ratio;
  if (r <= 0) r = (p.num_experts > 0 || p.fault == kPoolSizingFaultMoeRatioForDenseModel) ? 0.15 : 0.8;
  const double swa_cell = static_cast<double>(p.swa_bytes) * static_cast<double>(p.num_swa_layers);
  const double avail = static_cast<double>(p.available_bytes);
  if (p.num_full_layers == 0) {
    const int64_t tokens = static_cast<int64_t>(python_floordiv(avail, swa_cell));
    out[0] = 0;
    out[1] = tokens / p.page_size * p.page_size;
    return;
  }
  // Same association as upstream: F*n_full + r*S*n_swa.
  const double cell = static_cast<double>(p.full_bytes) * static_cast<double>(p.num_full_layers) +
                      r * static_cast<double>(p.swa_bytes) * static_cast<double>(p.num_swa_layers);
  const int64_t tokens = static_cast<int64_t>(python_floordiv(avail, cell));
  out[0] = tokens / p.page_size * p.page_size;
  out[1] = static_cast<int64_t>(static_cast<double>(out[0]) * r) / p.page_size * p.page_size;
}

/// The kernel body the launcher runs (device/core/launch.h): one block, one item.
LS_HD inline void kernel_block(const PoolSizingParams& p, const BlockCtx& ctx, int64_t, unsigned char*) {
  if (ctx.tid == 0) pool_sizing_item(p, p.out);
}

}  // namespace lockstep::device
