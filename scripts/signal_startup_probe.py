#!/usr/bin/env python3
"""How often a SIGINT sent d ms after starting `lockstep list` kills it by the default action (issue 13:
the window before lockstep's handlers exist). usage: signal_startup_probe.py LOCKSTEP [TRIES]"""
import signal
import subprocess
import sys
import time

lockstep, tries = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
killed = {}
for ms in (0, 1, 2, 3, 4, 5, 6, 8, 10, 15):
    killed[ms] = 0
    for _ in range(tries):
        p = subprocess.Popen([lockstep, "list"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(ms / 1000)
        p.send_signal(signal.SIGINT)
        p.wait()
        killed[ms] += p.returncode == -signal.SIGINT
print("killed by SIGINT, of", tries, "per delay (ms):", killed)
