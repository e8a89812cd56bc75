"""Early stopping (scikit-learn's names): the stopping rule, the best epoch kept,
determinism across n_jobs, the refit, and defaults that change nothing."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import turbosvd
from turbosvd import SVD, Dataset, Reader
from turbosvd.datasets import make_ratings
from turbosvd.train.early_stopping import EarlyStopping, holdout_split

# Over-fits quickly (k=40 factors, no regularisation, a large rate) so stops are early.
FAST_OVERFIT = dict(n_factors=40, lr_all=0.02, reg_all=0.0, n_epochs=200, random_state=7)


@pytest.fixture(scope="module")
def trainset():
    df = make_ratings(300, 200, 12_000, random_state=5)
    return Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()


def _params(algo):
    return [np.asarray(getattr(algo, k)) for k in ("bu", "bi", "pu", "qi")]


def test_defaults_leave_training_untouched(trainset):
    algo = SVD(random_state=0, n_epochs=5)
    assert algo.early_stopping is False and algo.refit is True
    assert (algo.validation_fraction, algo.n_iter_no_change, algo.tol) == (0.1, 5, 1e-4)
    algo.fit(trainset)
    assert not hasattr(algo, "n_epochs_") and not hasattr(algo, "best_epoch_")
    again = SVD(random_state=0, n_epochs=5, early_stopping=False).fit(trainset)
    for a, b in zip(_params(algo), _params(again), strict=True):
        assert np.array_equal(a, b)


def test_stops_after_n_iter_no_change_and_keeps_the_best_epoch(trainset):
    algo = SVD(**FAST_OVERFIT, early_stopping=True, refit=False, n_iter_no_change=3, tol=0)
    algo.fit(trainset)
    curve = algo.history_["holdout_rmse"]
    assert algo.n_epochs_ == len(curve) == len(algo.history_["epoch"]) < 200
    assert algo.best_epoch_ == int(np.argmin(curve)) + 1
    assert algo.n_epochs_ == algo.best_epoch_ + 3  # tol=0: three epochs not below the best
    assert min(curve[algo.best_epoch_ :]) >= curve[algo.best_epoch_ - 1]
    # The kept parameters are the best epoch's: the same model trained for that many
    # epochs on the same split (the split is the first draw of the seed's generator).
    train_rows, _ = holdout_split(trainset.n_ratings, 0.1, np.random.RandomState(7))
    same = SVD(**{**FAST_OVERFIT, "n_epochs": algo.best_epoch_}).fit(trainset.subset(train_rows))
    for a, b in zip(_params(algo), _params(same), strict=True):
        assert np.array_equal(a, b)
    assert algo.trainset is trainset  # attached to the full trainset


def test_tol_counts_small_improvements_as_no_change(trainset):
    strict = SVD(**FAST_OVERFIT, early_stopping=True, refit=False, tol=0).fit(trainset)
    loose = SVD(**FAST_OVERFIT, early_stopping=True, refit=False, tol=0.05).fit(trainset)
    assert loose.n_epochs_ <= strict.n_epochs_
    curve = loose.history_["holdout_rmse"]
    best_before = np.minimum.accumulate(curve)
    # Every epoch of the last n_iter_no_change improved on the best by less than tol.
    tail = range(loose.n_epochs_ - 5, loose.n_epochs_)
    assert all(curve[e] > best_before[e - 1] - 0.05 for e in tail)


@pytest.mark.parametrize("schedule", ["blocked", "exact"])
def test_refit_is_a_plain_fit_for_the_chosen_epochs(trainset, schedule):
    params = {**FAST_OVERFIT, "schedule": schedule}
    algo = SVD(**params, early_stopping=True).fit(trainset)
    plain = SVD(**{**params, "n_epochs": algo.best_epoch_}).fit(trainset)
    for a, b in zip(_params(algo), _params(plain), strict=True):
        assert np.array_equal(a, b)
    assert 1 <= algo.best_epoch_ < algo.n_epochs_ <= 200


def test_same_seed_same_stop_for_any_n_jobs(trainset):
    runs = [
        SVD(**FAST_OVERFIT, early_stopping=True, n_jobs=n_jobs).fit(trainset)
        for n_jobs in (1, 2, 3)
    ]
    for other in runs[1:]:
        assert (other.n_epochs_, other.best_epoch_) == (runs[0].n_epochs_, runs[0].best_epoch_)
        assert other.history_["holdout_rmse"] == runs[0].history_["holdout_rmse"]
        for a, b in zip(_params(other), _params(runs[0]), strict=True):
            assert np.array_equal(a, b)
    other_seed = SVD(**{**FAST_OVERFIT, "random_state": 8}, early_stopping=True).fit(trainset)
    assert other_seed.history_["holdout_rmse"] != runs[0].history_["holdout_rmse"]


def test_history_with_eval_set_and_train_curve(trainset):
    testset = trainset.build_testset()[:500]
    algo = SVD(n_factors=10, n_epochs=8, random_state=0, early_stopping=True, n_iter_no_change=50)
    algo.fit(trainset, eval_set=testset, history=True)
    h = algo.history_
    assert list(h) == ["epoch", "train_rmse", "time", "val_rmse", "holdout_rmse"]
    assert algo.n_epochs_ == 8 and len(h["val_rmse"]) == 8
    bare = SVD(n_factors=10, n_epochs=3, random_state=0, early_stopping=True).fit(trainset)
    assert list(bare.history_) == ["epoch", "time", "holdout_rmse"]


def test_early_stopping_unit_rule():
    s = EarlyStopping(n_iter_no_change=2, tol=0.1)
    a = (np.zeros(2),)
    assert not s.update(0, 1.0, a)  # best 1.0
    assert not s.update(1, 0.95, a)  # better, but by < tol: no change 1; best 0.95
    assert s.best_epoch == 2
    assert not s.update(2, 0.80, a)  # improvement >= tol: reset
    assert not s.update(3, 0.85, a)
    assert s.update(4, 0.79, a)  # < tol below 0.80: second no-change in a row -> stop
    assert s.best_epoch == 5 and s.best_rmse == 0.79


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"validation_fraction": 0}, ValueError, "validation_fraction=0"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction=1.0"),
        ({"validation_fraction": "0.1"}, ValueError, "validation_fraction='0.1'"),
        ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change=0"),
        ({"tol": -1.0}, ValueError, "tol=-1.0"),
        ({"early_stopping": "yes"}, TypeError, "early_stopping"),
        ({"refit": None}, TypeError, "refit"),
    ],
)
def test_bad_parameters(trainset, kw, error, match):
    with pytest.raises(error, match=match):
        SVD(n_epochs=1, **{"early_stopping": True, **kw}).fit(trainset)


def test_too_few_ratings_to_split():
    ts = Dataset.load_from_df(
        make_ratings(1, 1, 1, random_state=0), Reader(rating_scale=(1, 5))
    ).build_full_trainset()
    with pytest.raises(ValueError, match="both need at least one rating"):
        SVD(n_epochs=1, early_stopping=True).fit(ts)


def test_save_load_and_pickles(trainset, tmp_path):
    algo = SVD(n_factors=5, n_epochs=6, random_state=0, early_stopping=True, tol=0.5).fit(trainset)
    loaded = turbosvd.load(algo.save(tmp_path / "m.tsvd"))
    assert (loaded.early_stopping, loaded.tol) == (True, 0.5)
    assert loaded.history_["holdout_rmse"] == algo.history_["holdout_rmse"]
    assert loaded.predict(1, 2).est == algo.predict(1, 2).est
    # A pickle from before these parameters existed gets the defaults.
    state = pickle.loads(pickle.dumps(algo)).__dict__
    for name in ("early_stopping", "validation_fraction", "n_iter_no_change", "tol", "refit"):
        state.pop(name)
    old = SVD.__new__(SVD)
    old.__setstate__(state)
    assert old.early_stopping is False and old.refit is True


def test_foldin_after_early_stopping_uses_the_epochs_trained(trainset, tmp_path):
    algo = SVD(**FAST_OVERFIT, early_stopping=True).fit(trainset)
    lam_p0 = algo._foldin_reg()[0]
    assert lam_p0 == pytest.approx(1 / (0.02 * algo.best_epoch_))
    # A model file has no best_epoch_ attribute: the saved hold-out curve gives it.
    loaded = turbosvd.load(algo.save(tmp_path / "m.tsvd"))
    assert not hasattr(loaded, "best_epoch_")
    assert loaded._foldin_reg() == algo._foldin_reg()
