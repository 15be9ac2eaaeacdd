"""An independent numpy segment_seqlens_offsets, written from shared/spec/attention-metadata.md §2 and the
spec README's decision 5 only (TransformerEngine JAX at d32f9e422, PR #2692), for
tests/impl/xcheck_metadata_test.sh.

* THD: the O(T^2) mask-based slow path (§2.3) for every mask. Spec §4 item 7 leaves open whether to follow
  TE's routing (d32f9e422's public API sends every non-bottom-right mask to the fast path, whose start/end
  skip adjustment reads positions with a batch-flattening, wrapping jnp.take); lockstep decided "slow path
  for every THD mask" (README, reference/metadata/segment_seqlens_offsets.h) and this worker follows that
  decision. XCHECK_TE_FAST=1 runs the faithful fast path instead (it disagrees on cross-attention cases).
* BSHD: seqlens are T (broadcast to (E..., B)) without a padding mask, the SUM of the ids with one; offsets
  empty (§2.4).
* Extra leading batch dims on the ids (#2692): each (B, T) slice is computed on its own with the positions
  broadcast over the dims they lack (decision 5); positions absent -> generated (§2.6, #2523..#2692).
No capabilities: every valid case is in scope. The test derives a broken copy from the line marked OFFSET
(a run start that ignores padding: an off-by-one class bug in the offsets scan).
"""
import os

import numpy as np

from lockstep_worker import op, set_name

set_name("xcheck-segment-seqlens-offsets")
# XCHECK_TE_FAST=1: route non-bottom-right masks through TE's fast path (d32f9e422 public API) instead of
# lockstep's documented decision (the slow-path semantics for every THD mask; spec §4 item 7).
TE_FAST = os.environ.get("XCHECK_TE_FAST", "") == "1"


def _seqlens_offsets(ids, S):
    """§2.2 on one (B, T) array: seqlens (B, S) (unused 0), offsets (B, S+1) (unused -1)."""
    B, T = ids.shape
    seqlens = np.zeros((B, S), np.int64)
    offsets = np.full((B, S + 1), -1, np.int64)
    for b in range(B):
        row = [int(x) for x in ids[b]]
        for x in row:
            x = max(x, 0)  # negative ids are clipped to 0 (padding)
            if 1 <= x <= S:
                seqlens[b, x - 1] += 1
        starts = [t for t in range(T) if row[t] != 0 and (t == 0 or row[t] != row[t - 1])]  # OFFSET
        starts = starts[:S + 1]
        offsets[b, :len(starts)] = starts
    return seqlens, offsets


def _take(x, idx):
    """jnp.take(x, idx, fill_value=-1) with no axis: x flattened, negative indices wrap once, else -1."""
    flat = x.reshape(-1)
    n = flat.size
    out = np.full(idx.shape, -1, np.int64)
    for pos, i in np.ndenumerate(idx):
        i = int(i)
        if -n <= i < 0:
            i += n
        if 0 <= i < n:
            out[pos] = flat[i]
    return out


def _run_length(ids_row):
    rl = np.zeros(len(ids_row), np.int64)
    t = 0
    n = len(ids_row)
    while t < n:
        u = t
        while u < n and ids_row[u] == ids_row[t]:
            u += 1
        if ids_row[t] != 0:
            rl[t:u] = u - t
        t = u
    return rl


def _fast(q_ids, kv_ids, q_pos, kv_pos, S):
    q_len, q_off = _seqlens_offsets(q_ids, S)
    kv_len, kv_off = _seqlens_offsets(kv_ids, S)
    active = (q_len > 0) & (kv_len > 0)
    q_start = _take(q_pos, q_off[:, :S])
    kv_start = _take(kv_pos, kv_off[:, :S])
    skip_start = ((kv_start > q_start) & active).astype(np.int64)
    q_len = q_len - skip_start
    q_off = q_off.copy()
    q_off[:, :S] += skip_start
    q_end = _take(q_pos, q_off[:, 1:S + 1] - 1)
    kv_end = _take(kv_pos, kv_off[:, 1:S + 1] - 1)
    skip_end = ((kv_end > q_end) & active).astype(np.int64)
    kv_len = kv_len - skip_end
    return q_len, kv_len, q_off, kv_off


def _slow(q_ids, kv_ids, q_pos, kv_pos, S, mask):
    B = q_ids.shape[0]
    row_ids = np.zeros(q_ids.shape, np.int64)
    col_ids = np.zeros(kv_ids.shape, np.int64)
    for b in range(B):
        qi, ki = q_ids[b].astype(np.int64), kv_ids[b].astype(np.int64)
        qp, kp = q_pos[b].astype(np.int64), kv_pos[b].astype(np.int64)
        allow = qi[:, None] == ki[None, :]
        if mask in ("causal", "padding_causal"):
            allow &= qp[:, None] >= kp[None, :]
        elif mask in ("causal_bottom_right", "padding_causal_bottom_right"):
            rlq, rlk = _run_length(qi), _run_length(ki)
            allow &= (rlq - qp)[:, None] <= (rlk - kp)[None, :]
        M = np.where(allow, qi[:, None], 0)
        if M.shape[1]:
            row_ids[b] = M.max(axis=1)
        if M.shape[0]:
            col_ids[b] = M.max(axis=0)
    q_len, q_off = _seqlens_offsets(row_ids, S)
    kv_len, kv_off = _seqlens_offsets(col_ids, S)
    return q_len, kv_len, q_off, kv_off


