#!/bin/bash
# `--impl python:worker.py`: external implementations in a Python worker process (oracle/impl_worker.h,
# fixtures/lockstep_worker.py), with numpy workers that need no network (system python3 with h5py + numpy).
# Usage: worker_test.sh LOCKSTEP SOURCE_DIR PYTHON
#   - a good worker passes (gelu_tanh_mul, and ragged_paged_attention written from the spec) and the summary
#     names it and its capabilities;
#   - a broken copy (sliding window off by one) fails, shrinks, dumps; `replay DUMP --impl python:...`
#     reproduces the stored report; the good worker passes the dump;
#   - crash, hang, exception, exit, wrong shape, wrong dtype, missing and extra outputs: each a clear
#     failure of that case, with a dump; the campaign goes on with a restarted worker (shrinking runs
#     many more cases) and ends with its summary;
#   - a worker that does not start or declares a bad capability: exit 2 with one line.
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
. "$(dirname "$0")/impl_lib.sh"
W=$SRC/tests/impl/workers
export LOCKSTEP_PYTHON=$PY  # the system python3 with h5py + numpy (not the project venv)
cd "$tmp" || exit 1

# ---- good workers pass ----
"$LOCKSTEP" fuzz --op gelu_tanh_mul --impl "python:$W/numpy_gelu.py" --cases 300 --dump-dir dumps > gelu.txt 2>&1 ||
  fail "good gelu worker: exit $?: $(cat gelu.txt)"
grep -qE "^gelu_tanh_mul +300 cases +0 failing" gelu.txt || fail "gelu: not 300 passing cases: $(cat gelu.txt)"
grep -qF "impl numpy-gelu (python:$W/numpy_gelu.py); cases restricted to its capabilities: gate dtype in {f32,bf16}" gelu.txt ||
  fail "gelu summary does not name the worker and its capabilities: $(cat gelu.txt)"
"$LOCKSTEP" list --impl "python:$W/numpy_rpa.py" > list.txt || fail "list --impl python: exit $?"
grep -qF "impl numpy-rpa (python:$W/numpy_rpa.py), Python worker" list.txt || fail "list: $(cat list.txt)"
"$LOCKSTEP" fuzz --op ragged_paged_attention --impl "python:$W/numpy_rpa.py" --cases 200 --dump-dir dumps > rpa.txt 2>&1 ||
  fail "good RPA worker: exit $?: $(cat rpa.txt)"
grep -qF "cases restricted to its capabilities: mode in {causal}" rpa.txt || fail "RPA summary: $(cat rpa.txt)"

# ---- a broken copy: sliding window off by one ----
derive_copy broken_rpa.py "$W/numpy_rpa.py" \
  's/allowed &= key > q_pos - window  # WINDOW/allowed \&= key >= q_pos - window  # WINDOW (broken)/' "(broken)"
impl_fails_and_replays "broken worker" broken.txt "python:$tmp/broken_rpa.py" "python:$W/numpy_rpa.py" \
  --op ragged_paged_attention --cases 500
grep -q "sliding_window=[1-9]" broken.txt || fail "broken worker: shrunk case has no window: $(cat broken.txt)"
dump=$DUMP
expect_error "replay it with --impl python:$tmp/broken_rpa.py" replay "$dump"
"$LOCKSTEP" run --in "$dump" --out out.h5 --impl "python:$tmp/broken_rpa.py" > run.txt || fail "run --impl python: exit $?"
[ -s out.h5 ] || fail "run --impl python wrote no outputs"

