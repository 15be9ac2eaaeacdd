# Shared by the --impl tests (tests/impl/*.sh), sourced after tests/oracle/test_lib.sh.
# derive_copy OUT SRC SED-EXPR MARKER: OUT is SRC with SED-EXPR applied (a test's broken copy of a worker); the
# test fails unless OUT holds MARKER (the edited line's mark), so an edit that no longer matches is not mistaken
# for a broken copy.
derive_copy() {
  sed "$3" "$2" > "$1"
  grep -qF -- "$4" "$1" || fail "could not derive $1 from $2 (no '$4' after the edit)"
}

# impl_fails_and_replays LABEL OUT BAD GOOD FUZZ-ARGS...: a campaign with `--impl BAD` (run in $tmp, dumps in
# ./dumps) exits 1 with a shrunk failure, a dump and a repro line naming --impl BAD; `replay DUMP --impl BAD`
# exits 1 with the stored report; `replay DUMP --impl GOOD` passes. Sets DUMP (relative to $tmp).
impl_fails_and_replays() {
  local label=$1 out=$2 bad=$3 good=$4 rc
  shift 4
  "$LOCKSTEP" fuzz --impl "$bad" --dump-dir dumps "$@" > "$out" 2>&1
  rc=$?
  [ $rc -eq 1 ] || fail "$label: exit $rc, expected 1: $(cat "$out")"
  grep -q "shrunk in" "$out" || fail "$label: not shrunk: $(cat "$out")"
  DUMP=$(sed -n 's/^  dump: \(dumps\/.*\.h5\)$/\1/p' "$out" | head -1)
  [ -n "$DUMP" ] && [ -f "$DUMP" ] || fail "$label: no dump: $(cat "$out")"
  grep -qF "reproduce: lockstep replay $DUMP --impl $bad" "$out" || fail "$label: repro command lacks --impl: $(cat "$out")"
  "$LOCKSTEP" replay "$DUMP" --impl "$bad" > "$out.replay" 2>&1
  rc=$?
  [ $rc -eq 1 ] || fail "$label: replay --impl: exit $rc, expected 1: $(cat "$out.replay")"
  grep -q "report is identical to the one stored in the dump" "$out.replay" ||
    fail "$label: replay differs: $(cat "$out.replay")"
  "$LOCKSTEP" replay "$DUMP" --impl "$good" > "$out.fixed" 2>&1 ||
    fail "$label: the same case through $good fails: $(cat "$out.fixed")"
}
