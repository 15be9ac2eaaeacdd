"""JAX's ref_ragged_paged_attention (jax.experimental.pallas.ops.tpu.ragged_paged_attention, the function
vLLM-TPU and sglang-jax test their Pallas kernels against) as a lockstep implementation:

    lockstep fuzz --op ragged_paged_attention --impl python:workers/jax_ragged_paged_attention.py --cases 500

Needs jax (scripts/setup.sh installs it into .venv; lockstep runs workers with .venv/bin/python3).
The adapter, not JAX, does what JAX's reference leaves to its caller:
  * the KV-cache update: lockstep's case carries the new tokens' K/V (k, v) and a cache holding only the
    cached prefix; JAX reads every key from kv_pages, so the new K/V are written into the pages first (that
    updated cache is also the op's kv_cache output);
  * the page table: lockstep's flat page_indices (sequence i's pages from ceil(cu_kv_lens[i] / page_size))
    becomes JAX's [num_seqs, pages_per_seq] (rows padded with page 0, never read past kv_len);
  * output rows past cu_q_lens[num_seqs] are zeros (JAX returns only the sequences' rows);
  * bf16/f16 inputs are passed as float32 (exact): JAX's bf16 path rounds the attention probabilities to
    bf16 before P.V, outside lockstep's fp32-accumulation contract; the output is rounded by lockstep.
Capabilities: causal with cached prefix, sliding window, soft cap, GQA (all head ratios) - JAX's mask is
causal only (mode in {causal}). JAX masks with a finite value, so a fully masked row would average every
key; no causal row is fully masked (each query sees itself), so none is generated here.
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Every new (q_len, kv_len) shape compiles each jnp op of the reference anew (eager dispatch): XLA's cheapest
# optimisation level halves that time; the arithmetic stays IEEE fp32 (lockstep's bound holds for any order).
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental.pallas.ops.tpu.ragged_paged_attention import ref_ragged_paged_attention  # noqa: E402

from lockstep_worker import op, set_name, set_timeout  # noqa: E402

jax.config.update("jax_enable_x64", False)
set_name(f"jax-{jax.__version__}-ref_ragged_paged_attention")
# A case with many sequences of new shapes compiles hundreds of small XLA programs on first sight.
set_timeout(900)


@op("ragged_paged_attention", capabilities={"mode": ["causal"]})
def run(case):
    q = case["q"].astype(np.float32)
    k, v = case["k"].astype(np.float32), case["v"].astype(np.float32)
    cache = case["kv_cache"].astype(np.float32).copy()  # (P, page, 2*Hkv, D): K/V heads interleaved
    ps, num_seqs = case["page_size"], case["num_seqs"]
    cu_q = case["cu_q_lens"].astype(np.int32)
    kv_lens = case["kv_lens"].astype(np.int32)
    flat, cu_kv = case["page_indices"].astype(np.int32), case["cu_kv_lens"]
    window = case["sliding_window"]
    soft_cap = case["soft_cap"]
    if num_seqs == 0 or q.shape[0] == 0:
        return {"out": np.zeros(q.shape, np.float32), "kv_cache": cache}
    first = [-(-int(cu_kv[i]) // ps) for i in range(num_seqs)]
    pages_per_seq = max(1, max(-(-int(kv_lens[i]) // ps) for i in range(num_seqs)))
    table = np.zeros((num_seqs, pages_per_seq), np.int32)
    for i in range(num_seqs):
        n = -(-int(kv_lens[i]) // ps)
        table[i, :n] = flat[first[i]:first[i] + n]
        q_len = int(cu_q[i + 1] - cu_q[i])
        for j in range(q_len):  # the cache update: new token j of sequence i at position kv_len - q_len + j
            pos = int(kv_lens[i]) - q_len + j
            page = table[i, pos // ps]
            if 0 <= page < cache.shape[0]:
                cache[page, pos % ps, 0::2] = k[cu_q[i] + j]
                cache[page, pos % ps, 1::2] = v[cu_q[i] + j]
    out = ref_ragged_paged_attention(
        q, cache, kv_lens[:num_seqs], table, cu_q[:num_seqs + 1], np.array([num_seqs], np.int32),
        sm_scale=float(case["sm_scale"]),
        sliding_window=int(window) if window > 0 else None,
        soft_cap=float(soft_cap) if soft_cap > 0 else None)
    full = np.zeros(q.shape, np.float32)
    full[:out.shape[0]] = np.asarray(out)
    return {"out": full, "kv_cache": cache}
