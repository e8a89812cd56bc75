"""DSGD's engine-independent pieces (turbosvd.train.dsgd), without Spark."""

from __future__ import annotations

import numpy as np
import pytest

from turbosvd import SVD, Dataset, Reader, accuracy
from turbosvd.datasets import make_ratings
from turbosvd.model_selection import train_test_split
from turbosvd.train import blocked as _blocked
from turbosvd.train import dsgd as _dsgd
from turbosvd.train.sgd import draw_normal as _draw_normal
from turbosvd.utils import get_rng

K = 12
PARAMS = dict(n_factors=K, n_epochs=3, random_state=0, lr_all=0.007, reg_all=0.03)


@pytest.fixture(scope="module")
def trainset():
    df = make_ratings(300, 200, 20000, random_state=5)
    df = df.sample(frac=1.0, random_state=1).reset_index(drop=True)  # not grouped by user
    return Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()


def _init(ts, dtype, k=K, seed=0):
    """The initial model as SVD draws it."""
    rng = get_rng(seed)
    pu = _draw_normal(rng, 0, 0.1, ts.n_users, k, dtype)
    qi = _draw_normal(rng, 0, 0.1, ts.n_items, k, dtype)
    return pu, qi, np.zeros(ts.n_users, dtype), np.zeros(ts.n_items, dtype)


