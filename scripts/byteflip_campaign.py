#!/usr/bin/env python3
"""Byte-flip campaign over the fixture dumps (issue 13): mutate committed lockstep files and check that no
signal and no hang ever reaches the user of `lockstep replay`.

    nice -n 10 /usr/bin/python3 scripts/byteflip_campaign.py build/lockstep --mutants 10000 --jobs 2 \\
        --save-crashes /tmp/hdf5-crashes

Mutations (chosen per mutant from a seeded RNG): flip 1-8 random bits, overwrite 1-4 random bytes, or
truncate the file. Each mutant runs as `lockstep replay MUTANT --read-timeout T` under an outer timeout
of 10 s. Outcomes: exit 0/1 (the mutant is still a valid case: it ran), exit 2 (one-line error), of
which "corrupt HDF5 file" = the isolation caught a libhdf5 crash/timeout; exit 3 (internal error),
a signal, or the outer timeout (a hang) count as failures. Exit status: 0 iff no signal and no hang.
"""
import argparse
import collections
import concurrent.futures
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def mutate(data, rng):
    data = bytearray(data)
    kind = rng.choices(["bits", "bytes", "truncate"], weights=[6, 3, 1])[0]
    if kind == "bits":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == "bytes":
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.choice([0, 0xff, 0x7f, 0x80, rng.randrange(256)])
    else:
        data = data[:rng.randrange(len(data))]
    return kind, bytes(data)


def run_one(lockstep, path, read_timeout):
    t0 = time.monotonic()
    try:
        extra = ["--read-timeout", str(read_timeout)] if read_timeout > 0 else []  # 0: for builds without it
        p = subprocess.run([lockstep, "replay", path] + extra, capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        rc, err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rc, err = "hang", ""
    return rc, err, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lockstep")
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "dumps"))
    ap.add_argument("--mutants", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--read-timeout", type=float, default=2)
    ap.add_argument("--save-crashes", help="copy mutants that crashed/hung libhdf5 (caught) here")
    a = ap.parse_args()
    seeds = sorted(os.path.join(a.fixtures, f) for f in os.listdir(a.fixtures) if f.endswith(".h5"))
    originals = {s: open(s, "rb").read() for s in seeds}
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="lockstep-byteflip-")
    counts = collections.Counter()
    bad = []
    times = []
    if a.save_crashes:
        os.makedirs(a.save_crashes, exist_ok=True)

    def job(i):
        seed = seeds[i % len(seeds)]
        kind, data = mutate(originals[seed], random.Random(rng_seeds[i]))
        path = os.path.join(tmp, f"m{i}.h5")
        with open(path, "wb") as f:
            f.write(data)
        rc, err, secs = run_one(a.lockstep, path, a.read_timeout)
        keep = False
        if isinstance(rc, int) and rc == 2 and "corrupt HDF5 file" in err and a.save_crashes:
            shutil.copy(path, os.path.join(a.save_crashes, f"m{i}-{os.path.basename(seed)}"))
            keep = True
        if rc == "hang" or (isinstance(rc, int) and (rc < 0 or rc == 3)):
            shutil.copy(path, os.path.join(tmp, f"bad-m{i}.h5"))
        os.remove(path)
        return i, seed, kind, rc, err, secs, keep

    rng_seeds = [rng.getrandbits(64) for _ in range(a.mutants)]
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        for i, seed, kind, rc, err, secs, keep in ex.map(job, range(a.mutants)):
            times.append(secs)
            if rc == "hang":
                counts["hang"] += 1
                bad.append((i, seed, kind, "hang", ""))
            elif rc < 0:
                counts[f"signal {-rc}"] += 1
                bad.append((i, seed, kind, f"signal {-rc}", err))
            elif rc == 2:
                lines = err.strip().splitlines()
                counts["exit 2"] += 1
                if len(lines) != 1:
                    counts["exit 2 with != 1 line"] += 1
                    bad.append((i, seed, kind, "lines", err))
                if "the HDF5 library crashed" in err:
                    counts["exit 2: libhdf5 crashed (isolated)"] += 1
                if "the HDF5 library timed out" in err:
                    counts["exit 2: libhdf5 timed out (isolated)"] += 1
            else:
                counts[f"exit {rc}"] += 1
                if rc == 3:
                    bad.append((i, seed, kind, "exit 3", err))
            if (i + 1) % 1000 == 0:
                print(f"{i + 1} mutants, {time.monotonic() - t0:.0f} s: {dict(counts)}", flush=True)
    total = time.monotonic() - t0
    times.sort()
    print(f"byteflip: {a.mutants} mutants of {len(seeds)} fixtures (seed {a.seed}) in {total:.0f} s, "
          f"median {times[len(times) // 2] * 1000:.0f} ms, max {times[-1]:.1f} s per run")
    for k, v in sorted(counts.items()):
        print(f"  {k}: {v}")
    signals = sum(v for k, v in counts.items() if k.startswith("signal"))
    print(f"signals reaching the user: {signals}, hangs: {counts['hang']}, internal errors (exit 3): "
          f"{counts['exit 3']}, multi-line errors: {counts['exit 2 with != 1 line']}")
    for i, seed, kind, what, err in bad[:20]:
        print(f"  BAD mutant {i} ({kind} of {os.path.basename(seed)}): {what}: {err.strip()[:300]}")
    if bad:
        print(f"  (bad mutants kept in {tmp})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if signals == 0 and counts["hang"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
