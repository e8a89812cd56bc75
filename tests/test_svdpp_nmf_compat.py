"""SVDpp and NMF against scikit-surprise itself.

The exact schedule must reproduce Surprise's factors and biases (its kernels perform
Surprise's operations in Surprise's order, so in practice bit for bit) and its estimates to
1e-10 (the dot product of a prediction is summed in SIMD lanes, Surprise's by BLAS), on
MovieLens 100k u1 and ml-latest-small with several parameter sets, and the RMSE values
Surprise's own ``test_sanity_checks`` pins, to the last digit.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from conftest import needs_ml100k, needs_ml_latest, small_ratings
from turbosvd import (
    NMF,
    SVD,
    Dataset,
    NotFittedError,
    PredictionImpossible,
    Reader,
    SVDpp,
    accuracy,
)
from turbosvd.model_selection import PredefinedKFold, train_test_split

TOL = 1e-10


def assert_same_model(ours, theirs, names, exact=True):
    for name in names:
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.shape == b.shape, name
        assert a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable, name
        if exact:  # the kernels perform Surprise's operations in Surprise's order
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=0, atol=TOL, err_msg=name)


def assert_same_predictions(ours, theirs, tol=TOL):
    assert len(ours) == len(theirs)
    for p, q in zip(ours, theirs, strict=True):
        assert (p.uid, p.iid, p.r_ui) == (q.uid, q.iid, q.r_ui)
        assert abs(p.est - q.est) <= tol
        assert dict(p.details) == q.details


@pytest.fixture(scope="module")
def u1(surprise, ml100k_dir):
    folds = [(str(ml100k_dir / "u1.base"), str(ml100k_dir / "u1.test"))]
    ours = next(PredefinedKFold().split(Dataset.load_from_folds(folds, Reader("ml-100k"))))
    theirs_data = surprise.Dataset.load_from_folds(folds, surprise.Reader("ml-100k"))
    theirs = next(surprise.model_selection.PredefinedKFold().split(theirs_data))
    return ours, theirs


@pytest.fixture(scope="module")
def sanity_files(surprise_u1_subset):
    """Surprise's 8,000/2,000-rating u1 subset, rebuilt from MovieLens (tests/surprise_files.py)."""
    return surprise_u1_subset


# --------------------------------------------------------------- Surprise's sanity checks
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: SVDpp(cache_ratings=False, random_state=0, schedule="exact"), 1.00284553561452),
        (lambda: SVDpp(cache_ratings=True, random_state=0, schedule="exact"), 1.00284553561452),
        (lambda: NMF(random_state=0, schedule="exact"), 1.0865370266372372),
    ],
    ids=["SVDpp", "SVDpp-cache", "NMF"],
)
def test_sanity_checks_to_the_last_digit(sanity_files, make, expected):
    # Surprise's tests/test_algorithms.py::test_sanity_checks, its data and its values.
    train, test = sanity_files
    data = Dataset.load_from_folds([(str(train), str(test))], Reader("ml-100k"))
    trainset, testset = next(PredefinedKFold().split(data))
    algo = make()
    algo.fit(trainset)
    predictions = algo.test(testset)
    assert not all(p.details["was_impossible"] for p in predictions)
    assert accuracy.rmse(predictions, verbose=False) == expected


# ------------------------------------------------------------------------ SVD++ oracle
SVDPP_PARAMS = [
    {"n_epochs": 2},
    {"n_epochs": 1, "cache_ratings": True},
    {"n_factors": 5, "n_epochs": 2, "lr_all": 0.01, "reg_all": 0.05},
    {
        "n_factors": 7,
        "n_epochs": 2,
        "init_mean": 0.05,
        "init_std_dev": 0.2,
        "lr_bu": 0.02,
        "lr_yj": 0.001,
        "reg_bi": 0.5,
        "reg_yj": 0.05,
    },
    {"n_factors": 0, "n_epochs": 1},
    {"n_factors": 30, "n_epochs": 0},
]
SVDPP_NAMES = ("pu", "qi", "yj", "bu", "bi")


@needs_ml100k
@pytest.mark.parametrize("params", SVDPP_PARAMS)
def test_exact_svdpp_matches_surprise_on_u1(surprise, u1, params):
    (tr_o, te_o), (tr_t, te_t) = u1
    theirs = surprise.SVDpp(random_state=0, **params).fit(tr_t)
    ours = SVDpp(random_state=0, schedule="exact", **params).fit(tr_o)
    assert_same_model(ours, theirs, SVDPP_NAMES)
    # Surprise's SVD++ predictions sum the user's y rows in Python: every 4th is plenty.
    p_o, p_t = ours.test(te_o[::4]), theirs.test(te_t[::4])
    assert_same_predictions(p_o, p_t)
    assert abs(accuracy.rmse(p_o, verbose=False) - accuracy.rmse(p_t, verbose=False)) <= TOL


