#pragma once
/// Single-source body of the `nsa_metadata` kernel: ONE launch, one thread per output token slot, no
/// host loop and no host synchronisation (the CUDA-graph replay path of sglang's NSA backend, seed 003).
///
/// Grid: max(1, cdiv(max_tokens, block_tokens)) blocks; every buffer has its maximum size. Each block
///   A. builds in shared memory the prefix sums over requests of the query counts (cu_qo), the clamped key
///      lengths (cu_nsa, closed form per request) and the key lengths (cu_kv): each thread writes one
///      request's terms, then a Hillis–Steele scan (log2(bs+1) steps, ping-pong buffers, a barrier per step).
///      Block 0 also writes the per-request outputs (cache_seqlens, cu_seqlens_k) and the real token count
///      N = cu_qo[bs] (computed on the device).
///   B. each thread takes token slots t of its block: t < N finds its request r by binary search
///      (cu_qo[r] <= t < cu_qo[r+1]) and writes its expanded length, clamped length, cumulative clamped
///      length, cu_seqlens_q entry and page-table rows; t >= N writes zeros.
/// Integer arithmetic only (int64 intermediates, validated to fit int32): outputs are exact.
/// Shared memory: two buffers of [cu_qo | cu_nsa | cu_kv], each i32 (bs+1).
#include <cstdint>

#include "core/kernel_enums.h"
#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum NsaFault : int {
  kNsaFaultNone = 0,
  kNsaFaultArangeOffByOne = 1,    ///< expanded lengths start at kv - qo instead of kv - qo + 1
  kNsaFaultMissingTopkClamp = 2,  ///< nsa_cache_seqlens not clamped to topk
  kNsaFaultSearchBoundary = 3,    ///< a token at a request boundary is attributed to the previous request
};

inline constexpr Fault kNsaFaults[] = {
    {"nsa_arange_off_by_one", kNsaFaultArangeOffByOne,
     "seed 003: seqlens_expanded = arange(kv - qo, kv) instead of arange(kv - qo + 1, kv + 1)"},
    {"nsa_missing_topk_clamp", kNsaFaultMissingTopkClamp,
     "seed 003: nsa_cache_seqlens not clamped to topk (and its prefix sum with it)"},
    {"nsa_request_search_boundary", kNsaFaultSearchBoundary,
     "seed 003: the binary search attributes a token at a request boundary to the previous request"},
};

struct NsaParams {
  const int32_t* seq_lens;     // (bs)
  const int32_t* extend_lens;  // (bs) draft_extend, else null
  const int32_t* page_table;   // (bs, W)
  int32_t* num_tokens;         // (1)
  int32_t* cache_seqlens;      // (bs)
  int32_t* cu_seqlens_k;       // (bs+1)
  int32_t* seqlens_expanded;   // (max_tokens)
  int32_t* nsa_cache_seqlens;  // (max_tokens)
  int32_t* nsa_cu_seqlens_k;   // (max_tokens+1)
  int32_t* nsa_cu_seqlens_q;   // (max_tokens+1)
  int32_t* page_table_1;       // (max_tokens, W)
  int32_t* real_page_table;    // (max_tokens, Wr)
  int32_t bs, W, Wr, page_size, max_tokens, block_tokens;
  int32_t mode;          // kernel_id(NsaMode)
  int32_t draft_tokens;  // D
  int32_t topk;
  int32_t fault;

  /// Every output element is written by the kernel (slots past the token count get zeros): allocated, not uploaded.
  template <class V>
  void buffers(V& v) {
    const int64_t m = max_tokens;
    v.in(seq_lens, bs);
    v.in(extend_lens, bs);
    v.in(page_table, int64_t{bs} * W);
    v.out(num_tokens, 1);
    v.out(cache_seqlens, bs);
    v.out(cu_seqlens_k, int64_t{bs} + 1);
    v.out(seqlens_expanded, m);
    v.out(nsa_cache_seqlens, m);
    v.out(nsa_cu_seqlens_k, m + 1);
    v.out(nsa_cu_seqlens_q, m + 1);
    v.out(page_table_1, m * W);
    v.out(real_page_table, m * Wr);
  }
};

LS_HD inline int64_t nsa_smem_bytes(int32_t bs) { return int64_t{6} * (bs + 1) * 4; }
LS_HD inline int64_t nsa_num_blocks(int32_t max_tokens, int32_t block_tokens) {
  const int64_t n = (int64_t{max_tokens} + block_tokens - 1) / block_tokens;
  return n > 0 ? n : 1;
}

LS_HD inline int32_t nsa_qo(const NsaParams& P, int32_t r) {
  if (P.mode == kernel_id(NsaMode::decode)) return 1;
  return P.mode == kernel_id(NsaMode::target_verify) ? P.draft_tokens : P.extend_lens[r];
}
LS_HD inline int32_t nsa_kv(const NsaParams& P, int32_t r) {
  return P.seq_lens[r] + (P.mode == kernel_id(NsaMode::target_verify) ? P.draft_tokens : 0);
}
/// First expanded length of a request: the number of keys its first query token may see.
LS_HD inline int64_t nsa_first_len(const NsaParams& P, int32_t qo, int32_t kv) {
  return int64_t{kv} - qo + (P.fault == kNsaFaultArangeOffByOne ? 0 : 1);
}
LS_HD inline int64_t nsa_clamp_bound(const NsaParams& P) {
  return P.fault == kNsaFaultMissingTopkClamp ? int64_t{1} << 40 : int64_t{P.topk};
}
/// sum_{j < n} min(a + j, K), closed form.
LS_HD inline int64_t nsa_clamped_sum(int64_t a, int64_t K, int64_t n) {
  if (n <= 0) return 0;
  if (a >= K) return n * K;
  const int64_t m = n < K - a ? n : K - a;
  return m * a + m * (m - 1) / 2 + (n - m) * K;
}

