#!/usr/bin/env python3
"""Runs the loader libFuzzer target (fuzz/loader) and separates lockstep's faults from libhdf5's.

    run_fuzzer.py FUZZER --time 20 [--jobs 1] [--work DIR] [--keep]

1. Replays the regression corpus in process: fixtures/dumps, tests/corpus/hostile and
   fuzz/loader/regression (inputs that once crashed lockstep's code); every one must pass.
2. Fuzzes for --time seconds from those seeds with --jobs workers; a worker whose libFuzzer stops on a
   crash, timeout, OOM or leak starts it again (libhdf5 1.10.8 crashes and hangs on some corrupted
   files, see issue 13), so the run always lasts --time; executions are summed over all runs.
3. Re-runs every crash / timeout / OOM / leak artefact alone and classifies it by the first stack frame
   outside the sanitizer runtime and libc (glibc's abort / _FORTIFY_SOURCE / stack-protector frames
   included: libhdf5 calls abort, __memcpy_chk and __stack_chk_fail, so such a stop belongs to the frame
   that called them): in libhdf5 -> a known library fault (counted, kept with --keep); anywhere else ->
   a fault in lockstep's code: the run fails and prints the input with its whole sanitizer stack.

Exit status 0 iff the replay passed and no artefact is lockstep's. Long run (README):
    nice -n 10 fuzz/loader/run_fuzzer.py build/fuzz/lockstep_loader_fuzzer --time 3600 --jobs 2 --keep
"""
import argparse
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SEED_DIRS = [os.path.join(ROOT, "fixtures", "dumps"), os.path.join(ROOT, "tests", "corpus", "hostile"),
             os.path.join(HERE, "regression")]
