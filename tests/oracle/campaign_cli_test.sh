#!/usr/bin/env bash
# `lockstep fuzz --shard K/N` + `lockstep merge` through the CLI (the merged JSON equals the single run's,
# timing aside), bad --shard / merge input (one error line naming the flag or field, exit 2), and
# `lockstep zoo` (its table, JSON and Markdown forms; exit 1 when a fault goes undetected).
set -u
. "$(dirname "$0")/test_lib.sh" "$@"

# Shards 0..2 of a 3-op campaign (one op with a fault would need --op; these pass) merge into the single run.
ops="--op spec_decode --op nsa_metadata --op page_table"
"$LOCKSTEP" --json fuzz $ops --cases 301 --seed 4 --first-case 9 --dump-dir "$tmp/d" > "$tmp/single.json" \
  || fail "single run"
for k in 2 0 1; do
  "$LOCKSTEP" --json fuzz $ops --cases 301 --seed 4 --first-case 9 --shard "$k/3" --dump-dir "$tmp/d" \
    > "$tmp/shard-$k.json" || fail "shard $k/3"
done
"$LOCKSTEP" --json merge "$tmp"/shard-*.json > "$tmp/merged.json" || fail "merge exit code"
[ "$(untimed "$tmp/merged.json")" = "$(untimed "$tmp/single.json")" ] \
  || { diff <(untimed "$tmp/single.json") <(untimed "$tmp/merged.json") | head -20; fail "merged != single run"; }
"$PY" - "$tmp/merged.json" <<'PYEOF' || fail "coverage in --json"
import json, sys
for s in json.load(open(sys.argv[1])):
    cov = s["coverage"]
    assert cov["regions"] == len(cov["counts"]) >= 5, (s["op"], cov)
    assert cov["reached"] == sum(1 for n in cov["counts"].values() if n > 0), (s["op"], cov)
    assert cov["missing"] == [k for k, n in cov["counts"].items() if n == 0], (s["op"], cov)
    assert all(0 <= n <= s["cases"] for n in cov["counts"].values()), (s["op"], cov)
PYEOF
"$LOCKSTEP" merge "$tmp"/shard-*.json > "$tmp/merged.txt" || fail "merge (text)"
grep -qE "^spec_decode +301 cases +0 failing" "$tmp/merged.txt" || fail "merge text: $(cat "$tmp/merged.txt")"
grep -qE "^  coverage: [0-9]+/[0-9]+ regions reached" "$tmp/merged.txt" || fail "merge text coverage line"

# A fault campaign: shards that find it merge to exit 0 (with --fault, success = detected), like fuzz.
for k in 0 1; do
  "$LOCKSTEP" --json fuzz --op kv_trace --fault stale_trailing_entries_read --cases 100 --shard "$k/2" \
    --dump-dir "$tmp/d" > "$tmp/fault-$k.json"
done
"$LOCKSTEP" --json merge "$tmp"/fault-*.json > "$tmp/fault.json" || fail "merge of a detected fault exits 0"
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d['first_failure']['case_index']==37, d" \
  "$tmp/fault.json" || fail "merged first failure"

expect_error "--shard = 3/2" fuzz --cases 5 --shard 3/2
expect_error "--shard = 0/0" fuzz --cases 5 --shard 0/0
expect_error "--shard = 1" fuzz --cases 5 --shard 1
expect_error "merge = 2/3" merge "$tmp/shard-0.json" "$tmp/shard-1.json"
expect_error "shard = 1/3: appears twice" merge "$tmp"/shard-*.json "$tmp/shard-1.json"
"$LOCKSTEP" --json fuzz --op kv_trace --cases 100 --shard 1/2 --dump-dir "$tmp/d" > "$tmp/clean-1.json"
expect_error "clean-1.json: fault: differs from fault (stale_trailing_entries_read)" merge "$tmp/fault-0.json" "$tmp/clean-1.json"
"$LOCKSTEP" --json fuzz $ops --cases 301 --seed 5 --first-case 9 --shard 1/3 --dump-dir "$tmp/d" > "$tmp/seed5.json"
expect_error "seed = 5" merge "$tmp/shard-0.json" "$tmp/seed5.json" "$tmp/shard-2.json"
echo "not json" > "$tmp/garbage.json"
expect_error "garbage.json" merge "$tmp/garbage.json"
echo '[{"op": "kv_trace"}]' > "$tmp/partial.json"
expect_error "partial.json[0]: seed: missing" merge "$tmp/partial.json"
expect_error "nope.json" merge "$tmp/nope.json"

# Not a terminal: no progress line, nothing on stderr.
"$LOCKSTEP" fuzz --op pool_sizing --cases 50 > /dev/null 2> "$tmp/err.txt" || fail "fuzz pool_sizing"
[ ! -s "$tmp/err.txt" ] || fail "progress output without a terminal: $(cat "$tmp/err.txt")"

# On a terminal (script(1) provides one): an updating line with cases/s and an ETA, cleared at the end.
if command -v script > /dev/null; then
  script -qec "'$LOCKSTEP' fuzz --op pool_sizing --cases 3000" /dev/null > "$tmp/tty.txt" 2>&1 || fail "fuzz on a tty"
  grep -qE $'\rpool_sizing: [0-9]+/3000 cases, 0 failing, [0-9]+ cases/s, ETA [0-9]+ s' "$tmp/tty.txt" \
    || fail "no progress line on a terminal: $(od -c "$tmp/tty.txt" | head)"
  grep -qE "^pool_sizing +3000 cases" <(tr '\r' '\n' < "$tmp/tty.txt" | sed 's/\x1b\[K//g') || fail "summary after progress"
else
  echo "note: script(1) not found; terminal progress line not checked"
fi

# The zoo: every fault detected (exit 0), one row per fault, in every form; an undetected one exits 1.
"$LOCKSTEP" zoo --dump-dir "$tmp/zoo" > "$tmp/zoo.txt" || { cat "$tmp/zoo.txt"; fail "zoo: not every fault detected"; }
faults=$("$LOCKSTEP" --json list | "$PY" -c "import json,sys; print(sum(len(o['faults']) for o in json.load(sys.stdin)))")
[ "$(grep -cE ' yes +[0-9]+ ' "$tmp/zoo.txt")" -eq "$faults" ] || fail "zoo rows != $faults faults: $(cat "$tmp/zoo.txt")"
grep -qE "^$faults/$faults faults detected" "$tmp/zoo.txt" || fail "zoo footer"
"$LOCKSTEP" zoo --op nsa_metadata --markdown --dump-dir "$tmp/zoo" > "$tmp/zoo.md" || fail "zoo --markdown"
grep -qF '| nsa_metadata | `nsa_arange_off_by_one` | seed 003 | yes |' "$tmp/zoo.md" || fail "zoo markdown: $(cat "$tmp/zoo.md")"
"$LOCKSTEP" --json zoo --op pool_sizing --dump-dir "$tmp/zoo" > "$tmp/zoo.json" || fail "zoo --json"
"$PY" -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; assert r['detected'] and r['cases_to_detect']==2 and r['shrunk_values']>0, r" \
  "$tmp/zoo.json" || fail "zoo json: $(cat "$tmp/zoo.json")"
"$LOCKSTEP" zoo --op pool_sizing --cases 1 --dump-dir "$tmp/zoo" > "$tmp/zoo1.txt"
[ $? -eq 1 ] || fail "zoo with an undetected fault must exit 1"
grep -qE "moe_ratio_for_dense_model .* NO " "$tmp/zoo1.txt" || fail "undetected row: $(cat "$tmp/zoo1.txt")"
echo "campaign_cli_test: all checks passed"
