#!/bin/bash
# Session-20 independent cross-check, group "numeric": numpy workers written from the spec text only
# (tests/impl/workers/xcheck_{rmsnorm,qkv_rmsnorm,rope,ragged_paged_attention,kv_sharing}.py) against lockstep's reference,
# through the Python worker under /usr/bin/python3 (numpy, h5py).
# Usage: xcheck_numeric_test.sh LOCKSTEP SOURCE_DIR PYTHON [SCALE]
#   - each worker passes its cases with 0 failures (rmsnorm / qkv_rmsnorm also in fp32 arithmetic, rope in an
#     fp32 evaluation of HF's formula and in HF's own bf16 evaluation, RPA in fp32: legitimate implementations the derived tolerances accept);
#   - a broken copy of each, derived with sed from the line the worker marks, fails, shrinks, dumps, and
#     `replay DUMP --impl` reproduces it; the good worker passes that dump:
#       rmsnorm  EPS      eps added outside the square root: 1 / (sqrt(mean(x^2)) + eps)
#       qkv      VNORM    v normalised with the k weight (v has no weight)
#       rope     PAIRING  the proportional type's exponent over the rotated width, not the full head_dim
#       rpa      SEGMENT  an item row's shared prefix taken as p <= prefix_end (one key too many)
#       kv_sharing SOURCE the source layer searched among all earlier layers (shared ones included), not
#                         only [0, first_shared)
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
. "$(dirname "$0")/impl_lib.sh"
SCALE=${4:-1}
export LOCKSTEP_PYTHON=$PY
if ! "$PY" -c "import h5py, numpy" > /dev/null 2>&1; then
  echo "SKIPPED: $PY cannot import h5py and numpy"
  exit 77
fi
W=$SRC/tests/impl/workers
cd "$tmp" || exit 1

passes() {  # passes OP WORKER CASES [ENV=VALUE...]
  local op=$1 worker=$2 n=$3
  shift 3
  env "$@" "$LOCKSTEP" fuzz --op "$op" --impl "python:$worker" --cases "$n" --seed 7 --dump-dir dumps > pass.txt 2>&1 ||
    fail "$op $* : exit $?: $(cat pass.txt)"
  grep -qE "^$op +$n cases +0 failing" pass.txt || fail "$op $*: $(cat pass.txt)"
}
passes rmsnorm "$W/xcheck_rmsnorm.py" $((600 * SCALE))
passes rmsnorm "$W/xcheck_rmsnorm.py" $((300 * SCALE)) XCHECK_NORM_DTYPE=float32
passes qkv_rmsnorm "$W/xcheck_qkv_rmsnorm.py" $((400 * SCALE))
passes qkv_rmsnorm "$W/xcheck_qkv_rmsnorm.py" $((300 * SCALE)) XCHECK_NORM_DTYPE=float32
passes rope "$W/xcheck_rope.py" $((400 * SCALE))
passes rope "$W/xcheck_rope.py" $((500 * SCALE)) XCHECK_ROPE_MODE=f32
passes rope "$W/xcheck_rope.py" $((400 * SCALE)) XCHECK_ROPE_MODE=hf32
passes ragged_paged_attention "$W/xcheck_ragged_paged_attention.py" $((400 * SCALE))
passes ragged_paged_attention "$W/xcheck_ragged_paged_attention.py" $((200 * SCALE)) XCHECK_RPA_DTYPE=float32
passes kv_sharing "$W/xcheck_kv_sharing.py" $((400 * SCALE))

broken() { derive_copy "broken_$1.py" "$2" "$3" "# broken"; }  # broken NAME WORKER SED-EXPR -> broken_NAME.py
broken rmsnorm "$W/xcheck_rmsnorm.py" \
  's|return FT.type(1.0) / np.sqrt(np.mean(v \* v, axis=-1, keepdims=True, dtype=FT) + FT.type(eps))  # EPS|return FT.type(1.0) / (np.sqrt(np.mean(v * v, axis=-1, keepdims=True, dtype=FT)) + FT.type(eps))  # broken|'
impl_fails_and_replays "broken rmsnorm" b_rms.txt "python:$tmp/broken_rmsnorm.py" "python:$W/xcheck_rmsnorm.py" \
  --op rmsnorm --cases 300
grep -q "out .*FAIL\|FAIL .*out" b_rms.txt || fail "broken rmsnorm: not an out failure: $(cat b_rms.txt)"

broken qkv "$W/xcheck_qkv_rmsnorm.py" 's|head_norm(case\["v"\], nkv, hd, eps)  # VNORM|head_norm(case["v"], nkv, hd, eps, case["k_weight"])  # broken|'
impl_fails_and_replays "broken qkv_rmsnorm" b_qkv.txt "python:$tmp/broken_qkv.py" "python:$W/xcheck_qkv_rmsnorm.py" \
  --op qkv_rmsnorm --cases 300
grep -q "v_out .*FAIL" b_qkv.txt || fail "broken qkv_rmsnorm: not a v_out failure: $(cat b_qkv.txt)"

broken rope "$W/xcheck_rope.py" 's|expo_den = hd  # PAIRING|expo_den = 2 * pairs  # broken|'
impl_fails_and_replays "broken rope" b_rope.txt "python:$tmp/broken_rope.py" "python:$W/xcheck_rope.py" \
  --op rope --cases 300
grep -q "rope_type=proportional" b_rope.txt || fail "broken rope: not a proportional case: $(cat b_rope.txt)"

broken rpa "$W/xcheck_ragged_paged_attention.py" 's|item = (key < pe)|item = (key <= pe)|; s|# SEGMENT$|# broken|'
impl_fails_and_replays "broken rpa" b_rpa.txt "python:$tmp/broken_rpa.py" "python:$W/xcheck_ragged_paged_attention.py" \
  --op ragged_paged_attention --cases 600
grep -q "mode=segment" b_rpa.txt || fail "broken rpa: not a segment case: $(cat b_rpa.txt)"
broken kv "$W/xcheck_kv_sharing.py" 's|cands = \[j for j in range(first_shared) if types\[j\] == types\[i\]\]  # SOURCE|cands = [j for j in range(i) if types[j] == types[i]]  # broken|'
impl_fails_and_replays "broken kv_sharing" b_kv.txt "python:$tmp/broken_kv.py" "python:$W/xcheck_kv_sharing.py" \
  --op kv_sharing --cases 300
grep -q "kv_source: .* differ" b_kv.txt || fail "broken kv_sharing: not a kv_source failure: $(cat b_kv.txt)"
echo "xcheck_numeric_test: all passed"
