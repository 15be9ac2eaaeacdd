#!/usr/bin/env bash
# `lockstep replay DUMP --expect-pass` (issue 11): exit 0 when the dump's case passes at this build, 1 when it
# still fails, 125 when this build cannot judge it (git bisect's "skip"); plain `replay` keeps 0/1/2. Then
# the README's recipe on a throwaway repository: `git bisect run` names exactly the commit that introduced
# the failure, skipping the commit lockstep cannot judge.
set -u
. "$(dirname "$0")/test_lib.sh" "$@"

command -v git > /dev/null || fail "git is required"
LOCKSTEP=$(realpath "$LOCKSTEP")  # the bisection runs in another directory
# A committed failure dump: nsa_metadata case 0 of seed 1, recorded with @fault nsa_arange_off_by_one.
DUMP="$tmp/crash.h5"
cp "$SRC/fixtures/dumps/nsa_metadata-nsa_arange_off_by_one-seed1-case0.h5" "$DUMP"

# expect_verdict <exit> <line prefix> <args...>: `lockstep replay --expect-pass` exits <exit> and prints
# exactly one stdout line starting with <line prefix>.
expect_verdict() {
  local want=$1 prefix=$2; shift 2
  "$LOCKSTEP" replay --expect-pass "$@" > "$tmp/out.txt" 2> "$tmp/err.txt"
  local rc=$?
  [ $rc -eq "$want" ] || fail "replay --expect-pass $*: exit $rc, expected $want: $(cat "$tmp/out.txt" "$tmp/err.txt")"
  [ "$(wc -l < "$tmp/out.txt")" -eq 1 ] || fail "replay --expect-pass $*: not one verdict line: $(cat "$tmp/out.txt")"
  grep -q "^$prefix" "$tmp/out.txt" || fail "replay --expect-pass $*: verdict is not '$prefix...': $(cat "$tmp/out.txt")"
}

# ---- the three exit codes ----------------------------------------------------------------------------
# The recorded fault is injected again: the case still fails, and the line names the first failure.
expect_verdict 1 "expect-pass: still fails: " "$DUMP"
grep -q "(exit 1)$" "$tmp/out.txt" || fail "still-fails line: $(cat "$tmp/out.txt")"
# Without the fault the case passes: the verdict comes from re-running the case, not from the file.
expect_verdict 0 "expect-pass: pass: nsa_metadata" "$DUMP" --fault none
# Cannot judge: an unreadable file, a fault this build does not know, a case this build's validation
# rejects, a command line this build does not accept.
expect_verdict 125 "expect-pass: cannot judge: .*no-such.h5" "$tmp/no-such.h5"
echo "not an hdf5 file" > "$tmp/garbage.h5"
expect_verdict 125 "expect-pass: cannot judge: .*garbage.h5" "$tmp/garbage.h5"
expect_verdict 125 "expect-pass: cannot judge: .*--fault = fault_of_a_newer_build" "$DUMP" --fault fault_of_a_newer_build
grep -q "git bisect skips this commit" "$tmp/out.txt" || fail "cannot-judge line: $(cat "$tmp/out.txt")"
"$PY" "$SRC/fixtures/lockstep_h5.py" "$tmp/case.h5" || fail "h5py example did not write a case"
"$PY" - "$tmp/case.h5" "$tmp/negative.h5" <<'PYEOF'
import sys, shutil, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f["case/kv_lens"][0] = -4
PYEOF
expect_verdict 125 "expect-pass: cannot judge: .*kv_lens\[0\] = -4" "$tmp/negative.h5"
expect_verdict 125 "expect-pass: cannot judge: this build rejects the command line" "$DUMP" --no-such-flag
expect_verdict 0 "expect-pass: pass: ragged_paged_attention" "$tmp/case.h5"
# --json: the verdict as an object.
"$LOCKSTEP" --json replay --expect-pass "$DUMP" > "$tmp/verdict.json"
[ $? -eq 1 ] || fail "--json replay --expect-pass: exit code"
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['verdict']=='still fails' and d['exit']==1, d" \
  "$tmp/verdict.json" || fail "--json verdict: $(cat "$tmp/verdict.json")"

