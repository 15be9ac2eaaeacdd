#pragma once
/// Single-source body of the ragged paged attention kernel (compiled by nvcc and by the host compiler).
///
/// Grid: one block per (query block, kv head); a query block is `block_q` consecutive rows of ONE
/// sequence (the blocked metadata maps block -> (sequence, block index in sequence)). Each block walks
/// the sequence's keys in KV tiles of `block_kv` positions (block_kv_pages pages) with the FlashAttention-2
/// online softmax. Storage type T (float / bf16 / f16); scores, softmax state and accumulators in fp32.
/// Masked scores are -inf; a row that saw no allowed key writes zeros.
///
/// Shared memory (floats unless noted), R = block_q * G rows:
///   rows i64 (block_kv) | Ks, Vs (block_kv, D) | Qs (R, D) | S (R, block_kv) | m, l (R) | acc (R, D) | seg i32 (block_q)
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "device/attention/mask.h"
#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum RpaFault : int {
  kRpaFaultNone = 0,
  kRpaFaultSegmentBlockOffByOne = 1,  ///< row segment starts read from the neighbouring query block
  kRpaFaultSegmentMaskOrForAnd = 2,   ///< segment allow = (rs <= p) OR (p <= q_pos)
  kRpaFaultReadPastKvLen = 3,         ///< page-table entries walked up to the sequence's capacity
  kRpaFaultOutputRoundTowardZero = 4, ///< bf16/f16 output cast rounds toward zero instead of to nearest-even
};

inline constexpr Fault kRpaFaults[] = {
    {"segment_block_off_by_one", kRpaFaultSegmentBlockOffByOne,
     "seed 000: row segment starts read from the neighbouring query block of the pre-scattered layout"},
    {"segment_mask_or_for_and", kRpaFaultSegmentMaskOrForAnd,
     "seed 000/001: segment allow-mask combined with OR instead of AND (rs <= p || p <= q_pos)"},
    {"read_past_kv_len", kRpaFaultReadPastKvLen,
     "seed 004: the kernel walks page-table entries past kv_len (stale trailing entries)"},
    {"output_round_toward_zero", kRpaFaultOutputRoundTowardZero,
     "bf16/f16 output cast rounds toward zero instead of to nearest-even (within one ulp: only the exact "
     "rounding check sees it)"},
};

/// Fault kRpaFaultOutputRoundTowardZero: the storage cast rounding toward zero (at most one ulp off the
/// nearest-even result, so inside the output tolerance; only the oracle's exact rounding check sees it).
template <class O>
LS_HD inline O store_toward_zero(float x) {
  O t = store_as<O>(x);
  if (fabsf(load_f32(t)) > fabsf(x)) t.bits = static_cast<uint16_t>(t.bits - 1);  // sign-magnitude: one ulp toward 0
  return t;
}
template <>
LS_HD inline float store_toward_zero<float>(float x) {
  return x;
}

/// T: storage type of the inputs; O: of the output (T, or float for the oracle's rounding check: the
/// arithmetic is identical up to the final store, so store_as<T>(out_f32) must equal out_T bit for bit).
/// One Params for both kernels of a step: the attention blocks (kernel_block) and, after all of them, the
/// cache update items (kernel_item) that write the new tokens' K/V into `cache_out`.
template <class T, class O = T>
struct RpaParams {
  const T* q;          // (T, Hq, D)
  const T* k;          // (T, Hkv, D)
  const T* v;          // (T, Hkv, D)
  const T* kv_cache;   // (P, page, 2*Hkv, D)
  O* out;              // (T, Hq, D)
  T* cache_out;        // (P, page, 2*Hkv, D) the cache after the step (a copy of kv_cache on entry)
  const int32_t* kv_lens;     // (S)
  const int32_t* cu_q_lens;   // (S+1)
  const int32_t* cu_kv_lens;  // (S+1)
  const int32_t* custom_mask; // (custom_mask_len = sum q*kv) or null
  const int64_t* mask_offsets;  // (num_seqs) start of sequence i's (q_len, kv_len) mask, or null
  const int32_t* prefix_end;    // (S) or null
  const int32_t* seg_starts_blocked;  // (num_blocks, block_q) or null
  const int32_t* block_seq;   // (num_blocks)
  const int32_t* block_idx;   // (num_blocks) query block index inside its sequence
  int32_t num_blocks;
  int32_t num_tokens;         // T: rows of q, k, v, out (padding rows included)
  int32_t num_seqs;           // real sequences (the cache update searches cu_q_lens[0..num_seqs])
  int32_t num_seqs_padded;    // S
  int64_t custom_mask_len;
  int64_t page_slots;         // entries of kv.page_indices
  int32_t num_q_heads, num_kv_heads, head_dim;
  int32_t block_q, block_kv;
  int32_t mode;  // MaskMode
  float sm_scale, soft_cap;
  int32_t sliding_window;
  int32_t fault;
  PagedKv kv;

