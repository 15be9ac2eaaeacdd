#!/usr/bin/env bash
# End-to-end CLI checks: a case written with h5py (fixtures/lockstep_h5.py) runs through `lockstep run`
# on both backends and replays; bad input gives one clear error line and exit 2.
set -u
. "$(dirname "$0")/test_lib.sh" "$@"

"$PY" -c "import h5py, numpy" || fail "python3 with h5py and numpy is required (apt-get install python3-h5py)"
"$PY" "$SRC/fixtures/lockstep_h5.py" "$tmp/case.h5" || fail "h5py example did not write a case"

"$LOCKSTEP" run --in "$tmp/case.h5" --out "$tmp/ref.h5" --backend reference || fail "run --backend reference"
"$LOCKSTEP" run --in "$tmp/case.h5" --out "$tmp/dev.h5" --backend device || fail "run --backend device"
"$PY" - "$tmp/ref.h5" "$tmp/dev.h5" <<'PYEOF' || fail "outputs of the two backends differ or are missing"
import sys, h5py, numpy as np
ref = h5py.File(sys.argv[1], "r")["outputs/reference/out"][...]
dev = h5py.File(sys.argv[2], "r")["outputs/device/out"][...]
assert ref.shape == dev.shape and ref.size > 0, (ref.shape, dev.shape)
err = float(np.max(np.abs(ref.astype(np.float64) - dev.astype(np.float64))))
assert err < 1e-5, err
print("h5py case: reference vs device max abs diff", err)
PYEOF
"$LOCKSTEP" replay "$tmp/case.h5" > "$tmp/replay.txt" || { cat "$tmp/replay.txt"; fail "replay of the h5py case"; }
grep -q "^PASS ragged_paged_attention(" "$tmp/replay.txt" || fail "replay output: $(cat "$tmp/replay.txt")"

expect_error "no-such.h5" replay "$tmp/no-such.h5"
echo "not an hdf5 file" > "$tmp/garbage.h5"
expect_error "garbage.h5" replay "$tmp/garbage.h5"
expect_error "--op = nope" fuzz --op nope --cases 1
expect_error "--fault = nope" fuzz --op ragged_paged_attention --fault nope --cases 1
expect_error "cases" fuzz --cases -5
"$PY" - "$tmp/case.h5" "$tmp/negative.h5" <<'PYEOF'
import sys, shutil, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f["case/kv_lens"][0] = -4
PYEOF
expect_error "kv_lens[0] = -4" replay "$tmp/negative.h5"

"$LOCKSTEP" list | grep -q "ragged_paged_attention" || fail "list"
"$LOCKSTEP" fuzz --cases 30 --dump-dir "$tmp/dumps" > "$tmp/fuzz.txt" || { cat "$tmp/fuzz.txt"; fail "fuzz"; }
grep -qE "^summary: [0-9]+ cases, 0 failures" "$tmp/fuzz.txt" && grep -qE "^ragged_paged_attention +30 cases" "$tmp/fuzz.txt" || fail "fuzz summary: $(cat "$tmp/fuzz.txt")"
# The staged backend: every op's device run through the CUDA path's upload -> launch -> download in guarded
# host memory (a missing download or a wrong element count in a kernel's buffers() fails here, without a GPU).
"$LOCKSTEP" fuzz --backend staged --cases 30 --dump-dir "$tmp/dumps" > "$tmp/staged.txt" \
  || { cat "$tmp/staged.txt"; fail "fuzz --backend staged"; }
grep -qE "^summary: [0-9]+ cases, 0 failures" "$tmp/staged.txt" || fail "fuzz --backend staged: $(cat "$tmp/staged.txt")"
"$LOCKSTEP" fuzz --op spec_decode --cases 50 --dump-dir "$tmp/dumps" > "$tmp/spec.txt" || { cat "$tmp/spec.txt"; fail "fuzz spec_decode"; }
grep -q "^  stats:.*verify_count.*zero_accept_steps.*mean_accept_length" "$tmp/spec.txt" \
  || fail "spec_decode acceptance statistics: $(cat "$tmp/spec.txt")"
"$LOCKSTEP" --json fuzz --cases 5 | "$PY" -c "import json,sys; d=json.load(sys.stdin); assert d[0]['cases']==5" \
  || fail "fuzz --json"
echo "cli_test: all checks passed"
