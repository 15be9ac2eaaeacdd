#!/bin/bash
# Session 20 cross-check, group "metadata": independent numpy implementations written from the spec text only
# (tests/impl/workers/xcheck_{segment_seqlens_offsets,nsa_metadata,pool_sizing,page_table}.py) against
# lockstep's references through the Python worker.
# Usage: xcheck_metadata_test.sh LOCKSTEP SOURCE_DIR PYTHON [CASES]
#   - each worker passes CASES generated cases (default 1000) with 0 failures;
#   - hand-made cases the generators do not make: segment ids with two extra batch dims and positions that
#     carry only the last one (broadcast), and a page-table dump whose SWA window reads bad entries (the
#     generator never puts one inside the read window): the worker's read_entries agree with the validator;
#   - for each worker a broken copy derived with sed from a marked line fails, shrinks, dumps and replays:
#       segment  OFFSET  offsets scan counts runs of padding as segment starts
#       nsa      EXPAND  the expansion starts one key late (kv - qo + 2 + j)
#       pool     ALIGN   swa from the unaligned max_tokens instead of the aligned full pool
#       page     WINDOW  the SWA read window starts one key early (W + 1 keys: over-reads stale entries)
#     and a page-table copy whose window starts one key late (under-reads) disagrees on the hand-made dump.
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
. "$(dirname "$0")/impl_lib.sh"
export LOCKSTEP_PYTHON=$PY
CASES=${4:-1000}
W=$SRC/tests/impl/workers
cd "$tmp" || exit 1

for op in segment_seqlens_offsets nsa_metadata pool_sizing page_table; do
  "$LOCKSTEP" fuzz --op $op --impl "python:$W/xcheck_$op.py" --cases "$CASES" --dump-dir dumps > good_$op.txt 2>&1 ||
    fail "xcheck $op: exit $?: $(cat good_$op.txt)"
  grep -qE "^$op +$CASES cases +0 failing" good_$op.txt || fail "xcheck $op: $(cat good_$op.txt)"
done

# Hand-made cases.
SRC_FIXTURES=$SRC/fixtures "$PY" -c '
import os, sys
sys.path.insert(0, os.environ["SRC_FIXTURES"])
import numpy as np
from lockstep_h5 import write_case, write_page_table_dump
ids = np.array([[[[1, 1, 2, 2, 2, 0], [1, 2, 2, 3, 0, 0]], [[1, 1, 1, 0, 2, 2], [1, 1, 1, 1, 1, 1]],
                 [[1, 2, 3, 0, 0, 0], [0, 1, 1, 2, 2, 0]]]] * 2, np.int32)            # (2, 3, B=2, T=6)
pos = np.arange(3 * 2 * 6, dtype=np.int32).reshape(3, 2, 6) % 4                     # (3, B, T): last extra dim
write_case("seg_vmap.h5", "segment_seqlens_offsets", dict(layout="thd", mask="padding_causal",
           max_segments_per_seq=3, q_segment_ids=ids, kv_segment_ids=ids[..., ::-1].copy(),
           q_segment_pos=pos, kv_segment_pos=pos[0]))
# L = 9 keys, 2 queries (positions 7, 8), window 5: keys 3..8 are read -> SWA columns 1..4 (page 2).
write_page_table_dump("pt_window.h5", [[1, 2, 3, 4, 5]], [9], swa_page_table=[[0, 0, 7, 3, 2]], q_lens=[2],
                      page_size=2, window=5, full_pages=5, swa_pages=5)
' || fail "could not write the hand-made cases"
"$LOCKSTEP" replay seg_vmap.h5 --impl "python:$W/xcheck_segment_seqlens_offsets.py" > seg_vmap.txt 2>&1 ||
  fail "xcheck segment_seqlens_offsets: the vmap case fails: $(cat seg_vmap.txt)"
"$LOCKSTEP" replay pt_window.h5 --impl "python:$W/xcheck_page_table.py" > pt_window.txt 2>&1
[ $? -eq 1 ] || fail "xcheck page_table: the dump reads bad entries, expected exit 1: $(cat pt_window.txt)"
grep -q "read_entries ok" pt_window.txt || fail "xcheck page_table: read_entries disagree: $(cat pt_window.txt)"
grep -qF "failure: bad entry read: swa_page_table[0, 1] = 0 (unallocated/evicted, inside the read window)" pt_window.txt ||
  fail "xcheck page_table: $(cat pt_window.txt)"

# Broken copies.
derive() { derive_copy "$1" "$W/$2" "$3" "# broken"; }  # derive OUT WORKER SED-EXPR: one marked line broken
derive broken_seg.py xcheck_segment_seqlens_offsets.py \
  's/if row\[t\] != 0 and (t == 0 or row\[t\] != row\[t - 1\])\]  # OFFSET/if t == 0 or row[t] != row[t - 1]]  # broken/'
derive broken_nsa.py xcheck_nsa_metadata.py 's/kv\[r\] - qo\[r\] + 1 + j  # EXPAND/kv[r] - qo[r] + 2 + j  # broken/'
derive broken_pool.py xcheck_pool_sizing.py 's/swa = align(int(full \* r))  # ALIGN/swa = align(int(max_tokens * r))  # broken/'
derive broken_pt.py xcheck_page_table.py \
  's/first_key = max(0, L\[b\] - Q\[b\] - window + 1)  # WINDOW/first_key = max(0, L[b] - Q[b] - window)  # broken/'
derive late_pt.py xcheck_page_table.py \
  's/first_key = max(0, L\[b\] - Q\[b\] - window + 1)  # WINDOW/first_key = max(0, L[b] - Q[b] - window + 2)  # broken/'

impl_fails_and_replays "broken segment worker" broken_seg.txt "python:$tmp/broken_seg.py" \
  "python:$W/xcheck_segment_seqlens_offsets.py" --op segment_seqlens_offsets --cases 500 --shrink-budget 200
grep -q "offsets FAIL" broken_seg.txt || fail "broken segment worker: not an offsets failure: $(cat broken_seg.txt)"
impl_fails_and_replays "broken nsa worker" broken_nsa.txt "python:$tmp/broken_nsa.py" \
  "python:$W/xcheck_nsa_metadata.py" --op nsa_metadata --cases 500 --shrink-budget 200
grep -q "seqlens_expanded FAIL" broken_nsa.txt || fail "broken nsa worker: $(cat broken_nsa.txt)"
impl_fails_and_replays "broken pool worker" broken_pool.txt "python:$tmp/broken_pool.py" \
  "python:$W/xcheck_pool_sizing.py" --op pool_sizing --cases 500 --shrink-budget 200
grep -q "tokens     FAIL" broken_pool.txt || fail "broken pool worker: $(cat broken_pool.txt)"
impl_fails_and_replays "broken page-table worker" broken_pt.txt "python:$tmp/broken_pt.py" \
  "python:$W/xcheck_page_table.py" --op page_table --cases 1000 --shrink-budget 200
grep -qE "read_entries (FAIL|is i32)" broken_pt.txt || fail "broken page-table worker: $(cat broken_pt.txt)"
# Under-reading is invisible to generated cases (none reads a bad entry); the hand-made dump catches it.
"$LOCKSTEP" replay pt_window.h5 --impl "python:$tmp/late_pt.py" > late_pt.txt 2>&1
grep -qE "read_entries (FAIL|is i32)" late_pt.txt || fail "late-window page-table worker: $(cat late_pt.txt)"
echo "xcheck_metadata_test: all passed"
