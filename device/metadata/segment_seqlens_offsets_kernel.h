#pragma once
/// Single-source body of the `segment_seqlens_offsets` kernel (compiled by nvcc and by the host compiler).
///
/// Grid: one block per (extra index e, batch row b), row = e*B + b. Phases (block-stride loops):
///   0. positions and run lengths per token (given positions read from row (e % pos_slices)*B + b, i.e.
///      broadcast over the extra dims they lack; otherwise generated from the ids)
///   1. THD: row_ids per q token and col_ids per kv token (a token counts iff some same-segment token of
///      the other side is visible to / sees it under the mask)
///   2. seqlens per segment slot (threads over slots); offsets by one thread scanning run starts.
/// All integer arithmetic; outputs are exact. Scratch (rl, row/col ids) lives in global memory.
#include <cstdint>

#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum SegmentFault : int {
  kSegFaultNone = 0,
  kSegFaultPositionsNotBroadcast = 1,  ///< batched ids paired elementwise with unbatched positions
  kSegFaultEmptyExtraShape = 2,        ///< slice count from the positions' (empty) extra shape
};

inline constexpr Fault kSegmentFaults[] = {
    {"positions_not_broadcast", kSegFaultPositionsNotBroadcast,
     "seed 002: ids with extra batch dims paired elementwise with unbatched positions (reads past them as 0)"},
    {"empty_extra_shape", kSegFaultEmptyExtraShape,
     "seed 002: the extra-dim product taken from the side with no extra dims (empty product 1): only the "
     "first slice is computed"},
};

struct SegmentParams {
  const int32_t* q_ids;      // (E*B, Tq)
  const int32_t* kv_ids;     // (E*B, Tkv)
  const int32_t* q_pos_in;   // (q_pos_slices*B, Tq) or null (generate)
  const int32_t* kv_pos_in;  // (kv_pos_slices*B, Tkv) or null
  int64_t q_pos_slices, kv_pos_slices;
  int32_t* q_pos;   // (E*B, Tq) out
  int32_t* kv_pos;  // (E*B, Tkv) out
  int32_t* q_rl;    // (E*B, Tq) scratch: run lengths
  int32_t* kv_rl;   // (E*B, Tkv) scratch
  int32_t* row_ids; // (E*B, Tq) scratch
  int32_t* col_ids; // (E*B, Tkv) scratch
  int32_t* q_seqlens;   // (E*B, S) THD | (E*B) BSHD
  int32_t* kv_seqlens;
  int32_t* q_offsets;   // (E*B, S+1) THD | null
  int32_t* kv_offsets;
  int64_t B, Tq, Tkv, S;
  int64_t total_rows;  // E*B rows of every buffer (a launch may cover fewer: kSegFaultEmptyExtraShape)
  int32_t thd;        // 1: THD, 0: BSHD
  int32_t causal;     // causal / padding_causal
  int32_t bottom_right;
  int32_t padding;    // BSHD: count non-padding tokens
  int32_t fault;

  /// Outputs are inout: rows the launch does not cover keep the host's zeros (and -1 offsets).
  template <class V>
  void buffers(V& v) {
    const int64_t nq = total_rows * Tq, nk = total_rows * Tkv;
    const int64_t nseq = total_rows * (thd ? S : 1), noff = thd ? total_rows * (S + 1) : 0;
    v.in(q_ids, nq);
    v.in(kv_ids, nk);
    v.in(q_pos_in, q_pos_slices * B * Tq);
    v.in(kv_pos_in, kv_pos_slices * B * Tkv);
    v.inout(q_pos, nq);
    v.inout(kv_pos, nk);
    v.scratch(q_rl, nq);
    v.scratch(kv_rl, nk);
    v.scratch(row_ids, nq);
    v.scratch(col_ids, nk);
    v.inout(q_seqlens, nseq);
    v.inout(kv_seqlens, nseq);
    v.inout(q_offsets, noff);
    v.inout(kv_offsets, noff);
  }
};

/// Position of token t of `ids` (one row of T): given (row `prow` of `pos_in`, -1 = past the end -> 0)
/// or generated: THD restarts at each run start and is 0 after the last non-padding token; BSHD is t.
LS_HD inline int32_t seg_position(const int32_t* ids, int64_t T, int64_t t, const int32_t* pos_in, int64_t prow,
                                  int32_t thd) {
  if (pos_in) return prow < 0 ? 0 : pos_in[prow * T + t];
  if (!thd) return static_cast<int32_t>(t);
  bool live = false;
  for (int64_t u = t; u < T && !live; ++u) live = ids[u] != 0;
  if (!live) return 0;
  int64_t start = t;
  while (start > 0 && !(ids[start] != ids[start - 1] && ids[start] != 0)) --start;
  return static_cast<int32_t>(t - start);
}

