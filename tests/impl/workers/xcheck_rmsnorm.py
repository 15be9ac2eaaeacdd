"""Independent numpy (float64) implementation of lockstep's `rmsnorm` op family, written from the spec text
only (shared/spec/gemma4-kvcache-speculative.md §2.1-§2.3), for the session-20 cross-check
(tests/impl/xcheck_numeric_test.sh).

rrms(v, eps) = 1 / sqrt(mean(v^2) + eps) per row; Gemma-4 multiplies by w (not 1 + w); every intermediate
is unrounded (float64 here, fp32 upstream) and each output is rounded once to its dtype (x.dtype, bf16 for the
triple; the helper rounds to nearest even). No capabilities: the spec defines every case lockstep generates.
The test derives a broken copy from the line marked EPS (eps added outside the square root)."""
import os

import numpy as np

from lockstep_worker import op, set_name

# XCHECK_NORM_DTYPE=float32 computes everything in fp32 as the upstream Triton kernels do (a legitimate
# implementation lockstep's tolerance must accept); float64 (default) is the exact-math peer.
FT = np.dtype(os.environ.get("XCHECK_NORM_DTYPE", "float64"))
set_name(f"xcheck-rmsnorm-{FT.name}")


def rrms(v, eps):
    return FT.type(1.0) / np.sqrt(np.mean(v * v, axis=-1, keepdims=True, dtype=FT) + FT.type(eps))  # EPS


def f64(case, name):
    return np.asarray(case[name], dtype=FT)


@op("rmsnorm")
def run(case):
    variant, eps = case["variant"], float(case["eps"])
    x = f64(case, "x")
    if variant == "rmsnorm":
        y = x * rrms(x, eps)
        if int(case["with_scale"]):
            y = y * f64(case, "w")
        return {"out": y}
    w = f64(case, "w")
    r = f64(case, "r")
    if variant == "add_rmsnorm":  # sglang RMSNorm(x, residual): norm of the unrounded sum; sum rounded once
        s = x + r
        return {"out": s * rrms(s, eps) * w, "residual_out": s}
    if variant == "rmsnorm_add":
        return {"out": x * rrms(x, eps) * w + r}
    if variant == "rmsnorm_residual_scalar":
        s = f64(case, "scalar").reshape(-1)[0]
        return {"out": (x * rrms(x, eps) * w + r) * s}
    if variant == "dual_rmsnorm_residual_scalar":
        x2, w2, w3 = f64(case, "x2"), f64(case, "w2"), f64(case, "w3")
        s = f64(case, "scalar").reshape(-1)[0]
        n1 = x * rrms(x, eps) * w
        n2 = x2 * rrms(x2, float(case["eps2"])) * w2
        c = n1 + n2
        return {"out": (c * rrms(c, float(case["eps3"])) * w3 + r) * s}
    if variant == "post_attn_triple_rmsnorm":
        par = x * rrms(x, eps) * w + r
        base = par * rrms(par, eps)
        return {"out": par, "router_in": base * f64(case, "w2"), "dense_ff_in": base * f64(case, "w3"),
                "moe_in": base * f64(case, "w4")}
    raise ValueError(f"unknown rmsnorm variant {variant!r}")
