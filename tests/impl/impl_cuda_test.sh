#!/bin/bash
# `--impl` with a plugin whose tensors live in CUDA device memory (examples/plugin, LOCKSTEP_EXAMPLE_CUDA).
# Without a usable GPU: lockstep refuses it with one line giving the reason, and the test is skipped (77) with
# that reason. With one: the plugin passes CASES cases on every op it declares.
# Usage: impl_cuda_test.sh LOCKSTEP SOURCE_DIR PYTHON PLUGIN [CASES]
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
PLUGIN=$4
CASES=${5:-300}
cd "$tmp" || exit 1
if "$LOCKSTEP" list | grep -q "cuda unavailable"; then
  expect_error "uses CUDA device memory, not available here: no CUDA device" fuzz --impl "$PLUGIN" --cases 1
  echo "SKIP: $(cat "$tmp/err.txt")"
  exit 77
fi
"$LOCKSTEP" fuzz --impl "$PLUGIN" --cases "$CASES" > fuzz.txt 2>&1 || fail "CUDA-memory plugin: exit $?: $(cat fuzz.txt)"
cat fuzz.txt
echo "impl_cuda_test: passed"
