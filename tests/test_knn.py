"""The k-NN family and ``turbosvd.similarities`` against scikit-surprise 1.1.5 (the oracle).

Estimates, ``details`` (``actual_k``, impossibility reasons), ``get_neighbors`` and the
similarity matrices must be Surprise's; the tests ask for bit equality of the similarities
and at most 1e-10 on estimates (they are equal in practice), with the full matrix built at
fit and with rows computed on demand, on one thread and on several.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import turbosvd
from conftest import needs_ml100k, needs_ml_latest, small_ratings
from turbosvd.neighbors import engine
from turbosvd.prediction_algorithms import knns

CLASSES = ["KNNBasic", "KNNWithMeans", "KNNWithZScore", "KNNBaseline"]
SIMS = ["cosine", "msd", "pearson", "pearson_baseline"]


def _data(lib, df, scale=(1, 5)):
    return lib.Dataset.load_from_df(df[["user", "item", "rating"]], lib.Reader(rating_scale=scale))


def _testset(trainset_lib, df_test):
    return list(df_test[["user", "item", "rating"]].itertuples(index=False, name=None))


def _fit_pair(surprise, cls, kwargs, train_df, scale=(1, 5)):
    t_algo = getattr(turbosvd, cls)(verbose=False, **kwargs)
    s_algo = getattr(surprise, cls)(verbose=False, **kwargs)
    t_algo.fit(_data(turbosvd, train_df, scale).build_full_trainset())
    s_algo.fit(_data(surprise, train_df, scale).build_full_trainset())
    return t_algo, s_algo


def _assert_same_predictions(t_preds, s_preds, tol=1e-10):
    assert len(t_preds) == len(s_preds)
    diffs = []
    for t, s in zip(t_preds, s_preds, strict=True):
        assert (t.uid, t.iid, t.r_ui) == (s.uid, s.iid, s.r_ui)
        assert dict(t.details) == s.details, (t, s)
        diffs.append(abs(t.est - s.est))
    assert max(diffs) <= tol


def _split(df, seed=0, frac=0.8):
    rng = np.random.RandomState(seed)
    mask = rng.rand(len(df)) < frac
    return df[mask].reset_index(drop=True), df[~mask].reset_index(drop=True)


@pytest.fixture(scope="module")
def small_split():
    df = small_ratings(n_users=70, n_items=50, density=0.25, seed=3)
    train, test = _split(df)
    # unknown users and items, and pairs that are in the trainset (the x itself then
    # rated y and is its own neighbour, with similarity 1)
    extra = pd.DataFrame(
        {"user": ["nobody", "u1", "nobody"], "item": ["i1", "nothing", "nothing"], "rating": 3.0}
    )
    test = pd.concat([test, extra, train.iloc[:40]], ignore_index=True)
    return train, test


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("name", SIMS)
@pytest.mark.parametrize("user_based", [True, False])
def test_estimates_match_surprise(surprise, small_split, cls, name, user_based, monkeypatch):
    train, test = small_split
    kwargs = {"sim_options": {"name": name, "user_based": user_based}, "k": 7, "min_k": 2}
    t_algo, s_algo = _fit_pair(surprise, cls, kwargs, train)
    testset = _testset(None, test)
    s_preds = s_algo.test(testset)
    _assert_same_predictions(t_algo.test(testset), s_preds)
    # one at a time (predict), and with the rows computed on demand
    _assert_same_predictions([t_algo.predict(u, i, r) for (u, i, r) in testset], s_preds)
    assert np.array_equal(t_algo.sim, s_algo.sim)
    monkeypatch.setattr(knns, "SIM_MATRIX_BYTES", 0)
    lazy = getattr(turbosvd, cls)(verbose=False, **kwargs).fit(t_algo.trainset)
    assert lazy.__dict__["_sim"] is None
    _assert_same_predictions(lazy.test(testset), s_preds)
    # both on-demand ways: rows only, then rating-list intersections only
    for ratio in (0.0, np.inf):
        monkeypatch.setattr(engine, "PAIR_COST_RATIO", ratio)
        _assert_same_predictions(lazy.test(testset), s_preds)
        _assert_same_predictions(
            [lazy.predict(u, i, r) for (u, i, r) in testset[:30]], s_preds[:30]
        )
    for x in (0, 3, 11):
        assert lazy.get_neighbors(x, k=6) == s_algo.get_neighbors(x, k=6)
    assert np.array_equal(lazy.sim, s_algo.sim)  # built on first read


@pytest.mark.parametrize(
    "sim_options",
    [
        {"name": "msd", "min_support": 4},
        {"name": "cosine", "min_support": 3, "user_based": False},
        {"name": "pearson", "min_support": 5},
        {"name": "pearson_baseline", "shrinkage": 0},
        {"name": "pearson_baseline", "shrinkage": 7.5, "min_support": 3, "user_based": False},
        {"name": "PEARSON_BASELINE"},
    ],
)
@pytest.mark.parametrize("cls", CLASSES)
def test_options_match_surprise(surprise, small_split, cls, sim_options):
    train, test = small_split
    kwargs = {"sim_options": dict(sim_options), "k": 40, "min_k": 1}
    if cls == "KNNBaseline":
        kwargs["bsl_options"] = {"method": "sgd", "n_epochs": 5}
    t_algo, s_algo = _fit_pair(surprise, cls, kwargs, train)
    testset = _testset(None, test)
    _assert_same_predictions(t_algo.test(testset), s_algo.test(testset))
    assert np.array_equal(t_algo.sim, s_algo.sim)


def test_similarity_functions_match_surprise(surprise):
    ts, ss = turbosvd.similarities, surprise.similarities
    rng = np.random.RandomState(0)
    n_x = 30
    # dict keys out of order, shuffled lists, a duplicate rating, integer ratings
    yr = {}
    for y in rng.permutation(25):
        xs = rng.choice(n_x, size=rng.randint(0, 12), replace=False).tolist()
        yr[int(y)] = [(x, int(rng.randint(1, 6))) for x in xs]
    yr[3] = yr.get(3, []) + [(0, 2), (0, 4)]
    for name in ("cosine", "msd", "pearson"):
        for min_support in (0, 1, 3):
            expected = getattr(ss, name)(n_x, yr, min_support=min_support) if min_support else None
            got = getattr(ts, name)(n_x, yr, min_support=min_support)
            if expected is not None:
                assert np.array_equal(got, expected), (name, min_support)
            assert np.array_equal(got, got.T)
    x_b, y_b = rng.normal(0, 0.3, n_x), rng.normal(0, 0.3, 25)
    for shrinkage in (0, 100, 3.5):
        args = (n_x, yr, 1, 3.2, x_b, y_b, shrinkage)
        assert np.array_equal(ts.pearson_baseline(*args), ss.pearson_baseline(*args))


@pytest.mark.parametrize("name", SIMS)
def test_duplicate_ratings_on_demand_match_surprise(surprise, name, monkeypatch):
    # Users who rated an item twice: the terms of a pair at that item are added in
    # Surprise's order (x's ratings outer, x2's inner) by both on-demand ways.
    df = small_ratings(n_users=30, n_items=12, density=0.5, seed=4)
    dup = df.sample(n=25, random_state=1).assign(rating=lambda d: 6 - d["rating"])
    train = pd.concat([df, dup], ignore_index=True)
    test = df.sample(n=60, random_state=2)[["user", "item", "rating"]]
    testset = _testset(None, test)
    monkeypatch.setattr(knns, "SIM_MATRIX_BYTES", 0)
    for user_based in (True, False):
        kwargs = {"sim_options": {"name": name, "user_based": user_based}, "k": 5}
        t_algo, s_algo = _fit_pair(surprise, "KNNBaseline", kwargs, train)
        s_preds = s_algo.test(testset)
        for ratio in (0.0, np.inf):
            monkeypatch.setattr(engine, "PAIR_COST_RATIO", ratio)
            _assert_same_predictions(t_algo.test(testset), s_preds)
        assert np.array_equal(t_algo.sim, s_algo.sim)


def test_parallel_equals_serial(small_split, monkeypatch):
    train, test = small_split
    trainset = _data(turbosvd, train).build_full_trainset()
    testset = _testset(None, test)
    monkeypatch.setattr(knns, "SIM_MATRIX_BYTES", 0)

    results = []
    for n_jobs, block, ratio in (
        (1, engine.BLOCK_COST, 0.0),
        (2, engine.BLOCK_COST, 0.0),
        (3, 50, 0.0),
        (1, engine.BLOCK_COST, np.inf),
        (2, 50, np.inf),
        (2, 50, 1.0),
    ):
        monkeypatch.setattr(engine, "BLOCK_COST", block)
        monkeypatch.setattr(engine, "PAIR_COST_RATIO", ratio)
        algo = turbosvd.KNNBaseline(
            sim_options={"name": "pearson_baseline"}, verbose=False, n_jobs=n_jobs
        )
        preds = algo.fit(trainset).test(testset)
        results.append(([p.est for p in preds], [p.details for p in preds], algo.sim.copy()))
    for other in results[1:]:
        assert other[0] == results[0][0] and other[1] == results[0][1]
        assert np.array_equal(other[2], results[0][2])


def test_verbose_messages(small_split, capsys):
    trainset = _data(turbosvd, small_split[0]).build_full_trainset()
    turbosvd.KNNBasic().fit(trainset)
    assert capsys.readouterr().out == (
        "Computing the msd similarity matrix...\nDone computing similarity matrix.\n"
    )
    turbosvd.KNNBaseline(sim_options={"name": "pearson_baseline"}).fit(trainset)
    assert capsys.readouterr().out == (
        "Estimating biases using als...\n"
        "Computing the pearson_baseline similarity matrix...\n"
        "Done computing similarity matrix.\n"
    )


def test_custom_algo_uses_compute_similarities(surprise, small_split):
    """A user's AlgoBase subclass calling compute_similarities / compute_baselines."""

    def make(lib):
        class MyAlgo(lib.AlgoBase):
            def __init__(self, sim_options={}, bsl_options={}):  # noqa: B006
                lib.AlgoBase.__init__(self, sim_options=sim_options, bsl_options=bsl_options)

            def fit(self, trainset):
                lib.AlgoBase.fit(self, trainset)
                self.bu, self.bi = self.compute_baselines()
                self.sim = self.compute_similarities()
                return self

            def estimate(self, u, i):
                if not (self.trainset.knows_user(u) and self.trainset.knows_item(i)):
                    raise lib.PredictionImpossible("User and/or item is unknown.")
                neighbors = [(v, self.sim[u, v]) for (v, r) in self.trainset.ir[i]]
                return self.bi[i] + sum(s for (_, s) in neighbors) / (1 + len(neighbors))

        return MyAlgo(sim_options={"name": "pearson_baseline"})

    train, test = small_split
    testset = _testset(None, test)
    t_algo = make(turbosvd).fit(_data(turbosvd, train).build_full_trainset())
    s_algo = make(surprise).fit(_data(surprise, train).build_full_trainset())
    assert np.array_equal(t_algo.sim, s_algo.sim)
    assert t_algo.get_neighbors(2, 5) == s_algo.get_neighbors(2, 5)
    _assert_same_predictions(t_algo.test(testset), s_algo.test(testset))