@needs_ml100k
@pytest.mark.slow
def test_exact_svdpp_defaults_match_surprise_on_u1(surprise, u1):
    (tr_o, te_o), (tr_t, te_t) = u1
    theirs = surprise.SVDpp(random_state=3).fit(tr_t)
    ours = SVDpp(random_state=3, schedule="exact").fit(tr_o)
    assert_same_model(ours, theirs, SVDPP_NAMES)
    assert_same_predictions(ours.test(te_o), theirs.test(te_t))


def _ml_latest(surprise, data_folder):
    path = data_folder / "ml-latest-small" / "ml-latest-small" / "ratings.csv"
    df = pd.read_csv(path)[["userId", "movieId", "rating"]]
    ours_data = Dataset.load_from_df(df, Reader(rating_scale=(0.5, 5)))
    theirs_data = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=(0.5, 5)))
    tr_o, te_o = train_test_split(ours_data, test_size=0.2, random_state=42)
    tr_t, te_t = surprise.model_selection.train_test_split(
        theirs_data, test_size=0.2, random_state=42
    )
    assert te_o == te_t
    return (tr_o, te_o), (tr_t, te_t)


@needs_ml_latest
@pytest.mark.parametrize(
    "params",
    [
        {"n_factors": 4, "n_epochs": 1, "lr_all": 0.02, "cache_ratings": True},
        pytest.param({"n_factors": 10, "n_epochs": 3}, marks=pytest.mark.slow),
    ],
)
def test_exact_svdpp_matches_surprise_on_ml_latest_small(surprise, data_folder, params):
    # Users with thousands of ratings: an epoch of Surprise's SVD++ costs O(sum |I_u|^2 k).
    (tr_o, te_o), (tr_t, te_t) = _ml_latest(surprise, data_folder)
    theirs = surprise.SVDpp(random_state=42, **params).fit(tr_t)
    ours = SVDpp(random_state=42, schedule="exact", **params).fit(tr_o)
    assert_same_model(ours, theirs, SVDPP_NAMES)
    assert_same_predictions(ours.test(te_o[::5]), theirs.test(te_t[::5]))


# -------------------------------------------------------------------------- NMF oracle
NMF_PARAMS = [
    {},
    {"biased": True},
    {"n_factors": 5, "n_epochs": 10, "reg_pu": 0.1, "reg_qi": 0.01, "init_low": 0.2},
    {
        "biased": True,
        "n_factors": 3,
        "n_epochs": 7,
        "lr_bu": 0.01,
        "lr_bi": 0.002,
        "reg_bu": 0.1,
        "reg_bi": 0.05,
        "init_high": 0.5,
    },
    {"n_factors": 0, "n_epochs": 3, "biased": True},
    {"n_factors": 10, "n_epochs": 0},
]


@needs_ml100k
@pytest.mark.parametrize("params", NMF_PARAMS)
def test_exact_nmf_matches_surprise_on_u1(surprise, u1, params):
    (tr_o, te_o), (tr_t, te_t) = u1
    theirs = surprise.NMF(random_state=0, **params).fit(tr_t)
    ours = NMF(random_state=0, schedule="exact", **params).fit(tr_o)
    assert_same_model(ours, theirs, ("pu", "qi", "bu", "bi"))
    p_o, p_t = ours.test(te_o), theirs.test(te_t)
    assert_same_predictions(p_o, p_t)
    assert abs(accuracy.rmse(p_o, verbose=False) - accuracy.rmse(p_t, verbose=False)) <= TOL


@needs_ml_latest
@pytest.mark.parametrize("params", [{"n_epochs": 20}, {"biased": True, "n_factors": 8}])
def test_exact_nmf_matches_surprise_on_ml_latest_small(surprise, data_folder, params):
    (tr_o, te_o), (tr_t, te_t) = _ml_latest(surprise, data_folder)
    theirs = surprise.NMF(random_state=42, **params).fit(tr_t)
    ours = NMF(random_state=42, schedule="exact", **params).fit(tr_o)
    assert_same_model(ours, theirs, ("pu", "qi", "bu", "bi"))
    assert_same_predictions(ours.test(te_o), theirs.test(te_t))


