#!/usr/bin/env python3
"""Replays the hostile-input regression corpus (tests/corpus/hostile/manifest.json, issue 13).

usage: hostile_inputs_test.py LOCKSTEP CORPUS_DIR

Every file entry runs as `lockstep replay FILE` and/or `lockstep run --in FILE --out TMP --backend device`,
every command entry as written. Each must: exit 2 (not a signal, not 0/1/3), finish in under 10 s, peak
under 1 GiB RSS, and print exactly one stderr line `lockstep: error: ...` that names the file (when
there is one) and contains the entry's needle, with no control characters. Also: a FIFO given to run
and replay is refused (it used to block forever) and `run --in X --out X` leaves X intact.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LIMIT_S = 10.0
LIMIT_RSS_KIB = 1 << 20


def run(lockstep, args, cwd):
    """(exit code or -signal, stdout, stderr, seconds, max RSS KiB); a run past LIMIT_S is killed."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([lockstep] + args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             start_new_session=True, cwd=cwd)
        deadline = t0 + LIMIT_S
        status, rusage = None, None
        while True:
            pid, st, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                status, rusage = st, ru
                break
            if time.monotonic() > deadline:
                os.killpg(p.pid, signal.SIGKILL)
                _, status, rusage = os.wait4(p.pid, 0)
                p.returncode = -999
                break
            time.sleep(0.01)
        secs = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        code = -999 if p.returncode == -999 else (
            -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace"), secs, rusage.ru_maxrss


def main():
    lockstep, corpus = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    entries = json.load(open(os.path.join(corpus, "manifest.json")))
    crash_dir = os.path.join(corpus, "hdf5_crash")
    if os.path.isdir(crash_dir):
        for f in sorted(os.listdir(crash_dir)):
            if f.endswith(".h5"):
                entries.append({"file": "hdf5_crash/" + f, "needle": "corrupt HDF5 file", "item": "6-hdf5",
                                "commands": ["replay", "run"]})
    tmp = tempfile.mkdtemp(prefix="lockstep-hostile-")
    failures = []
    checked = 0
    try:
        same = os.path.join(tmp, "same.h5")
        shutil.copy(os.path.join(corpus, "rpa_file_for_kv_trace_op.h5"), same)
        same_bytes = open(same, "rb").read()
        fifo = os.path.join(tmp, "fifo.h5")
        os.mkfifo(fifo)
        runs = []
        for e in entries:
            if "args" in e:
                args = [a.replace("{corpus}", corpus).replace("{tmp}", tmp) for a in e["args"]]
                runs.append((e, args, os.path.join(corpus, e["file"]) if "file" in e else None))
                continue
            f = os.path.join(corpus, e["file"])
            for cmd in e["commands"]:
                args = (["replay", f] if cmd == "replay" else
                        ["run", "--in", f, "--out", os.path.join(tmp, "out.h5"), "--backend", "device"])
                runs.append((e, args, f))
        for cmd in ("replay", "run"):
            args = ["replay", fifo] if cmd == "replay" else ["run", "--in", fifo, "--out", os.path.join(tmp, "o.h5")]
            runs.append(({"needle": "not a regular file", "item": 3}, args, fifo))

        for e, args, f in runs:
            checked += 1
            code, out, err, secs, rss = run(lockstep, args, tmp)
            what = "lockstep " + " ".join(args)
            lines = err.splitlines()
            problems = []
            if code == -999:
                problems.append(f"did not finish within {LIMIT_S} s")
            elif code < 0:
                problems.append(f"killed by signal {-code}")
            elif code != 2:
                problems.append(f"exit code {code}, expected 2")
            if secs >= LIMIT_S:
                problems.append(f"took {secs:.1f} s")
            if rss >= LIMIT_RSS_KIB:
                problems.append(f"peak RSS {rss >> 10} MiB")
            if len(lines) != 1 or not lines[0].startswith("lockstep: error: "):
                problems.append(f"expected one 'lockstep: error:' line, got {len(lines)} lines")
            if f is not None and f not in err:
                problems.append("the message does not name the file")
            if e["needle"] not in err:
                problems.append(f"the message does not contain {e['needle']!r}")
            if any(ord(c) < 32 and c != "\n" or ord(c) == 127 for c in err):
                problems.append("control characters in the message")
            status = "ok " if not problems else "FAIL"
            print(f"{status} item {e['item']}: {what} -> exit {code}, {secs:.2f} s, {rss >> 10} MiB: {err.strip()[:300]}")
            if problems:
                failures.append(f"{what}: {'; '.join(problems)}")
        if open(same, "rb").read() != same_bytes:
            failures.append("run --in X --out X modified X")

        # Item 8: a dump that cannot be written (its path is taken by a directory) must not lose the
        # failure: the case, the summary and a repro command are still printed.
        dumps = os.path.join(tmp, "dumps")
        fault = ["fuzz", "--op", "ragged_paged_attention", "--fault", "read_past_kv_len", "--cases", "1000",
                 "--dump-dir", dumps]
        code, out, err, secs, rss = run(lockstep, fault, tmp)
        written = [f for f in os.listdir(dumps)] if os.path.isdir(dumps) else []
        if code != 0 or len(written) != 1:
            failures.append(f"fault campaign did not detect and dump: exit {code}, {written}, {err.strip()}")
        else:
            os.remove(os.path.join(dumps, written[0]))
            os.mkdir(os.path.join(dumps, written[0]))
            code, out, err, secs, rss = run(lockstep, fault, tmp)
            checked += 1
            want = ["first failure: case", "dump: not written", "reproduce: lockstep fuzz --op ragged_paged_attention",
                    "summary: "]
            missing = [w for w in want if w not in out]
            print(f"{'ok ' if code == 0 and not missing else 'FAIL'} item 8: dump path taken by a directory -> "
                  f"exit {code}, missing {missing}: {err.strip()[:200]}")
            if code != 0 or missing:
                failures.append(f"unwritable dump lost the failure: exit {code}, missing {missing}, stderr {err.strip()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"hostile_inputs_test: {checked} runs, {len(failures)} failing")
    for f in failures:
        print("FAILED:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
