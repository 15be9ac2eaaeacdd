#!/bin/bash
# `--impl`: external implementations through the C ABI (include/lockstep/impl.h), with the example plugins of
# examples/plugin/ (issue 12). Usage: impl_test.sh LOCKSTEP SOURCE_DIR PYTHON PLUGIN_DIR [CASES]
#   - the example host plugin (lockstep's CPU kernels) passes CASES cases (default 300) on every op it declares;
#   - the faulty copy fails, shrinks and dumps (and a copy that writes an input fails naming it); `replay DUMP --impl faulty.so` reproduces the stored report;
#     replaying that dump without --impl is refused with one line; `run --impl` writes the plugin's outputs;
#   - capabilities restrict generation and shrinking: the f32-only plugin (which fails any non-f32 case) passes
#     and its summary names the restriction; its faulty copy shrinks to an f32 case; an unreachable
#     capability is one error line naming it;
#   - ABI mismatch, a missing export, a file that is not a library, an op the plugin does not declare, a fault
#     with --impl: exit 2 with one line each.
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
PLUGINS=$4
CASES=${5:-300}
HOST=$PLUGINS/liblockstep_example_host.so
FAULTY=$PLUGINS/liblockstep_example_host_faulty.so
cd "$tmp" || exit 1

# ---- the example plugin passes on every op it declares ----
"$LOCKSTEP" list --impl "$HOST" > list.txt || fail "list --impl: exit $?"
ops=$(grep -E '^  [a-z_]+ +capabilities:' list.txt | awk '{print $1}')
[ "$(echo "$ops" | wc -l)" -ge 7 ] || fail "list --impl names fewer than 7 ops: $(cat list.txt)"
"$LOCKSTEP" fuzz --impl "$HOST" --cases "$CASES" --dump-dir dumps > fuzz.txt 2>&1 || fail "host plugin: exit $?: $(cat fuzz.txt)"
for op in $ops; do
  grep -qE "^$op +$CASES cases +0 failing" fuzz.txt || fail "host plugin: $op did not pass $CASES cases: $(cat fuzz.txt)"
done
[ "$(grep -c '^  impl lockstep-example-host (' fuzz.txt)" -eq "$(echo "$ops" | wc -l)" ] ||
  fail "summary does not name the impl once per op: $(cat fuzz.txt)"

# ---- the faulty copy: fails, shrinks, dumps; replay reproduces ----
"$LOCKSTEP" fuzz --op nsa_metadata --impl "$FAULTY" --cases 1000 --dump-dir dumps > faulty.txt 2>&1
rc=$?
[ $rc -eq 1 ] || fail "faulty plugin: exit $rc, expected 1: $(cat faulty.txt)"
dump=$(grep -o 'dumps/nsa_metadata[^ ]*\.h5' faulty.txt | head -1)
[ -f "$dump" ] || fail "faulty plugin: no dump: $(cat faulty.txt)"
grep -q "shrunk in" faulty.txt || fail "faulty plugin: not shrunk: $(cat faulty.txt)"
grep -qF "reproduce: lockstep replay $dump --impl $FAULTY" faulty.txt || fail "repro command lacks --impl: $(cat faulty.txt)"
"$LOCKSTEP" replay "$dump" --impl "$FAULTY" > replay.txt; rc=$?
[ $rc -eq 1 ] || fail "replay --impl faulty: exit $rc, expected 1"
grep -q "report is identical to the one stored in the dump" replay.txt || fail "replay differs: $(cat replay.txt)"
grep -q "device side: impl lockstep-example-host-faulty" replay.txt || fail "replay does not name the impl"
expect_error "replay it with --impl $FAULTY" replay "$dump"
"$LOCKSTEP" replay "$dump" --impl "$HOST" > fixed.txt || fail "the same case through the correct plugin fails: $(cat fixed.txt)"
"$LOCKSTEP" run --in "$dump" --out out.h5 --impl "$FAULTY" > run.txt || fail "run --impl: exit $?"
[ -s out.h5 ] || fail "run --impl wrote no outputs"

# A plugin that writes an input fails the case (inputs are read-only), with a dump.
"$LOCKSTEP" fuzz --op segment_seqlens_offsets --impl "$PLUGINS/liblockstep_example_writes_input.so" --cases 50 \
  --dump-dir dumps > writes.txt 2>&1