# ------------------------------------------------------------------ the RNG contract
@pytest.mark.parametrize("name", ["SVDpp", "NMF"])
def test_rng_contract_matches_surprise(surprise, small_df, name):
    tr_o = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    ours_cls, theirs_cls = {"SVDpp": (SVDpp, surprise.SVDpp), "NMF": (NMF, surprise.NMF)}[name]
    names = SVDPP_NAMES if name == "SVDpp" else ("pu", "qi", "bu", "bi")
    kw = dict(n_factors=4, n_epochs=2)
    np.random.seed(7)
    theirs = theirs_cls(**kw).fit(tr_t)
    after_theirs = np.random.rand()
    np.random.seed(7)
    ours = ours_cls(schedule="exact", **kw).fit(tr_o)
    assert np.random.rand() == after_theirs
    assert_same_model(ours, theirs, names)
    # The fast schedule draws the same numbers from the same stream.
    np.random.seed(7)
    ours_cls(**kw).fit(tr_o)
    assert np.random.rand() == after_theirs
    # A RandomState instance advances across fits.
    rs_o, rs_t = np.random.RandomState(3), np.random.RandomState(3)
    for _ in range(2):
        assert_same_model(
            ours_cls(random_state=rs_o, schedule="exact", **kw).fit(tr_o),
            theirs_cls(random_state=rs_t, **kw).fit(tr_t),
            names,
        )
    with pytest.raises(ValueError, match="Wrong random state. Expecting None, an int or a numpy"):
        ours_cls(random_state=np.random.default_rng(0)).fit(tr_o)


# ------------------------------------------------------- constructors and attributes
@pytest.mark.parametrize("name", ["SVDpp", "NMF"])
def test_constructor_defaults_and_attributes_match_surprise(surprise, small_df, name):
    ours, theirs = {"SVDpp": (SVDpp, surprise.SVDpp), "NMF": (NMF, surprise.NMF)}[name]
    ours, theirs = ours(), theirs()
    surprise_keys = set(vars(theirs))
    assert surprise_keys <= set(vars(ours))
    # turbosvd's own parameters: the schedule, the dtype, the threads and early stopping
    # (SVD's parameters and defaults).
    early = {"early_stopping", "validation_fraction", "n_iter_no_change", "tol", "refit"}
    assert set(vars(ours)) - surprise_keys == {"schedule", "dtype", "n_jobs"} | early
    assert {k: getattr(ours, k) for k in early} == {k: getattr(SVD(), k) for k in early}
    for key in surprise_keys:
        assert getattr(ours, key) == getattr(theirs, key), key
    assert not hasattr(ours, "lr_all") and not hasattr(ours, "reg_all")
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    fitted = type(ours)(n_factors=3, n_epochs=1, schedule="exact").fit(tr)
    expected = {"pu", "qi", "bu", "bi", "trainset"} | ({"yj"} if name == "SVDpp" else set())
    assert expected <= set(vars(fitted))


def test_svdpp_code_default_learning_rate_is_0_007():
    algo = SVDpp()
    assert (algo.lr_bu, algo.lr_yj, algo.reg_yj) == (0.007, 0.007, 0.02)
    assert algo.n_factors == 20 and algo.n_epochs == 20 and algo.cache_ratings is False


def test_nmf_init_low_negative_raises_at_construction():
    with pytest.raises(ValueError, match="init_low should be greater than zero"):
        NMF(init_low=-1)


def test_verbose_output_is_surprises(surprise, small_df, capsys):
    tr_o = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    for ours, theirs in [
        (SVDpp(n_epochs=2, verbose=True, random_state=0), surprise.SVDpp),
        (NMF(n_epochs=2, verbose=True, random_state=0), surprise.NMF),
    ]:
        theirs(n_epochs=2, verbose=True, random_state=0).fit(tr_t)
        expected = capsys.readouterr().out
        for schedule in ("exact", "blocked"):
            ours.schedule = schedule
            ours.fit(tr_o)
            assert capsys.readouterr().out == expected
    assert expected == "Processing epoch 0\nProcessing epoch 1\n"


def test_unbiased_nmf_unknown_ids_are_impossible(surprise, small_df):
    tr_o = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    for biased in (False, True):
        ours = NMF(biased=biased, random_state=0, n_epochs=3, schedule="exact").fit(tr_o)
        theirs = surprise.NMF(biased=biased, random_state=0, n_epochs=3).fit(tr_t)
        for uid, iid in [("u0", "nope"), ("nope", "i0"), ("nope", "nope"), ("u1", "i2")]:
            p, q = ours.predict(uid, iid, r_ui=3), theirs.predict(uid, iid, r_ui=3)
            assert p.details == q.details
            assert abs(p.est - q.est) <= TOL
        if not biased:
            with pytest.raises(PredictionImpossible, match="User and item are unknown."):
                ours.estimate(0, "UKN__x")
            preds = ours.test([("nope", "i0", 3.0), ("u0", "i0", 3.0)])
            assert [p.details["was_impossible"] for p in preds] == [True, False]
            assert preds[0].details["reason"] == "User and item are unknown."