ENV = dict(os.environ,
           ASAN_OPTIONS="allocator_may_return_null=1:max_allocation_size_mb=1024:fast_unwind_on_malloc=0:"
                        "detect_leaks=1",
           LSAN_OPTIONS="suppressions=" + os.path.join(HERE, "lsan.supp") + ":print_suppressions=0",
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
# The fuzzing loop records 10 frames per allocation instead of 30: libhdf5 has no frame pointers, so every
# malloc is unwound by the slow (DWARF) unwinder, which cost ~1/3 of an execution at 30 frames. 10 still
# reach the suppressed H5C_protect (frames 5-6 of its leaks); the triage re-run (classify) uses ENV's full
# stacks, and so does any leak a short stack failed to suppress (it then passes alone: "not reproducible").
FUZZ_ENV = dict(ENV, ASAN_OPTIONS=ENV["ASAN_OPTIONS"] + ":malloc_context_size=10")
# -timeout=1: a valid input takes ~15 ms; libhdf5's infinite loops on corrupted files are the timeouts.
COMMON = ["-rss_limit_mb=2048", "-malloc_limit_mb=2048", "-timeout=1", "-max_len=131072"]
RUNTIME = re.compile(r"(libclang_rt|compiler-rt|/sanitizer_common/|/asan/|/ubsan/|/lsan/|libc\.so|libc-|"
                     r"libstdc\+\+|__interceptor_|__asan|__sanitizer|__lsan|__ubsan|libFuzzer|fuzzer::|"
                     r"csu/|sysdeps/|\bmalloc\b|\bcalloc\b|\brealloc\b|\bfree\b|operator new|operator delete|"
                     # glibc's own frames, symbolised to its relative source paths ("__pthread_kill_implementation
                     # nptl/./nptl/pthread_kill.c:43"): an abort() / _FORTIFY_SOURCE / stack-protector stop
                     # (libhdf5 calls abort, __memcpy_chk and __stack_chk_fail) is owned by the frame below them.
                     r"\s(?:nptl|stdlib|debug|signal|assert|libio|string|posix|elf)/|"
                     r"\b(?:raise|abort|__pthread_kill\w*|__libc_message|__fortify_fail|__chk_fail|__\w+_chk|"
                     r"__stack_chk_fail|__assert_fail\w*)\b)")


def seeds():
    out = []
    for d in SEED_DIRS:
        out += sorted(glob.glob(os.path.join(d, "*.h5")))
        out += sorted(f for f in glob.glob(os.path.join(d, "*")) if os.path.basename(f).startswith("crash-"))
    return out


def classify(fuzzer, artefact):
    """('libhdf5' | 'lockstep', first frame line) for one artefact re-run alone."""
    args = [x if not x.startswith("-timeout=") else "-timeout=3" for x in COMMON]
    p = subprocess.run([fuzzer] + args + [artefact], env=ENV, capture_output=True, timeout=120)
    report = p.stderr.decode(errors="replace")
    if p.returncode == 0:
        return "flaky", "passes when re-run alone"
    who, frame = owner(report)
    if who == "lockstep":
        # Everything needed to diagnose it from a CI log alone: the sanitizer's headline and the stack.
        lines = [l for l in report.splitlines() if re.match(r"\s*#\d+ |==\d+==ERROR|terminate called|  what\(\)|"
                                                            r"\*\*\*|SUMMARY:", l)]
        frame += "\n    " + "\n    ".join(lines[:48])
    return who, frame


def owner(report):
    """('libhdf5' | 'lockstep', frame): who owns the first stack frame outside the sanitizer runtime and libc."""
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
    ap.add_argument("--sample", type=int, default=48, help="corpus inputs loaded at each libFuzzer (re)start")
    ap.add_argument("--triage-budget", type=float, default=0,
                    help="seconds for re-running artefacts (0 = all); the rest are listed as untriaged")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="lockstep-loader-fuzz-")
    os.makedirs(os.path.join(work, "corpus"), exist_ok=True)
    # Run a private copy: a rebuild replacing the binary during a long run (the linker unlinks and rewrites
    # it) would otherwise make every later restart of a worker fail to exec.
    fuzzer_copy = os.path.join(work, "fuzzer")
    shutil.copy2(os.path.abspath(a.fuzzer), fuzzer_copy)
    a.fuzzer = fuzzer_copy
    ok = True

    # 1. regression replay, in process
    inputs = seeds()
    # -timeout=10, not 1: these inputs are known to end (~70 ms each alone); on a starved machine (a nice'd
    # long run beside a build) one of them once took over 1 s and failed the replay as a "timeout".
    replay_args = [x if not x.startswith("-timeout=") else "-timeout=10" for x in COMMON]
    p = subprocess.run([a.fuzzer] + replay_args + inputs, env=ENV, capture_output=True)
    print(f"replay: {len(inputs)} regression inputs -> exit {p.returncode}")
    if p.returncode != 0:
        print(p.stderr.decode(errors="replace")[-4000:])
        ok = False

    # 2. bounded fuzzing: JOBS workers, each restarting libFuzzer after every crash/timeout/OOM (libhdf5
    # 1.10.8 crashes on some corrupted files; -fork mode restarts too slowly for that rate) until --time.
    execs, runs, stops = 0, 0, 0
    if a.time > 0:
        corpus = os.path.join(work, "corpus")
        for f in inputs:
            shutil.copy(f, os.path.join(corpus, os.path.basename(f)))
        deadline = time.monotonic() + a.time
        lock = threading.Lock()
        log = open(os.path.join(work, "fuzz.log"), "w")

        def worker(w):
            nonlocal execs, runs, stops
            seed = 1 + w
            rng = random.Random(seed)
            new = os.path.join(work, f"new{w}")
            while True:
                left = int(deadline - time.monotonic())
                if left < 1:
                    return
                # Each (re)start loads a random sample of the shared corpus, not all of it: libhdf5 stops
                # libFuzzer every few hundred inputs, and re-running a growing corpus each time would leave
                # little time for mutation. New units land in new{w} and join the shared corpus after.
                os.makedirs(new, exist_ok=True)
                with lock:
                    pool = sorted(os.listdir(corpus))
                sample = [os.path.join(corpus, f) for f in rng.sample(pool, min(a.sample, len(pool)))]
                p = subprocess.run([a.fuzzer] + COMMON + [f"-max_total_time={left}", f"-seed={seed}",
                                                          "-print_final_stats=1", "-artifact_prefix=" + work + "/",
                                                          "-seed_inputs=" + ",".join(sample), new],
                                   env=FUZZ_ENV, capture_output=True, cwd=work)
                with lock:
                    for f in os.listdir(new):
                        os.replace(os.path.join(new, f), os.path.join(corpus, f))
                err = p.stderr.decode(errors="replace")
                n = re.findall(r"stat::number_of_executed_units: (\d+)", err)
                with lock:
                    execs += int(n[-1]) if n else 0
                    runs += 1
                    stops += p.returncode != 0
                    log.write(f"--- worker {w} run {runs} seed {seed}: exit {p.returncode}\n{err[-3000:]}\n")
                seed += a.jobs

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(a.jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log.close()
        secs = time.monotonic() - t0
        print(f"fuzz: {execs} executions in {secs:.0f} s ({execs / max(secs, 1):.0f} exec/s, {a.jobs} workers), "
              f"{runs} libFuzzer runs, {stops} stopped by a crash/timeout/OOM/leak (triaged below)")

    # 3. triage
    counts = {"libhdf5": 0, "lockstep": 0, "flaky": 0, "untriaged": 0}
    t0 = time.monotonic()
    # Crashes first (cheap to re-run), then leaks, OOMs and timeouts.
    order = {"crash": 0, "leak": 1, "oom": 2, "timeout": 3}
    arts = [f for f in glob.glob(os.path.join(work, "*-*"))
            if re.match(r"(crash|timeout|oom|leak)-[0-9a-f]+$", os.path.basename(f))]
    for art in sorted(arts, key=lambda f: (order[os.path.basename(f).split("-")[0]], f)):
        if a.triage_budget and time.monotonic() - t0 > a.triage_budget:
            counts["untriaged"] += 1
            continue
        who, frame = classify(a.fuzzer, art)
        counts[who] += 1
        if who == "lockstep":
            ok = False
            print(f"LOCKSTEP FAULT: {art}: {frame}")
    print(f"artefacts: {counts['libhdf5']} in libhdf5, {counts['lockstep']} in lockstep, "
          f"{counts['flaky']} not reproducible alone, {counts['untriaged']} not triaged (time budget)")
    print(f"loader fuzzer: {'PASS' if ok else 'FAIL'} (work dir {work})")
    if not a.keep and ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