LS_HD inline void nsa_block(const NsaParams& P, const BlockCtx& ctx, int64_t block, unsigned char* smem) {
  const int64_t n = int64_t{P.bs} + 1;
  int32_t* src = reinterpret_cast<int32_t*>(smem);  // [cu_qo | cu_nsa | cu_kv], each (bs+1)
  int32_t* dst = src + 3 * n;                       // the other buffer of the scan
  const int64_t K = nsa_clamp_bound(P);

  // Phase A: per-request terms at index r+1 (index 0 is the leading 0), then an inclusive scan.
  LS_FOR_THREADS(ctx, i, n) {
    int32_t qo = 0, kv = 0, clamped = 0;
    if (i > 0) {
      const int32_t r = static_cast<int32_t>(i - 1);
      qo = nsa_qo(P, r);
      kv = nsa_kv(P, r);
      clamped = static_cast<int32_t>(nsa_clamped_sum(nsa_first_len(P, qo, kv), K, qo));
    }
    src[i] = qo;
    src[n + i] = clamped;
    src[2 * n + i] = kv;
  }
  ctx.sync();
  for (int64_t off = 1; off < n; off *= 2) {
    LS_FOR_THREADS(ctx, i, 3 * n) {
      const int64_t j = i % n;  // position inside its array
      dst[i] = src[i] + (j >= off ? src[i - off] : 0);
    }
    ctx.sync();
    int32_t* t = src;
    src = dst;
    dst = t;
  }
  const int32_t* cu_qo = src;       // (bs+1)
  const int32_t* cu_nsa = src + n;  // (bs+1)
  const int32_t* cu_kv = src + 2 * n;
  if (block == 0) {
    LS_FOR_THREADS(ctx, i, n) {
      P.cu_seqlens_k[i] = cu_kv[i];
      if (i > 0) P.cache_seqlens[i - 1] = cu_kv[i] - cu_kv[i - 1];
    }
    if (ctx.tid == 0) {
      P.num_tokens[0] = cu_qo[P.bs];
      P.nsa_cu_seqlens_k[0] = 0;
      P.nsa_cu_seqlens_q[0] = 0;
    }
  }

  // Phase B: one thread per output token slot (the scan's last barrier made the sums visible).
  const int32_t N = cu_qo[P.bs];
  LS_FOR_THREADS(ctx, local, P.block_tokens) {
    const int64_t t = block * P.block_tokens + local;
    if (t >= P.max_tokens) continue;
    int32_t* pt1 = P.page_table_1 + t * P.W;
    int32_t* real = P.real_page_table + t * P.Wr;
    if (t >= N) {
      P.seqlens_expanded[t] = 0;
      P.nsa_cache_seqlens[t] = 0;
      P.nsa_cu_seqlens_k[t + 1] = 0;
      P.nsa_cu_seqlens_q[t + 1] = 0;
      for (int32_t w = 0; w < P.W; ++w) pt1[w] = 0;
      for (int32_t w = 0; w < P.Wr; ++w) real[w] = 0;
      continue;
    }
    // Request r with cu_qo[r] <= t < cu_qo[r+1] (requests with no tokens are skipped).
    int32_t lo = 0, hi = P.bs;
    while (hi - lo > 1) {
      const int32_t mid = lo + (hi - lo) / 2;
      const bool left = P.fault == kNsaFaultSearchBoundary ? cu_qo[mid] < t : cu_qo[mid] <= t;
      if (left) lo = mid;
      else hi = mid;
    }
    const int32_t r = lo;
    const int32_t qo = nsa_qo(P, r), kv = nsa_kv(P, r);
    const int64_t j = t - cu_qo[r];
    const int64_t a = nsa_first_len(P, qo, kv);
    const int64_t len = a + j;
    P.seqlens_expanded[t] = static_cast<int32_t>(len);
    P.nsa_cache_seqlens[t] = static_cast<int32_t>(len < K ? len : K);
    P.nsa_cu_seqlens_k[t + 1] = static_cast<int32_t>(cu_nsa[r] + nsa_clamped_sum(a, K, j + 1));
    P.nsa_cu_seqlens_q[t + 1] = static_cast<int32_t>(t + 1);
    const int32_t* row = P.page_table + int64_t{r} * P.W;
    for (int32_t w = 0; w < P.W; ++w) pt1[w] = row[w];
    for (int32_t w = 0; w < P.Wr; ++w) real[w] = row[int64_t{w} * P.page_size] / P.page_size;
  }
}

/// The kernel body the launcher runs (device/core/launch.h).
LS_HD inline void kernel_block(const NsaParams& P, const BlockCtx& ctx, int64_t block, unsigned char* smem) {
  nsa_block(P, ctx, block, smem);
}

}  // namespace lockstep::device
