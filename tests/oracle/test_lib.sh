# Shared by the CLI tests (tests/oracle/*.sh, tests/kvcache/page_table_dump_test.sh): arguments (lockstep binary, source dir, python), a temporary
# directory removed on exit, and helpers. Source it: `. "$(dirname "$0")/test_lib.sh" "$@"`.
LOCKSTEP=$1
SRC=$2
PY=${3:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*"; exit 1; }
# `lockstep --json fuzz|merge` output without its timing fields.
untimed() { "$PY" "$SRC/tests/oracle/untimed_json.py" "$1"; }
# expect_error <needle> <args...>: lockstep exits 2 with one stderr line mentioning needle.
expect_error() {
  local needle=$1; shift
  "$LOCKSTEP" "$@" > "$tmp/out.txt" 2> "$tmp/err.txt"
  local rc=$?
  [ $rc -eq 2 ] || fail "lockstep $*: exit $rc, expected 2"
  [ "$(wc -l < "$tmp/err.txt")" -eq 1 ] || fail "lockstep $*: not one error line: $(cat "$tmp/err.txt")"
  grep -qF -- "$needle" "$tmp/err.txt" || fail "lockstep $*: error does not mention '$needle': $(cat "$tmp/err.txt")"
}
