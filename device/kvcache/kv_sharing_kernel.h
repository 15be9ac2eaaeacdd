#pragma once
/// Single-source kernels of `kv_sharing` (YOCO fast prefill; spec §2.5, §6.2), compiled by nvcc and by the
/// host compiler. Two launches besides the attention calls (device::ragged_paged_attention):
///
/// KvSharingMetaParams, grid 2 + R blocks:
///   block 0      the source-layer rule as the engine writes it: threads over layers; a shared layer scans
///                layer_types[first_shared-1 .. 0] backwards and takes the first match
///                (`len(prev) - 1 - prev[::-1].index(type)`), kKvSourceNoMatch when there is none.
///   block 1      the fast-prefill metadata transform (vLLM make_kv_sharing_fast_prefill_common_attn_metadata):
///                phase 0 zeroes the per-request counts; phase 1, threads over the n real logits indices:
///                request_ids[k] = bucketize(li[k], query_start_loc[1:], right=True) by binary search, counts
///                by atomic add (bincount); phase 2, thread 0: exclusive scan into query_start_loc' and the max.
///                Idle for a pure-decode batch (transform = 0: the host returns the metadata unchanged, as vLLM
///                does before any kernel).
///   block 2 + r  slot_mapping of request r's scheduled tokens: threads over its tokens, the block table page
///                of each position times page_size plus the offset.
/// KvSharingGatherParams<T>, grid num_actual_tokens blocks: a KV-shared layer's reduced query block. Block k
///   finds its request by binary search over query_start_loc', its key position seq_len - (qsl'[r+1] - k), and
///   copies (threads over elements) q row li[k] of the layer and the source layer's cached K/V at that position.
/// All integer arithmetic and element copies: exact.
#include <cstdint>

#include "core/dtype.h"
#include "core/kernel_enums.h"
#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum KvSharingFault : int {
  kKvShareFaultNone = 0,
  kKvShareFaultSharedLayerWritesCache = 1,  ///< shared layers attend with save_kv_cache=True (layer_id = src)
  kKvShareFaultWrongSourceLayer = 2,        ///< shared layers read the nearest earlier layer, whatever its type
};

inline constexpr Fault kKvSharingFaults[] = {
    {"yoco_shared_layer_writes_cache", kKvShareFaultSharedLayerWritesCache,
     "a KV-shared layer calls attention with save_kv_cache=True and layer_id=src: its own K/V overwrite the "
     "source layer's cache slots of the reduced query block (later shared layers read them)"},
    {"yoco_wrong_source_layer", kKvShareFaultWrongSourceLayer,
     "a KV-shared layer reads the KV of the nearest earlier non-shared layer (first_shared - 1) regardless of its "
     "sliding/full type"},
};

struct KvSharingMetaParams {
  const int32_t* layer_types;      // (L)
  const int32_t* query_start_loc;  // (R + 1)
  const int32_t* logits_indices;   // (N) padded; only [0, n) is read
  const int32_t* seq_lens;         // (R)
  const int32_t* cu_kv_lens;       // (R + 1)
  const int32_t* page_indices;     // (page_slots)
  int32_t* kv_source;              // (L) out
  int32_t* request_ids;            // (n) out (transform only)
  int32_t* counts;                 // (R) scratch: num_decode_tokens
  int32_t* new_qsl;                // (R + 1) out (transform only)
  int32_t* max_query_len;          // (1) out (transform only)
  int32_t* slot_mapping;           // (T) out: -1 on token padding rows
  int64_t page_slots;
  int32_t num_layers, first_shared, num_reqs, num_logits_padded, num_logits, num_tokens, page_size;
  int32_t transform;  // 0: pure decode, block 1 does nothing
  int32_t fault;

  template <class V>
  void buffers(V& v) {
    v.in(layer_types, num_layers);
    v.in(query_start_loc, num_reqs + 1);
    v.in(logits_indices, num_logits_padded);
    v.in(seq_lens, num_reqs);
    v.in(cu_kv_lens, num_reqs + 1);
    v.in(page_indices, page_slots);
    v.out(kv_source, num_layers);
    v.out(request_ids, transform ? num_logits : 0);
    v.scratch(counts, num_reqs);
    v.out(new_qsl, transform ? num_reqs + 1 : 0);
    v.out(max_query_len, transform ? 1 : 0);
    v.inout(slot_mapping, num_tokens);  // padding rows keep the host's -1
  }
};

