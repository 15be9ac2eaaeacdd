#!/bin/bash
# Black-box OOB detection for --impl (issue 12 item 4, oracle/impl_poison.h), end to end through the example
# plugins. Usage: poison_test.sh LOCKSTEP SOURCE_DIR PYTHON PLUGIN_DIR [CASES]
#   - the correct host plugin passes CASES (default 2000) ragged_paged_attention and kv_sharing cases with
#     poisoning on (it never reads a stale entry or an unreferenced page);
#   - the stale-read plugin (reads the page of the entry one past each sequence's kv_len, masked by a zero
#     weight) passes without poisoning (LOCKSTEP_IMPL_POISON=off: the bug is invisible to the comparison) and
#     with it fails with an out-of-bounds read naming the sequence and entry, shrinks, dumps; replay --impl
#     reproduces the report (OOB rows included); the same dump passes through the correct plugin;
#   - the same with a Python worker (a numpy RPA reading one page past each sequence, masked out).
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
. "$(dirname "$0")/impl_lib.sh"
PLUGINS=$4
CASES=${5:-2000}
HOST=$PLUGINS/liblockstep_example_host.so
STALE=$PLUGINS/liblockstep_example_stale_read.so
cd "$tmp" || exit 1

for op in ragged_paged_attention kv_sharing; do
  "$LOCKSTEP" fuzz --op $op --impl "$HOST" --cases "$CASES" > host_$op.txt 2>&1 ||
    fail "correct plugin, $op, poisoned: exit $?: $(cat host_$op.txt)"
  grep -qE "^$op +$CASES cases +0 failing" host_$op.txt || fail "correct plugin: $op did not pass: $(cat host_$op.txt)"
done

# Without poisoning the stale read goes unnoticed (the zero weight hides the finite page it read).
LOCKSTEP_IMPL_POISON=off "$LOCKSTEP" fuzz --impl "$STALE" --cases 300 > unpoisoned.txt 2>&1 ||
  fail "stale-read plugin fails without poisoning (the test would not show what poisoning adds): $(cat unpoisoned.txt)"

impl_fails_and_replays "stale-read plugin" stale.txt "$STALE" "$HOST" --cases 1000
grep -qE "failure: device read poisoned KV memory \(out-of-bounds read\): (seq [0-9]+ page_indices\[[0-9]+\] = -?[0-9]+, a stale entry|page_indices\[[0-9]+\] = -?[0-9]+, a stale trailing entry)" stale.txt ||
  fail "stale read not reported as an OOB read naming the entry: $(cat stale.txt)"
grep -qE "device OOB read: (seq [0-9]+ token [0-9]+: )?page_indices\[[0-9]+\] = -?[0-9]+.*stale" stale.txt ||
  fail "no device OOB row: $(cat stale.txt)"
grep -q "device read poisoned KV memory" stale.txt.replay || fail "replay lacks the OOB failure: $(cat stale.txt.replay)"

# The same for a Python worker: a numpy RPA that gathers whole pages up to one page past each sequence and
# relies on the causal mask to hide the extra keys (0 * V): invisible without poisoning, an OOB read with it.
W=$SRC/tests/impl/workers
export LOCKSTEP_PYTHON=$PY
derive_copy stale_rpa.py "$W/numpy_rpa.py" \
  's/span = kv_len  # SPAN.*/span = (-(-kv_len \/\/ ps) + 1) * ps  # SPAN (broken): one page past the sequence/' "SPAN (broken)"
LOCKSTEP_IMPL_POISON=off "$LOCKSTEP" fuzz --op ragged_paged_attention --impl python:stale_rpa.py --cases 200 > w_unpoisoned.txt 2>&1 ||
  fail "stale-read worker fails without poisoning: $(cat w_unpoisoned.txt)"
impl_fails_and_replays "stale-read worker" w_stale.txt "python:$tmp/stale_rpa.py" "python:$W/numpy_rpa.py" \
  --op ragged_paged_attention --cases 500
grep -qE "failure: device read poisoned KV memory \(out-of-bounds read\): (seq [0-9]+ page_indices\[[0-9]+\] = -?[0-9]+, a stale entry|page_indices\[[0-9]+\] = -?[0-9]+, a stale trailing entry)" w_stale.txt ||
  fail "stale-read worker not reported as an OOB read naming the entry: $(cat w_stale.txt)"
echo "poison_test: all checks passed"
