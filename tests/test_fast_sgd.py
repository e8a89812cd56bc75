"""The blocked (fast) SGD schedule: determinism, equivalence to the reference, API."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import turbosvd
import turbosvd.train.sgd as train_sgd
from conftest import needs_ml100k
from reference import blocked_order, sgd_epoch_blocked
from turbosvd import SVD, Dataset, Reader, _sgd, accuracy
from turbosvd.datasets import make_ratings
from turbosvd.model_selection import KFold, PredefinedKFold, cross_validate
from turbosvd.train import blocked as _blocked

RATES = (0.005, 0.006, 0.007, 0.008, 0.02, 0.021, 0.022, 0.023)


@pytest.fixture(scope="module")
def trainset():
    """Enough ratings for an 8 x 8 grid with several runs per block, in random order."""
    df = make_ratings(400, 300, 30000, random_state=3)
    df = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()


@pytest.fixture(scope="module")
def tiny():
    """A few hundred ratings with repeated (user, item) pairs, in random order."""
    rng = np.random.RandomState(7)
    n = 300
    users = rng.randint(0, 25, n).astype(np.int32)
    items = rng.randint(0, 18, n).astype(np.int32)
    users[-20:], items[-20:] = users[:20], items[:20]  # duplicates of earlier pairs
    ratings = rng.randint(1, 6, n).astype(np.float64)
    _, users = np.unique(users, return_inverse=True)
    _, items = np.unique(items, return_inverse=True)
    return users.astype(np.int32), items.astype(np.int32), ratings


def _init(n_users, n_items, k, dtype, seed=0):
    rng = np.random.RandomState(seed)
    pu = rng.normal(0, 0.1, (n_users, k)).astype(dtype)
    qi = rng.normal(0, 0.1, (n_items, k)).astype(dtype)
    bu = np.zeros(n_users, dtype)
    bi = np.zeros(n_items, dtype)
    return pu, qi, bu, bi


def _epoch(layout, model, mu, n_threads, biased=True):
    layout.epoch(*model, mu, biased, RATES, n_threads)


def _layout_of_arrays(users, items, ratings, n_bins, dtype, n_users=None, n_items=None):
    n_users = int(users.max()) + 1 if n_users is None else n_users
    n_items = int(items.max()) + 1 if n_items is None else n_items
    ub = _blocked.user_bins(np.bincount(users, minlength=n_users), n_bins)
    ib = _blocked.item_bins(np.bincount(items, minlength=n_items), n_bins)
    out = _sgd.blocked_layout(users, items, ratings, ub, ib, n_bins, np.dtype(dtype) == np.float32)
    return _blocked.BlockedLayout(n_bins, *out, ub, ib)


# ---------------------------------------------------------------------------- layout


@pytest.mark.parametrize("n_bins", [1, 3, 8])
def test_layout_is_the_blocked_order(tiny, n_bins):
    users, items, ratings = tiny
    lay = _layout_of_arrays(users, items, ratings, n_bins, np.float64)
    B = n_bins
    assert lay.block_ptr.shape == (B * B + 1,)
    assert lay.block_ptr[0] == 0
    assert lay.block_ptr[-1] == len(lay.run_user)
    assert lay.run_ptr[0] == 0
    assert lay.run_ptr[-1] == len(ratings)
    # Serial visiting order of the layout = the reference's order.
    seq_u, seq_i, seq_r = [], [], []
    for wave in lay.waves():
        for blk in wave:
            ub, ib = divmod(blk, B)
            for run in range(lay.block_ptr[blk], lay.block_ptr[blk + 1]):
                u = lay.run_user[run]
                assert lay.user_bin[u] == ub
                for r in range(lay.run_ptr[run], lay.run_ptr[run + 1]):
                    assert lay.item_bin[lay.items[r]] == ib
                    seq_u.append(u)
                    seq_i.append(lay.items[r])
                    seq_r.append(lay.ratings[r])
    order = blocked_order(users, items, lay.user_bin, lay.item_bin, B)
    assert seq_u == users[order].tolist()
    assert seq_i == items[order].tolist()
    assert seq_r == ratings[order].tolist()


def test_bins_are_balanced_and_deterministic():
    counts = np.random.RandomState(0).zipf(1.6, 5000).clip(max=10_000)
    for n_bins in (2, 8, 16):
        ub = _blocked.user_bins(counts, n_bins)
        assert np.all(np.diff(ub) >= 0)  # contiguous ranges
        ib = _blocked.item_bins(counts, n_bins)
        assert set(np.unique(ib)) == set(range(n_bins))
        load = np.bincount(ib, weights=counts, minlength=n_bins)
        assert load.max() - load.min() <= counts.max()
        assert np.array_equal(ib, _blocked.item_bins(counts, n_bins))


def test_grid_size_rules():
    """Each documented rule of choose_n_bins, on numbers worked out by hand."""
    c = _blocked.choose_n_bins
    assert c(1000, 60, 40, 100, 4) == 1  # tiny: isqrt(1000 // MIN_BLOCK) == 0 -> one block
    # MIN_BINS when the items fit in L2 (10,000 x 101 x 4 bytes = 3.9 MB -> 4 < 8).
    assert c(10_000_000, 70_000, 10_000, 100, 4) == 8
    # More bins when one item bin would overflow L2: 17,770 x 101 x 8 = 13.7 MB -> 14;
    # in float32 the same items need 7 bins, so MIN_BINS wins.
    assert c(100_000_000, 480_000, 17_770, 100, 8) == 14
    assert c(100_000_000, 480_000, 17_770, 100, 4) == 8
    # At most MAX_BINS, however many items.
    assert c(10**9, 1000, 10_000_000, 100, 4) == _blocked.MAX_BINS
    # Blocks under MIN_BLOCK ratings on average: isqrt(8 * 8 * 2048 - 1) // 2048) = 7.
    assert c(8 * 8 * _blocked.MIN_BLOCK - 1, 100, 100, 10, 4) == 7
    # Runs under MIN_RUN ratings: 10M ratings over 200k users -> 4 ratings per user and bin.
    assert c(10_000_000, 200_000, 10_000, 100, 4) == 4


# --------------------------------------------------------------------- determinism


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_bit_identical_for_any_thread_count(trainset, dtype):
    lay = _blocked.build_layout(trainset, dtype, 16, n_bins=8)
    results = []
    for n_threads in (1, 2, 8):
        model = _init(trainset.n_users, trainset.n_items, 16, dtype)
        for _ in range(3):
            _epoch(lay, model, float(trainset.global_mean), n_threads)
        results.append(model)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_svd_bit_identical_for_any_n_jobs(trainset, dtype, monkeypatch):
    # Small data normally runs on one thread; lift that so n_jobs really takes effect.
    monkeypatch.setattr(train_sgd, "RATINGS_PER_THREAD", 1)
    fits = [
        SVD(n_factors=20, n_epochs=5, random_state=0, dtype=dtype, n_jobs=n).fit(trainset)
        for n in (1, 2, 8)
    ]
    for other in fits[1:]:
        for name in ("pu", "qi", "bu", "bi"):
            assert getattr(fits[0], name).tobytes() == getattr(other, name).tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_equals_serial_in_the_same_order(trainset, dtype):
    """8 bins on 8 threads == the same runs, concatenated in wave order, as one serial block."""
    lay = _blocked.build_layout(trainset, dtype, 16, n_bins=8)
    blocks = [blk for wave in lay.waves() for blk in wave]
    runs = np.concatenate([np.arange(lay.block_ptr[b], lay.block_ptr[b + 1]) for b in blocks])
    lengths = lay.run_ptr[runs + 1] - lay.run_ptr[runs]
    idx = np.concatenate([np.arange(lay.run_ptr[r], lay.run_ptr[r + 1]) for r in runs])
    serial = _blocked.BlockedLayout(
        1,
        np.array([0, len(runs)], dtype=np.int64),
        lay.run_user[runs],
        np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        lay.items[idx],
        lay.ratings[idx],
        np.zeros(trainset.n_users, np.int32),
        np.zeros(trainset.n_items, np.int32),
    )
    mu = float(trainset.global_mean)
    par = _init(trainset.n_users, trainset.n_items, 16, dtype)
    ser = _init(trainset.n_users, trainset.n_items, 16, dtype)
    for _ in range(2):
        _epoch(lay, par, mu, 8)
        _epoch(serial, ser, mu, 1)
    for a, b in zip(par, ser, strict=True):
        assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ vs the reference


@pytest.mark.parametrize("n_bins", [1, 3, 5])
@pytest.mark.parametrize("biased", [True, False])
def test_kernel_matches_reference_float64(tiny, n_bins, biased):
    users, items, ratings = tiny
    k = 7  # not a multiple of any vector width: exercises the tail
    lay = _layout_of_arrays(users, items, ratings, n_bins, np.float64)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    model = _init(n_users, n_items, k, np.float64)
    ref = [a.copy() for a in model]
    mu = float(ratings.mean())
    for _ in range(2):
        _epoch(lay, model, mu, 2, biased=biased)
        sgd_epoch_blocked(
            users, items, ratings, lay.user_bin, lay.item_bin, n_bins, *ref, mu, biased, RATES
        )
    for a, b in zip(model, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_kernel_matches_reference_float32_and_long_rows(tiny):
    users, items, ratings = tiny
    k = 70  # two full lane sets of 32 floats plus a tail
    lay = _layout_of_arrays(users, items, ratings, 4, np.float32)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    model = _init(n_users, n_items, k, np.float32)
    ref = [a.astype(np.float64) for a in model]
    mu = float(ratings.mean())
    _epoch(lay, model, mu, 2)
    sgd_epoch_blocked(users, items, ratings, lay.user_bin, lay.item_bin, 4, *ref, mu, True, RATES)
    for a, b in zip(model, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_float32_and_float64_agree(trainset):
    fits = [
        SVD(n_factors=20, n_epochs=10, random_state=0, dtype=d).fit(trainset)
        for d in (np.float32, np.float64)
    ]
    assert fits[0].pu.dtype == np.float32
    assert fits[1].pu.dtype == np.float64
    for name in ("pu", "qi", "bu", "bi"):
        np.testing.assert_allclose(getattr(fits[0], name), getattr(fits[1], name), atol=2e-4)
    testset = trainset.build_testset()[:3000]
    rmse = [accuracy.rmse(a.test(testset), verbose=False) for a in fits]
    assert abs(rmse[0] - rmse[1]) < 1e-4


@needs_ml100k
def test_blocked_rmse_close_to_exact_on_ml100k_u1(ml100k_dir):
    reader = Reader("ml-100k")
    folds = [(str(ml100k_dir / "u1.base"), str(ml100k_dir / "u1.test"))]
    data = Dataset.load_from_folds(folds, reader)
    trainset, testset = next(PredefinedKFold().split(data))
    exact = SVD(random_state=0, schedule="exact").fit(trainset)
    blocked = SVD(random_state=0, schedule="blocked").fit(trainset)
    rmse_exact = accuracy.rmse(exact.test(testset), verbose=False)
    rmse_blocked = accuracy.rmse(blocked.test(testset), verbose=False)
    assert abs(rmse_blocked - rmse_exact) < 0.005


# --------------------------------------------------------------------------- SVD API


def test_default_schedule_is_blocked_float32(trainset, monkeypatch):
    monkeypatch.delenv("TURBOSVD_SCHEDULE", raising=False)
    algo = SVD(n_factors=5, n_epochs=2, random_state=0)
    assert algo.schedule == "blocked"
    algo.fit(trainset)
    for name in ("pu", "qi", "bu", "bi"):
        a = getattr(algo, name)
        assert isinstance(a, np.ndarray)
        assert a.dtype == np.float32
        assert a.flags.c_contiguous
        assert a.flags.writeable
    assert algo.pu.shape == (trainset.n_users, 5)


def test_env_var_changes_the_default(trainset, monkeypatch):
    monkeypatch.setenv("TURBOSVD_SCHEDULE", "exact")
    algo = SVD(n_factors=5, n_epochs=2, random_state=0)
    assert algo.schedule == "exact"
    algo.fit(trainset)
    assert algo.pu.dtype == np.float64
    ref = SVD(n_factors=5, n_epochs=2, random_state=0, schedule="exact").fit(trainset)
    assert algo.pu.tobytes() == ref.pu.tobytes()
    # An explicit argument wins over the variable.
    assert SVD(schedule="blocked").schedule == "blocked"
    monkeypatch.setenv("TURBOSVD_SCHEDULE", "fast")
    with pytest.raises(ValueError, match="TURBOSVD_SCHEDULE='fast'"):
        SVD()


@needs_ml100k
def test_env_var_gives_exact_numbers_without_code_changes(ml100k_dir):
    """A drop-in user sets TURBOSVD_SCHEDULE=exact and gets the exact (Surprise) schedule."""
    code = (
        "from turbosvd import SVD, Dataset, Reader, accuracy\n"
        "from turbosvd.model_selection import PredefinedKFold\n"
        f"d = {str(ml100k_dir)!r}\n"
        "data = Dataset.load_from_folds([(d + '/u1.base', d + '/u1.test')], Reader('ml-100k'))\n"
        "tr, te = next(PredefinedKFold().split(data))\n"
        "print(repr(accuracy.rmse(SVD(random_state=0).fit(tr).test(te), verbose=False)))\n"
    )
    # The caller's environment (sanitizer preloads included) minus any turbosvd setting.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURBOSVD_")}
    env["TURBOSVD_SCHEDULE"] = "exact"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    folds = [(str(ml100k_dir / "u1.base"), str(ml100k_dir / "u1.test"))]
    data = Dataset.load_from_folds(folds, Reader("ml-100k"))
    tr, te = next(PredefinedKFold().split(data))
    exact = SVD(random_state=0, schedule="exact").fit(tr)
    assert out.stdout.strip() == repr(accuracy.rmse(exact.test(te), verbose=False))


def test_dtype_validation(trainset):
    msg = r"dtype=<class 'numpy.float32'> does not work with schedule='exact'"
    with pytest.raises(ValueError, match=msg):
        SVD(schedule="exact", dtype=np.float32).fit(trainset)
    with pytest.raises(ValueError, match="dtype='int32' is not supported"):
        SVD(dtype="int32").fit(trainset)
    with pytest.raises(ValueError, match="dtype='nonsense' is not supported"):
        SVD(dtype="nonsense").fit(trainset)
    with pytest.raises(ValueError, match="schedule='fast' is not one of"):
        SVD(schedule="fast").fit(trainset)
    with pytest.raises(ValueError, match="n_jobs=0"):
        SVD(n_jobs=0, n_epochs=1).fit(trainset)
    assert SVD(schedule="exact", dtype="float64", n_epochs=1).fit(trainset).pu.dtype == np.float64
    assert SVD(dtype="float64", n_epochs=1).fit(trainset).pu.dtype == np.float64


def test_initial_factors_are_surprise_draws_cast(trainset, monkeypatch):
    # Small chunks: the chunked draw must give the numbers of one big draw.
    monkeypatch.setattr("turbosvd.train.common._DRAW_CHUNK", 7 * 11)
    algo = SVD(n_factors=11, n_epochs=0, random_state=5, init_mean=0.3, init_std_dev=0.2)
    algo.fit(trainset)
    rng = np.random.RandomState(5)
    pu = rng.normal(0.3, 0.2, (trainset.n_users, 11))
    qi = rng.normal(0.3, 0.2, (trainset.n_items, 11))
    assert np.array_equal(algo.pu, pu.astype(np.float32))
    assert np.array_equal(algo.qi, qi.astype(np.float32))
    assert not algo.bu.any()
    assert not algo.bi.any()


# The legacy global generator is what Surprise's users seed: these tests use it on purpose.
# ruff: noqa: NPY002


def test_global_rng_advances_exactly_as_surprise(trainset):
    np.random.seed(0)
    SVD(n_factors=8, n_epochs=1, schedule="blocked").fit(trainset)
    after_blocked = np.random.random(4)
    np.random.seed(0)
    SVD(n_factors=8, n_epochs=1, schedule="exact").fit(trainset)
    after_exact = np.random.random(4)
    assert np.array_equal(after_blocked, after_exact)


def test_cross_validate_with_global_seed_consumes_rng_like_exact(trainset, small_df):
    data = Dataset.load_from_df(small_df, Reader(rating_scale=(1, 5)))
    states = []
    for schedule in ("blocked", "exact"):
        np.random.seed(0)
        cross_validate(SVD(n_factors=4, n_epochs=2, schedule=schedule), data, cv=KFold(3))
        states.append(np.random.random(3))
    assert np.array_equal(states[0], states[1])


def test_predict_uses_float32_factors(trainset):
    algo = SVD(n_factors=6, n_epochs=3, random_state=0).fit(trainset)
    u, i = 3, 5
    ruid, riid = trainset.to_raw_uid(u), trainset.to_raw_iid(i)
    expected = (
        trainset.global_mean
        + float(algo.bu[u])
        + float(algo.bi[i])
        + float(np.dot(algo.qi[i].astype(np.float64), algo.pu[u].astype(np.float64)))
    )
    pred = algo.predict(ruid, riid, clip=False)
    assert pred.est == pytest.approx(expected, rel=1e-12)
    batch = algo.test([(ruid, riid, 3.0), ("nobody", riid, 3.0)])
    assert batch[0].est == pytest.approx(min(5, max(1, expected)), rel=1e-12)
    assert batch[1].est == pytest.approx(trainset.global_mean + float(algo.bi[i]), rel=1e-6)


def test_pickle_round_trip(trainset):
    algo = SVD(n_factors=4, n_epochs=2, random_state=0).fit(trainset)
    clone = pickle.loads(pickle.dumps(algo))
    assert clone.schedule == "blocked"
    assert clone.pu.dtype == np.float32
    assert np.array_equal(clone.pu, algo.pu)
    assert clone.predict(trainset.to_raw_uid(0), trainset.to_raw_iid(0)).est == pytest.approx(
        algo.predict(trainset.to_raw_uid(0), trainset.to_raw_iid(0)).est
    )


def test_verbose_and_edge_cases(trainset, capsys):
    SVD(n_factors=3, n_epochs=2, verbose=True, random_state=0).fit(trainset)
    assert capsys.readouterr().out == "Processing epoch 0\nProcessing epoch 1\n"
    algo = SVD(n_factors=0, n_epochs=2, random_state=0).fit(trainset)
    assert algo.pu.shape == (trainset.n_users, 0)
    assert algo.bu.any()
    algo = SVD(n_factors=3, n_epochs=2, biased=False, random_state=0).fit(trainset)
    assert not algo.bu.any()
    assert not algo.bi.any()
    assert np.isfinite(algo.pu).all()


def test_divergence_raises(trainset):
    with pytest.raises(turbosvd.ModelFitError, match="diverged at epoch"):
        SVD(n_factors=10, n_epochs=20, lr_all=5.0, random_state=0).fit(trainset)


def test_kernel_rejects_bad_ids(tiny):
    users, items, ratings = tiny
    lay = _layout_of_arrays(users, items, ratings, 2, np.float64)
    model = list(_init(int(users.max()) + 1, int(items.max()) + 1, 3, np.float64))
    bad_items = lay.items.copy()
    bad_items[5] = 10_000
    with pytest.raises(ValueError, match="item id out of range"):
        _sgd.sgd_epoch_blocked(
            lay.block_ptr,
            lay.run_user,
            lay.run_ptr,
            bad_items,
            lay.ratings,
            *model,
            3.0,
            True,
            RATES,
            2,
        )
    bad_users = lay.run_user.copy()
    bad_users[0] = -1
    with pytest.raises(ValueError, match="user out of range"):
        _sgd.sgd_epoch_blocked(
            lay.block_ptr,
            bad_users,
            lay.run_ptr,
            lay.items,
            lay.ratings,
            *model,
            3.0,
            True,
            RATES,
            2,
        )
    with pytest.raises(ValueError, match="bin out of range"):
        _sgd.blocked_layout(
            users,
            items,
            ratings,
            np.full(users.max() + 1, 9, np.int32),
            np.zeros(items.max() + 1, np.int32),
            2,
            False,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_svd_item_rows_stored_by_bin_are_only_a_relabelling(trainset, dtype):
    """SVD trains on qi / bi stored bin by bin (no false sharing between threads); the
    result is bit-identical to the kernel run on inner item ids."""
    k = 12
    algo = SVD(n_factors=k, n_epochs=3, random_state=0, dtype=dtype).fit(trainset)
    layout = _blocked.build_layout(trainset, dtype, k)
    assert layout.item_order is None
    model = _init(trainset.n_users, trainset.n_items, k, dtype)
    rng = np.random.RandomState(0)  # SVD's draws: pu then qi, float64, cast
    model = (
        rng.normal(0, 0.1, (trainset.n_users, k)).astype(dtype),
        rng.normal(0, 0.1, (trainset.n_items, k)).astype(dtype),
        *model[2:],
    )
    svd_rates = (0.005,) * 4 + (0.02,) * 4
    for _ in range(3):
        _sgd.sgd_epoch_blocked(
            layout.block_ptr, layout.run_user, layout.run_ptr, layout.items, layout.ratings,
            *model, float(trainset.global_mean), True, svd_rates, 2,
        )  # fmt: skip
    for name, ref in zip(("pu", "qi", "bu", "bi"), model):
        assert getattr(algo, name).tobytes() == ref.tobytes(), name
    by_bin = _blocked.build_layout(trainset, dtype, k, items_by_bin=True)
    assert sorted(by_bin.item_order.tolist()) == list(range(trainset.n_items))
    assert (np.diff(layout.item_bin[by_bin.item_order]) >= 0).all()  # bins are contiguous
