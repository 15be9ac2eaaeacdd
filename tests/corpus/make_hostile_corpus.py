#!/usr/bin/env python3
"""Writes the hostile-input regression corpus (issue 13) into tests/corpus/hostile/ and its manifest.

Every file is small and must make `lockstep replay FILE` and `lockstep run --in FILE ...` exit 2 with one
line naming the file and the object (`needle`); tests/oracle/hostile_inputs_test.py replays them. Command
lines without a file (CLI ranges, item 9) are in the manifest too. Regenerate with

    /usr/bin/python3 tests/corpus/make_hostile_corpus.py

(the committed files are what the test replays; the libhdf5 crash mutants under hostile/hdf5_crash/ come
from scripts/byteflip_campaign.py and are not regenerated here).
"""
import json
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "fixtures"))
import lockstep_h5 as L  # noqa: E402

OUT = os.path.join(HERE, "hostile")
entries = []


def add(name, needle, item, commands=("replay", "run"), why=""):
    entries.append({"file": name, "needle": needle, "item": item, "commands": list(commands), "why": why})


def path(name):
    return os.path.join(OUT, name)


def kv_trace_fields(**over):
    f = {"page_size": 2, "full_size": 64, "swa_size": 64, "window": 4, "req_slots": 4, "max_context": 64,
         "commands": np.array([[0, 0, 0], [1, 0, 5], [2, 0, 0], [4, 0, 0]], np.int32)}
    f.update(over)
    return f


def page_table_fields(**over):
    f = {"page_size": 2, "window": 0, "full_pages": 8, "swa_pages": 0,
         "page_table": np.array([[1, 2, 3]], np.int32), "cache_seqlens": np.array([5], np.int32)}
    f.update(over)
    return f


def rpa_fields():
    """The fields of fixtures/lockstep_h5.py's example case (a valid bf16 causal case)."""
    captured = {}
    real = L.write_case
    L.write_case = lambda p, op, fields, **info: captured.update(fields)
    try:
        L._example_rpa_case("unused.h5")
    finally:
        L.write_case = real
    return captured


def raw_file(name, kind, op, build_case, libver=("v108", "v108"), **info):
    """A lockstep root written by hand; build_case(case_group) fills /case."""
    with h5py.File(path(name), "w", track_order=True, libver=libver) as f:
        f.attrs.create("lockstep_schema", 1, dtype=np.int64)
        f.attrs["kind"] = kind
        f.attrs["op"] = op
        for k, v in info.items():
            f.attrs[k] = v
        g = f.create_group("case", track_order=True)
        if build_case:
            build_case(g)
        return None


