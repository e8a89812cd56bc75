"""Ctrl-C during a long similarity computation: KeyboardInterrupt within about a second.

``fit`` (the full matrix) leaves the model as it was (a fresh model stays unfitted);
``test`` (rows computed on demand) stops too. Run in a subprocess that gets a real SIGINT.
"""

from __future__ import annotations

import textwrap

import pytest

from interrupt import PROLOGUE, interrupt

CHILD = PROLOGUE + textwrap.dedent(
    """
    import turbosvd
    from turbosvd.datasets import make_ratings
    from turbosvd.prediction_algorithms import knns

    where = sys.argv[1]
    # 8,000 users, 300 items, 2M ratings: every item has thousands of raters, so the
    # user-based pearson matrix takes over ten seconds even on an idle machine (the old
    # 600k-rating set took under one second there, before the signal came).
    trainset = make_ratings(8000, 300, 2_000_000, random_state=0, as_trainset=True)
    algo = turbosvd.KNNBasic(sim_options={"name": "pearson"}, verbose=False)
    if where == "test":
        knns.SIM_MATRIX_BYTES = 0  # no matrix at fit: test() computes the rows
        algo.fit(trainset)
        testset = trainset.build_testset()[:200_000]
    print("working", flush=True)
    try:
        if where == "fit":
            algo.fit(trainset)
        else:
            algo.test(testset)
    except KeyboardInterrupt:
        t = time.monotonic()
        fitted = hasattr(algo, "trainset")
        print(f"interrupted {t:.6f} fitted={fitted}", flush=True)
        sys.exit(0)
    print("finished", flush=True)
    sys.exit(1)
    """
)


# Slow by design: the child builds 2M ratings and a similarity computation that runs over ten
# seconds on an idle machine (4-5 minutes each at a load average of 15); CI runs it.
@pytest.mark.slow
@pytest.mark.parametrize(("where", "fitted"), [("fit", "False"), ("test", "True")])
def test_ctrl_c_interrupts_similarities_promptly(where, fitted):
    assert interrupt(CHILD, where, wait=1.0) == [f"fitted={fitted}"]
