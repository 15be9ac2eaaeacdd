"""An independent page-table dump validator, written from shared/spec/gemma4-kvcache-speculative.md §4.4/§4.5,
decision 8 and fixtures/SCHEMA.md's page_table_dump table only, for tests/impl/xcheck_metadata_test.sh.

Row b with L = cache_seqlens[b] keys and q = q_lens[b] queries (default 1) has queries at p in [L-q, L);
each reads keys k <= p, and on the SWA table (window W > 0) only k > p - W (decision 8: W keys including
itself). So the full table is read at columns [0, ceil(L/page)), the SWA table at columns
[max(0, L-q-W+1) // page, ceil(L/page)) (whole like the full one when W == 0). A read entry is bad when its
value is 0 (unallocated or evicted: the mapping's 0) or outside 1..pages (out of range; no upper bound when
the pool size is 0 = unknown). Output rows (table, row, col, value, problem) sorted by (table, row, col).
No capabilities. The test derives a broken copy from the line marked WINDOW (window start one key late).
"""
import numpy as np

from lockstep_worker import op, set_name

set_name("xcheck-page-table")


def _absent(x):
    return x is None or np.asarray(x).size == 0 and np.asarray(x).ndim <= 1


@op("page_table")
def run(case):
    ps, W = int(case["page_size"]), int(case["window"])
    tables = [(0, np.asarray(case["page_table"]), int(case["full_pages"]), 0)]
    if not _absent(case.get("swa_page_table")):
        tables.append((1, np.asarray(case["swa_page_table"]), int(case["swa_pages"]), W))
    L = [int(x) for x in np.asarray(case["cache_seqlens"]).reshape(-1)]
    ql = case.get("q_lens")
    Q = [1] * len(L) if _absent(ql) else [int(x) for x in np.asarray(ql).reshape(-1)]
    rows = []
    for tid, table, pages, window in tables:
        for b in range(table.shape[0]):
            end = -(-L[b] // ps)
            first_key = 0
            if window > 0:
                first_key = max(0, L[b] - Q[b] - window + 1)  # WINDOW
            for c in range(first_key // ps, min(end, table.shape[1])):
                v = int(table[b, c])
                if v == 0:
                    rows.append((tid, b, c, v, 1))
                elif v < 0 or (pages > 0 and v > pages):
                    rows.append((tid, b, c, v, 0))
    out = np.array(sorted(rows), np.int64).reshape(-1, 5)
    return {"read_entries": out}
