#!/bin/bash
# The second real peer: the torch fallback of Gemma-4's MoE router (workers/torch_gemma4_routing.py, spec
# gemma4-kvcache-speculative.md §1.4) against lockstep's moe_routing, through the Python worker under the
# interpreter the worker's first line names (/usr/bin/python3 with Debian's python3-torch).
# Usage: worker_torch_test.sh LOCKSTEP SOURCE_DIR PYTHON [CASES]
#   - CASES cases (default 1000) pass and the summary names the capability restriction;
#   - the capability is load-bearing: a copy that declares none fails on ties / NaN (torch's own order);
#   - a broken copy (softmax over all experts, then gather: weights not renormalised over the K selected)
#     fails, shrinks, dumps, and `replay DUMP --impl` reproduces it; the real worker passes that dump.
# Exit 77 (skipped, with the reason printed) when /usr/bin/python3 cannot import torch (scripts/setup.sh
# installs python3-torch).
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"
. "$(dirname "$0")/impl_lib.sh"
CASES=${4:-1000}
WORKER=$SRC/workers/torch_gemma4_routing.py
TPY=$(head -1 "$WORKER" | sed 's/^#!//')
if ! "$TPY" -c "import torch, h5py, numpy" > /dev/null 2>&1; then
  echo "SKIPPED: $TPY cannot import torch, h5py and numpy (Debian python3-torch: run scripts/setup.sh)"
  exit 77
fi
cd "$tmp" || exit 1
"$LOCKSTEP" fuzz --op moe_routing --impl "python:$WORKER" --cases "$CASES" --dump-dir dumps > torch.txt 2>&1 ||
  fail "torch worker: exit $?: $(cat torch.txt)"
grep -qE "^moe_routing +$CASES cases +0 failing" torch.txt || fail "torch worker: $(cat torch.txt)"
grep -qE "impl torch-[^ ]*-gemma4_routing_fallback \(python:$WORKER\); cases restricted to its capabilities: gating_output elements finite and distinct per row" torch.txt ||
  fail "torch summary does not name the capabilities: $(cat torch.txt)"

derive_copy unrestricted.py "$WORKER" 's/^@op("moe_routing", capabilities=.*/@op("moe_routing")  # no capabilities/' \
  "# no capabilities"
"$LOCKSTEP" fuzz --op moe_routing --impl python:unrestricted.py --cases 500 --shrink-budget 50 --dump-dir dumps > free.txt 2>&1
rc=$?
[ $rc -eq 1 ] || fail "torch worker without capabilities: exit $rc, expected 1 (ties / NaN order): $(cat free.txt)"
grep -q "topk_ids.*FAIL\|topk_ids: " free.txt || fail "torch worker without capabilities: not an ids failure: $(cat free.txt)"

derive_copy broken_torch.py "$WORKER" \
  's/w = torch.softmax(logits.gather(1, ids), dim=-1, dtype=torch.float32)  # SOFTMAX.*/w = torch.softmax(logits, dim=-1, dtype=torch.float32).gather(1, ids)  # broken/' \
  "# broken"
impl_fails_and_replays "broken torch worker" broken.txt "python:$tmp/broken_torch.py" "python:$WORKER" \
  --op moe_routing --cases 200
grep -q "topk_weights FAIL" broken.txt || fail "broken torch worker: not a weights failure: $(cat broken.txt)"
echo "worker_torch_test: all passed"
