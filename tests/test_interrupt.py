"""Ctrl-C during fit: KeyboardInterrupt within about a second, the model left untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import LATENCY_SCALE
from turbosvd import _sgd
from turbosvd.datasets import make_ratings
from turbosvd.train import blocked as _blocked

CHILD = textwrap.dedent(
    """
    import sys, time
    import signal
    # Python's own Ctrl-C handler, also when the test runner was started with SIGINT
    # ignored (a background job of a non-interactive shell): Python then installs none.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    from turbosvd import SVD
    from turbosvd.datasets import make_ratings

    schedule = sys.argv[1]
    trainset = make_ratings(4000, 2000, 400_000, random_state=0, as_trainset=True)
    algo = SVD(n_factors=4, n_epochs=1, random_state=0, schedule=schedule).fit(trainset)
    before = algo.pu.copy()
    algo.n_epochs, algo.n_factors = 100_000, 200
    print("fitting", flush=True)
    try:
        algo.fit(trainset)
    except KeyboardInterrupt:
        t = time.monotonic()
        same = algo.pu.shape == before.shape and np.array_equal(algo.pu, before)
        print(f"interrupted {t:.6f} untouched={same}", flush=True)
        sys.exit(0)
    print("finished", flush=True)
    sys.exit(1)
    """
)


@pytest.mark.parametrize("schedule", ["blocked", "exact"])
def test_ctrl_c_interrupts_fit_promptly(schedule):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, schedule],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    try:
        assert proc.stdout.readline().strip() == "fitting"
        time.sleep(1.5)  # well inside the fit, which would run for hours
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    words = out.split()
    assert words[0] == "interrupted" and words[2] == "untouched=True"
    # Generous bound (a shared 2-core machine): the point is that it does not run to the
    # end of the epoch or of the fit, which take minutes here.
    assert float(words[1]) - sent < 10 * LATENCY_SCALE


def test_split_epoch_equals_one_call():
    trainset = make_ratings(300, 200, 20_000, random_state=1, as_trainset=True)
    layout = _blocked.build_layout(trainset, np.float32, 8, n_bins=4)
    rng = np.random.RandomState(0)
    init = [
        rng.normal(0, 0.1, (trainset.n_users, 8)).astype(np.float32),
        rng.normal(0, 0.1, (trainset.n_items, 8)).astype(np.float32),
        np.zeros(trainset.n_users, np.float32),
        np.zeros(trainset.n_items, np.float32),
    ]
    args = (layout.block_ptr, layout.run_user, layout.run_ptr, layout.items, layout.ratings)
    rates = (0.005,) * 4 + (0.02,) * 4
    whole = [a.copy() for a in init]
    _sgd.sgd_epoch_blocked(*args, *whole, 3.5, True, rates, 2)
    split = [a.copy() for a in init]
    for w in range(4):
        _sgd.sgd_epoch_blocked(*args, *split, 3.5, True, rates, 2, w, w + 1)
    for a, b in zip(whole, split):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="first_wave <= last_wave"):
        _sgd.sgd_epoch_blocked(*args, *split, 3.5, True, rates, 2, 3, 2)
