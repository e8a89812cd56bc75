"""SlopeOne and CoClustering against scikit-surprise 1.1.5 (the oracle), on real data."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import turbosvd
from conftest import DATA_FOLDER, needs_ml100k, needs_ml_latest
from turbosvd import _cluster
from turbosvd.neighbors import slope_one as slope_engine
from turbosvd.prediction_algorithms.co_clustering import CoClustering as CoClusteringByPath
from turbosvd.prediction_algorithms.slope_one import SlopeOne as SlopeOneByPath
from turbosvd.train import co_clustering as cocluster_engine


def _u1(mod, n_train=None, n_test=None):
    d = DATA_FOLDER / "ml-100k" / "ml-100k"
    data = mod.Dataset.load_from_folds(
        [(str(d / "u1.base"), str(d / "u1.test"))], mod.Reader("ml-100k")
    )
    trainset, testset = next(mod.model_selection.PredefinedKFold().split(data))
    return trainset, testset


def _latest(mod):
    path = DATA_FOLDER / "ml-latest-small" / "ml-latest-small" / "ratings.csv"
    df = pd.read_csv(path)[["userId", "movieId", "rating"]]
    data = mod.Dataset.load_from_df(df, mod.Reader(rating_scale=(0.5, 5)))
    return mod.model_selection.train_test_split(data, test_size=0.2, random_state=0)


def _both(surprise, make, loader, kwargs):
    out = []
    for mod in (surprise, turbosvd):
        trainset, testset = loader(mod)
        algo = getattr(mod, make)(**kwargs).fit(trainset)
        preds = algo.test(testset)
        out.append((algo, preds))
    return out


def _assert_same_predictions(p_s, p_t):
    assert len(p_s) == len(p_t)
    est_s = np.array([p.est for p in p_s])
    est_t = np.array([p.est for p in p_t])
    np.testing.assert_allclose(est_t, est_s, rtol=0, atol=1e-10)
    assert [p.details for p in p_t] == [p.details for p in p_s]
    assert [(p.uid, p.iid, p.r_ui) for p in p_t] == [(p.uid, p.iid, p.r_ui) for p in p_s]


def test_import_paths():
    assert turbosvd.SlopeOne is SlopeOneByPath
    assert turbosvd.CoClustering is CoClusteringByPath
    algo = turbosvd.CoClustering()
    assert (algo.n_cltr_u, algo.n_cltr_i, algo.n_epochs, algo.random_state, algo.verbose) == (
        3,
        3,
        20,
        None,
        False,
    )


@needs_ml100k
def test_slope_one_u1_matches_surprise(surprise):
    (a_s, p_s), (a_t, p_t) = _both(surprise, "SlopeOne", _u1, {})
    _assert_same_predictions(p_s, p_t)
    np.testing.assert_array_equal(a_t.user_mean, np.asarray(a_s.user_mean))
    # The dense arrays, built on demand, are Surprise's (NaN where no user rated both).
    np.testing.assert_array_equal(a_t.freq, a_s.freq)
    np.testing.assert_array_equal(a_t.dev, a_s.dev)


@pytest.mark.slow
@needs_ml_latest
def test_slope_one_half_stars_truncated_like_surprise(surprise):
    # ml-latest-small has half stars: Surprise truncates them (its Cython declares int).
    (_, p_s), (_, p_t) = _both(surprise, "SlopeOne", _latest, {})
    _assert_same_predictions(p_s, p_t)


@needs_ml100k
@pytest.mark.parametrize(
    "kwargs",
    [dict(random_state=0), dict(n_cltr_u=5, n_cltr_i=2, n_epochs=7, random_state=3)],
)
def test_co_clustering_u1_matches_surprise(surprise, kwargs):
    (a_s, p_s), (a_t, p_t) = _both(surprise, "CoClustering", _u1, kwargs)
    _assert_same_predictions(p_s, p_t)
    np.testing.assert_array_equal(a_t.cltr_u, a_s.cltr_u)
    np.testing.assert_array_equal(a_t.cltr_i, a_s.cltr_i)
    for name in ("user_mean", "item_mean", "avg_cltr_u", "avg_cltr_i", "avg_cocltr"):
        np.testing.assert_array_equal(getattr(a_t, name), getattr(a_s, name))


@pytest.mark.slow
@needs_ml_latest
def test_co_clustering_latest_matches_surprise(surprise):
    (_, p_s), (_, p_t) = _both(surprise, "CoClustering", _latest, dict(random_state=1))
    _assert_same_predictions(p_s, p_t)


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("SlopeOne", {}, 1.1559939123891685),
        ("CoClustering", dict(random_state=0), 1.0841941385276614),
    ],
)
def test_sanity_check_values(name, kwargs, expected, surprise_u1_subset):
    """Surprise's test_sanity_checks RMSE, to the last digit, on its 8,000/2,000-rating u1
    subset (rebuilt from the local MovieLens by tests/surprise_files.py)."""
    train, test = surprise_u1_subset
    data = turbosvd.Dataset.load_from_folds([(str(train), str(test))], turbosvd.Reader("ml-100k"))
    trainset, testset = next(turbosvd.model_selection.PredefinedKFold().split(data))
    algo = getattr(turbosvd, name)(**kwargs).fit(trainset)
    assert turbosvd.accuracy.rmse(algo.test(testset)) == expected


def test_random_state_draw_order_and_global_rng():
    df = pd.DataFrame({"u": list("aabbccdd"), "i": list("xyxzyzwx"), "r": [1, 2, 3, 4, 5, 1, 2, 3]})
    data = turbosvd.Dataset.load_from_df(df, turbosvd.Reader(rating_scale=(1, 5)))
    trainset = data.build_full_trainset()
    rng = np.random.RandomState(7)
    expected_u = rng.randint(2, size=trainset.n_users)
    expected_i = rng.randint(3, size=trainset.n_items)
    algo = turbosvd.CoClustering(n_cltr_u=2, n_cltr_i=3, n_epochs=0, random_state=7)
    algo.fit(trainset)
    np.testing.assert_array_equal(algo.cltr_u, expected_u)
    np.testing.assert_array_equal(algo.cltr_i, expected_i)
    # None uses numpy's global RandomState, as Surprise does.
    np.random.seed(7)
    algo = turbosvd.CoClustering(n_cltr_u=2, n_cltr_i=3, n_epochs=0).fit(trainset)
    np.testing.assert_array_equal(algo.cltr_u, expected_u)


def _toy_trainset():
    df = pd.DataFrame(
        {
            "u": ["a", "a", "b", "c", "c", "d"],
            "i": ["x", "y", "y", "z", "x", "w"],
            "r": [3.5, 2.0, 4.5, -1.5, 2.5, 1.0],
        }
    )
    data = turbosvd.Dataset.load_from_df(df, turbosvd.Reader(rating_scale=(-5, 5)))
    return data.build_full_trainset()


def test_slope_one_toy_values_and_truncation():
    trainset = _toy_trainset()
    algo = turbosvd.SlopeOne().fit(trainset)
    x, y = trainset.to_inner_iid("x"), trainset.to_inner_iid("y")
    # a rated x 3.5 -> 3 and y 2 -> 2: dev(x, y) = 1 (not 1.5); freq(x, y) = 1.
    assert algo.freq[x, y] == 1
    assert algo.dev[x, y] == 1.0
    assert algo.dev[y, x] == -1.0
    # est(a, y) = mu_a + mean(dev(y, x), dev(y, y)) = 2.75 - 0.5
    assert algo.predict("a", "y").est == 2.25
    pred = algo.predict("zz", "y")
    assert pred.details == {"was_impossible": True, "reason": "User and/or item is unknown."}
    assert algo.test([("zz", "y", 1.0)])[0].details["reason"] == "User and/or item is unknown."
    with pytest.raises(turbosvd.PredictionImpossible, match="User and/or item is unknown."):
        algo.estimate("UKN__zz", y)


def test_co_clustering_unknown_ids_get_the_global_mean():
    trainset = _toy_trainset()
    algo = turbosvd.CoClustering(n_cltr_u=2, n_cltr_i=2, random_state=0).fit(trainset)
    for uid, iid in (("zz", "x"), ("a", "nope"), ("zz", "nope")):
        pred = algo.predict(uid, iid)
        assert pred.est == trainset.global_mean
        assert pred.details == {"was_impossible": False}


def test_pickle_round_trip(tmp_path):
    trainset = _toy_trainset()
    testset = trainset.build_testset() + [("zz", "x", 1.0)]
    for algo in (turbosvd.SlopeOne(), turbosvd.CoClustering(random_state=0)):
        algo.fit(trainset)
        if isinstance(algo, turbosvd.SlopeOne):
            _ = algo.dev  # the dense cache is not pickled, and comes back on demand
        preds = algo.test(testset)
        path = tmp_path / "algo"
        turbosvd.dump.dump(str(path), predictions=preds, algo=algo)
        preds2, algo2 = turbosvd.dump.load(str(path))
        assert preds2 == preds
        assert algo2.test(testset) == preds
        assert "_dense" not in pickle.loads(pickle.dumps(algo)).__dict__


def test_verbose_prints_epochs(capsys):
    turbosvd.CoClustering(n_epochs=2, verbose=True, random_state=0).fit(_toy_trainset())
    assert capsys.readouterr().out == "Processing epoch 0\nProcessing epoch 1\n"
    turbosvd.CoClustering(n_epochs=2, random_state=0).fit(_toy_trainset())
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(n_cltr_u=0), ValueError, "n_cltr_u=0"),
        (dict(n_cltr_i=-2), ValueError, "n_cltr_i=-2"),
        (dict(n_epochs=-1), ValueError, "n_epochs=-1"),
        (dict(n_cltr_u=2.5), TypeError, "n_cltr_u"),
        (dict(random_state="seed"), ValueError, "random state"),
    ],
)
def test_co_clustering_bad_parameters(kwargs, error, match):
    algo = turbosvd.CoClustering(**kwargs)
    with pytest.raises(error, match=match):
        algo.fit(_toy_trainset())
    assert "trainset" not in algo.__dict__


def test_not_fitted():
    with pytest.raises(turbosvd.NotFittedError):
        turbosvd.SlopeOne().predict("a", "b")
    with pytest.raises(turbosvd.NotFittedError):
        _ = turbosvd.SlopeOne().dev


def test_slope_one_dense_arrays_refused_when_too_large(monkeypatch):
    algo = turbosvd.SlopeOne().fit(_toy_trainset())
    monkeypatch.setattr("turbosvd._validation._memory_bytes", lambda: 100)
    with pytest.raises(ValueError, match="dense freq and dev"):
        _ = algo.dev
    # Fitting and predicting need only the sparse table (here 9 co-rated pairs, 144 bytes).
    monkeypatch.setattr("turbosvd._validation._memory_bytes", lambda: 1000)
    algo = turbosvd.SlopeOne().fit(_toy_trainset())
    assert algo.predict("a", "y").est == 2.25


def test_slope_one_table_is_sparse():
    # 3,000 items in 300 disjoint groups of 10: 30,000 co-rated pairs, not 9 million.
    rng = np.random.RandomState(0)
    users, items = [], []
    for g in range(300):
        for u in range(5):
            for i in range(10):
                if rng.rand() < 0.8 or u == 0:
                    users.append(f"u{g}_{u}")
                    items.append(f"i{g}_{i}")
    df = pd.DataFrame({"u": users, "i": items, "r": rng.randint(1, 6, size=len(users))})
    trainset = turbosvd.Dataset.load_from_df(df, turbosvd.Reader()).build_full_trainset()
    algo = turbosvd.SlopeOne().fit(trainset)
    assert trainset.n_items == 3000
    assert algo._table.nbytes < 1_000_000  # dense freq + dev: 144 MB
    assert len(algo._table.cols) <= 300 * 100


@needs_ml100k
def test_results_do_not_depend_on_threads():
    trainset, testset = _u1(turbosvd)
    u_ids = trainset.inner_uids([u for u, _, _ in testset])
    i_ids = trainset.inner_iids([i for _, i, _ in testset])
    tables = [slope_engine.build_table(trainset, n) for n in (1, 2, 3)]
    for t in tables[1:]:
        for name in ("row_ptr", "cols", "freq", "dev"):
            np.testing.assert_array_equal(getattr(t, name), getattr(tables[0], name))
    indptr, items, ratings = trainset.user_csr()
    mean = _cluster.row_means(indptr, ratings, 1)
    est = [
        slope_engine.predict(tables[0], indptr, items, mean, u_ids, i_ids, 3.5, n)[0]
        for n in (1, 2)
    ]
    np.testing.assert_array_equal(est[0], est[1])
    states = [
        cocluster_engine.train(trainset, 3, 3, 5, np.random.RandomState(0), False, n)
        for n in (1, 2)
    ]
    np.testing.assert_array_equal(states[0].cltr_u, states[1].cltr_u)
    np.testing.assert_array_equal(states[0].cltr_i, states[1].cltr_i)


def test_row_means_are_numpys():
    rng = np.random.RandomState(0)
    lengths = np.r_[np.arange(0, 300), [511, 512, 513, 1024, 1031, 4099, 9000]]
    values = rng.uniform(-5, 5, size=int(lengths.sum())).round(1)
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    out = _cluster.row_means(indptr, values, 2)
    for r, n in enumerate(lengths):
        row = values[indptr[r] : indptr[r + 1]]
        if n == 0:
            assert np.isnan(out[r])
        else:
            assert out[r] == np.mean(list(row)), (r, n)


def test_co_clustering_means_of_truncated_ratings_like_surprise():
    # Surprise's CoClustering reads ratings as `int` everywhere, its means included.
    trainset = _toy_trainset()
    algo = turbosvd.CoClustering(n_epochs=1, random_state=0).fit(trainset)
    a, c = trainset.to_inner_uid("a"), trainset.to_inner_uid("c")
    assert algo.user_mean[a] == 2.5  # (3 + 2) / 2, from 3.5 and 2
    assert algo.user_mean[c] == 0.5  # (-1 + 2) / 2, from -1.5 and 2.5


@pytest.mark.parametrize(
    "make",
    [
        turbosvd.SlopeOne,
        lambda: turbosvd.CoClustering(random_state=0),
        lambda: turbosvd.BaselineOnly(verbose=False),
        lambda: turbosvd.KNNBasic(sim_options={"name": "pearson_baseline"}, verbose=False),
        lambda: turbosvd.KNNWithMeans(sim_options={"user_based": False}, verbose=False),
    ],
)
def test_refit_on_another_trainset_forgets_the_first(make):
    # cross_validate fits one object on every fold: nothing of a fold may leak into the next.
    rng = np.random.RandomState(0)
    n = 400
    df = pd.DataFrame(
        {
            "u": [f"u{x}" for x in rng.randint(0, 40, n)],
            "i": [f"i{x}" for x in rng.randint(0, 30, n)],
            "r": rng.randint(1, 6, n).astype(float),
        }
    ).drop_duplicates(["u", "i"])
    data = turbosvd.Dataset.load_from_df(df, turbosvd.Reader())
    first = data.build_full_trainset()
    second = turbosvd.Dataset.load_from_df(df.iloc[::2], turbosvd.Reader()).build_full_trainset()
    testset = second.build_testset() + [("u1", "i2", 3.0), ("nobody", "i1", 2.0)]
    reused = make().fit(first).fit(second)
    fresh = make().fit(second)
    assert reused.test(testset) == fresh.test(testset)
