#pragma once
/// Enums and flags that kernel bodies read, defined once for host and kernel code. The host types
/// (core/*/*.h) use them as field types, with their EnumNames next to the case types; kernel Params
/// carry them as plain int32_t (`p.mode = kernel_id(c.mode)`) and kernel bodies compare against
/// `kernel_id(MaskMode::dense)`. Kernel-visible like core/config.h: nothing heavier than <cstdint>,
/// so nvcc compiles it as it is. Fault ids are not here: they live next to their kernels.
#include <cstdint>

#include "core/config.h"

namespace lockstep {

/// The int32_t a kernel's Params carries for enum value `e`.
template <class E>
LS_HD constexpr int32_t kernel_id(E e) {
  return static_cast<int32_t>(e);
}

// ---- attention (core/attention/ragged_paged_attention.h; device/attention/mask.h) ----------------

/// Attention mask of a ragged-paged-attention case: causal, a dense per-sequence (q_len, kv_len)
/// mask, or segment (shared prefix + per-item causal runs).
enum class MaskMode : int32_t { causal = 0, dense = 1, segment = 2 };

// ---- metadata (core/metadata/nsa_metadata.h; device/metadata/nsa_metadata_kernel.h) ----------------

/// Forward mode of the NSA metadata builder.
enum class NsaMode : int32_t { decode = 0, target_verify = 1, draft_extend = 2 };

// ---- speculative decoding (core/spec/spec_decode.h; device/spec/spec_verify_kernel.h) --------------

/// Which result-processing path the scheduler follows (spec §5.2 / §5.3); `plain` is
/// non-speculative decode (one target token per step), the greedy baseline.
enum class SpecPath : int32_t { plain = 0, v1 = 1, v2 = 2 };

/// Req.finished_reason (spec §5.4); `none` = not finished.
enum class SpecFinishReason : int32_t { none = 0, length = 1, matched_token = 2, abort = 3 };

/// Per-request flags of SpecVerifyInputs::flags.
inline constexpr int32_t kSpecSkip = 1;   ///< finished or retracted before this step: nothing settles (v2)
inline constexpr int32_t kSpecAbort = 2;  ///< to_finish = abort is set

// ---- YOCO / KV sharing (core/kvcache/kv_sharing.h; device/kvcache/kv_sharing_kernel.h) -------------

/// Attention type of a decoder layer (Gemma-4 `config.layer_types`: "sliding_attention" / "full_attention").
enum class LayerType : int32_t { sliding_attention = 0, full_attention = 1 };

/// KvSharingOutputs::kv_source values besides a source layer id: the layer is not KV-shared / it is shared
/// but no earlier non-shared layer has its type (sglang raises ValueError, spec §2.5).
inline constexpr int32_t kKvSourceNotShared = -1;
inline constexpr int32_t kKvSourceNoMatch = -2;

// ---- norms (core/norm/rmsnorm.h; device/norm/rmsnorm_kernel.h) ------------------------------------------

/// Which member of the fused RMSNorm family a `rmsnorm` case runs (spec gemma4 §2.1–§2.3):
///   rmsnorm                      y = x*rrms(x)*w (or no weight)
///   add_rmsnorm                  s = x + r (fp32); y = s*rrms(s)*w, residual_out = s in x.dtype (sglang RMSNorm
///                                with residual: the norm reads the UNROUNDED sum)
///   rmsnorm_add                  y = x*rrms(x)*w + r (S1 gemma_rmsnorm_add)
///   rmsnorm_residual_scalar      y = (x*rrms(x)*w + r) * s
///   dual_rmsnorm_residual_scalar c = x*rrms(x)*w + x2*rrms(x2)*w2; y = (c*rrms(c)*w3 + r) * s
///   post_attn_triple_rmsnorm     par = x*rrms(x)*w + r; base = par*rrms(par); four bf16 outputs
enum class RmsNormVariant : int32_t {
  rmsnorm = 0,
  add_rmsnorm = 1,
  rmsnorm_add = 2,
  rmsnorm_residual_scalar = 3,
  dual_rmsnorm_residual_scalar = 4,
  post_attn_triple_rmsnorm = 5,
};

}  // namespace lockstep
