#!/usr/bin/env python3
"""Runs the loader libFuzzer target (fuzz/loader) and separates lockstep's faults from libhdf5's.

    run_fuzzer.py FUZZER --time 20 [--jobs 1] [--work DIR] [--keep]

1. Replays the regression corpus in process: fixtures/dumps, tests/corpus/hostile and
   fuzz/loader/regression (inputs that once crashed lockstep's code); every one must pass.
2. Fuzzes for --time seconds from those seeds in fork mode (-fork=JOBS, crashes/timeouts/OOMs do not
   stop the run: libhdf5 1.10.8 crashes and hangs on some corrupted files, see issue 13).
3. Re-runs every crash / timeout / OOM / leak artefact alone and classifies it by the first stack frame
   outside the sanitizer runtime and libc: in libhdf5 -> a known library fault (counted, kept with
   --keep); anywhere else -> a fault in lockstep's code: the run fails and the input is printed.

Exit status 0 iff the replay passed and no artefact is lockstep's. Long run (README):
    nice -n 10 fuzz/loader/run_fuzzer.py build/fuzz/lockstep_loader_fuzzer --time 3600 --jobs 2 --keep
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SEED_DIRS = [os.path.join(ROOT, "fixtures", "dumps"), os.path.join(ROOT, "tests", "corpus", "hostile"),
             os.path.join(HERE, "regression")]
ENV = dict(os.environ,
           ASAN_OPTIONS="allocator_may_return_null=1:max_allocation_size_mb=1024:fast_unwind_on_malloc=0:"
                        "detect_leaks=1",
           LSAN_OPTIONS="suppressions=" + os.path.join(HERE, "lsan.supp") + ":print_suppressions=0",
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
COMMON = ["-rss_limit_mb=2048", "-malloc_limit_mb=2048", "-timeout=10", "-max_len=131072"]
RUNTIME = re.compile(r"(libclang_rt|compiler-rt|/sanitizer_common/|/asan/|/ubsan/|/lsan/|libc\.so|libc-|"
                     r"libstdc\+\+|__interceptor_|__asan|__sanitizer|__lsan|__ubsan|libFuzzer|fuzzer::|"
                     r"csu/|sysdeps/|\bmalloc\b|\bcalloc\b|\brealloc\b|\bfree\b|operator new|operator delete)")


def seeds():
    out = []
    for d in SEED_DIRS:
        out += sorted(glob.glob(os.path.join(d, "*.h5")))
        out += sorted(f for f in glob.glob(os.path.join(d, "*")) if os.path.basename(f).startswith("crash-"))
    return out


def classify(fuzzer, artefact):
    """('libhdf5' | 'lockstep', first frame line) for one artefact re-run alone."""
    p = subprocess.run([fuzzer] + COMMON + [artefact], env=ENV, capture_output=True, timeout=120)
    report = p.stderr.decode(errors="replace")
    if p.returncode == 0:
        return "flaky", "passes when re-run alone"
    frames = re.findall(r"^\s*#\d+ 0x[0-9a-f]+ (?:in )?(.*)$", report, re.M)
    for fr in frames:
        if RUNTIME.search(fr):
            continue
        return ("libhdf5" if "libhdf5" in fr or re.match(r"H5\w+ \(", fr) else "lockstep"), fr.strip()[:200]
    return "lockstep", (report.strip().splitlines() or ["(no report)"])[-1][:200]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fuzzer")
    ap.add_argument("--time", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (artefacts, corpus)")
    a = ap.parse_args()
    a.fuzzer = os.path.abspath(a.fuzzer)
    work = a.work or tempfile.mkdtemp(prefix="lockstep-loader-fuzz-")
    os.makedirs(os.path.join(work, "corpus"), exist_ok=True)
    ok = True

    # 1. regression replay, in process
    inputs = seeds()
    p = subprocess.run([a.fuzzer] + COMMON + inputs, env=ENV, capture_output=True)
    print(f"replay: {len(inputs)} regression inputs -> exit {p.returncode}")
    if p.returncode != 0:
        print(p.stderr.decode(errors="replace")[-4000:])
        ok = False

    # 2. bounded fuzzing in fork mode
    execs = 0
    if a.time > 0:
        cmd = [a.fuzzer] + COMMON + [f"-fork={a.jobs}", "-ignore_crashes=1", "-ignore_timeouts=1",
                                     "-ignore_ooms=1", f"-max_total_time={a.time}",
                                     "-artifact_prefix=" + work + "/", os.path.join(work, "corpus")] + SEED_DIRS[:2]
        p = subprocess.run(cmd, env=ENV, capture_output=True, cwd=work)
        log = p.stderr.decode(errors="replace")
        open(os.path.join(work, "fuzz.log"), "w").write(log)
        stats = re.findall(r"^#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec/s: (\d+) oom/timeout/crash: "
                           r"(\d+)/(\d+)/(\d+) time: (\d+)s", log, re.M)
        if stats:
            execs, cov, ft, corp, eps, oom, tmo, crash, secs = map(int, stats[-1])
            print(f"fuzz: {execs} executions in {secs} s ({eps} exec/s, {a.jobs} jobs), cov {cov}, ft {ft}, "
                  f"corpus {corp}, oom/timeout/crash {oom}/{tmo}/{crash}")
        else:
            print("fuzz: no statistics in the libFuzzer log:\n" + log[-3000:])
            ok = ok and p.returncode == 0

    # 3. triage
    counts = {"libhdf5": 0, "lockstep": 0, "flaky": 0}
    for art in sorted(glob.glob(os.path.join(work, "*-*"))):
        base = os.path.basename(art)
        if not re.match(r"(crash|timeout|oom|leak|slow-unit)-[0-9a-f]+$", base) or base.startswith("slow-unit"):
            continue
        who, frame = classify(a.fuzzer, art)
        counts[who] += 1
        if who == "lockstep":
            ok = False
            print(f"LOCKSTEP FAULT: {art}: {frame}")
    print(f"artefacts: {counts['libhdf5']} in libhdf5, {counts['lockstep']} in lockstep, "
          f"{counts['flaky']} not reproducible alone")
    print(f"loader fuzzer: {'PASS' if ok else 'FAIL'} (work dir {work})")
    if not a.keep and ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
