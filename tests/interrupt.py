"""Ctrl-C in a child process: the one harness of the interrupt tests.

The child is Python source run with ``python -c``; it installs Python's own SIGINT handler
(also when the test runner was started with SIGINT ignored, as a background job of a
non-interactive shell is), prints a ready line, starts the long computation, and on
``KeyboardInterrupt`` prints ``interrupted <time.monotonic()> <facts...>`` and exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from conftest import LATENCY_SCALE

# The child's first lines: Python's Ctrl-C handler whatever the parent's was.
PROLOGUE = (
    "import sys, time\nimport signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
)

# A model that would fit for hours: a 1-epoch fit first (the model to keep), then a fit of
# ``n_epochs`` 100,000 interrupted; the child reports whether ``pu`` is untouched and the
# model still predicts. ``{imports}``, ``{model}`` (an expression over ``sys.argv``) and
# ``{grow}`` (statements making the second fit long) are filled in by ``fit_child``.
_FIT_CHILD = """
import numpy as np
{imports}
from turbosvd.datasets import make_ratings

trainset = make_ratings(4000, 2000, 400_000, random_state=0, as_trainset=True)
algo = {model}.fit(trainset)
before = algo.pu.copy()
algo.n_epochs = 100_000
{grow}
print("working", flush=True)
try:
    algo.fit(trainset)
except KeyboardInterrupt:
    t = time.monotonic()
    same = algo.pu.shape == before.shape and np.array_equal(algo.pu, before)
    pred = algo.predict("1", "2").est
    print(f"interrupted {{t:.6f}} untouched={{same}} predicts={{np.isfinite(pred)}}", flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(1)
"""


def fit_child(imports: str, model: str, grow: str) -> str:
    """The source of a child that interrupts a long ``fit`` of ``model`` (see above)."""
    return PROLOGUE + _FIT_CHILD.format(imports=imports, model=model, grow=grow)


def interrupt(source: str, *args: str, wait: float = 1.5) -> list[str]:
    """Run ``source`` with ``args``, send SIGINT ``wait`` seconds after its ready line.

    Returns the words the child printed after ``interrupted <time>``; asserts that it exited
    cleanly and that the interruption came within 10 s (times ``LATENCY_SCALE``) of the
    signal: a generous bound on a shared 2-core machine, whose point is that the
    computation (minutes or hours) does not run to its end.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(source), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    try:
        assert proc.stdout.readline().strip() == "working"
        time.sleep(wait)  # well inside the computation
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    words = out.split()
    assert words[0] == "interrupted", out
    assert float(words[1]) - sent < 10 * LATENCY_SCALE
    return words[2:]
