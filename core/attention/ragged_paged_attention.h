#pragma once
/// Case and output types of `ragged_paged_attention` (spec: shared/spec/attention-metadata.md §1).
///
/// Layouts (T = padded token count, S = padded batch, P = cache pages):
///   q              (T, Hq, D)              dtype
///   k, v           (T, Hkv, D)             dtype   new tokens' keys/values
///   kv_cache       (P, page, 2*Hkv, D)     dtype   heads interleaved K0,V0,K1,V1,... (no 128 padding)
///   kv_lens        i32 (S)                 total keys per sequence (cached prefix + new)
///   page_indices   i32 (S * pages_per_seq) flat; sequence i's pages start at cdiv(cu_kv_lens[i], page)
///   cu_q_lens      i32 (S + 1)
///   cu_kv_lens     i32 (S + 1)             page-aligned capacity prefix sums (may exceed align(kv_len):
///                                          the slack entries are stale and must never be read)
///   custom_mask    i32 (sum q_len*kv_len)  mode dense only: row-major (q_len, kv_len) per sequence
///   prefix_end     i32 (S)                 mode segment only
///   row_seg_starts i32 (T)                 mode segment only, indexed by global token row
#include <cstdint>
#include <string>

#include "core/fields.h"
#include "core/kernel_enums.h"
#include "core/oob.h"
#include "core/tensor.h"

namespace lockstep {

// MaskMode: core/kernel_enums.h (the kernel reads it).
template <>
struct EnumNames<MaskMode> {
  static constexpr std::array<const char*, 3> names{"causal", "dense", "segment"};
};

struct RpaCase {
  DType dtype = DType::f32;
  MaskMode mode = MaskMode::causal;
  int64_t num_seqs = 0;
  int64_t num_q_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t page_size = 1;
  double sm_scale = 1.0;
  double soft_cap = 0.0;        ///< 0 = none
  int64_t sliding_window = 0;   ///< 0 = none; W keys: q_pos - W < p <= q_pos
  int64_t block_q = 8;          ///< device tile: query rows per block
  int64_t block_kv_pages = 2;   ///< device tile: pages per KV block
  int64_t data_seed = 0;        ///< informational: seed the tensor values were drawn from
  Tensor q, k, v, kv_cache;
  Tensor kv_lens, page_indices, cu_q_lens, cu_kv_lens;
  Tensor custom_mask, prefix_end, row_seg_starts;

  template <class V>
  void fields(V& v) {
    v("dtype", dtype);
    v("mode", mode);
    v("num_seqs", num_seqs, IntRange{0, kFieldInt32Max});
    v("num_q_heads", num_q_heads, IntRange{1, kFieldInt32Max});
    v("num_kv_heads", num_kv_heads, IntRange{1, kFieldInt32Max});
    v("head_dim", head_dim, IntRange{1, 1024});
    v("page_size", page_size, IntRange{1, 4096});
    v("sm_scale", sm_scale);
    v("soft_cap", soft_cap);
    v("sliding_window", sliding_window, IntRange{0, kFieldInt32Max});
    v("block_q", block_q, IntRange{1, 256});
    v("block_kv_pages", block_kv_pages, IntRange{1, 1024});
    v("data_seed", data_seed, IntRange{INT64_MIN, INT64_MAX});
    v("cu_q_lens", cu_q_lens);
    v("kv_lens", kv_lens);
    v("cu_kv_lens", cu_kv_lens);
    v("page_indices", page_indices);
    v("prefix_end", prefix_end);
    v("row_seg_starts", row_seg_starts);
    v("custom_mask", custom_mask);
    v("q", q);
    v("k", k);
    v("v", this->v);
    v("kv_cache", kv_cache);
  }

  int64_t num_tokens() const { return q.rank() == 3 ? q.dim(0) : 0; }
  int64_t padded_seqs() const { return kv_lens.numel(); }
  int32_t q_len(int64_t i) const { return static_cast<int32_t>(cu_q_lens.get_int(i + 1) - cu_q_lens.get_int(i)); }
  int32_t kv_len(int64_t i) const { return static_cast<int32_t>(kv_lens.get_int(i)); }
};

struct RpaOutputs {
  Tensor out;        ///< (T, Hq, D) dtype; rows past cu_q_lens[num_seqs] are zero
  Tensor kv_cache;   ///< (P, page, 2*Hkv, D) with the new tokens' K/V written at their positions
  Tensor oob_reads;  ///< i32 (n, 5) out-of-range page reads [seq, token, slot, page, bound] (core/oob_reads.h):
                     ///< one per bad page slot (first token kept), sorted by (seq, slot); those keys read zeros
  int64_t oob_dropped = 0;  ///< device: records lost to the log's capacity
  /// Reference: the magnitudes the tolerance is derived from (oracle/compare.h attention_tolerance), over every
  /// (query row, head, allowed key): logit_bound = max |sm_scale| * sum_d |q_d k_d|, value_bound = max |v_d|
  /// of the keys read, softmax_error = max over rows of the fp32 softmax-argument error bound
  /// (core/attention/softmax_error.h) times the row's max |v|. 0 when no key is allowed; 0 on the device.
  double logit_bound = 0, value_bound = 0, softmax_error = 0;

  template <class V>
  void fields(V& v) {
    v("out", out, Rule{Rule::tolerance});
    v("kv_cache", kv_cache);
    v("oob_reads", oob_reads,
      Rule{Rule::oob_reads, "device read {n} out-of-range page index slot(s), first: seq {seq} page_indices[{slot}] = {page}",
           "case has {n} out-of-range page index slot(s) inside the read window, the device reported none"});
    v("oob_dropped", oob_dropped, IntRange{0, INT64_MAX}, Rule{Rule::oob_dropped});
    v("logit_bound", logit_bound, Rule{Rule::info});
    v("value_bound", value_bound, Rule{Rule::info});
    v("softmax_error", softmax_error, Rule{Rule::info});
  }
};

/// Validates shapes, dtypes, lengths, mask contents and parameters; throws Error naming the field
/// (e.g. `case.kv_lens[2] = 3: shorter than q_len 5 (cached prefix would be negative)`). Page index
/// values are NOT validated: reading a bad one is what the checked accessors report.
void validate(const RpaCase& c);

/// First key position visible to any query row of sequence `i` under the sliding window (0 without one).
int32_t rpa_window_start(const RpaCase& c, int64_t i);

}  // namespace lockstep
