"""An independent pool_sizing, written from shared/spec/gemma4-kvcache-speculative.md §3.1/§3.3 (sglang's
HybridSWAPoolConfigurator, the "current configurator formula" of the spec README's decision 10) only, for
tests/impl/xcheck_metadata_test.sh. Python floats, as upstream:

    cell = F * n_full + r * S * n_swa           (all-SWA: cell = S * n_swa, no ratio)
    max_tokens = int(available_bytes // cell)
    full = align(max_tokens); swa = align(int(full * r))     align(x) = x // page * page
    all-SWA (n_full == 0): full = 0, swa = align(max_tokens)  (§3.2's n_full == 0 branch)

ratio 0 selects the default: 0.8 (spec §3.4), except that lockstep's case documents 0.15 for MoE models
(core/kvcache/pool_sizing.h, README: "MoE-only 0.15 default") - a lockstep decision the spec text does not
state (see the report). No capabilities. The test derives a broken copy from the line marked ALIGN (swa
taken from the unaligned max_tokens instead of the aligned full).
"""
import numpy as np

from lockstep_worker import op, set_name

set_name("xcheck-pool-sizing")


@op("pool_sizing")
def run(case):
    avail = int(case["available_bytes"])
    n_full, n_swa = int(case["num_full_layers"]), int(case["num_swa_layers"])
    F, S = int(case["full_bytes_per_token"]), int(case["swa_bytes_per_token"])
    page = int(case["page_size"])
    r = float(case["ratio"])
    if r == 0:
        r = 0.15 if int(case["num_experts"]) > 0 else 0.8

    def align(x):
        return x // page * page

    if n_full == 0:
        cell = S * n_swa
        max_tokens = int(avail // cell)
        full, swa = 0, align(max_tokens)
    else:
        cell = F * n_full + r * S * n_swa
        max_tokens = int(avail // cell)
        full = align(max_tokens)
        swa = align(int(full * r))  # ALIGN
    window = int(case["sliding_window"])
    if window and window + page >= swa:
        raise ValueError(f"SWA pool ({swa} tokens) cannot hold even one request: window {window}")
    return {"tokens": np.array([full, swa], np.int64)}
