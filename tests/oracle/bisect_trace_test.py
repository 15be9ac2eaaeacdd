#!/usr/bin/env python3
"""`lockstep bisect --trace` (issue 11): an activation trace written from Python with
fixtures/lockstep_h5.py write_decoder_trace is bisected to its perturbed layer.

The "serving process" is lockstep's own bf16 device stack: `bisect --where --checkpoints` records every
layer output, this script lays them out as a trace (tokens, layers, hidden), rounds to bf16, and
  1. writes it unchanged: within budget (exit 0);
  2. multiplies layer 3's outputs by 1.25 from decode step 5 on (a wrong layer scalar): exit 1 and the verdict
     names step 5 layer 3;
  3. writes malformed traces: exit 2 with one line naming the file and object.
Usage: bisect_trace_test.py LOCKSTEP SRC_DIR"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

lockstep, src = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "fixtures"))
from lockstep_h5 import round_bf16, write_decoder_trace  # noqa: E402


def run(*args):
    p = subprocess.run([lockstep, "bisect", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def fail(msg):
    print("FAILED:", msg)
    sys.exit(1)


with tempfile.TemporaryDirectory() as tmp:
    cp = os.path.join(tmp, "cp.h5")
    rc, out, err = run("--where", "--steps", "12", "--seed", "3", "--checkpoints", cp)
    if rc != 0:
        fail(f"checkpoint run: exit {rc}: {out}{err}")
    f = h5py.File(cp, "r")
    ops = f.attrs["op_names"]
    ops = (ops.decode() if isinstance(ops, bytes) else ops).split(",")
    m = f["op"][:] == ops.index("layer_out")
    idx = np.nonzero(m)[0]
    layers = int(f["layer"][:][m].max()) + 1
    steps = int(f["step"][:][m].max())
    prefill = int(f["part_rows"][idx[0]])
    hidden = int(f["part_cols"][idx[0]])
    dev = f["device"][:]
    trace = np.zeros((prefill + steps, layers, hidden), np.float32)
    for i in idx:
        s, l, n = int(f["step"][i]), int(f["layer"][i]), int(f["part_rows"][i] * f["part_cols"][i])
        t0 = 0 if s == 0 else prefill + s - 1
        v = dev[f["offset"][i]: f["offset"][i] + n].reshape(-1, hidden)
        trace[t0: t0 + v.shape[0], l] = v
    trace = round_bf16(trace)

    clean = os.path.join(tmp, "clean.h5")
    write_decoder_trace(clean, trace, seed=3, layers=layers, prefill=prefill, source="bf16 engine (lockstep device)")
    rc, out, err = run("--trace", clean)
    if rc != 0 or "verdict: the trace is within budget at all" not in out:
        fail(f"clean trace: exit {rc}: {out}{err}")

    bad = trace.copy()
    t0 = prefill + 5 - 1
    bad[t0:, 3] = round_bf16(bad[t0:, 3] * 1.25)
    perturbed = os.path.join(tmp, "perturbed.h5")
    write_decoder_trace(perturbed, bad, seed=3, layers=layers, prefill=prefill)
    rc, out, err = run("--trace", perturbed)
    if rc != 1 or "verdict: drift starts at step 5 layer 3\n" not in out or "<== first over budget" not in out:
        fail(f"perturbed trace: exit {rc}: {out}{err}")

    # Malformed traces: one error line naming the file and object.
    def expect_error(path, needle):
        rc, out, err = run("--trace", path)
        if rc != 2 or needle not in err or len(err.strip().splitlines()) != 1:
            fail(f"{path}: exit {rc}, expected 2 with '{needle}': {out}{err}")

    wrong_kind = os.path.join(tmp, "kind.h5")
    with h5py.File(wrong_kind, "w") as g:
        g.attrs["kind"] = "case"
    expect_error(wrong_kind, f"{wrong_kind}:/@kind = case: must be \"decoder_trace\"")
    no_data = os.path.join(tmp, "nodata.h5")
    with h5py.File(no_data, "w") as g:
        g.attrs["kind"] = "decoder_trace"
    expect_error(no_data, f"{no_data}:/layer_out: missing")
    short = os.path.join(tmp, "short.h5")
    write_decoder_trace(short, trace[:, :, :7], seed=3, layers=layers, prefill=prefill)
    expect_error(short, f"{short}:/layer_out = ({prefill + steps}, {layers}, 7): dimension 2 must equal the hidden")
    expect_error(os.path.join(tmp, "absent.h5"), "--trace = ")
print("bisect_trace_test: OK")