def test_svdpp_unknown_ids_fall_back_to_biases(surprise, small_df):
    tr_o = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    ours = SVDpp(random_state=0, n_epochs=3, schedule="exact").fit(tr_o)
    theirs = surprise.SVDpp(random_state=0, n_epochs=3).fit(tr_t)
    pairs = [("u0", "nope"), ("nope", "i0"), ("nope", "nope"), ("u1", "i2"), ("u3", "i3")]
    for uid, iid in pairs:
        p, q = ours.predict(uid, iid), theirs.predict(uid, iid)
        assert p.details == q.details == {"was_impossible": False}
        assert abs(p.est - q.est) <= TOL
    batch = ours.test([(u, i, 1.0) for u, i in pairs])
    assert [p.est for p in batch] == [ours.predict(u, i).est for u, i in pairs]


def test_unfitted_models_raise(small_df):
    for algo in (SVDpp(), NMF()):
        with pytest.raises(NotFittedError):
            algo.predict("u0", "i0")


@pytest.mark.parametrize("name", ["SVDpp", "NMF"])
def test_surprise_pickles_load_and_predict_alike(surprise, small_df, name, tmp_path):
    tr_t = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    theirs = getattr(surprise, name)(n_epochs=2, random_state=0).fit(tr_t)
    path = tmp_path / "algo.pkl"
    surprise.dump.dump(str(path), algo=theirs)
    # A Surprise pickle names surprise's classes; unpickled here through turbosvd's dump
    # the classes resolve to turbosvd's (see turbosvd.dump).
    from turbosvd import dump

    _, loaded = dump.load(str(path))
    assert type(loaded).__module__.startswith("turbosvd")
    assert loaded.schedule == "exact"
    for uid, iid in [("u0", "i0"), ("u5", "i7"), ("nope", "i0")]:
        assert abs(loaded.predict(uid, iid).est - theirs.predict(uid, iid).est) <= TOL


@pytest.mark.parametrize("schedule", ["exact", "blocked"])
def test_pickle_round_trip(small_df, schedule):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    for algo in (SVDpp(n_epochs=2, random_state=0), NMF(n_epochs=3, biased=True, random_state=0)):
        algo.schedule = schedule
        algo.fit(tr)
        before = algo.test(tr.build_testset())
        again = pickle.loads(pickle.dumps(algo))
        assert again.test(tr.build_testset()) == before


def test_small_random_data_match(surprise):
    df = small_ratings(n_users=50, n_items=30, density=0.4, seed=3, scale=(1, 5))
    tr_o = Dataset.load_from_df(df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(df, surprise.Reader()).build_full_trainset()
    assert_same_model(
        SVDpp(random_state=1, n_epochs=5, n_factors=6, schedule="exact").fit(tr_o),
        surprise.SVDpp(random_state=1, n_epochs=5, n_factors=6).fit(tr_t),
        SVDPP_NAMES,
    )
    assert_same_model(
        NMF(random_state=1, biased=True, n_epochs=5, schedule="exact").fit(tr_o),
        surprise.NMF(random_state=1, biased=True, n_epochs=5).fit(tr_t),
        ("pu", "qi", "bu", "bi"),
    )


def test_repeated_ratings_match_surprise(surprise):
    # A user who rated an item twice has its y row twice in I_u (updated twice per rating):
    # the exact kernels take Surprise's path for such users too.
    df = small_ratings(n_users=30, n_items=20, density=0.4, seed=5)
    df = pd.concat([df, df.iloc[::7]], ignore_index=True)
    tr_o = Dataset.load_from_df(df, Reader()).build_full_trainset()
    tr_t = surprise.Dataset.load_from_df(df, surprise.Reader()).build_full_trainset()
    assert_same_model(
        SVDpp(random_state=2, n_epochs=4, n_factors=5, schedule="exact").fit(tr_o),
        surprise.SVDpp(random_state=2, n_epochs=4, n_factors=5).fit(tr_t),
        SVDPP_NAMES,
    )
    for biased in (False, True):
        assert_same_model(
            NMF(random_state=2, n_epochs=6, biased=biased, schedule="exact").fit(tr_o),
            surprise.NMF(random_state=2, n_epochs=6, biased=biased).fit(tr_t),
            ("pu", "qi", "bu", "bi"),
        )
