"""A numpy (float64) ragged_paged_attention written from the spec, for tests/impl/worker_test.sh: causal
mask with cached prefix, sliding window, soft cap, GQA. The tests derive broken copies from the marked
lines: WINDOW (sliding window off by one, worker_test.sh) and SPAN (gathers whole pages up to one page past
the sequence and relies on the mask to hide the extra keys: a stale-page read, poison_test.sh)."""
import numpy as np

from lockstep_worker import op, set_name

set_name("numpy-rpa")


@op("ragged_paged_attention", capabilities={"mode": ["causal"]})
def run(case):
    q, k, v = (case[n].astype(np.float64) for n in ("q", "k", "v"))
    cache = case["kv_cache"]                       # (P, page, 2*Hkv, D), K/V heads interleaved
    new_cache = cache.copy()
    ps, hkv, hq = case["page_size"], case["num_kv_heads"], case["num_q_heads"]
    window, cap, scale = case["sliding_window"], case["soft_cap"], case["sm_scale"]
    cu_q, kv_lens, cu_kv, pages = case["cu_q_lens"], case["kv_lens"], case["cu_kv_lens"], case["page_indices"]
    out = np.zeros(q.shape)
    for i in range(case["num_seqs"]):
        q0, q1, kv_len = int(cu_q[i]), int(cu_q[i + 1]), int(kv_lens[i])
        prefix, first = kv_len - (q1 - q0), -(-int(cu_kv[i]) // ps)
        span = kv_len  # SPAN: the key positions whose pages are read
        K, V = np.zeros((span, hkv, q.shape[2])), np.zeros((span, hkv, q.shape[2]))
        for p in range(span):
            entry = first + p // ps
            page = int(pages[entry]) if entry < len(pages) else -1
            ok = 0 <= page < cache.shape[0]
            if p >= kv_len:  # past the sequence: only a broken span gets here
                if ok:
                    K[p], V[p] = cache[page, p % ps, 0::2], cache[page, p % ps, 1::2]
            elif p >= prefix:
                K[p], V[p] = k[q0 + p - prefix], v[q0 + p - prefix]
                if ok:
                    new_cache[page, p % ps, 0::2], new_cache[page, p % ps, 1::2] = K[p], V[p]
            elif ok:
                K[p], V[p] = cache[page, p % ps, 0::2], cache[page, p % ps, 1::2]
        K, V = np.repeat(K, hq // hkv, axis=1), np.repeat(V, hq // hkv, axis=1)
        s = np.einsum("jhd,khd->hjk", q[q0:q1], K) * scale
        if cap > 0:
            s = cap * np.tanh(s / cap)
        q_pos = prefix + np.arange(q1 - q0)[:, None]
        key = np.arange(span)[None, :]
        allowed = key <= q_pos
        if window > 0:
            allowed &= key > q_pos - window  # WINDOW
        s = np.where(allowed[None], s, -np.inf)
        w = np.exp(s - s.max(axis=-1, keepdims=True))
        out[q0:q1] = np.einsum("hjk,khd->jhd", w / w.sum(axis=-1, keepdims=True), V)
    return {"out": out, "kv_cache": new_cache}