def test_pickle_and_dump(tmp_path, small_split, monkeypatch):
    train, test = small_split
    testset = _testset(None, test)
    trainset = _data(turbosvd, train).build_full_trainset()
    for lazy in (False, True):
        if lazy:
            monkeypatch.setattr(knns, "SIM_MATRIX_BYTES", 0)
        algo = turbosvd.KNNWithZScore(sim_options={"name": "pearson"}, verbose=False)
        expected = algo.fit(trainset).test(testset)
        clone = pickle.loads(pickle.dumps(algo))
        assert clone.test(testset) == expected
        turbosvd.dump.dump(str(tmp_path / "m"), algo=algo)
        _, loaded = turbosvd.dump.load(str(tmp_path / "m"))
        assert loaded.test(testset) == expected
        assert loaded.get_neighbors(1, 4) == algo.get_neighbors(1, 4)


def test_surprise_pickle_loads(surprise, tmp_path, small_split):
    train, test = small_split
    testset = _testset(None, test)
    s_algo = surprise.KNNBaseline(verbose=False).fit(_data(surprise, train).build_full_trainset())
    surprise.dump.dump(str(tmp_path / "s"), algo=s_algo)
    _, t_algo = turbosvd.dump.load(str(tmp_path / "s"))
    assert isinstance(t_algo, turbosvd.KNNBaseline)
    _assert_same_predictions(t_algo.test(testset), s_algo.test(testset))