def write_attrs(g, fields):
    for k, v in fields.items():
        if isinstance(v, (np.ndarray, L.Bf16)):
            L._write_tensor(g, k, v)
        elif isinstance(v, str):
            g.attrs[k] = v
        elif isinstance(v, float):
            g.attrs.create(k, v, dtype=np.float64)
        else:
            g.attrs.create(k, int(v), dtype=np.int64)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".h5"):
            os.remove(path(f))

    # ---- item 1: kv_trace commands (N, 0) ------------------------------------------------------------
    L.write_case(path("kv_trace_commands_n_by_0.h5"), "kv_trace",
                 kv_trace_fields(commands=np.zeros((5, 0), np.int32)))
    add("kv_trace_commands_n_by_0.h5", "case.commands", 1, why="SIGSEGV: shape check skipped for empty tensors")

    # ---- item 2: integer ranges, NaN/Inf/1e300 in integer fields, cols * page_size -----------------
    L.write_page_table_dump(path("page_table_page_size_2p40.h5"), np.array([[1, 2, 3]]), np.array([5]),
                            page_size=2 ** 40, full_pages=8)
    add("page_table_page_size_2p40.h5", "/case/page_size = 1099511627776", 2, why="SIGFPE in the device launcher")
    L.write_page_table_dump(path("page_table_page_size_2p62.h5"), np.zeros((1, 4)), np.array([5]),
                            page_size=2 ** 62)
    add("page_table_page_size_2p62.h5", "/case/page_size", 2, why="cols * page_size overflows int64 (UB)")
    L.write_page_table_dump(path("page_table_cols_times_page_size.h5"), np.zeros((0, 1 << 20)),
                            np.zeros((0,)), page_size=4096)
    add("page_table_cols_times_page_size.h5", "(cols + 1) * page_size", 2,
        why="col * page_size overflows the kernels' int32")
    L.write_page_table_dump(path("page_table_window_2p32.h5"), np.array([[1, 2, 3]]), np.array([5]),
                            swa_page_table=np.array([[1, 2, 3]]), window=2 ** 32 + 3, full_pages=8, swa_pages=8)
    add("page_table_window_2p32.h5", "/case/window = 4294967299", 2, why="window narrowed to int32")
    L.write_case(path("kv_trace_window_2p32.h5"), "kv_trace", kv_trace_fields(window=2 ** 32 + 2))
    add("kv_trace_window_2p32.h5", "/case/window = 4294967298", 2, why="window narrowed to int32: false FAIL")
    rpa = rpa_fields()
    L.write_case(path("rpa_sliding_window_2p32.h5"), "ragged_paged_attention", dict(rpa, sliding_window=2 ** 32 + 1))
    add("rpa_sliding_window_2p32.h5", "/case/sliding_window = 4294967297", 2, why="narrowed to int32: false FAIL")
    for name, value, shown in (("nan", float("nan"), "nan"), ("inf", float("inf"), "inf"),
                               ("1e300", 1e300, "1e+300")):
        fn = f"kv_trace_page_size_{name}.h5"
        raw_file(fn, "case", "kv_trace", lambda g, v=value: write_attrs(g, kv_trace_fields(page_size=v)))
        add(fn, f"/case/page_size = {shown}", 2, why="double -> int64 conversion is undefined behaviour")

    # ---- item 3: data the user never named ------------------------------------------------------------
    def external(g):
        write_attrs(g, {k: v for k, v in kv_trace_fields().items() if k != "commands"})
        ds = g.create_dataset("commands", shape=(8, 3), dtype=np.int32, external=[("/etc/passwd", 0, 96)])
        ds.attrs["dtype"] = "i32"
    raw_file("kv_trace_external_storage.h5", "case", "kv_trace", external)
    add("kv_trace_external_storage.h5", "/case/commands", 3, why="reads /etc/passwd into the case")

    def virtual(g):
        write_attrs(g, {k: v for k, v in kv_trace_fields().items() if k != "commands"})
        layout = h5py.VirtualLayout(shape=(8, 3), dtype=np.int32)
        layout[:] = h5py.VirtualSource("/etc/passwd", "data", shape=(8, 3))
        g.create_virtual_dataset("commands", layout, fillvalue=0).attrs["dtype"] = "i32"
    raw_file("kv_trace_virtual_dataset.h5", "case", "kv_trace", virtual, libver=("v110", "v110"))
    add("kv_trace_virtual_dataset.h5", "/case/commands", 3, why="a virtual dataset reads other files (or FIFOs)")

    # ---- item 4: memory and time bombs ----------------------------------------------------------------
    def big_unwritten(name, shape, dtype, tag):
        def build(g):
            fields = dict(rpa)
            fields.pop(name)
            write_attrs(g, fields)
            ds = g.create_dataset(name, shape=shape, dtype=dtype, chunks=(1 << 16,) + shape[1:], fillvalue=0)
            ds.attrs["dtype"] = tag
        return build
    raw_file("rpa_2p28_page_indices.h5", "case", "ragged_paged_attention",
             big_unwritten("page_indices", (1 << 28,), np.int32, "i32"))
    add("rpa_2p28_page_indices.h5", "/case/page_indices", 4, why="14 KB file -> 3 GiB RSS, passes")
    raw_file("rpa_2p30_f64_q.h5", "case", "ragged_paged_attention",
             big_unwritten("q", (1 << 30,), np.float64, "f32"))
    add("rpa_2p30_f64_q.h5", "/case/q", 4, why="std::bad_alloc, exit 3 (11.5 GiB without a cap)")

    def gzip_bomb(g):
        write_attrs(g, kv_trace_fields())
    raw_file("kv_trace_gzip_outputs.h5", "dump", "kv_trace", gzip_bomb)
    with h5py.File(path("kv_trace_gzip_outputs.h5"), "a") as f:
        out = f.create_group("outputs").create_group("reference")
        # blob0: 16 MiB of zeros really compressed (~16 KB); blob1..15: 2^30 bytes each, gzip-chunked with
        # no chunk written (the fill value inflates). 15 GiB from a small file; each under the dataset cap.
        for i in range(16):
            n = (1 << 24) if i == 0 else (1 << 30)
            ds = out.create_dataset(f"blob{i}", shape=(n,), dtype=np.uint8, chunks=(1 << 20,),
                                    compression="gzip", compression_opts=9, fillvalue=0)
            if i == 0:
                ds[...] = np.zeros(n, np.uint8)
    add("kv_trace_gzip_outputs.h5", "/outputs/reference/blob", 4,
        why="gzip-chunked datasets inflate to 15 GiB (bad_alloc / OOM)")

    # ---- item 5: strictness -----------------------------------------------------------------------------
    L.write_case(path("rpa_unknown_field_softcap.h5"), "ragged_paged_attention", dict(rpa, softcap=30.0))
    add("rpa_unknown_field_softcap.h5", "/case/softcap: unknown field", 5, why="misspelling silently ignored")
    L.write_file(path("page_table_dump_kind_for_rpa.h5"), "page_table_dump", "ragged_paged_attention", case=rpa)
    add("page_table_dump_kind_for_rpa.h5", ":/op = ragged_paged_attention", 5,
        why="run accepted a page_table_dump of another op")
    L.write_file(path("kv_trace_empty_case.h5"), "case", "kv_trace", case={})
    add("kv_trace_empty_case.h5", "case.commands", 5, why="an empty /case ran (all defaults)")
    L.write_file(path("outputs_kind_without_case.h5"), "outputs", "kv_trace", outputs={"device": {}})
    add("outputs_kind_without_case.h5", ":/kind = outputs", 5, why="run ran an empty default case")
    L.write_case(path("rpa_file_for_kv_trace_op.h5"), "ragged_paged_attention", rpa)
    entries.append({"args": ["run", "--op", "kv_trace", "--in", "{corpus}/rpa_file_for_kv_trace_op.h5",
                             "--out", "{tmp}/out.h5"], "needle": ":/op = ragged_paged_attention: does not match --op",
                    "item": 5, "file": "rpa_file_for_kv_trace_op.h5", "why": "@op and --op disagree"})

    # ---- item 6: messages ---------------------------------------------------------------------------------
    forged = "nope\n\x1b[31mlockstep: error: forged second line\x1b[0m"
    L.write_file(path("op_with_control_characters.h5"), "case", forged, case=rpa)
    add("op_with_control_characters.h5", ":/op = nope\\x0a\\x1b[31mlockstep", 6,
        why="raw newline + ANSI escape forged a second error line; reported as --op")
    L.write_case(path("rpa_bad_fault.h5"), "ragged_paged_attention", rpa, fault="no_such_fault")
    add("rpa_bad_fault.h5", ":/fault = no_such_fault", 6, why="reported as --fault")
    L.write_case(path("rpa_bad_backend.h5"), "ragged_paged_attention", rpa, backend="tpu")
    add("rpa_bad_backend.h5", ":/backend = tpu", 6, why="bad @backend")
    L.write_case(path("rpa_field_name_newline.h5"), "ragged_paged_attention", dict(rpa, **{"soft\ncap": 1.0}))
    add("rpa_field_name_newline.h5", "/case/soft\\x0acap: unknown field", 6, why="raw newline in a field name")

    # ---- item 9: command-line ranges (no file) ---------------------------------------------------------------
    for args, needle in (
            (["fuzz", "--op", "pool_sizing", "--cases", "1", "--seed", "18446744073709551616"], "--seed: 18446744073709551616 is not an integer"),
            (["fuzz", "--op", "pool_sizing", "--cases", "1", "--seed", "1e23"], "--seed: 1e23 is not"),
            (["fuzz", "--op", "pool_sizing", "--cases", "1", "--seed", "-1"], "--seed: -1 is not"),
            (["fuzz", "--op", "pool_sizing", "--first-case", "9223372036854775807"], "--first-case"),
            (["fuzz", "--op", "pool_sizing", "--time-limit", "-1"], "--time-limit: -1 is not a finite number"),
            (["fuzz", "--op", "pool_sizing", "--time-limit", "nan"], "--time-limit: nan is not a finite number"),
            (["fuzz", "--op", "pool_sizing", "--cases", "0"], "--cases: 0 is not an integer in [1, 9223372036854775807]"),
            (["run", "--in", "{tmp}/same.h5", "--out", "{tmp}/same.h5"], "refusing to overwrite"),
            (["bogus"], "unknown command 'bogus'"),
            (["fuzz", "--op", "pool_sizing", "--cases", "1", "--dump-dir", "/dev/null"], "/dev/null"),
    ):
        entries.append({"args": args, "needle": needle, "item": 9 if "dump-dir" not in args else 8})

    entries.sort(key=lambda e: (e["item"], e.get("file", ""), " ".join(e.get("args", []))))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    print(f"wrote {sum(1 for e in entries if 'args' not in e)} files, {len(entries)} entries to {OUT}")


if __name__ == "__main__":
    main()