  template <class V>
  void buffers(V& b) {
    const int64_t nq = int64_t{num_tokens} * num_q_heads * head_dim;
    const int64_t nkv = int64_t{num_tokens} * num_kv_heads * head_dim;
    const int64_t ncache = int64_t{kv.num_pages} * kv.page_size * 2 * num_kv_heads * head_dim;
    b.in(q, nq);
    b.in(k, nkv);
    b.in(v, nkv);
    b.in(kv_cache, ncache);
    b.inout(out, nq);  // padding rows past cu_q_lens[num_seqs] are never written: they keep the host's zeros
    b.inout(cache_out, ncache);  // only the new tokens' rows are written
    b.in(kv_lens, num_seqs_padded);
    b.in(cu_q_lens, num_seqs_padded + 1);
    b.in(cu_kv_lens, num_seqs_padded + 1);
    b.in(custom_mask, custom_mask_len);
    b.in(mask_offsets, num_seqs);
    b.in(prefix_end, num_seqs_padded);
    b.in(seg_starts_blocked, int64_t{num_blocks} * block_q);
    b.in(block_seq, num_blocks);
    b.in(block_idx, num_blocks);
    b.in(kv.page_indices, page_slots);
    kv.oob.buffers(b);
  }
};

/// The OOB log of both kernels (device/core/cpu_launch.h merges per-worker logs in block order).
template <class T, class O>
inline OobLog* oob_log(RpaParams<T, O>& p) { return &p.kv.oob; }

/// Element offsets, pointer-free and 64-bit throughout: a serving pool's cache holds more than 2^31
/// elements (rows x 2*Hkv x D), so no index into it may pass through a 32-bit intermediate. Every global
/// memory index of the kernels below goes through one of these (unit-tested on the host at the top of a
/// > 2^31-element pool: tests/attention/rpa_offsets_test.cpp).
///   cache: (P, page, 2*Hkv, D), row = page * page_size + slot; kv = 0 for K, 1 for V of kv head g
LS_HD inline int64_t rpa_cache_offset(int64_t row, int32_t Hkv, int32_t g, int32_t kv, int32_t D, int32_t d) {
  return (row * 2 * Hkv + 2 * int64_t{g} + kv) * D + d;
}
///   q / out: (T, Hq, D); k / v: (T, Hkv, D) — token t, head h
LS_HD inline int64_t rpa_token_offset(int64_t t, int32_t H, int32_t h, int32_t D, int32_t d) {
  return (t * H + h) * D + d;
}

/// Shared-memory bytes one block needs.
LS_HD inline int64_t rpa_smem_bytes(int32_t block_q, int32_t G, int32_t block_kv, int32_t D) {
  const int64_t R = int64_t{block_q} * G;
  const int64_t floats = 2 * int64_t{block_kv} * D + R * D + R * block_kv + 2 * R + R * D;
  return floats * 4 + int64_t{block_kv} * 8 + int64_t{block_q} * 4;
}

