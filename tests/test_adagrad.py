"""AdaGrad learning rates on SVD's blocked schedule (issue 14): the kernel against a NumPy
reference of the definition, thread invariance, the parameter's validation and persistence."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import turbosvd
import turbosvd.train.sgd as train_sgd
from reference import sgd_epoch_blocked_adagrad
from turbosvd import SVD, Dataset, Reader, _sgd, accuracy
from turbosvd.datasets import make_ratings
from turbosvd.train import blocked as _blocked

RATES = (0.05, 0.06, 0.07, 0.08, 0.02, 0.021, 0.022, 0.023)


@pytest.fixture(scope="module")
def trainset():
    df = make_ratings(300, 200, 20000, random_state=4)
    df = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()


@pytest.fixture(scope="module")
def tiny():
    """A few hundred ratings with repeated (user, item) pairs, in random order."""
    rng = np.random.RandomState(11)
    n = 300
    users = rng.randint(0, 25, n).astype(np.int32)
    items = rng.randint(0, 18, n).astype(np.int32)
    users[-20:], items[-20:] = users[:20], items[:20]
    ratings = rng.randint(1, 6, n).astype(np.float64)
    return users, items, ratings


def _layout(users, items, ratings, n_bins, dtype):
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    ub = _blocked.user_bins(np.bincount(users, minlength=n_users), n_bins)
    ib = _blocked.item_bins(np.bincount(items, minlength=n_items), n_bins)
    out = _sgd.blocked_layout(users, items, ratings, ub, ib, n_bins, np.dtype(dtype) == np.float32)
    return _blocked.BlockedLayout(n_bins, *out, ub, ib)


def _model(n_users, n_items, k, dtype):
    rng = np.random.RandomState(0)
    model = (
        rng.normal(0, 0.1, (n_users, k)).astype(dtype),
        rng.normal(0, 0.1, (n_items, k)).astype(dtype),
        rng.normal(0, 0.1, n_users).astype(dtype),
        rng.normal(0, 0.1, n_items).astype(dtype),
    )
    # Accumulators away from their start, so the rates differ between rows.
    acc = tuple(1 + rng.random_sample(len(a)).astype(dtype) for a in model)
    return model, acc


@pytest.mark.parametrize("n_bins", [1, 3])
@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("k", [7, 70])  # a tail only; two full lane sets and a tail
def test_kernel_matches_reference_float64(tiny, n_bins, biased, k):
    users, items, ratings = tiny
    lay = _layout(users, items, ratings, n_bins, np.float64)
    model, acc = _model(int(users.max()) + 1, int(items.max()) + 1, k, np.float64)
    ref_model, ref_acc = [a.copy() for a in model], [a.copy() for a in acc]
    mu = float(ratings.mean())
    for _ in range(2):
        lay.epoch(*model, mu, biased, RATES, 2, adagrad=acc)
        sgd_epoch_blocked_adagrad(
            users, items, ratings, lay.user_bin, lay.item_bin, n_bins, ref_model, ref_acc, mu,
            biased, RATES,
        )  # fmt: skip
    for a, b in zip(model + acc, ref_model + ref_acc, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    if not biased:  # biases and their accumulators untouched
        assert np.array_equal(acc[2], ref_acc[2]) and np.array_equal(model[2], ref_model[2])


def test_kernel_float32_close_to_reference(tiny):
    users, items, ratings = tiny
    lay = _layout(users, items, ratings, 4, np.float32)
    model, acc = _model(int(users.max()) + 1, int(items.max()) + 1, 40, np.float32)
    ref_model = [a.astype(np.float64) for a in model]
    ref_acc = [a.astype(np.float64) for a in acc]
    mu = float(ratings.mean())
    lay.epoch(*model, mu, True, RATES, 2, adagrad=acc)
    sgd_epoch_blocked_adagrad(
        users, items, ratings, lay.user_bin, lay.item_bin, 4, ref_model, ref_acc, mu, True, RATES
    )
    for a, b in zip(model + acc, ref_model + ref_acc, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_constant_rate_ignores_nothing(tiny):
    """Without accumulators the kernel is the constant-rate one (a different result)."""
    users, items, ratings = tiny
    lay = _layout(users, items, ratings, 2, np.float64)
    a, acc = _model(int(users.max()) + 1, int(items.max()) + 1, 5, np.float64)
    b = [x.copy() for x in a]
    lay.epoch(*a, 3.0, True, RATES, 1, adagrad=acc)
    lay.epoch(*b, 3.0, True, RATES, 1)
    assert not np.array_equal(a[0], b[0])


def test_kernel_rejects_bad_accumulators(tiny):
    users, items, ratings = tiny
    lay = _layout(users, items, ratings, 2, np.float64)
    model, acc = _model(int(users.max()) + 1, int(items.max()) + 1, 3, np.float64)
    with pytest.raises(ValueError, match="user accumulators"):
        lay.epoch(*model, 3.0, True, RATES, 1, adagrad=(acc[0][:-1], *acc[1:]))
    with pytest.raises(ValueError, match="item accumulators"):
        lay.epoch(*model, 3.0, True, RATES, 1, adagrad=(acc[0], acc[1][:-1], *acc[2:]))
    with pytest.raises(ValueError, match="adagrad must be"):
        lay.epoch(*model, 3.0, True, RATES, 1, adagrad=acc[:3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_svd_adagrad_bit_identical_for_any_n_jobs(trainset, dtype, monkeypatch):
    monkeypatch.setattr(train_sgd, "RATINGS_PER_THREAD", 1)  # let n_jobs take effect
    fits = [
        SVD(
            n_factors=20, n_epochs=4, lr_all=0.1, random_state=0, dtype=dtype, n_jobs=n,
            learning_rate_schedule="adagrad",
        ).fit(trainset)
        for n in (1, 2, 5)
    ]  # fmt: skip
    for other in fits[1:]:
        for name in ("pu", "qi", "bu", "bi"):
            assert getattr(fits[0], name).tobytes() == getattr(other, name).tobytes()
    constant = SVD(n_factors=20, n_epochs=4, lr_all=0.1, random_state=0, dtype=dtype)
    assert not np.array_equal(constant.fit(trainset).pu, fits[0].pu)


def test_svd_adagrad_learns_and_early_stops(trainset):
    testset = trainset.build_testset()[:4000]
    algo = SVD(
        n_factors=10, n_epochs=60, lr_all=0.1, random_state=0, learning_rate_schedule="adagrad",
        early_stopping=True, n_iter_no_change=3,
    ).fit(trainset)  # fmt: skip
    assert algo.n_epochs_ < 60 and 1 <= algo.best_epoch_ <= algo.n_epochs_
    baseline = SVD(n_factors=10, n_epochs=0, random_state=0).fit(trainset)
    assert accuracy.rmse(algo.test(testset), verbose=False) < accuracy.rmse(
        baseline.test(testset), verbose=False
    )


def test_default_is_constant_and_validation(trainset):
    assert SVD().learning_rate_schedule == "constant"
    for bad in ("Adagrad", "optimal", None, 1):
        with pytest.raises(ValueError, match="learning_rate_schedule="):
            SVD(n_epochs=1, learning_rate_schedule=bad).fit(trainset)
    with pytest.raises(ValueError, match="schedule='exact'"):
        SVD(n_epochs=1, schedule="exact", learning_rate_schedule="adagrad").fit(trainset)


def test_persisted_in_files_and_pickles(trainset, tmp_path):
    algo = SVD(
        n_factors=4, n_epochs=2, lr_all=0.1, random_state=0, learning_rate_schedule="adagrad"
    )
    algo.fit(trainset)
    loaded = turbosvd.load(algo.save(tmp_path / "m.tsvd"))
    assert loaded.learning_rate_schedule == "adagrad"
    assert loaded.predict(trainset.to_raw_uid(0), trainset.to_raw_iid(0)).est == pytest.approx(
        algo.predict(trainset.to_raw_uid(0), trainset.to_raw_iid(0)).est
    )
    assert pickle.loads(pickle.dumps(algo)).learning_rate_schedule == "adagrad"
    # A pickle from before the parameter existed loads with the constant rate.
    state = algo.__getstate__() if hasattr(algo, "__getstate__") else dict(algo.__dict__)
    state = dict(state)
    state.pop("learning_rate_schedule")
    old = SVD.__new__(SVD)
    old.__setstate__(state)
    assert old.learning_rate_schedule == "constant"
