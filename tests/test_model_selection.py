"""CV iterators, cross_validate and the searches, against scikit-surprise.

Split membership and order must be identical for the same seeds (same RNG draws).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import needs_ml100k
from turbosvd import SVD, BaselineOnly, Dataset, Reader
from turbosvd.model_selection import (
    GridSearchCV,
    KFold,
    LeaveOneOut,
    PredefinedKFold,
    RandomizedSearchCV,
    RepeatedKFold,
    ShuffleSplit,
    cross_validate,
    train_test_split,
)
from turbosvd.model_selection.split import get_cv

TOL = 1e-10


@pytest.fixture
def pair(surprise, small_df):
    return (
        Dataset.load_from_df(small_df, Reader()),
        surprise.Dataset.load_from_df(small_df, surprise.Reader()),
    )


def assert_same_splits(ours, theirs):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for (tr_o, te_o), (tr_t, te_t) in zip(ours, theirs):
        assert te_o == te_t
        assert tr_o.ur == tr_t.ur and tr_o.ir == tr_t.ir
        assert tr_o._raw2inner_id_users == tr_t._raw2inner_id_users
        assert tr_o._raw2inner_id_items == tr_t._raw2inner_id_items
        assert tr_o.global_mean == tr_t.global_mean


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_splits": 3, "random_state": 0},
        {"n_splits": 4, "shuffle": False},
        {"n_splits": 2, "random_state": 9},
    ],
)
def test_kfold_matches_surprise(surprise, pair, kwargs):
    ours, theirs = pair
    assert_same_splits(
        KFold(**kwargs).split(ours), surprise.model_selection.KFold(**kwargs).split(theirs)
    )


def test_kfold_global_rng_and_fold_sizes(surprise, pair):
    ours, theirs = pair
    np.random.seed(3)
    b = list(surprise.model_selection.KFold(3).split(theirs))
    np.random.seed(3)
    a = list(KFold(3).split(ours))
    assert [te for _, te in a] == [te for _, te in b]
    n = len(ours.raw_ratings)
    assert [len(te) for _, te in a] == [n // 3 + (k < n % 3) for k in range(3)]


def test_kfold_bad_n_splits(pair):
    ours, _ = pair
    n = len(ours.raw_ratings)
    for bad in (1, n + 1):
        with pytest.raises(ValueError, match=rf"Incorrect value for n_splits={bad}\. Must be >=2"):
            next(KFold(bad).split(ours))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"test_size": 0.25, "random_state": 0},
        {"test_size": 0.07, "random_state": 1},
        {"train_size": 0.58, "test_size": None, "random_state": 2},
        {"test_size": 100, "train_size": 300, "random_state": 3},
        {"shuffle": False},
    ],
)
def test_shuffle_split_and_train_test_split_match_surprise(surprise, pair, kwargs):
    ours, theirs = pair
    assert_same_splits(
        ShuffleSplit(n_splits=2, **kwargs).split(ours),
        surprise.model_selection.ShuffleSplit(n_splits=2, **kwargs).split(theirs),
    )
    assert_same_splits(
        [train_test_split(ours, **kwargs)],
        [surprise.model_selection.train_test_split(theirs, **kwargs)],
    )


def test_shuffle_split_size_errors_match_surprise(surprise, pair):
    ours, theirs = pair
    n = len(ours.raw_ratings)
    for kwargs in (
        {"test_size": n},
        {"train_size": n, "test_size": None},
        {"test_size": 0.6, "train_size": 0.6},
    ):
        with pytest.raises(ValueError) as e_t:
            surprise.model_selection.train_test_split(theirs, **kwargs)
        with pytest.raises(ValueError) as e_o:
            train_test_split(ours, **kwargs)
        assert str(e_o.value) == str(e_t.value)
    for kwargs in ({"n_splits": 0}, {"test_size": 0}, {"train_size": -1}):
        with pytest.raises(ValueError) as e_t:
            surprise.model_selection.ShuffleSplit(**kwargs)
        with pytest.raises(ValueError) as e_o:
            ShuffleSplit(**kwargs)
        assert str(e_o.value) == str(e_t.value)


def test_repeated_kfold_and_leave_one_out_match_surprise(surprise, pair):
    ours, theirs = pair
    assert_same_splits(
        RepeatedKFold(n_splits=2, n_repeats=2, random_state=5).split(ours),
        surprise.model_selection.RepeatedKFold(n_splits=2, n_repeats=2, random_state=5).split(
            theirs
        ),
    )
    for min_n in (0, 12):
        assert_same_splits(
            LeaveOneOut(n_splits=2, random_state=4, min_n_ratings=min_n).split(ours),
            surprise.model_selection.LeaveOneOut(
                n_splits=2, random_state=4, min_n_ratings=min_n
            ).split(theirs),
        )
    with pytest.raises(ValueError, match="Could not build any trainset"):
        next(LeaveOneOut(min_n_ratings=10**6).split(ours))


@needs_ml100k
def test_predefined_kfold_matches_surprise(surprise, ml100k_dir):
    folds = [(str(ml100k_dir / f"u{k}.base"), str(ml100k_dir / f"u{k}.test")) for k in (1, 2)]
    cv = PredefinedKFold()
    with pytest.raises(AttributeError):
        cv.get_n_folds()
    ours = Dataset.load_from_folds(folds, Reader("ml-100k"))
    theirs = surprise.Dataset.load_from_folds(folds, surprise.Reader("ml-100k"))
    assert_same_splits(cv.split(ours), surprise.model_selection.PredefinedKFold().split(theirs))
    assert cv.get_n_folds() == 2
    with pytest.raises(ValueError, match="File nope.base does not exist."):
        Dataset.load_from_folds([("nope.base", str(ml100k_dir / "u1.test"))], Reader("ml-100k"))


def test_get_cv():
    assert isinstance(get_cv(None), KFold) and get_cv(None).n_splits == 5
    assert get_cv(3).n_splits == 3
    cv = ShuffleSplit()
    assert get_cv(cv) is cv
    with pytest.raises(ValueError, match="Wrong CV object. Expecting None, an int or CV iterator"):
        get_cv("kfold")


# ---------------------------------------------------------------------- cross_validate


def test_cross_validate_matches_surprise(surprise, pair):
    ours, theirs = pair
    kw = dict(n_factors=5, n_epochs=3, random_state=0)
    r_t = surprise.model_selection.cross_validate(
        surprise.SVD(**kw),
        theirs,
        measures=["RMSE", "mae", "fcp"],
        cv=surprise.model_selection.KFold(3, random_state=1),
        return_train_measures=True,
    )
    algo = SVD(schedule="exact", **kw)
    r_o = cross_validate(
        algo,
        ours,
        measures=["RMSE", "mae", "fcp"],
        cv=KFold(3, random_state=1),
        return_train_measures=True,
    )
    assert list(r_o) == list(r_t)
    for key in r_t:
        if key.endswith("_time"):
            assert type(r_o[key]) is tuple and len(r_o[key]) == 3
        else:
            assert isinstance(r_o[key], np.ndarray) and r_o[key].shape == (3,)
            np.testing.assert_allclose(r_o[key], r_t[key], rtol=0, atol=TOL)
    assert algo.trainset is not None  # n_jobs=1 fits the caller's object (last fold)


def test_cross_validate_parallel_copies_and_equals_serial(pair):
    ours, _ = pair
    kw = dict(n_factors=5, n_epochs=3, random_state=0, schedule="exact")
    serial = cross_validate(SVD(**kw), ours, cv=KFold(4, random_state=2))
    algo = SVD(**kw)
    parallel = cross_validate(algo, ours, cv=KFold(4, random_state=2), n_jobs=2, pre_dispatch=1)
    assert "trainset" not in vars(algo)  # copies went to the workers
    for m in ("test_rmse", "test_mae"):
        np.testing.assert_array_equal(serial[m], parallel[m])
    with pytest.raises(ValueError, match="n_jobs=0 is not valid"):
        cross_validate(SVD(**kw), ours, n_jobs=0)
    with pytest.raises(ValueError, match="unknown measure 'r2'"):
        cross_validate(SVD(**kw), ours, measures=["r2"])


def _strip_times(text):
    return re.sub(r"\d+\.\d\d", "T", text.split("Fit time")[0])


def test_cross_validate_summary_is_byte_identical(surprise, pair, capsys):
    ours, theirs = pair
    kw = dict(n_factors=3, n_epochs=2, random_state=0)
    surprise.model_selection.cross_validate(
        surprise.SVD(**kw),
        theirs,
        cv=surprise.model_selection.KFold(3, random_state=0),
        verbose=True,
        return_train_measures=True,
    )
    out_t = capsys.readouterr().out
    cross_validate(
        SVD(schedule="exact", **kw),
        ours,
        cv=KFold(3, random_state=0),
        verbose=True,
        return_train_measures=True,
    )
    out_o = capsys.readouterr().out
    assert out_o.splitlines()[0] == "Evaluating RMSE, MAE of algorithm SVD on 3 split(s)."
    assert out_o.split("Fit time")[0] == out_t.split("Fit time")[0]
    assert [len(x) for x in out_o.splitlines()] == [len(x) for x in out_t.splitlines()]


@needs_ml100k
def test_golden_g3_g4_cross_validate_on_ml100k():
    data = Dataset.load_builtin("ml-100k", prompt=False)
    g3 = cross_validate(SVD(random_state=0, schedule="exact"), data, cv=KFold(5, random_state=0))
    np.testing.assert_allclose(
        g3["test_rmse"],
        [
            0.9354697356168592,
            0.9278008235550889,
            0.9306081905832594,
            0.9319064360208874,
            0.946205535528454,
        ],
        rtol=0,
        atol=TOL,
    )
    np.testing.assert_allclose(
        g3["test_mae"],
        [
            0.7374008653215574,
            0.7313308670976597,
            0.7345221900260261,
            0.7337441058314258,
            0.7465752385001996,
        ],
        rtol=0,
        atol=TOL,
    )
    np.random.seed(0)
    g4 = cross_validate(SVD(schedule="exact"), data, cv=5)
    np.testing.assert_allclose(
        g4["test_rmse"],
        [
            0.9363603520083649,
            0.930471718462015,
            0.9297690277339129,
            0.931259764791668,
            0.9498642941212871,
        ],
        rtol=0,
        atol=TOL,
    )


# ---------------------------------------------------------------------------- searches


def test_grid_search_matches_surprise(surprise, pair):
    ours, theirs = pair
    grid = {
        "n_epochs": [2, 4],
        "lr_all": [0.005, 0.02],
        "n_factors": [3],
        "random_state": [0],
        "schedule": ["exact"],
    }
    grid_t = {k: v for k, v in grid.items() if k != "schedule"}
    gs_t = surprise.model_selection.GridSearchCV(
        surprise.SVD,
        grid_t,
        measures=["rmse", "FCP"],
        cv=surprise.model_selection.KFold(3, random_state=0),
        refit="fcp",
        return_train_measures=True,
    )
    gs_t.fit(theirs)
    gs_o = GridSearchCV(
        SVD,
        grid,
        measures=["rmse", "FCP"],
        cv=KFold(3, random_state=0),
        refit="fcp",
        return_train_measures=True,
    )
    assert gs_o.fit(ours) is None
    keys_t = list(gs_t.cv_results)
    keys_o = [k for k in gs_o.cv_results if k != "param_schedule"]
    assert keys_o == keys_t
    for k in keys_t:
        if k.endswith("_time"):
            assert gs_o.cv_results[k].shape == (4,)
        elif k.startswith(("mean_test", "std_test", "split", "mean_train", "std_train")):
            np.testing.assert_allclose(gs_o.cv_results[k], gs_t.cv_results[k], rtol=0, atol=TOL)
        elif k.startswith("rank"):
            np.testing.assert_array_equal(gs_o.cv_results[k], gs_t.cv_results[k])
    assert gs_o.cv_results["params"] is gs_o.param_combinations
    for m in ("rmse", "fcp"):
        assert gs_o.best_index[m] == gs_t.best_index[m]
        assert gs_o.best_score[m] == pytest.approx(gs_t.best_score[m], abs=TOL)
    assert "trainset" not in vars(gs_o.best_estimator["rmse"])
    assert gs_o.best_estimator["fcp"].trainset.n_ratings == len(ours.raw_ratings)
    u, i, r = theirs.raw_ratings[0][:3]
    assert gs_o.predict(u, i, r).est == pytest.approx(gs_t.predict(u, i, r).est, abs=TOL)
    with pytest.raises(TypeError):
        gs_o.predict(u, i, r_ui=3)


def test_search_errors(pair):
    ours, _ = pair
    with pytest.raises(ValueError, match=r"refit \(mse\) is not in the measures"):
        GridSearchCV(SVD, {"n_epochs": [1]}, refit="mse")
    gs = GridSearchCV(SVD, {"n_epochs": [1]})
    gs.fit(ours)
    with pytest.raises(ValueError, match=r"refit is False, cannot use test\(\)"):
        gs.test([])
    with pytest.raises(ValueError, match=r"refit is False, cannot use predict\(\)"):
        gs.predict("u1", "i1")
    with pytest.raises(TypeError, match="algo_class must be a class"):
        GridSearchCV(SVD(), {"n_epochs": [1]}).fit(ours)


def test_grid_search_parses_option_dicts():
    gs = GridSearchCV(
        BaselineOnly,
        {"bsl_options": {"method": ["als", "sgd"], "n_epochs": [1, 2]}, "verbose": [False]},
    )
    assert gs.param_combinations == [
        {"bsl_options": {"method": m, "n_epochs": e}, "verbose": False}
        for m in ("als", "sgd")
        for e in (1, 2)
    ]


def test_randomized_search_draws_match_surprise(surprise):
    class Dist:  # a scipy.stats-like distribution
        def rvs(self, random_state):
            return random_state.uniform(0.001, 0.01)

    dists = {"n_epochs": [5, 10, 20], "lr_all": Dist(), "reg_all": [0.02, 0.1]}
    ours = RandomizedSearchCV(SVD, dists, n_iter=4, random_state=3).param_combinations
    theirs = surprise.model_selection.RandomizedSearchCV(
        surprise.SVD, dists, n_iter=4, random_state=3
    ).param_combinations
    assert ours == theirs
    lists = {"n_epochs": [5, 10, 20], "reg_all": [0.02, 0.1]}
    np.random.seed(1)
    theirs = surprise.model_selection.RandomizedSearchCV(surprise.SVD, lists, n_iter=3)
    np.random.seed(1)
    ours = RandomizedSearchCV(SVD, lists, n_iter=3)
    assert isinstance(ours.param_combinations, np.ndarray)
    assert list(ours.param_combinations) == list(theirs.param_combinations)


@needs_ml100k
def test_golden_g9_grid_search_on_ml100k():
    data = Dataset.load_builtin("ml-100k", prompt=False)
    grid = {
        "n_epochs": [5, 10],
        "lr_all": [0.002, 0.005],
        "reg_all": [0.4, 0.6],
        "random_state": [0],
        "schedule": ["exact"],
    }
    gs = GridSearchCV(SVD, grid, cv=KFold(3, random_state=0), n_jobs=2)
    gs.fit(data)
    np.testing.assert_allclose(
        gs.cv_results["mean_test_rmse"],
        [
            0.9972376706029626,
            1.0033120113202665,
            0.9737370637897289,
            0.982378170720712,
            0.978160108689273,
            0.9862911461699705,
            0.9639258448123286,
            0.9736415886986857,
        ],
        rtol=0,
        atol=TOL,
    )
    assert gs.best_score["rmse"] == pytest.approx(0.9639258448123286, abs=TOL)
    assert {k: gs.best_params["rmse"][k] for k in ("n_epochs", "lr_all", "reg_all")} == {
        "n_epochs": 10,
        "lr_all": 0.005,
        "reg_all": 0.4,
    }


def test_parallel_folds_share_the_cpus_between_workers(small_df, monkeypatch):
    """Fold workers x kernel threads never exceed the CPUs (no oversubscription)."""
    import turbosvd._parallel as parallel
    from turbosvd._threads import effective_n_threads

    data = Dataset.load_from_df(small_df, Reader())
    seen = []

    class Recording(SVD):
        def fit(self, trainset, **kwargs):
            seen.append(effective_n_threads(self.n_jobs))  # what the kernels will get
            return super().fit(trainset, **kwargs)

    monkeypatch.setattr(parallel, "cpu_count", lambda: 4)
    for n_jobs, budget in ((None, 4), (1, 4), (2, 2), (4, 1), (8, 1)):
        seen.clear()
        algo = Recording(n_factors=2, n_epochs=1, random_state=0, n_jobs=4)
        cross_validate(algo, data, cv=KFold(4, random_state=0), n_jobs=n_jobs)
        assert seen == [budget] * 4, n_jobs
    seen.clear()
    grid = {"n_factors": [2, 3], "n_epochs": [1], "random_state": [0], "n_jobs": [4]}
    GridSearchCV(Recording, grid, cv=KFold(2, random_state=0), n_jobs=2).fit(data)
    assert seen == [2] * 4


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cross_validate_fit_params_and_estimators(small_df, n_jobs):
    """fit_params (a dict or a function of the fold) reach fit; return_estimator gives each
    fold's own fitted model (what the CLI's learning curves are drawn from)."""
    data = Dataset.load_from_df(small_df, Reader())
    algo = SVD(n_factors=3, n_epochs=4, random_state=0)
    cv = KFold(n_splits=3, random_state=0, shuffle=True)
    seen = []

    def params(trainset, testset):
        seen.append(len(testset))
        return {"eval_set": testset}

    res = cross_validate(algo, data, cv=cv, fit_params=params, return_estimator=True, n_jobs=n_jobs)
    models = res["estimator"]
    assert len(models) == 3 and len({id(m) for m in models} | {id(algo)}) == 4
    assert sorted(seen) == sorted(len(test) for _, test in cv.split(data))
    for model, rmse in zip(models, res["test_rmse"], strict=True):
        assert len(model.history_["val_rmse"]) == 4
        assert model.history_["val_rmse"][-1] == pytest.approx(rmse, abs=1e-9)
    plain = cross_validate(algo, data, cv=cv, fit_params={"history": True})
    np.testing.assert_allclose(plain["test_rmse"], res["test_rmse"], rtol=0, atol=1e-12)
    assert "estimator" not in plain and "history_" in vars(algo)
    with pytest.raises(TypeError, match="fit_params must be a dict or a callable"):
        cross_validate(algo, data, cv=cv, fit_params=[("history", True)])
