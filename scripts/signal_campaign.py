#!/usr/bin/env python3
"""Random-time SIGINT/SIGTERM campaign (issue 13): start lockstep, send it one signal at a random moment,
and check that the interruption is clean.

    nice -n 10 /usr/bin/python3 scripts/signal_campaign.py build/lockstep --signals 120

Commands (round robin): a fuzz campaign over every op, a fault campaign that finds, shrinks and dumps a
failure (so signals land while dumps are written), `run` (writes an outputs file) and `replay`. Delays
are uniform in [0, 1.2] s, one run in five in [0, 30] ms (start-up). For every run:
  * the process is never killed by the signal (it exits by itself) and exits within 15 s of it;
  * exit code 130 if it was still running when the signal came (0/1 if it had already finished);
  * an interrupted fuzz campaign still prints its `summary:` line;
  * no `*.tmp.*` file is left in the dump or output directory;
  * every dump written is valid (`lockstep replay` exits 0 or 1) and every outputs file opens.
Exit status 0 iff every run was clean.
"""
import argparse
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lockstep")
    ap.add_argument("--signals", type=int, default=120)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--only", help="run only this command (fuzz, fault, run, replay)")
    ap.add_argument("--debug-hangs", action="store_true", help="print thread stacks of a process that does not exit")
    a = ap.parse_args()
    lockstep = os.path.abspath(a.lockstep)
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="lockstep-signals-")
    case = os.path.join(tmp, "case.h5")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "fixtures", "lockstep_h5.py"), case], check=True,
                   capture_output=True)
    fixture = sorted(glob.glob(os.path.join(ROOT, "fixtures", "dumps", "ragged_paged_attention-*.h5")))[0]
    commands = [
        ("fuzz", ["fuzz", "--cases", "100000", "--dump-dir", "{out}"]),
        ("fault", ["fuzz", "--op", "ragged_paged_attention", "--fault", "read_past_kv_len", "--cases", "1000",
                   "--dump-dir", "{out}"]),
        ("run", ["run", "--in", case, "--out", "{out}/out.h5", "--backend", "device"]),
        ("replay", ["replay", fixture]),
    ]
    stats = {"interrupted": 0, "finished first": 0, "bad": 0, "dumps checked": 0, "outputs checked": 0}
    bad = []
    for i in range(a.signals):
        name, args = commands[i % len(commands)]
        if a.only and name != a.only:
            continue
        out = os.path.join(tmp, f"run{i}")
        os.makedirs(out)
        sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
        delay = rng.uniform(0, 0.03) if rng.random() < 0.2 else rng.uniform(0, 1.2)
        argv = [lockstep] + [x.replace("{out}", out) for x in args]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=out,
                             stdin=subprocess.DEVNULL)
        time.sleep(delay)
        was_running = p.poll() is None
        if was_running:
            p.send_signal(sig)
        try:
            so, se = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            if a.debug_hangs:
                os.system(f"grep -E 'State|Threads|Sig' /proc/{p.pid}/status; gdb -p {p.pid} -batch "
                          f"-ex 'print \\'(anonymous namespace)::g_interrupted\\'' -ex 'thread apply all bt 6' 2>/dev/null "
                          f"| grep -E '^#|^Thread|^\\$' | head -40")
            p.kill()
            so, se = p.communicate()
            rc = "no exit within 15 s"
        else:
            rc = p.returncode
        so, se = so.decode(errors="replace"), se.decode(errors="replace")
        problems = []
        if isinstance(rc, str):
            problems.append(rc)
        elif rc < 0:
            problems.append(f"killed by signal {-rc}")
        elif was_running and rc != 130 and rc not in (0, 1):
            problems.append(f"exit {rc}")
        elif was_running and rc != 130:
            # The signal raced with a normal exit (it came after the work was done): allowed, counted.
            stats["finished first"] += 1
        if not isinstance(rc, str) and rc == 130:
            stats["interrupted"] += 1
            if name in ("fuzz", "fault") and "summary:" not in so:
                problems.append("interrupted campaign printed no summary")
        elif not was_running:
            stats["finished first"] += 1
        leftovers = glob.glob(os.path.join(out, "**", "*.tmp.*"), recursive=True)
        if leftovers:
            problems.append(f"temporary files left: {leftovers}")
        for dump in glob.glob(os.path.join(out, "*.h5")):
            if os.path.basename(dump) == "out.h5":
                stats["outputs checked"] += 1
                chk = subprocess.run(["/usr/bin/python3", "-c",
                                      "import sys,h5py; f=h5py.File(sys.argv[1],'r'); "
                                      "assert f.attrs['kind']=='outputs' and 'outputs' in f", dump],
                                     capture_output=True)
            else:
                stats["dumps checked"] += 1
                chk = subprocess.run([lockstep, "replay", dump], capture_output=True)
                chk.returncode = 0 if chk.returncode in (0, 1) else chk.returncode
            if chk.returncode != 0:
                problems.append(f"invalid file {dump}: {chk.stderr.decode(errors='replace').strip()[:200]}")
        line = (f"{i:3d} {name:6s} {signal.Signals(sig).name:7s} after {delay * 1000:6.0f} ms: "
                f"{'exit ' + str(rc) if not isinstance(rc, str) else rc}")
        if problems:
            stats["bad"] += 1
            bad.append(f"{line}: {'; '.join(problems)} | stderr: {se.strip()[:200]}")
            print("BAD", line, problems, flush=True)
        else:
            print("ok ", line, flush=True)
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"signal campaign: {a.signals} runs (seed {a.seed}): {stats['interrupted']} interrupted (exit 130), "
          f"{stats['finished first']} finished before the signal took effect, {stats['dumps checked']} dumps and "
          f"{stats['outputs checked']} outputs files checked, {stats['bad']} bad")
    for b in bad:
        print("  ", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