# ---- misbehaving workers: one clear failure per case, with a dump; lockstep goes on ----
# misbehave MODE NEEDLE [options]: the gelu worker misbehaves on cases with >= 3 rows.
misbehave() {
  local mode=$1 needle=$2; shift 2
  LOCKSTEP_TEST_MODE=$mode "$LOCKSTEP" fuzz --op gelu_tanh_mul --impl "python:$W/numpy_gelu.py" --cases 300 \
    --dump-dir "dumps-$mode" "$@" > "$mode.txt" 2>&1
  local rc=$?
  [ $rc -eq 1 ] || fail "$mode worker: exit $rc, expected 1: $(cat "$mode.txt")"
  grep -qF -- "$needle" "$mode.txt" || fail "$mode worker: report lacks '$needle': $(cat "$mode.txt")"
  ls "dumps-$mode"/gelu_tanh_mul*.h5 > /dev/null 2>&1 || fail "$mode worker: no dump: $(cat "$mode.txt")"
  grep -qE "^gelu_tanh_mul +[0-9]+ cases +1 failing" "$mode.txt" || fail "$mode worker: no summary: $(cat "$mode.txt")"
  grep -q "shrunk in" "$mode.txt" || fail "$mode worker: not shrunk: $(cat "$mode.txt")"
}
misbehave crash "device: impl numpy-gelu = gelu_tanh_mul: the worker was killed by signal 11 (SIGSEGV) while running the case"
misbehave exit "the worker exited with status 3 while running the case"
misbehave raise "device: impl numpy-gelu = gelu_tanh_mul: raised: ValueError: cannot do 3 rows (at numpy_gelu.py:"
misbehave hang "the worker did not answer within 1 s (--impl-timeout) (killed; the next case starts a new one)" \
  --impl-timeout 1 --shrink-budget 8
misbehave shape "wrong outputs: output out is f32 [3, "
misbehave dtype "wrong outputs: output out is i32 [3, "
misbehave missing "wrong outputs: output out missing (expected "
misbehave extra "wrong outputs: returned debug, which is not an output asked for (asked: out)"
# The cases before the first misbehaving one passed through the same worker: the crash campaign ran more
# than one case, and a crash's dump replays to the same report (the restarted worker crashes again).
grep -qE "^gelu_tanh_mul +([2-9]|[1-9][0-9]+) cases +1 failing" crash.txt || fail "crash on the first case? $(cat crash.txt)"
cdump=$(ls dumps-crash/gelu_tanh_mul*.h5 | head -1)
LOCKSTEP_TEST_MODE=crash "$LOCKSTEP" replay "$cdump" --impl "python:$W/numpy_gelu.py" > crash_replay.txt; rc=$?
[ $rc -eq 1 ] || fail "crash replay: exit $rc: $(cat crash_replay.txt)"
grep -q "report is identical to the one stored in the dump" crash_replay.txt || fail "crash replay differs: $(cat crash_replay.txt)"

# ---- workers that cannot be used: one line, exit 2 ----
printf 'import lockstep_worker\ndef (:\n' > syntax.py
expect_error "--impl = python:$tmp/syntax.py: the worker exited with status 1 before declaring itself" \
  fuzz --impl python:syntax.py --cases 1
grep -q "SyntaxError" "$tmp/err.txt" || fail "start-up failure does not quote the worker: $(cat "$tmp/err.txt")"
printf 'from lockstep_worker import op\n@op("rmsnorm", capabilities={"head_dim": [64]})\ndef run(c):\n    return {}\n' > badcap.py
expect_error "op rmsnorm capability 0: head_dim is not a case field of rmsnorm" fuzz --impl python:badcap.py --cases 1
printf 'from lockstep_worker import op\n@op("moe_routing", capabilities={"gating_output": ["f32", "sorted"]})\ndef run(c):\n    return {}\n' > badprop.py
expect_error "capability 0 (gating_output): sorted: unknown dtype (expected f32, bf16, f16, i32, i64 or bool), nor an element property (finite, distinct)" \
  fuzz --impl python:badprop.py --cases 1
printf 'import time\ntime.sleep(60)\n' > slow.py
expect_error "did not answer to declare itself within 1 s" fuzz --impl python:slow.py --cases 1 --impl-startup-timeout 1
expect_error "no such worker script" fuzz --impl python:missing.py --cases 1
echo "worker_test: all passed"
