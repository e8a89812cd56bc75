"""SVD++'s grid schedule (svdpp.hpp, 3.): one epoch against the NumPy reference, results
bit-identical for any thread count, bad input to the kernels."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from turbosvd import _mf
from turbosvd.datasets import make_ratings
from turbosvd.train import svdpp as loops
from turbosvd.train.blocked import build_layout

RATES = (0.01, 0.02, 0.015, 0.01, 0.02, 0.03, 0.02, 0.05, 0.04, 0.06)


@pytest.fixture(scope="module")
def tiny():
    return make_ratings(40, 25, 300, random_state=3, as_trainset=True)


@pytest.fixture(scope="module")
def medium():
    return make_ratings(3000, 1500, 200_000, random_state=1, as_trainset=True)


def _init(trainset, k, dtype, seed=0):
    rng = np.random.RandomState(seed)
    return [
        rng.normal(0, 0.1, (n, k)).astype(dtype)
        for n in (trainset.n_users, trainset.n_items, trainset.n_items)
    ] + [np.zeros(trainset.n_users, dtype), np.zeros(trainset.n_items, dtype)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_bins", [1, 3])
def test_grid_epochs_match_reference(tiny, dtype, n_bins):
    model = _init(tiny, 4, dtype)
    want = [a.astype(np.float64) for a in model]
    loops.fit_grid(tiny, *model, RATES, 2, False, n_threads=2, n_bins=n_bins)
    layout = build_layout(tiny, dtype, 4, n_bins)
    users, items, ratings = tiny.rating_arrays()
    for _ in range(2):
        ref.svdpp_epoch_grid(
            users, items, ratings, layout.user_bin, layout.item_bin, n_bins, *want,
            float(tiny.global_mean), RATES,
        )  # fmt: skip
    tol = 1e-12 if dtype == np.float64 else 3e-5
    for got, expected in zip(model, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=tol)


def test_grid_differs_from_serial_schedule(tiny):
    # The two schedules are different algorithms (stale vs fresh y rows): a test that
    # could not tell them apart would not test the grid.
    grid, serial = _init(tiny, 4, np.float64), _init(tiny, 4, np.float64)
    loops.fit_grid(tiny, *grid, RATES, 1, False, n_threads=1, n_bins=1)
    loops.fit_blocked(tiny, *serial, RATES, 1, False)
    assert not np.allclose(grid[2], serial[2], rtol=0, atol=1e-9)  # yj


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grid_bit_identical_for_any_thread_count(medium, dtype):
    results = []
    for n_threads in (1, 2, 8):
        model = _init(medium, 6, dtype)
        loops.fit_grid(medium, *model, RATES, 3, False, n_threads=n_threads)
        results.append(model)
    assert build_layout(medium, dtype, 6).n_bins > 1  # the grid really has several bins
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert a.tobytes() == b.tobytes()


def test_grid_kernels_reject_bad_input(tiny):
    pu, qi, yj, bu, bi = _init(tiny, 4, np.float64)
    indptr, items, _ = tiny.user_csr()
    z, beta, alpha = np.empty_like(pu), np.empty_like(pu), np.empty(len(pu))
    bad = items.copy()
    bad[0] = tiny.n_items
    with pytest.raises(ValueError, match="item id"):
        _mf.svdpp_grid_begin_fast(indptr, bad, yj, z, beta, alpha, 1)
    with pytest.raises(ValueError, match="expected"):
        _mf.svdpp_grid_begin_fast(indptr, items, yj, z[:-1], beta, alpha, 1)
    layout = build_layout(tiny, np.float64, 4, 2)
    bad = layout.items.copy()
    bad[-1] = -1
    with pytest.raises(ValueError, match="item id out of range"):
        _mf.svdpp_grid_waves_fast(
            layout.block_ptr, layout.run_user, layout.run_ptr, bad, layout.ratings, indptr,
            pu, qi, bu, bi, z, beta, alpha, 3.0, RATES, 2, 0, -1,
        )  # fmt: skip
    with pytest.raises(ValueError, match="waves"):
        _mf.svdpp_grid_waves_fast(
            layout.block_ptr, layout.run_user, layout.run_ptr, layout.items, layout.ratings,
            indptr, pu, qi, bu, bi, z, beta, alpha, 3.0, RATES, 2, 0, 3,
        )  # fmt: skip
    users = np.zeros(tiny.n_ratings, dtype=np.int32)
    users[5] = tiny.n_users
    item_indptr = np.linspace(0, tiny.n_ratings, tiny.n_items + 1).astype(np.int64)
    with pytest.raises(ValueError, match="user id"):
        _mf.svdpp_grid_end_fast(item_indptr, users, yj, beta, alpha, 1)
