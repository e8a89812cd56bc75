"""Large top-N searches run in query slabs: same answers, and Ctrl-C is handled promptly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from conftest import LATENCY_SCALE
from turbosvd.topn import search as topn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slabs_give_the_single_call_answer(monkeypatch, dtype):
    rng = np.random.RandomState(0)
    Y = rng.normal(size=(300, 7)).astype(dtype)
    X = rng.normal(size=(50, 7)).astype(dtype)
    indptr = np.arange(0, 301 * 2, 2)[:301]
    excl = (indptr, (np.arange(600) * 7) % 300)
    excl = (
        excl[0],
        np.concatenate([np.sort(excl[1][a:b]) for a, b in zip(indptr[:-1], indptr[1:])]),
    )
    calls = [
        lambda: topn.cosine_topk(Y, 9),  # self search: the diagonal moves with each slab
        lambda: topn.cosine_topk(Y, 9, exclude=excl),
        lambda: topn.inner_product_topk(X, 5, Y),
        lambda: topn.inner_product_topk(Y, 4, exclude_self=False),
    ]
    whole = [f() for f in calls]
    monkeypatch.setattr(topn, "_slab_rows", lambda n_items, dim: 37)
    slabbed = [f() for f in calls]
    for (i1, s1), (i2, s2) in zip(whole, slabbed):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)
    assert not (whole[0][0] == np.arange(300)[:, None]).any()  # never itself


CHILD = textwrap.dedent(
    """
    import time
    import signal
    # Python's own Ctrl-C handler, also when the test runner was started with SIGINT
    # ignored (a background job of a non-interactive shell): Python then installs none.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    from turbosvd.topn import cosine_topk
    X = np.random.RandomState(0).normal(size=(60_000, 64)).astype(np.float32)
    print("searching", flush=True)
    try:
        cosine_topk(X, 10)
    except KeyboardInterrupt:
        print(f"interrupted {time.monotonic():.6f}", flush=True)
    else:
        print("finished", flush=True)
    """
)


def test_ctrl_c_interrupts_a_long_search():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "2"})  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "searching"
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    words = out.split()
    if words and words[0] == "finished":
        pytest.skip("the search ended before the signal (an unusually fast machine)")
    assert words[0] == "interrupted", (out, err)
    assert (
        float(words[1]) - sent < 10 * LATENCY_SCALE
    )  # generous on a shared machine; the search takes longer


def test_long_search_shows_progress_when_asked(monkeypatch, capsys):
    Y = np.random.RandomState(0).normal(size=(300, 5))
    monkeypatch.setattr(topn, "_slab_rows", lambda n_items, dim: 100)
    quiet = topn.cosine_topk(Y, 3, progress=False)
    auto = topn.cosine_topk(Y, 3)  # stderr is not a terminal here: silent
    assert capsys.readouterr().err == ""
    shown = topn.cosine_topk(Y, 3, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("top-k search: 100/300 queries")
    assert lines[-1].startswith("top-k search: 300/300 queries")
    for a, b in ((quiet, shown), (auto, shown)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    for bad in ("yes", 1):
        with pytest.raises(TypeError, match="progress must be None or a bool"):
            topn.cosine_topk(Y, 3, progress=bad)
        with pytest.raises(TypeError, match="progress must be None or a bool"):
            topn.cosine_topk(Y[:10], 3, progress=bad)  # one compiled call: checked too


def test_recommend_all_progress(monkeypatch, capsys):
    from turbosvd import SVD
    from turbosvd.datasets import make_ratings

    trainset = make_ratings(50, 30, 600, random_state=0, as_trainset=True)
    algo = SVD(n_factors=4, n_epochs=2, random_state=0).fit(trainset)
    monkeypatch.setattr(topn, "_slab_rows", lambda n_items, dim: 16)
    plain = algo.recommend_all(5)
    assert capsys.readouterr().err == ""
    shown = algo.recommend_all(5, progress=True)
    err = capsys.readouterr().err
    assert f"top-k search: {trainset.n_users}/{trainset.n_users} queries" in err
    pd.testing.assert_frame_equal(plain, shown)