# ------------------------------------------------------------------- bad input
def test_unknown_similarity_name_is_surprise_name_error(small_split):
    trainset = _data(turbosvd, small_split[0]).build_full_trainset()
    algo = turbosvd.KNNBasic(sim_options={"name": "Wrong_Name"}, verbose=False)
    with pytest.raises(NameError) as info:
        algo.fit(trainset)
    assert str(info.value) == (
        "Wrong sim name wrong_name. Allowed values are cosine, msd, pearson, pearson_baseline."
    )
    assert not hasattr(algo, "trainset")
    with pytest.raises(NameError):
        turbosvd.AlgoBase(sim_options={"name": "nope"}).fit(trainset).compute_similarities()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, r"k=0 is out of range"),
        ({"k": 2.5}, TypeError, r"k must be an integer"),
        ({"min_k": -1}, ValueError, r"min_k=-1 is out of range"),
        ({"k": 3, "min_k": 5}, ValueError, r"min_k=5 is larger than k=3"),
        ({"sim_options": {"min_support": -2}}, ValueError, r"min_support'\]=-2"),
        ({"sim_options": {"shrinkage": -1.0}}, ValueError, r"shrinkage'\]=-1.0"),
        ({"sim_options": {"min_support": 1.5}}, TypeError, r"min_support"),
    ],
)
def test_bad_parameters(small_split, kwargs, error, match):
    trainset = _data(turbosvd, small_split[0]).build_full_trainset()
    algo = turbosvd.KNNWithMeans(verbose=False, **kwargs)
    with pytest.raises(error, match=match):
        algo.fit(trainset)
    assert not hasattr(algo, "trainset")
    with pytest.raises(turbosvd.NotFittedError):
        algo.predict("u1", "i1")


