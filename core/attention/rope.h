#pragma once
/// Case and output types of `rope`: rotary position embedding of Gemma-4's two layer types applied to q and k
/// over ragged positions (spec: shared/spec/gemma4-kvcache-speculative.md §2.4, §2.5 config; HF is the
/// definition, §2.4).
///
/// Upstream semantics (read, not copied; HF transformers S6 commit 0246b4f3 `models/gemma4/modeling_gemma4.py`
/// `Gemma4TextRotaryEmbedding` + `apply_rotary_pos_emb` / `rotate_half`, and `modeling_rope_utils.py`
/// `_compute_proportional_rope_parameters` of the same generation):
///   sliding layers: rope_type "default", theta = 1e4, head_dim:
///       inv_freq[i] = theta^(-2i / head_dim),                         i < head_dim / 2
///   full layers: rope_type "proportional", partial_rotary_factor 0.25, theta = 1e6, global_head_dim:
///       rope_angles = int(partial_rotary_factor * head_dim // 2)
///       inv_freq[i] = theta^(-2i / head_dim)   for i < rope_angles     (exponent over the FULL head_dim)
///       inv_freq[i] = 0                        for rope_angles <= i < head_dim / 2
///   angles: freqs = inv_freq (x) position (fp32 in HF), emb = cat(freqs, freqs)  -> (T, head_dim)
///   out = x cos(emb) + rotate_half(x) sin(emb),  rotate_half(x) = cat(-x[h:], x[:h]),  h = head_dim / 2
/// i.e. dim i pairs with dim i + h (neox pairing), for i < h:
///   out[i]     = x[i] cos(a_i) - x[i + h] sin(a_i)
///   out[i + h] = x[i + h] cos(a_i) + x[i] sin(a_i),     a_i = position * inv_freq[i]
/// A zero frequency gives cos 1, sin 0: the non-rotated pairs (i >= rope_angles and i + h) are left as they
/// are — the rotated dims are [0, rope_angles) and [h, h + rope_angles), interleaved with the untouched ones
/// at stride h, NOT a contiguous rotary prefix with a pass-through tail (vLLM's partial `rotary_dim`).
/// Same rotation for every head of q (T, nq, hd) and k (T, nkv, hd); HF's attention_scaling is 1.0 for both
/// types.
///
/// Positions: one per token, i32 or i64, any order (several sequences with cached prefixes, decode tokens,
/// out-of-order and repeated positions), each in [0, 2^24): HF takes position.float(), exact below 2^24.
/// Decisions: `partial_rotary_factor` must be 1 for rope_type default (HF's default init ignores it); head_dim
/// even; theta > 1 finite; q/k finite.
#include <array>
#include <cstdint>

#include "core/fields.h"
#include "core/tensor.h"

namespace lockstep {

enum class RopeType : int { default_rope = 0, proportional = 1 };
template <>
struct EnumNames<RopeType> {
  static constexpr std::array<const char*, 2> names{"default", "proportional"};
};

/// Largest position + 1 (HF converts positions to fp32; exact integers below 2^24).
inline constexpr int64_t kRopeMaxPosition = int64_t{1} << 24;

struct RopeCase {
  DType dtype = DType::f32;
  RopeType rope_type = RopeType::default_rope;
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;
  int64_t num_q_heads = 1;
  int64_t num_kv_heads = 1;
  int64_t head_dim = 2;
  int64_t data_seed = 0;  ///< informational: seed the tensor values were drawn from
  Tensor positions;       ///< (T) i32 | i64
  Tensor q;               ///< (T, nq, hd) dtype
  Tensor k;               ///< (T, nkv, hd) dtype

  template <class V>
  void fields(V& v) {
    v("dtype", dtype);
    v("rope_type", rope_type);
    v("theta", theta);
    v("partial_rotary_factor", partial_rotary_factor);
    v("num_q_heads", num_q_heads, IntRange{1, 1024});
    v("num_kv_heads", num_kv_heads, IntRange{1, 1024});
    v("head_dim", head_dim, IntRange{2, 4096});
    v("data_seed", data_seed, IntRange{INT64_MIN, INT64_MAX});
    v("positions", positions);
    v("q", q);
    v("k", k);
  }

  int64_t num_tokens() const { return positions.rank() == 1 ? positions.numel() : 0; }
};

struct RopeOutputs {
  Tensor q;  ///< (T, nq, hd) dtype
  Tensor k;  ///< (T, nkv, hd) dtype
  /// Reference: the largest absolute error bound of the device's fp32 evaluation over every element of q and
  /// k (reference::rope_angle_rel_error / rope_pair_error: angle error from fp32 inv_freq and fp32
  /// position * inv_freq, sinf/cosf, the rotation's products; for bf16/f16 also HF's evaluation in the dtype);
  /// 0 on the device.
  double abs_error = 0;

  template <class V>
  void fields(V& v) {
    v("q", q, Rule{Rule::tolerance});
    v("k", k, Rule{Rule::tolerance});
    v("abs_error", abs_error, Rule{Rule::info});
  }
};

/// Validates types, shapes, parameters and positions; throws Error naming the field.
void validate(const RopeCase& c);

/// Number of rotated pairs: head_dim / 2 for rope_type default, int(partial_rotary_factor * head_dim // 2)
/// for proportional (HF `rope_angles`).
int64_t rope_rotated_pairs(const RopeCase& c);

}  // namespace lockstep