/// Length of the run of equal ids token t is in (0 for padding).
LS_HD inline int32_t seg_run_length(const int32_t* ids, int64_t T, int64_t t) {
  if (ids[t] == 0) return 0;
  int64_t a = t, b = t;
  while (a > 0 && ids[a - 1] == ids[t]) --a;
  while (b + 1 < T && ids[b + 1] == ids[t]) ++b;
  return static_cast<int32_t>(b - a + 1);
}

/// allow(q token i, kv token j) for THD (same segment, then the mask's position rule).
LS_HD inline bool seg_allow(const SegmentParams& P, int32_t qid, int32_t qpos, int32_t qrl, int32_t kid, int32_t kpos,
                            int32_t krl) {
  if (qid != kid) return false;
  if (P.causal) return qpos >= kpos;
  if (P.bottom_right) return int64_t{qrl} - qpos <= int64_t{krl} - kpos;
  return true;
}

LS_HD inline void seg_counts(const int32_t* ids, int64_t T, int64_t k, int32_t* seqlens) {
  int32_t n = 0;
  for (int64_t t = 0; t < T; ++t) n += ids[t] == k + 1;
  seqlens[k] = n;
}

LS_HD inline void seg_offsets(const int32_t* ids, int64_t T, int64_t S, int32_t* offsets) {
  int64_t runs = 0;
  for (int64_t t = 0; t < T && runs <= S; ++t)
    if (ids[t] != 0 && (t == 0 || ids[t] != ids[t - 1])) offsets[runs++] = static_cast<int32_t>(t);
  for (; runs <= S; ++runs) offsets[runs] = -1;
}

LS_HD inline void segment_block(const SegmentParams& P, const BlockCtx& ctx, int64_t row) {
  const int64_t B = P.B, Tq = P.Tq, Tk = P.Tkv, S = P.S;
  const int64_t e = row / B, b = row % B;
  const int32_t* qi = P.q_ids + row * Tq;
  const int32_t* ki = P.kv_ids + row * Tk;
  int32_t* qp = P.q_pos + row * Tq;
  int32_t* kp = P.kv_pos + row * Tk;
  int32_t* qrl = P.q_rl + row * Tq;
  int32_t* krl = P.kv_rl + row * Tk;
  auto pos_row = [&](int64_t slices) -> int64_t {
    if (P.fault == kSegFaultPositionsNotBroadcast) return row < slices * B ? row : -1;
    return slices > 0 ? (e % slices) * B + b : 0;
  };
  const int64_t qprow = pos_row(P.q_pos_slices), kprow = pos_row(P.kv_pos_slices);

  // Phase 0: positions and run lengths.
  LS_FOR_THREADS(ctx, t, Tq) {
    qp[t] = seg_position(qi, Tq, t, P.q_pos_in, qprow, P.thd);
    qrl[t] = seg_run_length(qi, Tq, t);
  }
  LS_FOR_THREADS(ctx, t, Tk) {
    kp[t] = seg_position(ki, Tk, t, P.kv_pos_in, kprow, P.thd);
    krl[t] = seg_run_length(ki, Tk, t);
  }
  ctx.sync();

  if (!P.thd) {
    if (ctx.tid == 0) {
      int32_t nq = 0, nk = 0;
      for (int64_t t = 0; t < Tq; ++t) nq += !P.padding || qi[t] != 0;
      for (int64_t t = 0; t < Tk; ++t) nk += !P.padding || ki[t] != 0;
      P.q_seqlens[row] = nq;
      P.kv_seqlens[row] = nk;
    }
    return;
  }

  // Phase 1: which tokens take part in attention.
  int32_t* rid = P.row_ids + row * Tq;
  int32_t* cid = P.col_ids + row * Tk;
  LS_FOR_THREADS(ctx, i, Tq) {
    int32_t m = 0;
    for (int64_t j = 0; j < Tk && m == 0; ++j)
      if (seg_allow(P, qi[i], qp[i], qrl[i], ki[j], kp[j], krl[j])) m = qi[i];
    rid[i] = m;
  }
  LS_FOR_THREADS(ctx, j, Tk) {
    int32_t m = 0;
    for (int64_t i = 0; i < Tq && m == 0; ++i)
      if (seg_allow(P, qi[i], qp[i], qrl[i], ki[j], kp[j], krl[j])) m = qi[i];
    cid[j] = m;
  }
  ctx.sync();

  // Phase 2: seqlens per slot, offsets of run starts.
  LS_FOR_THREADS(ctx, k, S) {
    seg_counts(rid, Tq, k, P.q_seqlens + row * S);
    seg_counts(cid, Tk, k, P.kv_seqlens + row * S);
  }
  if (ctx.tid == 0) {
    seg_offsets(rid, Tq, S, P.q_offsets + row * (S + 1));
    seg_offsets(cid, Tk, S, P.kv_offsets + row * (S + 1));
  }
}

/// The kernel body the launcher runs (device/core/launch.h): one block per (extra index, batch row).
LS_HD inline void kernel_block(const SegmentParams& P, const BlockCtx& ctx, int64_t row, unsigned char*) {
  segment_block(P, ctx, row);
}

}  // namespace lockstep::device
