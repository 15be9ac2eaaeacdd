"""Independent numpy (float64) ragged_paged_attention with every mask mode, written from the spec text only
(shared/spec/attention-metadata.md §1.2, §1.3, §1.6, §1.7; README decisions 1-4, 8), for the session-20
cross-check (tests/impl/xcheck_numeric_test.sh). tests/impl/workers/numpy_rpa.py only does causal.

Per sequence i: q_len = cu_q_lens[i+1]-cu_q_lens[i], kv_len = kv_lens[i], prefix = kv_len - q_len; row j
(global row t = cu_q_lens[i]+j) sits at q_pos = prefix + j. Key p < prefix comes from the cache (page
page_indices[cdiv(cu_kv_lens[i], page) + p // page], slot p % page, K head 2g, V head 2g+1), key p >= prefix
from the new k/v row cu_q_lens[i] + p - prefix (and is written into the cache there). Mask:
  causal   p <= q_pos
  dense    custom_mask[cu_mask[i] + j*kv_len + p] == 1, cu_mask = prefix sums of q_len*kv_len
  segment  q_pos < prefix_end[i]: p <= q_pos; else p < prefix_end[i] or row_seg_starts[t] <= p <= q_pos
and on top, sliding window W > 0: q_pos - W < p (decision 8). s = sm_scale*q.k; soft cap c > 0:
c*tanh(s/c) before masking; softmax over the allowed keys; a row with no allowed key outputs zeros
(decision 3); padding rows (t >= cu_q_lens[num_seqs]) are zeros. GQA: q head h uses kv head h // (Hq/Hkv).
An out-of-range page index (undefined upstream, §1.5) reads zeros and is not written, as lockstep decides
(core/attention/ragged_paged_attention.h). No capabilities: every mode is covered.
The test derives a broken copy from the line marked SEGMENT (an item row's shared prefix taken as p <= pe,
one key too many: the first item token sees the token after the prefix)."""
import os

import numpy as np

from lockstep_worker import op, set_name

# XCHECK_RPA_DTYPE=float32: scores, exp, sums and P.V in fp32 (a fp32-accumulating kernel's arithmetic, which
# lockstep's derived tolerance must accept); float64 (default): the exact-math peer.
FT = np.dtype(os.environ.get("XCHECK_RPA_DTYPE", "float64"))
set_name(f"xcheck-rpa-{FT.name}")


@op("ragged_paged_attention")
def run(case):
    q, k, v = (np.asarray(case[n], dtype=FT) for n in ("q", "k", "v"))
    cache = np.asarray(case["kv_cache"])
    new_cache = cache.astype(np.float64)
    mode = case["mode"]
    ps, hq, hkv = int(case["page_size"]), int(case["num_q_heads"]), int(case["num_kv_heads"])
    window, cap, scale = int(case["sliding_window"]), float(case["soft_cap"]), float(case["sm_scale"])
    cu_q = np.asarray(case["cu_q_lens"], dtype=np.int64)
    kv_lens = np.asarray(case["kv_lens"], dtype=np.int64)
    cu_kv = np.asarray(case["cu_kv_lens"], dtype=np.int64)
    pages = np.asarray(case["page_indices"], dtype=np.int64)
    n_seqs = int(case["num_seqs"])
    if mode == "dense":
        mask = np.asarray(case["custom_mask"], dtype=np.int64)
        q_lens_all = cu_q[1:] - cu_q[:-1]
        cu_mask = np.concatenate([[0], np.cumsum(q_lens_all * kv_lens)])
    elif mode == "segment":
        prefix_end = np.asarray(case["prefix_end"], dtype=np.int64)
        row_seg = np.asarray(case["row_seg_starts"], dtype=np.int64)
    elif mode != "causal":
        raise ValueError(f"unknown mask mode {mode!r}")
    group = hq // hkv
    out = np.zeros(q.shape, FT)
    for i in range(n_seqs):
        q0, q1, kv_len = int(cu_q[i]), int(cu_q[i + 1]), int(kv_lens[i])
        q_len = q1 - q0
        prefix = kv_len - q_len
        first = -(-int(cu_kv[i]) // ps)
        K = np.zeros((kv_len, hkv, q.shape[2]), FT)
        V = np.zeros((kv_len, hkv, q.shape[2]), FT)
        for p in range(kv_len):
            e = first + p // ps
            page = int(pages[e]) if 0 <= e < len(pages) else -1
            ok = 0 <= page < cache.shape[0]
            if p >= prefix:
                K[p], V[p] = k[q0 + p - prefix], v[q0 + p - prefix]
                if ok:
                    new_cache[page, p % ps, 0::2], new_cache[page, p % ps, 1::2] = K[p], V[p]
            elif ok:
                K[p] = cache[page, p % ps, 0::2]
                V[p] = cache[page, p % ps, 1::2]
        if q_len == 0:
            continue
        j = np.arange(q_len)[:, None]
        q_pos = prefix + j
        key = np.arange(kv_len)[None, :]
        if mode == "causal":
            allowed = key <= q_pos
        elif mode == "dense":
            base = int(cu_mask[i])
            allowed = mask[base:base + q_len * kv_len].reshape(q_len, kv_len) == 1
        else:
            pe = int(prefix_end[i])
            rs = row_seg[q0:q1][:, None]
            item = (key < pe) | ((rs <= key) & (key <= q_pos))  # SEGMENT
            allowed = np.where(q_pos < pe, key <= q_pos, item)
        if window > 0:
            allowed = allowed & (key > q_pos - window)
        Kh, Vh = np.repeat(K, group, axis=1), np.repeat(V, group, axis=1)
        s = np.einsum("jhd,khd->hjk", q[q0:q1], Kh) * FT.type(scale)
        if cap > 0:
            s = FT.type(cap) * np.tanh(s / FT.type(cap))
        s = np.where(allowed[None], s, -np.inf)
        m = s.max(axis=-1, keepdims=True) if kv_len else np.full(s.shape[:2] + (1,), -np.inf)
        m = np.where(np.isfinite(m), m, FT.type(0))
        w = np.exp(s - m)
        denom = w.sum(axis=-1, keepdims=True)
        w = np.where(denom > 0, w / np.where(denom > 0, denom, FT.type(1)), FT.type(0))
        out[q0:q1] = np.einsum("hjk,khd->jhd", w, Vh)
    result = {"out": out, "kv_cache": new_cache}
    return {name: val for name, val in result.items() if name in case.outputs}
