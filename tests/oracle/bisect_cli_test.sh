#!/usr/bin/env bash
# `lockstep bisect` (issue 11) through the CLI: --where exits 0 within budget and 1 naming the first
# (step, layer, op) over budget with its chain; --which-fusion prints the minimal fusion set; --checkpoints
# writes every checkpoint to HDF5 (read back with h5py); bad options exit 2 with one line naming the option.
set -u
. "$(dirname "$0")/test_lib.sh" "$@"

# Clean: within budget, the per-op budget table lists every op.
"$LOCKSTEP" bisect --where --steps 8 > "$tmp/clean.txt"; rc=$?
[ $rc -eq 0 ] || fail "bisect --where (no fault): exit $rc: $(cat "$tmp/clean.txt")"
grep -q "^verdict: within budget at all 972 checkpoints" "$tmp/clean.txt" || fail "clean verdict: $(cat "$tmp/clean.txt")"
for op in input_norm qkv_proj qkv_norm rope attention o_proj post_attn_norm mlp_gate_up mlp_act mlp_down \
          router_proj routing experts ffn_tail ple_gate ple_act ple_proj layer_out; do
  grep -q "^  $op " "$tmp/clean.txt" || fail "budget table lacks $op: $(cat "$tmp/clean.txt")"
done

# A drift fault: exit 1, the injected (step, layer, op), the chain, and the command that reproduces it.
"$LOCKSTEP" bisect --where --steps 8 --fault rope_position_off_by_one_on_decode > "$tmp/rope.txt"; rc=$?
[ $rc -eq 1 ] || fail "bisect --where --fault rope...: exit $rc"
grep -q "^verdict: drift starts at step 1 layer 0 op rope$" "$tmp/rope.txt" || fail "rope verdict: $(cat "$tmp/rope.txt")"
grep -q "rope .*<== first over budget" "$tmp/rope.txt" || fail "rope chain: $(cat "$tmp/rope.txt")"
grep -q "^reproduce: lockstep bisect --where --seed 1 " "$tmp/rope.txt" || fail "no reproduce line"

# --which-fusion: exactly the injected fusion.
"$LOCKSTEP" bisect --which-fusion --steps 8 --fault routing_weights_not_scaled > "$tmp/wf.txt"; rc=$?
[ $rc -eq 0 ] || fail "bisect --which-fusion: exit $rc: $(cat "$tmp/wf.txt")"
grep -q "^verdict: minimal responsible fusion set: routing$" "$tmp/wf.txt" || fail "which-fusion: $(cat "$tmp/wf.txt")"
# The fault's fusion switched off: nothing drifts, nothing to bisect (exit 1).
"$LOCKSTEP" bisect --which-fusion --steps 4 --fault routing_weights_not_scaled --fusions qkv_norm,triple_norm \
  > "$tmp/wf2.txt"; rc=$?
[ $rc -eq 1 ] || fail "which-fusion without the fault's fusion: exit $rc"
grep -q "stays within budget: nothing to bisect" "$tmp/wf2.txt" || fail "which-fusion off: $(cat "$tmp/wf2.txt")"

# Checkpoints to HDF5: one row per (step, layer, op, part), values and stats.
"$LOCKSTEP" bisect --where --steps 2 --layers 2 --checkpoints "$tmp/cp.h5" > "$tmp/cp.txt" || fail "checkpoints run"
if "$PY" -c "import h5py" 2> /dev/null; then
  "$PY" - "$tmp/cp.h5" <<'PYEOF' || fail "checkpoint file"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["kind"] in (b"decoder_checkpoints", "decoder_checkpoints"), f.attrs["kind"]
ops = f.attrs["op_names"]
ops = (ops.decode() if isinstance(ops, bytes) else ops).split(",")
assert len(ops) == 18, ops
rows = len(f["step"])
# parts per (step, layer): qkv_proj 3, qkv_norm 3, rope 2, post_attn_norm 4, mlp_gate_up 2, routing 2, others 1
assert rows == 3 * 2 * (12 + 3 + 3 + 2 + 4 + 2 + 2), rows
i = rows - 1
n = f["part_rows"][i] * f["part_cols"][i]
dev = f["device"][f["offset"][i]: f["offset"][i] + n]
ref = f["local_reference"][f["offset"][i]: f["offset"][i] + n]
assert np.max(np.abs(dev - ref)) == f["local_max_abs"][i]
assert f["local_ulp_hist"].shape == (rows, 8)
assert ops[f["op"][i]] == "layer_out"
PYEOF
else
  echo "note: h5py not importable by $PY; checkpoint file contents not checked"
fi

# Pictures (issue 11 item 4): with matplotlib two PNGs; without it one note line — the report is the same.
"$LOCKSTEP" bisect --where --steps 3 --layers 2 --plot "$tmp/pic" > "$tmp/pic.txt" || fail "plot run: $(cat "$tmp/pic.txt")"
grep -q "^verdict: within budget" "$tmp/pic.txt" || fail "plot run verdict: $(cat "$tmp/pic.txt")"
if "$PY" -c "import matplotlib, h5py" 2> /dev/null; then
  for png in "$tmp/pic_heatmap.png" "$tmp/pic_growth.png"; do
    [ -s "$png" ] || fail "no $png: $(cat "$tmp/pic.txt")"
    [ "$(head -c 4 "$png" | tail -c 3)" = "PNG" ] || fail "$png is not a PNG"
  done
  grep -q "^pictures: .*pic_heatmap.png" "$tmp/pic.txt" || fail "no pictures line: $(cat "$tmp/pic.txt")"
else
  grep -q "^pictures: not drawn" "$tmp/pic.txt" || fail "no 'not drawn' note without matplotlib: $(cat "$tmp/pic.txt")"
fi
[ ! -e "$tmp/pic_checkpoints.h5" ] || fail "the temporary checkpoint file of --plot was left behind"

# Bad options: one line naming the option and its value.
expect_error "--fault = nope: unknown decoder_stack fault" bisect --where --fault nope
expect_error "--fusions = fused_everything: unknown fusion" bisect --where --fusions fused_everything
expect_error "decoder.layers = 0: must be in [1, 64]" bisect --where --layers 0
expect_error "give exactly one of --where or --which-fusion" bisect --steps 2
expect_error "--budget-scale = -1" bisect --where --budget-scale -1 --steps 1
echo "bisect_cli_test: OK"
