"""Independent numpy (float64) implementation of lockstep's `kv_sharing` (YOCO / KV-sharing fast prefill over a
toy stack of attention layers), written from the spec text only (shared/spec/gemma4-kvcache-speculative.md
§2.5 "KV sharing", §6.1-§6.3) and the field docs of core/kvcache/kv_sharing.h, for the session-20 cross-check
(tests/impl/xcheck_numeric_test.sh).

  source rule  first_shared = L - num_kv_shared_layers; shared layer i reads the KV of
               src = max{j < first_shared : layer_types[j] == layer_types[i]}; none -> sglang's ValueError
  metadata     max_query_len == 1: unchanged; else li = logits_indices_padded[:n],
               request_ids = bucketize(li, query_start_loc[1:], right=True), counts = bincount(minlength=R),
               query_start_loc' = [0] ++ cumsum(counts), num_actual_tokens = sum, max_query_len = max
  layers       a non-shared layer attends (causal; sliding window W on a sliding layer: q_pos - W < p) over
               the full query block with its own q/k/v and writes the new K/V into its own paged cache; a
               shared layer attends over the reduced block (request r's last counts[r] positions, reduced row k
               holding token li[k]'s query), causal, window by its type, every key from its source layer's
               cache after that layer's writes, writing nothing.
No capabilities. The test derives a broken copy from the line marked SOURCE (the source layer taken as the
LAST earlier layer of the type, shared ones included: max over j < i instead of j < first_shared)."""
import numpy as np

from lockstep_worker import op, set_name

set_name("xcheck-kv-sharing")


def attend(q, K, V, q_pos, window, scale, group):
    """q (n, Hq, D), K/V (kv_len, Hkv, D), q_pos (n,): causal softmax attention in float64."""
    kv_len = K.shape[0]
    if q.shape[0] == 0:
        return np.zeros(q.shape)
    key = np.arange(kv_len)[None, :]
    allowed = key <= q_pos[:, None]
    if window > 0:
        allowed &= key > q_pos[:, None] - window
    s = np.einsum("jhd,khd->hjk", q, np.repeat(K, group, axis=1)) * scale
    s = np.where(allowed[None], s, -np.inf)
    m = s.max(axis=-1, keepdims=True) if kv_len else np.zeros(s.shape[:2] + (1,))
    m = np.where(np.isfinite(m), m, 0.0)
    w = np.exp(s - m)
    d = w.sum(axis=-1, keepdims=True)
    w = np.where(d > 0, w / np.where(d > 0, d, 1.0), 0.0)
    return np.einsum("hjk,khd->jhd", w, np.repeat(V, group, axis=1))


@op("kv_sharing")
def run(case):
    L, nks, R = int(case["num_layers"]), int(case["num_kv_shared_layers"]), int(case["num_reqs"])
    types = [int(t) for t in np.asarray(case["layer_types"]).reshape(-1)]
    names = {0: "sliding_attention", 1: "full_attention"}
    first_shared = L - nks
    kv_source, config_error = [], ""
    for i in range(L):
        if i < first_shared:
            kv_source.append(-1)
            continue
        cands = [j for j in range(first_shared) if types[j] == types[i]]  # SOURCE
        kv_source.append(max(cands) if cands else -2)
        if not cands and not config_error:
            config_error = (f"KV sharing layer {i} has type {names[types[i]]} but no matching type found in "
                            f"layers [0, {first_shared})")
    qsl = np.asarray(case["query_start_loc"], dtype=np.int64)
    seq_lens = np.asarray(case["seq_lens"], dtype=np.int64)
    lip = np.asarray(case["logits_indices_padded"], dtype=np.int64)
    n = int(case["num_logits_indices"])
    out = {"kv_source": np.array(kv_source, np.int32), "config_error": config_error,
           "seq_lens": seq_lens.astype(np.int32), "num_reqs": R,
           "max_seq_len": int(seq_lens.max()) if len(seq_lens) else 0}
    if int(case["max_query_len"]) == 1:  # pure decode: unchanged
        li = np.arange(int(qsl[R]))
        new_qsl, counts = qsl.copy(), qsl[1:] - qsl[:-1]
        out.update(request_ids=np.zeros(0, np.int32), query_start_loc=qsl.astype(np.int32),
                   num_actual_tokens=int(qsl[R]),
                   max_query_len=int(case["max_query_len"]))
    else:
        li = lip[:n]
        rid = np.searchsorted(qsl[1:R + 1], li, side="right")
        counts = np.bincount(rid, minlength=R)
        new_qsl = np.concatenate([[0], np.cumsum(counts)])
        out.update(request_ids=rid.astype(np.int32), query_start_loc=new_qsl.astype(np.int32),
                   num_actual_tokens=int(new_qsl[-1]), max_query_len=int(counts.max()) if R else 0)
    if config_error:
        return {k: v for k, v in out.items() if k in case.outputs}
    q, k, v = (np.asarray(case[x], dtype=np.float64) for x in ("q", "k", "v"))
    cache = np.asarray(case["kv_cache"], dtype=np.float64).copy()  # (L, P, page, 2Hkv, D)
    ps, W, scale = int(case["page_size"]), int(case["sliding_window"]), float(case["sm_scale"])
    hq, hkv = int(case["num_q_heads"]), int(case["num_kv_heads"])
    cu_kv = np.asarray(case["cu_kv_lens"], dtype=np.int64)
    pages = np.asarray(case["page_indices"], dtype=np.int64)
    T = q.shape[1]
    slot_writes = np.full((L, T), -1, np.int64)
    res = np.zeros(q.shape)

    def slot(r, p):
        return int(pages[-(-int(cu_kv[r]) // ps) + p // ps]) * ps + p % ps

    def keys(layer, r):
        kv_len = int(seq_lens[r])
        rows = [slot(r, p) for p in range(kv_len)]
        flat = cache[layer].reshape(-1, cache.shape[3], cache.shape[4])
        kvr = flat[rows] if rows else np.zeros((0,) + flat.shape[1:])
        return kvr[:, 0::2], kvr[:, 1::2]

    for layer in range(L):
        window = W if types[layer] == 0 else 0
        if layer < first_shared:
            for r in range(R):
                q0, q1 = int(qsl[r]), int(qsl[r + 1])
                prefix = int(seq_lens[r]) - (q1 - q0)
                for j in range(q1 - q0):
                    s = slot(r, prefix + j)
                    pg, off = divmod(s, ps)
                    cache[layer, pg, off, 0::2] = k[layer, q0 + j]
                    cache[layer, pg, off, 1::2] = v[layer, q0 + j]
                    slot_writes[layer, q0 + j] = s
            for r in range(R):
                q0, q1 = int(qsl[r]), int(qsl[r + 1])
                K, V = keys(layer, r)
                q_pos = int(seq_lens[r]) - (q1 - q0) + np.arange(q1 - q0)
                res[layer, q0:q1] = attend(q[layer, q0:q1], K, V, q_pos, window, scale, hq // hkv)
        else:
            src = kv_source[layer]
            for r in range(R):
                a0, a1 = int(new_qsl[r]), int(new_qsl[r + 1])
                K, V = keys(src, r)
                q_pos = int(seq_lens[r]) - (a1 - a0) + np.arange(a1 - a0)
                res[layer, a0:a1] = attend(q[layer, li[a0:a1]], K, V, q_pos, window, scale, hq // hkv)
    out.update(slot_writes=slot_writes.astype(np.int32), kv_cache=cache, out=res)
    return {k_: v_ for k_, v_ in out.items() if k_ in case.outputs}