rc=$?
[ $rc -eq 1 ] || fail "input-writing plugin: exit $rc, expected 1: $(cat writes.txt)"
grep -qF "wrote its input q_segment_ids (inputs are read-only)" writes.txt || fail "input write not named: $(cat writes.txt)"

# ---- capabilities drive generation (and shrinking) ----
"$LOCKSTEP" fuzz --op rmsnorm --impl "$PLUGINS/liblockstep_example_f32_only.so" --cases 400 > f32.txt 2>&1 ||
  fail "f32-only plugin received a case outside its capabilities: $(cat f32.txt)"
grep -qF "cases restricted to its capabilities: dtype in {f32}" f32.txt || fail "summary lacks the restriction: $(cat f32.txt)"
"$LOCKSTEP" fuzz --op rmsnorm --impl "$PLUGINS/liblockstep_example_f32_only_faulty.so" --cases 1000 --dump-dir dumps \
  > f32faulty.txt 2>&1
rc=$?
[ $rc -eq 1 ] || fail "f32-only faulty plugin: exit $rc, expected 1: $(cat f32faulty.txt)"
grep -q "shrunk in" f32faulty.txt || fail "f32-only faulty: not shrunk"
grep -q "^FAIL rmsnorm(variant=[a-z_]*,dtype=f32," f32faulty.txt || fail "shrunk case is not f32: $(cat f32faulty.txt)"
! grep -q "outside the declared capability" f32faulty.txt || fail "shrinking left the capabilities: $(cat f32faulty.txt)"
# The issue's example: causal f32 head_dim 128 only (the plugin fails any other case).
"$LOCKSTEP" fuzz --impl "$PLUGINS/liblockstep_example_rpa_narrow.so" --cases 60 > narrow.txt 2>&1 ||
  fail "narrow RPA plugin: exit $?: $(cat narrow.txt)"
grep -qF "cases restricted to its capabilities: dtype in {f32}; mode in {causal}; head_dim in {128}" narrow.txt ||
  fail "narrow RPA summary: $(cat narrow.txt)"
# A plugin's own error is that case's failure, with its message (replay enforces no capabilities: the faulty
# plugin's shrunk RPA case is a segment-mask one, which the narrow plugin refuses).
"$LOCKSTEP" fuzz --op ragged_paged_attention --impl "$FAULTY" --cases 1000 --dump-dir dumps > rpafaulty.txt 2>&1
rpadump=$(grep -o 'dumps/ragged_paged_attention[^ ]*\.h5' rpafaulty.txt | head -1)
[ -f "$rpadump" ] || fail "faulty plugin: no RPA dump: $(cat rpafaulty.txt)"
"$LOCKSTEP" replay "$rpadump" --impl "$PLUGINS/liblockstep_example_rpa_narrow.so" > refused.txt; rc=$?
[ $rc -eq 1 ] || fail "plugin error: exit $rc, expected 1: $(cat refused.txt)"
grep -q "failure: device: impl lockstep-example-rpa-causal-f32-d128 = ragged_paged_attention: lockstep_impl_run returned 1: received mode segment" refused.txt ||
  fail "plugin error not reported: $(cat refused.txt)"
# The README's plain-C plugin (examples/plugin/gelu_plugin.c): f32 only, passes.
"$LOCKSTEP" fuzz --impl "$PLUGINS/libgelu_plugin.so" --cases "$CASES" > gelu.txt 2>&1 || fail "C plugin: exit $?: $(cat gelu.txt)"
# Plugin calls run in a forked child: a crash, abort or hang (--impl-timeout) of the plugin is that case's
# failure (shrunk, dumped), lockstep goes on to its summary; --impl-in-process calls it in lockstep.
MIS=$PLUGINS/liblockstep_example_misbehaving.so
for mode in crash abort hang; do
  LOCKSTEP_TEST_MODE=$mode "$LOCKSTEP" fuzz --impl "$MIS" --cases 300 --impl-timeout 1 --shrink-budget 8 \
    --dump-dir "dumps-$mode" > "mis-$mode.txt" 2>&1
  rc=$?
  [ $rc -eq 1 ] || fail "$mode plugin: exit $rc, expected 1: $(cat "mis-$mode.txt")"
  case $mode in
    crash) needle="the plugin was killed by signal 11 (SIGSEGV) in lockstep_impl_run (the plugin runs in a child process" ;;
    abort) needle="the plugin was killed by signal 6 (SIGABRT) in lockstep_impl_run" ;;
    hang) needle="lockstep_impl_run did not return within 1 s (--impl-timeout): killed" ;;
  esac
  grep -qF "$needle" "mis-$mode.txt" || fail "$mode plugin: report lacks '$needle': $(cat "mis-$mode.txt")"
  grep -qE "^gelu_tanh_mul +([2-9]|[1-9][0-9]+) cases +1 failing" "mis-$mode.txt" || fail "$mode plugin: $(cat "mis-$mode.txt")"
  ls "dumps-$mode"/gelu_tanh_mul*.h5 > /dev/null 2>&1 || fail "$mode plugin: no dump"