template <class T, class O>
LS_HD inline void rpa_block(const RpaParams<T, O>& P, const BlockCtx& ctx, int64_t block_id, unsigned char* smem) {
  const int32_t D = P.head_dim, Hq = P.num_q_heads, Hkv = P.num_kv_heads, G = Hq / Hkv;
  const int32_t BQ = P.block_q, BKV = P.block_kv;
  const int32_t qb = static_cast<int32_t>(block_id / Hkv), g = static_cast<int32_t>(block_id % Hkv);
  const int32_t seq = P.block_seq[qb], bidx = P.block_idx[qb];
  const int32_t q0 = P.cu_q_lens[seq], q_len = P.cu_q_lens[seq + 1] - q0;
  const int32_t kv_len = P.kv_lens[seq], prefix = kv_len - q_len;
  const int32_t row0 = bidx * BQ;
  const int32_t ntok = q_len - row0 < BQ ? q_len - row0 : BQ;
  const int32_t R = ntok * G;
  const int32_t first_slot = P.cu_kv_lens[seq] / P.kv.page_size;

  int64_t* rows = reinterpret_cast<int64_t*>(smem);  // (BKV)
  float* Ks = reinterpret_cast<float*>(rows + BKV);  // (BKV, D)
  float* Vs = Ks + BKV * D;                          // (BKV, D)
  float* Qs = Vs + BKV * D;                          // (BQ*G, D)
  float* S = Qs + BQ * G * D;                        // (BQ*G, BKV)
  float* m = S + BQ * G * BKV;                       // (BQ*G)
  float* l = m + BQ * G;                             // (BQ*G)
  float* acc = l + BQ * G;                           // (BQ*G, D)
  int32_t* seg = reinterpret_cast<int32_t*>(acc + BQ * G * D);  // (BQ)

  LS_FOR_THREADS(ctx, e, int64_t{R} * D) {
    const int32_t r = static_cast<int32_t>(e / D), d = static_cast<int32_t>(e % D);
    const int32_t t = q0 + row0 + r / G, h = g * G + r % G;
    Qs[e] = load_f32(P.q[rpa_token_offset(t, Hq, h, D, d)]);
    acc[e] = 0.f;
  }
  LS_FOR_THREADS(ctx, r, R) {
    m[r] = -INFINITY;
    l[r] = 0.f;
  }
  if (P.mode == kernel_id(MaskMode::segment)) {
    int32_t src = qb;
    if (P.fault == kRpaFaultSegmentBlockOffByOne) src = qb + 1 < P.num_blocks ? qb + 1 : qb - 1 >= 0 ? qb - 1 : qb;
    LS_FOR_THREADS(ctx, j, ntok) { seg[j] = P.seg_starts_blocked[int64_t{src} * BQ + j]; }
  }
  ctx.sync();

  // Key range this block needs: from the sliding-window start of its first row to its last row's
  // position (causal and segment) or kv_len (dense masks may allow any key).
  int32_t lo = 0;
  if (P.sliding_window > 0) {
    lo = prefix + row0 - P.sliding_window + 1;
    if (lo < 0) lo = 0;
  }
  int32_t hi = P.mode == kernel_id(MaskMode::dense) ? kv_len : prefix + row0 + ntok;
  int32_t walk_hi = hi;  // positions whose page-table entries are walked
  if (P.fault == kRpaFaultReadPastKvLen) walk_hi = P.cu_kv_lens[seq + 1] - P.cu_kv_lens[seq];
  const int32_t pe = P.mode == kernel_id(MaskMode::segment) ? P.prefix_end[seq] : 0;
  const int32_t* mask_rows = P.mode == kernel_id(MaskMode::dense) ? P.custom_mask + P.mask_offsets[seq] : nullptr;

  for (int32_t base = lo / BKV * BKV; base < walk_hi; base += BKV) {
    LS_FOR_THREADS(ctx, j, BKV) {
      const int32_t p = base + static_cast<int32_t>(j);
      int64_t row = -1;
      if (p < prefix && p < walk_hi) row = P.kv.row(seq, first_slot, p);
      else if (p >= kv_len && p < walk_hi) P.kv.row(seq, first_slot, p);  // fault only: walked, never used
      else if (p >= prefix && p < kv_len) row = -2;                       // new token: from k/v
      rows[j] = row;
    }
    ctx.sync();
    LS_FOR_THREADS(ctx, e, int64_t{BKV} * D) {
      const int32_t j = static_cast<int32_t>(e / D), d = static_cast<int32_t>(e % D);
      const int64_t row = rows[j];
      float kx = 0.f, vx = 0.f;
      if (row >= 0) {
        kx = load_f32(P.kv_cache[rpa_cache_offset(row, Hkv, g, 0, D, d)]);
        vx = load_f32(P.kv_cache[rpa_cache_offset(row, Hkv, g, 1, D, d)]);
      } else if (row == -2) {
        const int64_t t = q0 + (base + j - prefix);
        kx = load_f32(P.k[rpa_token_offset(t, Hkv, g, D, d)]);
        vx = load_f32(P.v[rpa_token_offset(t, Hkv, g, D, d)]);
      }
      Ks[e] = kx;
      Vs[e] = vx;
    }
    ctx.sync();
    LS_FOR_THREADS(ctx, r, R) {
      const int32_t jr = static_cast<int32_t>(r) / G;
      const int32_t q_pos = prefix + row0 + jr;
      const int32_t rs = P.mode == kernel_id(MaskMode::segment) ? seg[jr] : 0;
      const int32_t* mrow = mask_rows ? mask_rows + int64_t{row0 + jr} * kv_len : nullptr;
      float* s_row = S + r * BKV;
      float tile_max = -INFINITY;
      for (int32_t j = 0; j < BKV; ++j) {
        const int32_t p = base + j;
        float s = -INFINITY;
        if (p < kv_len && p < hi &&
            rpa_allowed(P.mode, p, q_pos, pe, rs, mrow, P.sliding_window,
                        P.fault == kRpaFaultSegmentMaskOrForAnd)) {
          float dot = 0.f;
          const float* qr = Qs + r * D;
          const float* kr = Ks + j * D;
          for (int32_t d = 0; d < D; ++d) dot += qr[d] * kr[d];
          s = dot * P.sm_scale;
          if (P.soft_cap > 0.f) s = P.soft_cap * tanhf(s / P.soft_cap);
        }
        s_row[j] = s;
        tile_max = s > tile_max ? s : tile_max;
      }
      const float m_new = m[r] > tile_max ? m[r] : tile_max;
      if (m_new == -INFINITY) continue;  // nothing allowed yet
      const float alpha = expf(m[r] - m_new);  // 0 when m[r] = -inf
      float* a = acc + r * D;
      float l_new = l[r] * alpha;
      for (int32_t d = 0; d < D; ++d) a[d] *= alpha;
      for (int32_t j = 0; j < BKV; ++j) {
        if (s_row[j] == -INFINITY) continue;
        const float pj = expf(s_row[j] - m_new);
        l_new += pj;
        const float* vr = Vs + j * D;
        for (int32_t d = 0; d < D; ++d) a[d] += pj * vr[d];
      }
      l[r] = l_new;
      m[r] = m_new;
    }
    ctx.sync();
  }

  LS_FOR_THREADS(ctx, e, int64_t{R} * D) {
    const int32_t r = static_cast<int32_t>(e / D), d = static_cast<int32_t>(e % D);
    const int32_t t = q0 + row0 + r / G, h = g * G + r % G;
    const float val = l[r] > 0.f ? acc[e] / l[r] : 0.f;
    P.out[rpa_token_offset(t, Hq, h, D, d)] =
        P.fault == kRpaFaultOutputRoundTowardZero ? store_toward_zero<O>(val) : store_as<O>(val);
  }
}

