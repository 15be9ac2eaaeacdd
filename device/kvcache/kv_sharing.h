#pragma once
/// Device `kv_sharing` (YOCO fast prefill): the engine's composition — the metadata/source-layer kernel
/// (kv_sharing_kernel.h), then per layer either a full-block attention call that saves its K/V
/// (device::ragged_paged_attention) or, for a KV-shared layer, the gather kernel and a reduced-block attention
/// call over the source layer's cache that saves nothing.
#include "core/kvcache/kv_sharing.h"
#include "device/core/options.h"

namespace lockstep::device {

KvSharingOutputs kv_sharing(const KvSharingCase& c, const Options& options = {});

}  // namespace lockstep::device
