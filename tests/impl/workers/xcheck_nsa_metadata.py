"""An independent numpy nsa_metadata, written from shared/spec/attention-metadata.md §3 (sglang nsa_backend,
CUDA-graph replay) and the spec README's decision 6 only, for tests/impl/xcheck_metadata_test.sh.

Per request r: decode qo=1, kv=seq_len; target_verify qo=D, kv=seq_len+D; draft_extend qo=accept_length
(extend_lens, already +1), kv=seq_len (replay: no +D). Every buffer has its preallocated size (max_tokens);
entries past the real count N = sum(qo) are 0 (lockstep's layout, core/metadata/nsa_metadata.h).
kv < qo is an error naming the request (decision 6). No capabilities. The test derives a broken copy from
the line marked EXPAND (the expansion starting one key late: kv - qo + 2 + j).
"""
import numpy as np

from lockstep_worker import op, set_name

set_name("xcheck-nsa-metadata")


@op("nsa_metadata")
def run(case):
    mode, topk, D, ps = case["mode"], int(case["topk"]), int(case["draft_tokens"]), int(case["page_size"])
    M = int(case["max_tokens"])
    seq = [int(x) for x in np.asarray(case["seq_lens"]).reshape(-1)]
    bs = len(seq)
    pt = np.asarray(case["page_table"]).astype(np.int64)
    W = pt.shape[1] if pt.ndim == 2 else 0
    pt = pt.reshape(bs, W)
    if mode == "decode":
        qo, kv, cache = [1] * bs, seq, seq
    elif mode == "target_verify":
        qo, kv = [D] * bs, [s + D for s in seq]
        cache = kv
    elif mode == "draft_extend":
        qo, kv, cache = [int(x) for x in np.asarray(case["extend_lens"]).reshape(-1)], seq, seq
    else:
        raise ValueError(f"unknown mode {mode}")
    for r in range(bs):
        if kv[r] < qo[r]:
            raise ValueError(f"request {r} has kv_len {kv[r]} < qo_len {qo[r]}")
    N = sum(qo)
    if N > M:
        raise ValueError(f"{N} tokens exceed max_tokens {M}")
    expanded = np.zeros(M, np.int64)
    owner = []
    t = 0
    for r in range(bs):
        for j in range(qo[r]):
            expanded[t] = kv[r] - qo[r] + 1 + j  # EXPAND
            owner.append(r)
            t += 1
    nsa = np.zeros(M, np.int64)
    nsa[:N] = np.minimum(expanded[:N], topk)
    nsa_cu_k = np.zeros(M + 1, np.int64)
    nsa_cu_k[1:N + 1] = np.cumsum(nsa[:N])
    nsa_cu_q = np.zeros(M + 1, np.int64)
    nsa_cu_q[:N + 1] = np.arange(N + 1)
    pt1 = np.zeros((M, W), np.int64)
    if N:
        pt1[:N] = pt[owner]
    cols = np.arange(0, W, ps)
    real = pt1[:, cols] // ps
    cu_k = np.zeros(bs + 1, np.int64)
    cu_k[1:] = np.cumsum(cache)
    return {
        "num_tokens": np.array([N]),
        "cache_seqlens": np.array(cache, np.int64).reshape(bs),
        "cu_seqlens_k": cu_k,
        "seqlens_expanded": expanded,
        "nsa_cache_seqlens": nsa,
        "nsa_cu_seqlens_k": nsa_cu_k,
        "nsa_cu_seqlens_q": nsa_cu_q,
        "page_table_1": pt1,
        "real_page_table": real,
    }