/// Index of the first of `n` ascending `bounds` greater than `x` (torch.bucketize(x, bounds, right=True)).
LS_HD inline int32_t kv_share_upper_bound(const int32_t* bounds, int32_t n, int32_t x) {
  int32_t lo = 0, hi = n;
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (bounds[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

LS_HD inline void kv_share_source_block(const KvSharingMetaParams& P, const BlockCtx& ctx) {
  LS_FOR_THREADS(ctx, i, P.num_layers) {
    int32_t src = kKvSourceNotShared;
    if (i >= P.first_shared) {
      src = kKvSourceNoMatch;
      if (P.fault == kKvShareFaultWrongSourceLayer) {
        if (P.first_shared > 0) src = P.first_shared - 1;
      } else {
        for (int32_t j = P.first_shared - 1; j >= 0; --j) {
          if (P.layer_types[j] == P.layer_types[i]) {
            src = j;
            break;
          }
        }
      }
    }
    P.kv_source[i] = src;
  }
}

LS_HD inline void kv_share_metadata_block(const KvSharingMetaParams& P, const BlockCtx& ctx) {
  if (!P.transform) return;
  LS_FOR_THREADS(ctx, r, P.num_reqs) { P.counts[r] = 0; }
  ctx.sync();
  LS_FOR_THREADS(ctx, k, P.num_logits) {
    const int32_t r = kv_share_upper_bound(P.query_start_loc + 1, P.num_reqs, P.logits_indices[k]);
    P.request_ids[k] = r;
    atomic_add(&P.counts[r], 1);
  }
  ctx.sync();
  if (ctx.tid == 0) {
    int32_t sum = 0, mx = 0;
    P.new_qsl[0] = 0;
    for (int32_t r = 0; r < P.num_reqs; ++r) {
      sum += P.counts[r];
      mx = P.counts[r] > mx ? P.counts[r] : mx;
      P.new_qsl[r + 1] = sum;
    }
    *P.max_query_len = mx;
  }
}

LS_HD inline void kv_share_slot_block(const KvSharingMetaParams& P, const BlockCtx& ctx, int32_t r) {
  const int32_t seq_len = P.seq_lens[r], q0 = P.query_start_loc[r], q_len = P.query_start_loc[r + 1] - q0;
  const int32_t first_slot = P.cu_kv_lens[r] / P.page_size, prefix = seq_len - q_len;
  LS_FOR_THREADS(ctx, j, q_len) {
    const int32_t pos = prefix + static_cast<int32_t>(j);
    P.slot_mapping[q0 + j] = P.page_indices[first_slot + pos / P.page_size] * P.page_size + pos % P.page_size;
  }
}

LS_HD inline void kernel_block(const KvSharingMetaParams& P, const BlockCtx& ctx, int64_t block, unsigned char*) {
  if (block == 0) kv_share_source_block(P, ctx);
  else if (block == 1) kv_share_metadata_block(P, ctx);
  else kv_share_slot_block(P, ctx, static_cast<int32_t>(block - 2));
}

template <class T>
struct KvSharingGatherParams {
  const T* q_layer;                // (T, Hq, D) the shared layer's queries
  const T* kv_source;              // (P, page, 2*Hkv, D) the cache read: the source layer's
  const T* k_own;                  // (T, Hkv, D) the shared layer's own k (fault only), else null
  const T* v_own;                  // (T, Hkv, D)
  const int32_t* logits_indices;   // (N) padded; [0, n_act) read
  const int32_t* new_qsl;          // (R + 1)
  const int32_t* seq_lens;         // (R)
  const int32_t* cu_kv_lens;       // (R + 1)
  const int32_t* page_indices;     // (page_slots)
  T* q_out;                        // (n_act, Hq, D)
  T* k_out;                        // (n_act, Hkv, D)
  T* v_out;                        // (n_act, Hkv, D)
  int32_t* slot_out;               // (n_act) the slot of each reduced row's key position
  int64_t page_slots, cache_elems;
  int32_t num_tokens, num_logits_padded, num_rows, num_reqs, num_q_heads, num_kv_heads, head_dim, page_size;

  template <class V>
  void buffers(V& v) {
    const int64_t Hq = num_q_heads, Hkv = num_kv_heads, D = head_dim, T_ = num_tokens, n = num_rows;
    v.in(q_layer, T_ * Hq * D);
    v.in(kv_source, cache_elems);
    v.in(k_own, k_own ? T_ * Hkv * D : 0);
    v.in(v_own, v_own ? T_ * Hkv * D : 0);
    v.in(logits_indices, num_logits_padded);
    v.in(new_qsl, num_reqs + 1);
    v.in(seq_lens, num_reqs);
    v.in(cu_kv_lens, num_reqs + 1);
    v.in(page_indices, page_slots);
    v.out(q_out, n * Hq * D);
    v.out(k_out, n * Hkv * D);
    v.out(v_out, n * Hkv * D);
    v.out(slot_out, n);
  }
};

template <class T>
LS_HD inline void kernel_block(const KvSharingGatherParams<T>& P, const BlockCtx& ctx, int64_t row, unsigned char*) {
  const int32_t k = static_cast<int32_t>(row);
  const int32_t r = kv_share_upper_bound(P.new_qsl + 1, P.num_reqs, k);
  const int32_t pos = P.seq_lens[r] - (P.new_qsl[r + 1] - k);
  const int32_t page = P.page_indices[P.cu_kv_lens[r] / P.page_size + pos / P.page_size];
  const int64_t slot = static_cast<int64_t>(page) * P.page_size + pos % P.page_size;
  const int64_t token = P.logits_indices[k];
  const int64_t Hq = P.num_q_heads, Hkv = P.num_kv_heads, D = P.head_dim;
  LS_FOR_THREADS(ctx, e, Hq * D) { P.q_out[row * Hq * D + e] = P.q_layer[token * Hq * D + e]; }
  LS_FOR_THREADS(ctx, e, Hkv * D) {
    const int64_t g = e / D, d = e % D;
    if (P.k_own) {
      P.k_out[row * Hkv * D + e] = P.k_own[token * Hkv * D + e];
      P.v_out[row * Hkv * D + e] = P.v_own[token * Hkv * D + e];
    } else {
      P.k_out[row * Hkv * D + e] = P.kv_source[(slot * 2 * Hkv + 2 * g) * D + d];
      P.v_out[row * Hkv * D + e] = P.kv_source[(slot * 2 * Hkv + 2 * g + 1) * D + d];
    }
  }
  if (ctx.tid == 0) P.slot_out[row] = static_cast<int32_t>(slot);
}

}  // namespace lockstep::device