def _fit_local(ts, d, dtype=np.float32, task_bins=None, n_epochs=3, n_threads=1):
    model = _init(ts, dtype)
    rates = SVD(**PARAMS)._rates()
    _dsgd.fit_local(
        ts._users,
        ts._items,
        ts._ratings,
        *model,
        n_blocks=d,
        n_epochs=n_epochs,
        global_mean=ts.global_mean,
        biased=True,
        rates=rates,
        task_bins=task_bins,
        n_threads=n_threads,
    )
    return model


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------------- grid
@pytest.mark.parametrize("d", [1, 2, 3, 7])
def test_grid_partitions_users_and_items(d):
    rng = np.random.RandomState(d)
    user_counts = rng.randint(1, 50, 97)
    item_counts = rng.randint(0, 80, 61)
    g = _dsgd.make_grid(user_counts, item_counts, d)
    assert g.n_blocks == d
    # User blocks are contiguous ranges covering every user, in block order.
    assert g.user_start[0] == 0
    assert g.user_start[-1] == 97
    assert np.all(np.diff(g.user_start) >= 0)
    for b in range(d):
        ids = np.arange(97)[g.users_of(b)]
        assert np.all(g.user_block[ids] == b)
        np.testing.assert_array_equal(g.user_local[ids], np.arange(len(ids)))
        assert g.n_users_in(b) == len(ids)
    # Item blocks partition the items; local ids are positions in the block's sorted list.
    seen = np.concatenate([g.items_of(c) for c in range(d)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(61))
    for c in range(d):
        ids = g.items_of(c)
        assert np.all(np.diff(ids) > 0)
        assert np.all(g.item_block[ids] == c)
        np.testing.assert_array_equal(g.item_local[ids], np.arange(len(ids)))
        assert g.n_items_in(c) == len(ids)
    # The same bins as the local blocked schedule.
    np.testing.assert_array_equal(g.user_block, _blocked.user_bins(user_counts, d))
    np.testing.assert_array_equal(g.item_block, _blocked.item_bins(item_counts, d))


@pytest.mark.parametrize("d", [1, 2, 5])
def test_strata_cover_every_block_once_without_conflicts(d):
    seen = []
    for s in range(d):
        stratum = _dsgd.strata(d, s)
        assert sorted(b for b, _ in stratum) == list(range(d))  # each user block once
        assert sorted(c for _, c in stratum) == list(range(d))  # each item block once
        assert all(_dsgd.stratum_of(b, c, d) == s for b, c in stratum)
        seen += stratum
    assert sorted(seen) == [(b, c) for b in range(d) for c in range(d)]


def test_grid_and_strata_validate():
    with pytest.raises(ValueError, match="n_blocks=0 is out of range"):
        _dsgd.make_grid([1], [1], 0)
    with pytest.raises(TypeError, match="n_blocks must be an integer"):
        _dsgd.strata(2.0, 0)
    with pytest.raises(ValueError, match="sub_epoch=-1 is out of range"):
        _dsgd.strata(2, -1)


# ------------------------------------------------------------------------------ blocks
def test_pack_block_orders_by_key_and_round_trips(trainset):
    u, i, r = trainset._users, trainset._items, trainset._ratings
    n_u, n_i = trainset.n_users, trainset.n_items
    ref = _dsgd.pack_block(u, i, r, None, n_u, n_i, n_factors=K)
    perm = np.random.RandomState(0).permutation(len(r))
    shuffled = _dsgd.pack_block(u[perm], i[perm], r[perm], perm, n_u, n_i, n_factors=K)
    fields = ("block_ptr", "run_user", "run_ptr", "items", "ratings", "item_order")
    for name in fields:
        np.testing.assert_array_equal(getattr(shuffled, name), getattr(ref, name))
    assert ref.ratings.dtype == np.float32
    # The default sub-grid is the one SVD(schedule="blocked") chooses for the same data,
    # and the items are stored bin by bin as SVD stores them (against false sharing).
    local = _blocked.build_layout(trainset, np.float32, K, items_by_bin=True)
    assert ref.n_bins == local.n_bins
    np.testing.assert_array_equal(ref.items, local.items)
    np.testing.assert_array_equal(ref.item_order, local.item_order)
    assert np.all(np.diff(ref.item_bin[ref.item_order]) >= 0)  # bin by bin
    back = _dsgd.decode_block(_dsgd.encode_block(ref), np.float32)
    assert back.n_bins == ref.n_bins
    for name in fields:
        np.testing.assert_array_equal(getattr(back, name), getattr(ref, name))


def test_train_block_takes_and_returns_rows_in_block_order(trainset):
    """The kernel works on the item rows bin by bin; callers see block-local order, and
    the floats are those of the same layout on inner ids (only memory order differs)."""
    u, i, r = trainset._users, trainset._items, trainset._ratings
    n_u, n_i = trainset.n_users, trainset.n_items
    layout = _dsgd.pack_block(u, i, r, None, n_u, n_i, n_factors=K)
    assert not np.array_equal(layout.item_order, np.arange(n_i))  # a real permutation
    plain = _blocked.build_layout(trainset, np.float32, K, n_bins=layout.n_bins)
    rates = SVD(**PARAMS)._rates()
    mu = trainset.global_mean
    a, b = _init(trainset, np.float32), _init(trainset, np.float32)
    for _ in range(2):
        _dsgd.train_block(layout, *a, mu, True, rates, 2)
        plain.epoch(*b, mu, True, rates, 2)
    _assert_same(a, b)
    pu, qi, bu, bi = _init(trainset, np.float32)
    qi_ro, bi_ro = qi.copy(), bi.copy()
    qi_ro.flags.writeable = bi_ro.flags.writeable = False
    for _ in range(2):
        qi_ro, bi_ro = _dsgd.train_block_rows(layout, pu, bu, qi_ro, bi_ro, mu, True, rates, 2)
    _assert_same((pu, qi_ro, bu, bi_ro), a)


def test_pack_block_validates(monkeypatch):
    with pytest.raises(ValueError, match="lengths 2, 1 and 1"):
        _dsgd.pack_block([0, 1], [0], [1.0], None, 2, 1, n_factors=2)
    with pytest.raises(ValueError, match="task_bins=0 is out of range"):
        _dsgd.pack_block([0], [0], [1.0], None, 1, 1, n_factors=2, task_bins=0)
    monkeypatch.setattr(_dsgd, "MAX_BLOCK_BYTES", 10)
    with pytest.raises(ValueError, match="use more blocks"):
        _dsgd.pack_block([0, 0], [0, 0], [1.0, 2.0], None, 1, 1, n_factors=2)


def test_decode_block_rejects_a_bad_block_ptr():
    fields = {
        "block_ptr": np.zeros(3, np.int64).tobytes(),
        "run_user": b"",
        "run_ptr": b"",
        "items": b"",
        "ratings": b"",
        "item_order": b"",
    }
    with pytest.raises(ValueError, match="not B \\* B \\+ 1"):
        _dsgd.decode_block(fields, np.float32)


def test_factor_bytes_round_trip():
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    b = _dsgd.from_bytes(_dsgd.to_bytes(a), np.float32, 3)
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable and b.flags.c_contiguous
    assert _dsgd.from_bytes(b"", np.float64, 0).shape == (0, 0)
    np.testing.assert_array_equal(_dsgd.from_bytes(_dsgd.to_bytes(a[0]), np.float32), a[0])


# ------------------------------------------------------------------------ equivalences
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_block_is_the_local_blocked_fit(trainset, dtype):
    """d = 1: the single block is the whole trainset in SVD's own layout, so same floats."""
    algo = SVD(**PARAMS, dtype=dtype).fit(trainset)
    _assert_same(_fit_local(trainset, 1, dtype), (algo.pu, algo.qi, algo.bu, algo.bi))


@pytest.mark.parametrize("d", [2, 3, 6])
def test_blocks_of_one_bin_are_the_blocked_schedule_with_d_bins(trainset, d):
    """task_bins=1: DSGD's sub-epochs are exactly the blocked kernel's waves with B = d."""
    model = _fit_local(trainset, d, task_bins=1)
    ref = _init(trainset, np.float32)
    layout = _blocked.build_layout(trainset, np.float32, K, n_bins=d)
    rates = SVD(**PARAMS)._rates()
    for _ in range(3):
        layout.epoch(*ref, trainset.global_mean, True, rates, 2)
    _assert_same(model, ref)


def test_blocks_of_a_stratum_are_independent(trainset):
    """Any order of a stratum's blocks (as parallel tasks finish) gives the same floats."""
    d = 4
    expected = _fit_local(trainset, d)
    pu, qi, bu, bi = _init(trainset, np.float32)
    u, i, r = trainset._users, trainset._items, trainset._ratings
    grid = _dsgd.make_grid(np.bincount(u), np.bincount(i), d)
    blocks = {
        (b, c): _dsgd.pack_block(
            grid.user_local[u[idx]],
            grid.item_local[i[idx]],
            r[idx],
            idx,
            grid.n_users_in(b),
            grid.n_items_in(c),
            n_factors=K,
        )
        for b, c, idx in _dsgd.split_ratings(grid, u, i)
    }
    rates = SVD(**PARAMS)._rates()
    mu = trainset.global_mean
    for _ in range(3):
        for s in range(d):
            # Copy every block's rows first, train in reverse order, write back at the end.
            work = []
            for b, c in reversed(_dsgd.strata(d, s)):
                us, its = grid.users_of(b), grid.items_of(c)
                work.append((us, its, pu[us].copy(), qi[its], bu[us].copy(), bi[its]))
                _dsgd.train_block(blocks[b, c], *work[-1][2:], mu, True, rates, 2)
            for us, its, pu_b, qi_c, bu_b, bi_c in work:
                pu[us], qi[its], bu[us], bi[its] = pu_b, qi_c, bu_b, bi_c
    _assert_same((pu, qi, bu, bi), expected)


def test_result_does_not_depend_on_threads(trainset):
    _assert_same(_fit_local(trainset, 3, n_threads=1), _fit_local(trainset, 3, n_threads=4))


def test_dsgd_reaches_the_local_test_rmse():
    """Same data, same epochs: 4 x 4 blocks land within 0.005 RMSE of the local fit."""
    data = Dataset.load_from_df(
        make_ratings(1500, 800, 60000, random_state=2), Reader(rating_scale=(1, 5))
    )
    train, test = train_test_split(data, test_size=0.2, random_state=0)
    params = dict(n_factors=20, n_epochs=15, random_state=0)
    local = SVD(**params).fit(train)
    dsgd = SVD(**params).fit(train)  # a fitted shell; its factors are replaced below
    model = _init(train, np.float32, k=20)
    _dsgd.fit_local(
        train._users,
        train._items,
        train._ratings,
        *model,
        n_blocks=4,
        n_epochs=15,
        global_mean=train.global_mean,
        biased=True,
        rates=local._rates(),
    )
    dsgd.pu, dsgd.qi, dsgd.bu, dsgd.bi = model
    rmse_local = accuracy.rmse(local.test(test), verbose=False)
    rmse_dsgd = accuracy.rmse(dsgd.test(test), verbose=False)
    assert abs(rmse_dsgd - rmse_local) < 0.005
    assert not np.array_equal(dsgd.pu, local.pu)  # a different order really ran


def test_users_without_ratings_at_the_end_of_a_block_get_a_valid_bin():
    """Inside a block, the last users may have no rating there (they rate other blocks)."""
    bins = _blocked.user_bins(np.array([3, 0, 2, 0, 0]), 2)
    np.testing.assert_array_equal(bins, [0, 1, 1, 1, 1])
    layout = _dsgd.pack_block(
        [0, 0, 2], [1, 0, 1], [1.0, 2.0, 3.0], None, 5, 2, n_factors=2, task_bins=2
    )
    assert layout.run_ptr[-1] == 3
