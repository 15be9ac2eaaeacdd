"""Independent numpy (float64) implementation of lockstep's `qkv_rmsnorm` (Gemma-4 per-head q/k/v norms),
written from the spec text only (shared/spec/gemma4-kvcache-speculative.md §2.1 "Per-head norms", §2.2
gemma_qkv_rmsnorm), for the session-20 cross-check (tests/impl/xcheck_numeric_test.sh).

Per token and head (width hd): q*rrms(q)*qw, k*rrms(k)*kw, v*rrms(v) (v has no weight), rrms =
1/sqrt(mean(v^2) + eps); on a KV-shared layer only q. Outputs rounded once to the case dtype. No
capabilities. The test derives a broken copy from the line marked VNORM (v multiplied by the k weight)."""
import os

import numpy as np

from lockstep_worker import op, set_name

FT = np.dtype(os.environ.get("XCHECK_NORM_DTYPE", "float64"))  # float32: the fp32 kernel's arithmetic
set_name(f"xcheck-qkv-rmsnorm-{FT.name}")


def head_norm(t, heads, hd, eps, w=None):
    t = np.asarray(t, dtype=FT).reshape(t.shape[0], heads, hd)
    y = t * (FT.type(1.0) / np.sqrt(np.mean(t * t, axis=-1, keepdims=True, dtype=FT) + FT.type(eps)))
    if w is not None:
        y = y * np.asarray(w, dtype=FT)
    return y.reshape(t.shape[0], heads * hd)


@op("qkv_rmsnorm")
def run(case):
    hd, eps = int(case["head_dim"]), float(case["eps"])
    nq, nkv = int(case["num_q_heads"]), int(case["num_kv_heads"])
    out = {"q_out": head_norm(case["q"], nq, hd, eps, case["q_weight"])}
    if not int(case["kv_shared"]):
        out["k_out"] = head_norm(case["k"], nkv, hd, eps, case["k_weight"])
        out["v_out"] = head_norm(case["v"], nkv, hd, eps)  # VNORM
    return out
