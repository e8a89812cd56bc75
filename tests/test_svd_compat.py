"""SVD, BaselineOnly, NormalPredictor, predictions and accuracy against scikit-surprise itself.

The exact schedule must reproduce Surprise's factors, biases and estimates to 1e-10 with
the same random_state (in practice within a few 1e-15: the dot products are summed in SIMD lanes,
so the last bit can differ).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from conftest import needs_ml100k, needs_ml_latest, small_ratings
from turbosvd import (
    SVD,
    BaselineOnly,
    Dataset,
    ModelFitError,
    ModelFitWarning,
    NormalPredictor,
    NotFittedError,
    Prediction,
    Reader,
    accuracy,
    dump,
)
from turbosvd.model_selection import PredefinedKFold, train_test_split

TOL = 1e-10


def _exact(**kwargs):
    return SVD(schedule="exact", **kwargs)


def assert_same_model(ours, theirs, tol=TOL):
    for name in ("pu", "qi", "bu", "bi"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.shape == b.shape, name
        assert a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable
        np.testing.assert_allclose(a, b, rtol=0, atol=tol, err_msg=name)


def assert_same_predictions(ours, theirs, tol=TOL):
    assert len(ours) == len(theirs)
    for p, q in zip(ours, theirs):
        assert (p.uid, p.iid, p.r_ui) == (q.uid, q.iid, q.r_ui)
        assert abs(p.est - q.est) <= tol
        assert dict(p.details) == q.details
        assert type(p.est) is type(q.est) or (p.est == q.est)


@pytest.fixture(scope="module")
def u1(surprise, ml100k_dir):
    folds = [(str(ml100k_dir / "u1.base"), str(ml100k_dir / "u1.test"))]
    ours = next(PredefinedKFold().split(Dataset.load_from_folds(folds, Reader("ml-100k"))))
    theirs_data = surprise.Dataset.load_from_folds(folds, surprise.Reader("ml-100k"))
    theirs = next(surprise.model_selection.PredefinedKFold().split(theirs_data))
    return ours, theirs


PARAMS = [
    {},
    {"biased": False},
    {"n_factors": 20, "n_epochs": 5, "lr_all": 0.01, "reg_all": 0.1},
    {
        "n_factors": 7,
        "n_epochs": 3,
        "init_mean": 0.05,
        "init_std_dev": 0.2,
        "lr_bu": 0.02,
        "lr_qi": 0.001,
        "reg_bi": 0.5,
        "reg_pu": 0.05,
    },
    {"n_factors": 0, "n_epochs": 4},
    {"n_factors": 50, "n_epochs": 0},
]


@needs_ml100k
@pytest.mark.parametrize("params", PARAMS)
def test_exact_svd_matches_surprise_on_u1(surprise, u1, params):
    (tr_o, te_o), (tr_t, te_t) = u1
    theirs = surprise.SVD(random_state=0, **params).fit(tr_t)
    ours = _exact(random_state=0, **params).fit(tr_o)
    assert_same_model(ours, theirs)
    p_o, p_t = ours.test(te_o), theirs.test(te_t)
    assert_same_predictions(p_o, p_t)
    assert abs(accuracy.rmse(p_o, verbose=False) - accuracy.rmse(p_t, verbose=False)) <= TOL


@needs_ml_latest
def test_exact_svd_matches_surprise_on_ml_latest_small_via_df(surprise, data_folder):
    path = data_folder / "ml-latest-small" / "ml-latest-small" / "ratings.csv"
    df = pd.read_csv(path)[["userId", "movieId", "rating"]]
    ours_data = Dataset.load_from_df(df, Reader(rating_scale=(0.5, 5)))
    theirs_data = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=(0.5, 5)))
    tr_o, te_o = train_test_split(ours_data, test_size=0.2, random_state=42)
    tr_t, te_t = surprise.model_selection.train_test_split(
        theirs_data, test_size=0.2, random_state=42
    )
    assert te_o == te_t
    params = dict(n_factors=30, n_epochs=8, random_state=42)
    ours = _exact(**params).fit(tr_o)
    theirs = surprise.SVD(**params).fit(tr_t)
    assert_same_model(ours, theirs)
    assert_same_predictions(ours.test(te_o), theirs.test(te_t))


@needs_ml_latest
def test_golden_g7_ml_latest_small_file(data_folder):
    path = data_folder / "ml-latest-small" / "ml-latest-small" / "ratings.csv"
    reader = Reader(
        line_format="user item rating timestamp", sep=",", skip_lines=1, rating_scale=(0.5, 5)
    )
    data = Dataset.load_from_file(str(path), reader)
    assert len(data.raw_ratings) == 100836
    tr, te = train_test_split(data, test_size=0.2, random_state=42)
    preds = _exact(random_state=42).fit(tr).test(te)
    assert accuracy.rmse(preds, verbose=False) == pytest.approx(0.8807462819979623, abs=TOL)
    assert accuracy.mae(preds, verbose=False) == pytest.approx(0.6765729095860605, abs=TOL)


@needs_ml100k
def test_golden_g2_g5_g6():
    data = Dataset.load_builtin("ml-100k", prompt=False)
    tr, te = train_test_split(data, test_size=0.25, random_state=0)
    algo = _exact(random_state=0).fit(tr)
    preds = algo.test(te)
    assert accuracy.rmse(preds, verbose=False) == pytest.approx(0.9466860806937948, abs=TOL)
    assert accuracy.mae(preds, verbose=False) == pytest.approx(0.7462362445095243, abs=TOL)
    assert accuracy.fcp(preds, verbose=False) == pytest.approx(0.6998757198520947, abs=TOL)
    assert preds[0][:3] == ("120", "282", 4.0)
    assert preds[0].est == pytest.approx(3.5114147666251547, abs=TOL)
    np.testing.assert_allclose(
        algo.pu[0, :3], [0.2504062507698682, -0.12188983659935376, 0.020966036488459513], atol=TOL
    )
    np.testing.assert_allclose(
        algo.bu[:3], [-0.2227655343928165, -0.29041624508641545, -1.4073848587233397], atol=TOL
    )
    unbiased = _exact(random_state=0, biased=False).fit(tr).test(te)
    assert accuracy.rmse(unbiased, verbose=False) == pytest.approx(0.9589342079478547, abs=TOL)
    assert sum(p.details["was_impossible"] for p in unbiased) == 47

    full = data.build_full_trainset()
    algo = _exact(random_state=0).fit(full)
    assert algo.predict("196", "302").est == pytest.approx(3.9086257812048615, abs=TOL)
    anti = [t for t in full.build_anti_testset() if t[0] == "196"]
    top = sorted(algo.test(anti), key=lambda p: p.est, reverse=True)[:10]
    expected = ["513", "480", "483", "169", "318", "408", "515", "191", "1194", "511"]
    assert [p.iid for p in top] == expected


def test_rng_contract_matches_surprise(surprise, small_df):
    tr_o = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    kw = dict(n_factors=5, n_epochs=2)
    # random_state=None draws from numpy's global RandomState, pu then qi.
    np.random.seed(7)
    theirs = surprise.SVD(**kw).fit(tr_t)
    after_theirs = np.random.rand()
    np.random.seed(7)
    ours = _exact(**kw).fit(tr_o)
    assert np.random.rand() == after_theirs
    assert_same_model(ours, theirs)
    # A RandomState instance advances across fits.
    rs_o, rs_t = np.random.RandomState(3), np.random.RandomState(3)
    for _ in range(2):
        assert_same_model(
            _exact(random_state=rs_o, **kw).fit(tr_o),
            surprise.SVD(random_state=rs_t, **kw).fit(tr_t),
        )
    # biased=False draws the same numbers.
    assert_same_model(
        _exact(random_state=1, biased=False, **kw).fit(tr_o),
        surprise.SVD(random_state=1, biased=False, **kw).fit(tr_t),
    )
    with pytest.raises(ValueError, match="Wrong random state. Expecting None, an int or a numpy"):
        _exact(random_state=np.random.default_rng(0)).fit(tr_o)


def test_svd_attributes_and_parameters_match_surprise(surprise, small_df):
    ours, theirs = SVD(), surprise.SVD()
    surprise_keys = set(vars(theirs))
    assert surprise_keys <= set(vars(ours))
    for key in surprise_keys:
        assert getattr(ours, key) == getattr(theirs, key), key
    assert not hasattr(ours, "lr_all") and not hasattr(ours, "reg_all")
    assert ours.sim_options == {"user_based": True} and ours.bsl_options == {}
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    fitted = _exact(n_factors=3, n_epochs=1).fit(tr)
    assert fitted.trainset is tr
    assert {"pu", "qi", "bu", "bi", "trainset"} <= set(vars(fitted))


def test_predict_and_test_agree_to_the_last_bit(small_df):
    data = Dataset.load_from_df(small_df, Reader())
    tr, te = train_test_split(data, test_size=0.3, random_state=0)
    algo = _exact(random_state=0, n_factors=8, n_epochs=5).fit(tr)
    te = te + [("nobody", te[0][1], 3.0), (te[0][0], "nothing", 2.0), ("x", "y", None)]
    batch = algo.test(te)
    one_by_one = [algo.predict(u, i, r) for (u, i, r) in te]
    assert batch == one_by_one
    for p, q in zip(batch, one_by_one):
        assert type(p.est) is type(q.est)
        assert p.est == q.est


def test_predict_semantics_match_surprise(surprise, small_df):
    data_o = Dataset.load_from_df(small_df, Reader(rating_scale=(2, 4)))
    data_t = surprise.Dataset.load_from_df(small_df, surprise.Reader(rating_scale=(2, 4)))
    tr_o, tr_t = data_o.build_full_trainset(), data_t.build_full_trainset()
    for params in ({}, {"biased": False}):
        ours = _exact(random_state=0, n_factors=4, n_epochs=3, **params).fit(tr_o)
        theirs = surprise.SVD(random_state=0, n_factors=4, n_epochs=3, **params).fit(tr_t)
        queries = [
            ("u1", "i1", 4),
            ("u1", "nothing", None),
            ("nobody", "i2", 1.5),
            ("nobody", "nothing", None),
        ] + tr_o.build_testset()[:50]
        for u, i, r in queries:
            for clip in (True, False):
                p, q = ours.predict(u, i, r, clip=clip), theirs.predict(u, i, r, clip=clip)
                assert p[:3] == q[:3] and p.details == q.details
                assert abs(p.est - q.est) <= TOL
                assert type(p.est) is type(q.est)  # a clipped estimate is the int bound
                assert str(p) == str(q)
        assert_same_predictions(ours.test(queries), theirs.test(queries))


def test_prediction_str_and_tuple_behaviour():
    p = Prediction("196", "302", 4, 3.8, {"was_impossible": False})
    assert str(p) == (
        "user: 196        item: 302        r_ui = 4.00   est = 3.80   {'was_impossible': False}"
    )
    assert p == ("196", "302", 4, 3.8, {"was_impossible": False})
    uid, iid, r_ui, est, details = p
    assert str(Prediction(1, 2, None, 3.0, {})).startswith(
        "user: 1          item: 2          r_ui = None"
    )


def test_test_details_are_shared_but_read_only(small_df):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    preds = _exact(n_factors=2, n_epochs=1, random_state=0).fit(tr).test(tr.build_testset()[:3])
    assert preds[0].details == {"was_impossible": False}
    with pytest.raises(TypeError, match="read-only"):
        preds[0].details["x"] = 1
    copy = dict(preds[0].details)
    copy["x"] = 1
    assert pickle.loads(pickle.dumps(preds)) == preds


def test_test_rejects_non_triples(small_df):
    data = Dataset.load_from_df(small_df, Reader())
    algo = _exact(n_factors=2, n_epochs=1, random_state=0).fit(data.build_full_trainset())
    with pytest.raises(ValueError, match="too many values to unpack"):
        algo.test(data.raw_ratings[:3])
    with pytest.raises(ValueError, match="not enough values to unpack"):
        algo.test([("u1", "i1")])
    assert algo.test([]) == []
    testset = data.construct_testset(data.raw_ratings[:4])
    assert algo.test(iter(testset)) == algo.test(testset)
    assert algo.test([list(t) for t in testset]) == algo.test(testset)


def test_use_before_fit_is_a_clear_error():
    for algo in (SVD(), BaselineOnly(verbose=False)):
        with pytest.raises(AttributeError, match="not fitted yet"):
            algo.predict("1", "2")
        with pytest.raises(NotFittedError):
            algo.test([("1", "2", 3.0)])


def test_verbose_epoch_lines(capsys, small_df):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    _exact(n_epochs=3, verbose=True, n_factors=2).fit(tr)
    assert capsys.readouterr().out == "Processing epoch 0\nProcessing epoch 1\nProcessing epoch 2\n"


@pytest.mark.parametrize(
    ("params", "exc", "message"),
    [
        ({"n_factors": -1}, ValueError, "n_factors=-1 is out of range"),
        ({"n_factors": 2.5}, TypeError, "n_factors must be an integer, got 2.5"),
        ({"n_epochs": -3}, ValueError, "n_epochs=-3 is out of range"),
        ({"lr_all": float("nan")}, ValueError, r"lr_bu=nan is not a finite number \(lr_all=nan"),
        ({"reg_pu": float("inf")}, ValueError, "reg_pu=inf is not a finite number"),
        ({"init_std_dev": -1}, ValueError, "init_std_dev=-1 is out of range"),
        ({"n_factors": 10**12}, ValueError, "needs .* GiB, more than this machine's"),
        ({"schedule": "fastest"}, ValueError, "schedule='fastest' is not one of"),
    ],
)
def test_bad_parameters_fail_at_fit_with_clear_messages(small_df, params, exc, message):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    algo = SVD(**params)  # construction never fails, as in Surprise (GridSearchCV relies on it)
    with pytest.raises(exc, match=message):
        algo.fit(tr)
    assert "trainset" not in vars(algo)


def test_divergence_is_reported_and_model_untouched(small_df):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    algo = SVD(n_factors=5, n_epochs=2, random_state=0).fit(tr)
    before = algo.pu.copy()
    algo.lr_pu = algo.lr_qi = algo.lr_bu = algo.lr_bi = 1e6
    with pytest.raises(ModelFitError, match="training diverged at epoch"):
        algo.fit(tr)
    np.testing.assert_array_equal(algo.pu, before)


def test_exact_divergence_keeps_surprises_nan_model_with_a_warning(surprise, small_df):
    # Surprise trains on when its parameters become NaN (its own test_SVD.py needs
    # lr_all=5 to fit); the exact schedule does the same and warns once, naming the epoch.
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    theirs = surprise.SVD(n_factors=5, n_epochs=4, lr_all=1e6, random_state=0).fit(
        surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    )
    with pytest.warns(
        ModelFitWarning, match=r"training diverged at epoch 1 \(the first is 1\)"
    ) as record:
        ours = _exact(n_factors=5, n_epochs=4, lr_all=1e6, random_state=0).fit(tr)
    assert len(record) == 1
    for name in ("pu", "qi", "bu", "bi"):
        np.testing.assert_array_equal(
            np.isfinite(getattr(ours, name)), np.isfinite(getattr(theirs, name))
        )


# ------------------------------------------------------------------- other algorithms


@pytest.mark.parametrize(
    "bsl_options",
    [
        {},
        {"method": "als", "n_epochs": 3, "reg_u": 5, "reg_i": 2},
        {"method": "sgd"},
        {"method": "sgd", "n_epochs": 4, "reg": 0.1, "learning_rate": 0.01},
    ],
)
def test_baseline_only_matches_surprise(surprise, small_df, bsl_options, capsys):
    data_o = Dataset.load_from_df(small_df, Reader())
    data_t = surprise.Dataset.load_from_df(small_df, surprise.Reader())
    tr_o, te_o = train_test_split(data_o, test_size=0.25, random_state=1)
    tr_t, te_t = surprise.model_selection.train_test_split(data_t, test_size=0.25, random_state=1)
    ours = BaselineOnly(bsl_options=bsl_options).fit(tr_o)
    out_o = capsys.readouterr().out
    theirs = surprise.BaselineOnly(bsl_options=bsl_options).fit(tr_t)
    out_t = capsys.readouterr().out
    assert out_o == out_t == f"Estimating biases using {bsl_options.get('method', 'als')}...\n"
    np.testing.assert_allclose(ours.bu, theirs.bu, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.bi, theirs.bi, rtol=0, atol=TOL)
    assert_same_predictions(ours.test(te_o), theirs.test(te_t))


def test_baseline_invalid_method(surprise, small_df):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    with pytest.raises(ValueError, match="Invalid method foo for baseline computation. Available"):
        BaselineOnly(bsl_options={"method": "foo"}, verbose=False).fit(tr)


def test_normal_predictor_matches_surprise(surprise, small_df):
    tr_o = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    ours, theirs = NormalPredictor().fit(tr_o), surprise.NormalPredictor().fit(tr_t)
    assert ours.sigma == pytest.approx(theirs.sigma, abs=1e-14)
    testset = tr_o.build_testset()[:20]
    np.random.seed(5)
    p_t = theirs.test(testset)
    np.random.seed(5)
    assert_same_predictions(ours.test(testset), p_t, tol=1e-12)


# --------------------------------------------------------------------------- accuracy


def test_accuracy_values_and_prints_match_surprise(surprise, capsys):
    preds = [
        ("a", "x", 4.0, 3.0, {}),
        ("a", "y", 2.0, 2.5, {}),
        ("b", "x", 5, 5, {}),
        ("a", "z", 1.0, 2.0, {}),
        ("b", "y", 3.0, 4.5, {}),
        ("c", "x", 3.0, 3.0, {}),
    ]
    for name in ("rmse", "mse", "mae", "fcp"):
        ours = getattr(accuracy, name)(preds)
        out_o = capsys.readouterr().out
        theirs = getattr(surprise.accuracy, name)(preds)
        out_t = capsys.readouterr().out
        assert ours == theirs and type(ours) is type(theirs)
        assert out_o == out_t
        with pytest.raises(ValueError, match="Prediction list is empty."):
            getattr(accuracy, name)([])


def test_fcp_quirky_denominators(surprise):
    # users a (3 concordant), b (1 discordant), c (1 concordant): 2/3, not 0.8
    preds = [
        ("a", 1, 1, 1, {}),
        ("a", 2, 2, 2, {}),
        ("a", 3, 3, 3, {}),
        ("b", 1, 1, 2, {}),
        ("b", 2, 2, 1, {}),
        ("c", 1, 1, 1, {}),
        ("c", 2, 2, 2, {}),
    ]
    assert accuracy.fcp(preds, verbose=False) == pytest.approx(2 / 3)
    assert accuracy.fcp(preds, verbose=False) == surprise.accuracy.fcp(preds, verbose=False)
    with pytest.raises(ValueError, match="cannot compute fcp on this list of prediction"):
        accuracy.fcp([("a", 1, 1, 1, {})], verbose=False)


def test_accuracy_without_true_ratings_is_a_clear_error():
    with pytest.raises(TypeError, match="prediction 1 has no true rating"):
        accuracy.rmse([("a", "x", 4.0, 3.0, {}), ("a", "y", None, 3.0, {})])


# ------------------------------------------------------------------------------ dump


def test_dump_round_trip(tmp_path, small_df, capsys):
    data = Dataset.load_from_df(small_df, Reader())
    tr, te = train_test_split(data, random_state=0)
    algo = _exact(random_state=0, n_factors=4, n_epochs=2).fit(tr)
    preds = algo.test(te)
    path = str(tmp_path / "dump.pkl")
    dump.dump(path, predictions=preds, algo=algo, verbose=1)
    assert capsys.readouterr().out == f"The dump has been saved as file {path}\n"
    preds2, algo2 = dump.load(path)
    assert preds2 == preds
    assert algo2.test(te) == preds
    dump.dump(path)
    assert dump.load(path) == (None, None)


def test_surprise_dumps_load_into_turbosvd(tmp_path, surprise, small_df):
    data = surprise.Dataset.load_from_df(small_df, surprise.Reader())
    tr, te = surprise.model_selection.train_test_split(data, random_state=0)
    theirs = surprise.SVD(random_state=0, n_factors=4, n_epochs=2).fit(tr)
    preds = theirs.test(te)
    path = str(tmp_path / "surprise.pkl")
    surprise.dump.dump(path, predictions=preds, algo=theirs)
    preds2, ours = dump.load(path)
    assert isinstance(ours, SVD) and isinstance(preds2[0], Prediction)
    assert preds2 == preds
    assert_same_predictions(ours.test(te), preds)


def test_models_pickle(small_df):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    for algo in (
        _exact(n_factors=3, n_epochs=2, random_state=0),
        BaselineOnly(verbose=False),
        NormalPredictor(),
    ):
        algo.fit(tr)
        clone = pickle.loads(pickle.dumps(algo))
        if not isinstance(algo, NormalPredictor):
            assert clone.test(tr.build_testset()) == algo.test(tr.build_testset())
        assert set(vars(clone)) == set(vars(algo))


def test_small_ratings_used_here_have_users_and_items():
    df = small_ratings()
    assert df["user"].nunique() > 10 and df["item"].nunique() > 10


@needs_ml100k
def test_sequential_kernel_is_bit_identical_to_surprise(surprise, u1):
    """With the dot product summed left to right, our order and formulas are Surprise's."""
    from turbosvd import _sgd

    (tr_o, _), (tr_t, _) = u1
    theirs = surprise.SVD(random_state=0, n_epochs=5, n_factors=30).fit(tr_t)
    rng = np.random.RandomState(0)
    pu = rng.normal(0, 0.1, (tr_o.n_users, 30))
    qi = rng.normal(0, 0.1, (tr_o.n_items, 30))
    bu, bi = np.zeros(tr_o.n_users), np.zeros(tr_o.n_items)
    users, items, ratings = tr_o._by_user()
    for _ in range(5):
        _sgd.sgd_epoch_exact_f64(
            users,
            items,
            ratings,
            pu,
            qi,
            bu,
            bi,
            tr_o.global_mean,
            True,
            (0.005,) * 4 + (0.02,) * 4,
        )
    for ours, ref in ((pu, theirs.pu), (qi, theirs.qi), (bu, theirs.bu), (bi, theirs.bi)):
        np.testing.assert_array_equal(ours, ref)


def test_kernels_reject_out_of_range_ids_with_value_error():
    from turbosvd import _sgd

    users, items = np.array([0, 5], np.int32), np.array([0, 0], np.int32)
    rates = (0.1,) * 8
    for simd_dot in (False, True):
        with pytest.raises(ValueError, match="inner id out of range"):
            _sgd.sgd_epoch_exact_f64(
                users,
                items,
                np.ones(2),
                np.ones((1, 3)),
                np.ones((1, 3)),
                np.zeros(1),
                np.zeros(1),
                3.0,
                True,
                rates,
                simd_dot,
            )
    with pytest.raises(ValueError, match="inner id out of range"):
        _sgd.predict(
            users, items, np.ones((1, 3)), np.ones((1, 3)), np.zeros(1), np.zeros(1), 3.0, True, 1
        )