# Plain replay keeps its exit codes: 1 for a failure, 2 for bad input (the flag's own error, one line).
"$LOCKSTEP" replay "$DUMP" > "$tmp/out.txt"; [ $? -eq 1 ] || fail "plain replay of a failing dump: exit code"
"$LOCKSTEP" replay "$DUMP" --fault none > "$tmp/out.txt" || fail "plain replay --fault none: $(cat "$tmp/out.txt")"
grep -q "^PASS nsa_metadata" "$tmp/out.txt" || fail "plain replay --fault none: $(cat "$tmp/out.txt")"
expect_error "garbage.h5" replay "$tmp/garbage.h5"
expect_error "--fault = fault_of_a_newer_build" replay "$DUMP" --fault fault_of_a_newer_build
expect_error "kv_lens[0] = -4" replay "$tmp/negative.h5"
expect_error "segment_block_off_by_one" replay "$DUMP" --fault segment_block_off_by_one  # another op's fault

# ---- git bisect run on a throwaway repository ---------------------------------------------------------
# Each commit holds a small "implementation": impl.conf names the fault its kernel has (none = correct), and
# build.sh "builds" it into build/flags, the flags the built lockstep runs the case with. The history:
#   c1 correct, c2 and c3 unrelated changes, c4 a state this build cannot judge (its fault is unknown here:
#   stands for a commit where the dump's op or fault does not exist yet), c5 a different bug the dumped case
#   does not exercise (the case passes: judged by re-running it), c6 the commit that introduces the dump's
#   bug, c7 and c8 later changes that keep it.
repo="$tmp/repo"
mkdir "$repo" && cd "$repo" || fail "mkdir $repo"
git init -q . && git config user.email bisect@lockstep.test && git config user.name "lockstep test" \
  && git config commit.gpgsign false || fail "git init"
printf 'build/\n' > .gitignore
cat > build.sh <<'SH'
#!/bin/sh
# "Builds" the implementation: the fault impl.conf names becomes the replay flags. A conf without a fault=
# line does not build.
f=$(sed -n 's/^fault=//p' impl.conf)
[ -n "$f" ] || { echo "build.sh: impl.conf has no fault= line" >&2; exit 1; }
mkdir -p build && echo "--fault $f" > build/flags
SH
commit() {  # commit <message> <fault>
  printf 'fault=%s\nrevision=%s\n' "$2" "$1" > impl.conf
  git add -A && git commit -qm "$1" || fail "git commit $1"
  git rev-parse HEAD >> "$tmp/commits"
}
commit "c1 correct kernel" none
commit "c2 rename a variable" none
commit "c3 refactor the launcher" none
commit "c4 work in progress the built lockstep cannot judge" fault_of_a_newer_build
commit "c5 introduce a bug the dumped case does not reach" nsa_request_search_boundary
commit "c6 introduce the arange off-by-one" nsa_arange_off_by_one
commit "c7 unrelated change" nsa_arange_off_by_one
commit "c8 another unrelated change" nsa_arange_off_by_one
branch=$(git symbolic-ref --short HEAD)
introducing=$(sed -n 6p "$tmp/commits")
unjudgeable=$(sed -n 4p "$tmp/commits")

# The case really passes at c5 (a bug of the same op that this case does not detect).
git checkout -q "$(sed -n 5p "$tmp/commits")" && sh build.sh || fail "build c5"
"$LOCKSTEP" replay "$DUMP" --expect-pass $(cat build/flags) > /dev/null || fail "the case should pass at c5"
git checkout -q "$branch" || fail "checkout $branch"

export LOCKSTEP DUMP
git bisect start HEAD "$(sed -n 1p "$tmp/commits")" > /dev/null || fail "git bisect start"
# The README's recipe, with build.sh standing for `cmake --build`; every verdict is logged.
git bisect run sh -c 'sh build.sh > /dev/null || exit 125
  "$LOCKSTEP" replay "$DUMP" --expect-pass $(cat build/flags) > build/verdict; rc=$?
  echo "$(git rev-parse HEAD) $rc $(cat build/verdict) [$(git log -1 --format=%s)]" >> ../bisect.log; exit $rc' > "$tmp/bisect.out" 2>&1 \
  || { cat "$tmp/bisect.out"; fail "git bisect run"; }
grep -q "^$introducing is the first bad commit" "$tmp/bisect.out" \
  || { cat "$tmp/bisect.out" "$tmp/bisect.log"; fail "git bisect did not name c6 ($introducing)"; }
grep -q "^$unjudgeable 125 expect-pass: cannot judge: " "$tmp/bisect.log" \
  || { cat "$tmp/bisect.log"; fail "the unjudgeable commit c4 was not skipped with exit 125"; }
grep -q "^$introducing 1 expect-pass: still fails: " "$tmp/bisect.log" \
  || { cat "$tmp/bisect.log"; fail "c6 was not judged 'still fails'"; }
git bisect reset > /dev/null 2>&1 || fail "git bisect reset"
cat "$tmp/bisect.log"
echo "git_bisect_test: all checks passed"