def test_bad_baseline_method_and_empty_data(small_split):
    trainset = _data(turbosvd, small_split[0]).build_full_trainset()
    with pytest.raises(ValueError, match="Invalid method wrong for baseline computation"):
        turbosvd.KNNBaseline(bsl_options={"method": "wrong"}, verbose=False).fit(trainset)
    empty = pd.DataFrame({"user": [], "item": [], "rating": []})
    with pytest.raises(ValueError):
        turbosvd.KNNBasic(verbose=False).fit(_data(turbosvd, empty).build_full_trainset())


def test_sim_too_large_is_refused_but_predictions_work(monkeypatch, small_split):
    train, test = small_split
    monkeypatch.setattr(knns, "SIM_MATRIX_BYTES", 0)
    from turbosvd import _validation

    monkeypatch.setattr(_validation, "_memory_bytes", lambda: 1000)
    algo = turbosvd.KNNBasic(verbose=False).fit(_data(turbosvd, train).build_full_trainset())
    preds = algo.test(_testset(None, test))
    assert any(not p.details["was_impossible"] for p in preds)
    with pytest.raises(ValueError, match="similarity matrix needs"):
        _ = algo.sim
    assert len(algo.get_neighbors(0, 3)) == 3


def test_get_neighbors_bad_input(small_split):
    algo = turbosvd.KNNBasic(verbose=False).fit(
        _data(turbosvd, small_split[0]).build_full_trainset()
    )
    with pytest.raises(ValueError, match="iid=10000 is not an inner id"):
        algo.get_neighbors(10000, 3)
    assert algo.get_neighbors(0, 0) == []


# ------------------------------------------------------------ MovieLens (slow)
def _ml100k_u1(lib, ml100k_dir):
    folds = [(str(ml100k_dir / "u1.base"), str(ml100k_dir / "u1.test"))]
    data = lib.Dataset.load_from_folds(folds, lib.Reader("ml-100k"))
    return next(lib.model_selection.PredefinedKFold().split(data))


@pytest.mark.slow
@needs_ml100k
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("user_based", [True, False])
def test_ml100k_u1_matches_surprise(surprise, ml100k_dir, cls, user_based):
    t_train, testset = _ml100k_u1(turbosvd, ml100k_dir)
    s_train, _ = _ml100k_u1(surprise, ml100k_dir)
    for name in SIMS:
        opts = {"name": name, "user_based": user_based}
        t_algo = getattr(turbosvd, cls)(sim_options=dict(opts), verbose=False).fit(t_train)
        s_algo = getattr(surprise, cls)(sim_options=dict(opts), verbose=False).fit(s_train)
        _assert_same_predictions(t_algo.test(testset), s_algo.test(testset))
        assert np.array_equal(t_algo.sim, s_algo.sim)
        for x in (0, 17, 400):
            assert t_algo.get_neighbors(x, 40) == s_algo.get_neighbors(x, 40)


@pytest.mark.slow
@needs_ml_latest
@pytest.mark.parametrize("cls", CLASSES)
def test_ml_latest_small_matches_surprise(surprise, data_folder, cls, monkeypatch):
    path = data_folder / "ml-latest-small" / "ml-latest-small" / "ratings.csv"
    df = pd.read_csv(path).rename(columns={"userId": "user", "movieId": "item"})
    train, test = _split(df, seed=1)
    testset = list(test[["user", "item", "rating"]].itertuples(index=False, name=None))
    # Surprise's item-based matrices here (9,700 items) need several GB: user-based only,
    # with min_support and shrinkage; turbosvd computes the rows on demand here.
    monkeypatch.setattr(knns, "SIM_MATRIX_BYTES", 0)
    for opts in (
        {"name": "msd"},
        {"name": "pearson", "min_support": 3},
        {"name": "pearson_baseline", "shrinkage": 50},
        {"name": "cosine"},
    ):
        t_algo, s_algo = _fit_pair(surprise, cls, {"sim_options": opts}, train, (0.5, 5))
        _assert_same_predictions(t_algo.test(testset), s_algo.test(testset))
        assert t_algo.get_neighbors(5, 10) == s_algo.get_neighbors(5, 10)
