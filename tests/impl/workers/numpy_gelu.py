"""gelu_tanh_mul in numpy (float64), for tests/impl/worker_test.sh. LOCKSTEP_TEST_MODE makes it misbehave
on cases with at least 3 rows: crash (SIGSEGV), hang, raise, shape (one column short), dtype (int32),
missing (no outputs), extra (an output not asked for), exit (sys.exit)."""
import math
import os
import signal
import sys
import time

import numpy as np

from lockstep_worker import op, set_name

set_name("numpy-gelu")
MODE = os.environ.get("LOCKSTEP_TEST_MODE", "")


@op("gelu_tanh_mul", capabilities={"gate": ["f32", "bf16"]})
def run(case):
    g, ple = case["gate"].astype(np.float64), case["ple"].astype(np.float64)
    out = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3))) * ple
    if MODE and g.shape[0] >= 3:
        if MODE == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if MODE == "hang":
            time.sleep(3600)
        if MODE == "raise":
            raise ValueError(f"cannot do {g.shape[0]} rows")
        if MODE == "exit":
            sys.exit(3)
        if MODE == "shape":
            return {"out": out[:, :-1]}
        if MODE == "dtype":
            return {"out": out.astype(np.int32)}
        if MODE == "missing":
            return {}
        if MODE == "extra":
            return {"out": out, "debug": np.zeros(3, np.float32)}
    return {"out": out}
