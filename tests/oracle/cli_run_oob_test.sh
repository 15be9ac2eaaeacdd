#!/usr/bin/env bash
# `lockstep run` reports out-of-range page reads and exits 1 unless --allow-oob; a case that is not valid
# (here: an SWA pool that cannot hold one request, spec §3.3) is bad input everywhere: exit 2 from run on
# both backends and from replay (issue 9 items 5 and 6).
set -u
. "$(dirname "$0")/test_lib.sh" "$@"

"$PY" "$SRC/fixtures/lockstep_h5.py" "$tmp/case.h5" > /dev/null || fail "h5py example did not write a case"
"$PY" - "$tmp/case.h5" "$tmp/oob.h5" <<'PYEOF' || fail "could not plant the bad page"
import sys, shutil, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    assert f["case/kv_cache"].shape[0] == 3
    f["case/page_indices"][0] = 99  # positions 0-3 of sequence 0: 2 cached keys read, 2 new ones written
PYEOF

for side in reference device; do
  "$LOCKSTEP" run --in "$tmp/oob.h5" --out "$tmp/$side.h5" --backend $side > "$tmp/run.txt" 2>&1
  rc=$?
  [ $rc -eq 1 ] || fail "run --backend $side on an OOB case exited $rc, want 1: $(cat "$tmp/run.txt")"
  grep -q "$side OOB read: seq 0 token 0: page_indices\[0\] = 99 outside \[0, 3)" "$tmp/run.txt" \
    || fail "run --backend $side does not list the OOB read: $(cat "$tmp/run.txt")"
  [ -f "$tmp/$side.h5" ] || fail "run --backend $side did not write its outputs"
  "$PY" -c "import sys, h5py, json; r = json.loads(h5py.File(sys.argv[1], 'r').attrs['oob_reads']); \
assert r == [{'seq': 0, 'token': 0, 'slot': 0, 'page': 99, 'bound': 3}], r" "$tmp/$side.h5" \
    || fail "outputs file of $side lacks the oob_reads attribute"
  "$LOCKSTEP" run --in "$tmp/oob.h5" --out "$tmp/$side.h5" --backend $side --allow-oob > "$tmp/run.txt" 2>&1 \
    || fail "run --backend $side --allow-oob exited non-zero: $(cat "$tmp/run.txt")"
  grep -q "page_indices\[0\] = 99" "$tmp/run.txt" || fail "--allow-oob must still list the read"
  "$LOCKSTEP" run --in "$tmp/case.h5" --out "$tmp/$side.h5" --backend $side > "$tmp/run.txt" 2>&1 \
    || fail "run --backend $side on a clean case: $(cat "$tmp/run.txt")"
  ! grep -q "OOB" "$tmp/run.txt" || fail "clean case reported OOB: $(cat "$tmp/run.txt")"
done
"$LOCKSTEP" --json run --in "$tmp/oob.h5" --out "$tmp/j.h5" | "$PY" -c \
  "import json, sys; d = json.load(sys.stdin); assert d['oob_reads'][0]['page'] == 99, d" || fail "run --json"

# pool_sizing: W + page >= the SWA pool (4992 tokens here) is an invalid case for both sides.
"$PY" - "$SRC/fixtures" "$tmp/pool.h5" <<'PYEOF' || fail "could not write the pool_sizing case"
import sys
sys.path.insert(0, sys.argv[1])
import lockstep_h5
lockstep_h5.write_case(sys.argv[2], "pool_sizing", {
    "available_bytes": 1 << 26, "num_full_layers": 1, "num_swa_layers": 1, "full_bytes_per_token": 4096,
    "swa_bytes_per_token": 8192, "page_size": 64, "num_experts": 0, "ratio": 0.8, "sliding_window": 4928})
PYEOF
for args in "run --in $tmp/pool.h5 --out $tmp/p.h5 --backend reference" "run --in $tmp/pool.h5 --out $tmp/p.h5 --backend device" \
            "replay $tmp/pool.h5"; do
  "$LOCKSTEP" $args > "$tmp/out.txt" 2> "$tmp/err.txt"
  rc=$?
  [ $rc -eq 2 ] || fail "lockstep $args exited $rc, want 2: $(cat "$tmp/out.txt" "$tmp/err.txt")"
  [ "$(wc -l < "$tmp/err.txt")" -eq 1 ] && grep -q "case.sliding_window = 4928.*cannot hold even one request" "$tmp/err.txt" \
    || fail "lockstep $args: want one line naming case.sliding_window: $(cat "$tmp/err.txt")"
done
echo "cli_run_oob_test: all checks passed"
