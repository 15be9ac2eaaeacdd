#!/bin/bash
# The real peer: JAX's ref_ragged_paged_attention (workers/jax_ragged_paged_attention.py) against lockstep's
# reference, through the Python worker and the project venv (.venv, made by scripts/setup.sh).
# Usage: worker_jax_test.sh LOCKSTEP SOURCE_DIR PYTHON [CASES]
#   - CASES cases (default 20: each new shape compiles JAX's ops anew, ~1-5 s) pass and the summary names the capability restriction;
#   - a broken copy (sliding window off by one) fails, shrinks, dumps, and `replay DUMP --impl` reproduces it.
# Exit 77 (skipped, with the reason printed) when .venv has no jax: scripts/setup.sh could not install it.
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
. "$(dirname "$0")/impl_lib.sh"
CASES=${4:-20}
VPY=$SRC/.venv/bin/python3
if ! "$VPY" -c "import jax, h5py, numpy" > /dev/null 2>&1; then
  echo "SKIPPED: no project venv with jax ($VPY): $(cat "$SRC/.venv-missing" 2>/dev/null || echo 'run scripts/setup.sh')"
  exit 77
fi
WORKER=$SRC/workers/jax_ragged_paged_attention.py
cd "$tmp" || exit 1
"$LOCKSTEP" fuzz --op ragged_paged_attention --impl "python:$WORKER" --cases "$CASES" --dump-dir dumps > jax.txt 2>&1 ||
  fail "JAX worker: exit $?: $(cat jax.txt)"
grep -qE "^ragged_paged_attention +$CASES cases +0 failing" jax.txt || fail "JAX worker: $(cat jax.txt)"
grep -qF "impl jax-0.10.2-ref_ragged_paged_attention (python:$WORKER); cases restricted to its capabilities: mode in {causal}" jax.txt ||
  fail "JAX summary does not name the capabilities: $(cat jax.txt)"

derive_copy broken_jax.py "$WORKER" \
  's/sliding_window=int(window) if window > 0 else None,/sliding_window=int(window) + 1 if window > 0 else None,  # broken/' "# broken"
impl_fails_and_replays "broken JAX worker" broken.txt "python:$tmp/broken_jax.py" "python:$WORKER" \
  --op ragged_paged_attention --cases 200 --shrink-budget 30
echo "worker_jax_test: all passed"