def _generate_pos(ids, thd):
    """§2.6 (#2523..#2692): BSHD arange(T); THD positions restart at each run, trailing padding 0."""
    B, T = ids.shape
    if not thd:
        return np.broadcast_to(np.arange(T, dtype=np.int64), (B, T)).copy()
    pos = np.zeros((B, T), np.int64)
    for b in range(B):
        row = ids[b]
        nz = np.nonzero(row != 0)[0]
        last_nz = int(nz[-1]) if nz.size else -1
        seg_start = 0
        for t in range(T):
            if t == 0 or (row[t] != row[t - 1] and row[t] != 0):
                seg_start = t
            pos[b, t] = t - seg_start if t <= last_nz else 0
    return pos


def _absent(x):
    return x is None or np.asarray(x).size == 0 and np.asarray(x).ndim <= 1


def _positions(ids, pos, thd, name):
    """The positions used, shape of ids: the given ones broadcast over the extra dims they lack, or generated."""
    if _absent(pos):
        B, T = ids.shape[-2:]
        n = int(np.prod(ids.shape[:-2], dtype=np.int64))
        flat = ids.reshape(n, B, T)
        return np.array([_generate_pos(flat[e], thd) for e in range(n)], np.int64).reshape(ids.shape)
    pos = np.asarray(pos)
    if pos.ndim > ids.ndim:
        raise ValueError(f"{name}: segment_ids must not have fewer dims than segment_pos")
    if pos.shape != ids.shape[ids.ndim - pos.ndim:]:
        raise ValueError(f"{name}: segment_pos trailing shape must match segment_ids")
    return np.broadcast_to(pos.astype(np.int64), ids.shape).copy()


@op("segment_seqlens_offsets")
def run(case):
    thd = case["layout"] == "thd"
    mask = case["mask"]
    S = int(case["max_segments_per_seq"])
    q_ids = np.asarray(case["q_segment_ids"]).astype(np.int64)
    kv_ids, kv_pos = case.get("kv_segment_ids"), case.get("kv_segment_pos")
    if _absent(kv_ids):  # one array for both sides (TE's _expand_to_pair): kv = q, positions too
        kv_ids, kv_pos = q_ids, (case.get("q_segment_pos") if _absent(kv_pos) else kv_pos)
    kv_ids = np.asarray(kv_ids).astype(np.int64)
    if q_ids.shape[:-1] != kv_ids.shape[:-1]:
        raise ValueError("q and kv segment ids differ in their extra batch shape")
    q_pos = _positions(q_ids, case.get("q_segment_pos"), thd, "q_segment_pos")
    kv_pos = _positions(kv_ids, kv_pos, thd, "kv_segment_pos")
    extra = q_ids.shape[:-2]
    B, Tq, Tkv = q_ids.shape[-2], q_ids.shape[-1], kv_ids.shape[-1]
    out = {"q_segment_pos": q_pos, "kv_segment_pos": kv_pos}
    if not thd:
        if mask in ("padding", "padding_causal", "padding_causal_bottom_right"):
            out["q_seqlens"] = q_ids.sum(axis=-1)
            out["kv_seqlens"] = kv_ids.sum(axis=-1)
        else:
            out["q_seqlens"] = np.full(extra + (B,), Tq, np.int64)
            out["kv_seqlens"] = np.full(extra + (B,), Tkv, np.int64)
        for name in ("q_offsets", "kv_offsets"):
            dt, shape = case.outputs[name]
            out[name] = np.zeros(shape, np.int64)
        return out
    n = int(np.prod(extra, dtype=np.int64))
    qi, ki = q_ids.reshape(n, B, Tq), kv_ids.reshape(n, B, Tkv)
    qp, kp = q_pos.reshape(n, B, Tq), kv_pos.reshape(n, B, Tkv)
    res = []
    for e in range(n):
        if not TE_FAST or mask in ("causal_bottom_right", "padding_causal_bottom_right"):
            res.append(_slow(qi[e], ki[e], qp[e], kp[e], S, mask))
        else:
            res.append(_fast(qi[e], ki[e], qp[e], kp[e], S))
    for k, name in enumerate(("q_seqlens", "kv_seqlens", "q_offsets", "kv_offsets")):
        width = S if k < 2 else S + 1
        out[name] = np.stack([r[k] for r in res]).reshape(extra + (B, width)) if n else \
            np.zeros(extra + (B, width), np.int64)
    return out