/// Writes the new tokens' K/V into the cache copy `cache_out` at their positions. One work item per
/// (token, kv head, dim) of the first cu_q_lens[num_seqs] rows.
template <class T, class O>
LS_HD inline void rpa_cache_update_item(const RpaParams<T, O>& P, int64_t e) {
  const int32_t D = P.head_dim, Hkv = P.num_kv_heads;
  const int32_t d = static_cast<int32_t>(e % D), g = static_cast<int32_t>((e / D) % Hkv);
  const int32_t t = static_cast<int32_t>(e / (int64_t{D} * Hkv));
  int32_t lo = 0, hi = P.num_seqs;  // find seq with cu_q_lens[seq] <= t < cu_q_lens[seq+1]
  while (hi - lo > 1) {
    const int32_t mid = (lo + hi) / 2;
    if (P.cu_q_lens[mid] <= t) lo = mid; else hi = mid;
  }
  const int32_t seq = lo;
  const int32_t q_len = P.cu_q_lens[seq + 1] - P.cu_q_lens[seq];
  const int32_t pos = P.kv_lens[seq] - q_len + (t - P.cu_q_lens[seq]);
  const int32_t first_slot = P.cu_kv_lens[seq] / P.kv.page_size;
  int64_t row;
  if (g == 0 && d == 0) {
    row = P.kv.row(seq, first_slot, pos);  // records a bad page once per token
  } else {
    const int32_t page = P.kv.page_indices[first_slot + pos / P.kv.page_size];
    row = page < 0 || page >= P.kv.num_pages ? -1 : int64_t{page} * P.kv.page_size + pos % P.kv.page_size;
  }
  if (row < 0) return;
  P.cache_out[rpa_cache_offset(row, Hkv, g, 0, D, d)] = P.k[rpa_token_offset(t, Hkv, g, D, d)];
  P.cache_out[rpa_cache_offset(row, Hkv, g, 1, D, d)] = P.v[rpa_token_offset(t, Hkv, g, D, d)];
}

/// The kernel bodies the launcher runs (device/core/launch.h): attention blocks, then cache update items.
template <class T, class O>
LS_HD inline void kernel_block(const RpaParams<T, O>& P, const BlockCtx& ctx, int64_t block, unsigned char* smem) {
  rpa_block(P, ctx, block, smem);
}
template <class T, class O>
LS_HD inline void kernel_item(const RpaParams<T, O>& P, int64_t e) {
  rpa_cache_update_item(P, e);
}

}  // namespace lockstep::device
