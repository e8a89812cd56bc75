"""Ctrl-C during fit: KeyboardInterrupt within about a second, the model left untouched."""

from __future__ import annotations

import numpy as np
import pytest

from interrupt import fit_child, interrupt
from turbosvd import _sgd
from turbosvd.datasets import make_ratings
from turbosvd.train import blocked as _blocked

CHILD = fit_child(
    "from turbosvd import SVD",
    "SVD(n_factors=4, n_epochs=1, random_state=0, schedule=sys.argv[1])",
    "algo.n_factors = 200",
)


@pytest.mark.parametrize("schedule", ["blocked", "exact"])
def test_ctrl_c_interrupts_fit_promptly(schedule):
    assert interrupt(CHILD, schedule) == ["untouched=True", "predicts=True"]


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