done
LOCKSTEP_TEST_MODE=crash "$LOCKSTEP" replay "$(ls dumps-crash/gelu_tanh_mul*.h5 | head -1)" --impl "$MIS" > mis-replay.txt
[ $? -eq 1 ] && grep -q "report is identical to the one stored in the dump" mis-replay.txt ||
  fail "crash dump does not replay: $(cat mis-replay.txt)"
"$LOCKSTEP" fuzz --impl "$MIS" --cases 100 > mis-fine.txt 2>&1 || fail "well-behaved run of the misbehaving plugin: $(cat mis-fine.txt)"
"$LOCKSTEP" fuzz --impl "$HOST" --op rmsnorm --cases 100 --impl-in-process > inproc.txt 2>&1 ||
  fail "--impl-in-process: exit $?: $(cat inproc.txt)"
grep -qF "cases restricted to its capabilities: gate dtype in {f32}" gelu.txt || fail "C plugin summary: $(cat gelu.txt)"
# Shards of an --impl campaign merge (the summary keeps the impl); a shard without it does not.
for k in 0 1; do "$LOCKSTEP" --json fuzz --impl "$PLUGINS/libgelu_plugin.so" --cases 60 --shard $k/2 > shard$k.json || fail "shard $k"; done
"$LOCKSTEP" merge shard0.json shard1.json > merged.txt || fail "merge of --impl shards: exit $?"
grep -qF "cases restricted to its capabilities: gate dtype in {f32}" merged.txt || fail "merged summary lost the impl: $(cat merged.txt)"
"$LOCKSTEP" --json fuzz --op gelu_tanh_mul --cases 60 --shard 1/2 > plain1.json || fail "plain shard"
expect_error "impl: differs from impl (gelu-c)" merge shard0.json plain1.json
expect_error "capability head_dim in {7} of op rope rejected 10000 of 10000" fuzz --impl "$PLUGINS/liblockstep_example_impossible.so" --cases 2

# ---- one clear line per bad plugin ----
expect_error "plugin ABI version 99, this lockstep speaks version 1" fuzz --impl "$PLUGINS/liblockstep_example_abi99.so"
expect_error "does not export lockstep_impl_run" fuzz --impl "$PLUGINS/liblockstep_example_missing_run.so"
expect_error "cannot load the library" fuzz --impl "$SRC/README.md"
expect_error "cannot load the library" replay "$dump" --impl "$tmp/no-such-plugin.so"
expect_error "does not implement op kv_trace" fuzz --impl "$HOST" --op kv_trace
expect_error "not with --impl" fuzz --impl "$HOST" --op rope --fault "$("$LOCKSTEP" --json list | "$PY" -c 'import json,sys; print([o for o in json.load(sys.stdin) if o["op"]=="rope"][0]["faults"][0]["name"])')"

# ---- the ABI listing is derived from fields() ----
"$LOCKSTEP" list --abi rmsnorm > abi.txt || fail "list --abi: exit $?"
grep -qE '^  dtype +STRING in \{f32,bf16,f16' abi.txt || fail "list --abi lacks the dtype enum: $(cat abi.txt)"
grep -qE '^  x +TENSOR' abi.txt || fail "list --abi lacks input x"
grep -qE '^  out +TENSOR' abi.txt || fail "list --abi lacks output out"
expect_error "stateful" list --abi spec_decode
echo "impl_test: all checks passed"
