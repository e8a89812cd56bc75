"""SVDpp and NMF fast schedules: kernels against the NumPy references (and Surprise),
results independent of the thread count, accuracy close to Surprise's, bad input,
divergence and Ctrl-C."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import reference as ref
from conftest import needs_ml100k
from interrupt import fit_child, interrupt
from turbosvd import (
    NMF,
    Dataset,
    ModelFitError,
    ModelFitWarning,
    Reader,
    SVDpp,
    _mf,
    accuracy,
)
from turbosvd.datasets import make_ratings
from turbosvd.model_selection import PredefinedKFold
from turbosvd.train import common
from turbosvd.train import nmf as nmf_loops

SVDPP_RATES = (0.01, 0.02, 0.015, 0.01, 0.02, 0.03, 0.02, 0.05, 0.04, 0.06)
NMF_RATES = (0.01, 0.02, 0.03, 0.05, 0.06, 0.08)


@pytest.fixture(scope="module")
def tiny():
    return make_ratings(40, 25, 300, random_state=3, as_trainset=True)


@pytest.fixture(scope="module")
def medium():
    return make_ratings(3000, 1500, 200_000, random_state=1, as_trainset=True)


def _init(trainset, k, dtype, seed=0, uniform=False):
    rng = np.random.RandomState(seed)
    draw = (
        (lambda n: rng.uniform(0, 1, (n, k))) if uniform else (lambda n: rng.normal(0, 0.1, (n, k)))
    )
    return [
        a.astype(dtype)
        for a in (draw(trainset.n_users), draw(trainset.n_items), draw(trainset.n_items))
    ]


# ------------------------------------------------------------------ kernels vs reference
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_svdpp_batched_kernel_matches_reference(tiny, dtype):
    k, mu = 4, float(tiny.global_mean)
    indptr, items, ratings = tiny.user_csr()
    pu, qi, yj = _init(tiny, k, dtype)
    bu, bi = np.zeros(tiny.n_users, dtype), np.zeros(tiny.n_items, dtype)
    want = [a.astype(np.float64) for a in (pu, qi, yj, bu, bi)]
    for _ in range(3):
        # Two calls on consecutive user ranges are one epoch (Ctrl-C splits epochs so).
        half = tiny.n_users // 2
        for begin, end in ((0, half), (half, tiny.n_users)):
            _mf.svdpp_epoch_fast(
                indptr, items, ratings.astype(dtype), pu, qi, yj, bu, bi, mu, SVDPP_RATES,
                begin, end,
            )  # fmt: skip
        ref.svdpp_epoch_batched(indptr, items, ratings, *want, mu, SVDPP_RATES)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for got, expected in zip((pu, qi, yj, bu, bi), want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=tol)


def test_svdpp_fast_float64_is_surprises_algorithm(surprise, tiny):
    # With distinct (user, item) pairs the user-batched schedule is Surprise's algorithm
    # reorganised: only the roundings differ.
    users, items, ratings = tiny.rating_arrays()
    df = pd.DataFrame({"u": tiny.raw_user_ids[users], "i": tiny.raw_item_ids[items], "r": ratings})
    theirs = surprise.SVDpp(n_factors=6, n_epochs=5, random_state=0).fit(
        surprise.Dataset.load_from_df(df, surprise.Reader()).build_full_trainset()
    )
    ours = SVDpp(n_factors=6, n_epochs=5, random_state=0, dtype=np.float64).fit(
        Dataset.load_from_df(df, Reader()).build_full_trainset()
    )
    for name in ("pu", "qi", "yj", "bu", "bi"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), atol=1e-12)


def test_svdpp_user_vectors_match_definition(tiny):
    pu, _, yj = _init(tiny, 5, np.float64)
    indptr, items, _ = tiny.user_csr()
    got = _mf.user_vectors(indptr, items, pu, yj, 2)
    for u in range(tiny.n_users):
        js = items[indptr[u] : indptr[u + 1]]
        expected = pu[u] + sum(yj[j] for j in js) / np.sqrt(len(js))
        assert got[u].tobytes() == expected.tobytes()  # Surprise's operations, same bits


@pytest.mark.parametrize("biased", [False, True])
@pytest.mark.parametrize("k", [4, 13, 23])
def test_nmf_kernels_match_reference(tiny, biased, k):
    # float64 rows padded to 4, 16 and 24: sums in registers (1 and 4 vectors) and, past
    # 4 vectors, in memory (nmf.hpp's RowSums).
    mu = float(tiny.global_mean)
    indptr, items, ratings = tiny.user_csr()
    users = np.repeat(np.arange(tiny.n_users), np.diff(indptr))
    pu, qi, _ = _init(tiny, k, np.float64, uniform=True)
    bu, bi = np.zeros(tiny.n_users), np.zeros(tiny.n_items)
    want = [a.copy() for a in (pu, qi, bu, bi)]
    exact = [a.copy() for a in (pu, qi, bu, bi)]
    for _ in range(4):
        ref.nmf_epoch(users, items, ratings, *want, mu, biased, NMF_RATES)
    nmf_loops.fit_exact(tiny, *exact, biased, NMF_RATES, 4, False)
    fast = nmf_loops.fit_parallel(tiny, pu, qi, bu, bi, biased, NMF_RATES, 4, False, 2)
    for a, b, c in zip(want, exact, fast, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-13)


# -------------------------------------------------------------------- thread independence
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nmf_loop_bit_identical_for_any_thread_count(medium, dtype):
    results = []
    for n_threads in (1, 2, 8):
        pu, qi, _ = _init(medium, 6, dtype, uniform=True)
        bu, bi = np.zeros(medium.n_users, dtype), np.zeros(medium.n_items, dtype)
        results.append(
            nmf_loops.fit_parallel(medium, pu, qi, bu, bi, True, NMF_RATES, 3, False, n_threads)
        )
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("cls", [SVDpp, NMF])
def test_models_bit_identical_for_any_n_jobs(medium, cls, monkeypatch):
    monkeypatch.setattr(common, "RATINGS_PER_THREAD", 1)  # small data normally runs on 1
    fits = [cls(n_epochs=3, random_state=0, n_jobs=n).fit(medium) for n in (1, 2, 8)]
    names = ("pu", "qi", "bu", "bi") + (("yj",) if cls is SVDpp else ())
    for other in fits[1:]:
        for name in names:
            assert getattr(fits[0], name).tobytes() == getattr(other, name).tobytes()
    # Known raw ids of this trainset (make_ratings' ids are integers), so that the estimates
    # come from the factors and not from the fallback for unknown ids.
    raw = medium.to_raw_uid, medium.to_raw_iid
    testset = [(raw[0](u), raw[1](i), 3.0) for u, i in ((3, 7), (0, 12), (2999, 1499))]
    preds = [f.test(testset) for f in fits]
    assert not any(p.details["was_impossible"] for p in preds[0])
    for other in preds[1:]:
        assert [p.est for p in preds[0]] == [p.est for p in other]


def test_fast_defaults_are_float32_and_exact_float64(tiny):
    for cls in (SVDpp, NMF):
        fast = cls(n_epochs=1).fit(tiny)
        assert fast.schedule == "blocked" and fast.pu.dtype == np.float32
        assert fast.qi.dtype == fast.bu.dtype == fast.bi.dtype == np.float32
        assert cls(n_epochs=1, dtype=np.float64).fit(tiny).pu.dtype == np.float64
        assert cls(n_epochs=1, schedule="exact").fit(tiny).pu.dtype == np.float64


def test_schedule_environment_variable(monkeypatch):
    monkeypatch.setenv("TURBOSVD_SCHEDULE", "exact")
    assert SVDpp().schedule == NMF().schedule == "exact"
    monkeypatch.setenv("TURBOSVD_SCHEDULE", "fastest")
    with pytest.raises(ValueError, match="TURBOSVD_SCHEDULE='fastest'"):
        SVDpp()


# ------------------------------------------------------------------------------ accuracy
@needs_ml100k
def test_fast_accuracy_close_to_exact_on_u1(ml100k_dir):
    folds = [(str(ml100k_dir / "u1.base"), str(ml100k_dir / "u1.test"))]
    trainset, testset = next(
        PredefinedKFold().split(Dataset.load_from_folds(folds, Reader("ml-100k")))
    )
    for make in (lambda **kw: SVDpp(n_epochs=8, **kw), NMF, lambda **kw: NMF(biased=True, **kw)):
        rmse = {
            s: accuracy.rmse(
                make(random_state=0, schedule=s).fit(trainset).test(testset), verbose=False
            )
            for s in ("exact", "blocked")
        }
        assert abs(rmse["blocked"] - rmse["exact"]) < 0.005, rmse


# ------------------------------------------------------------------------------ bad input
BAD_SVDPP = [
    ({"n_factors": -1}, ValueError, "n_factors=-1"),
    ({"n_factors": 2.5}, TypeError, "n_factors must be an integer"),
    ({"n_epochs": -3}, ValueError, "n_epochs=-3"),
    ({"init_std_dev": -0.1}, ValueError, "init_std_dev=-0.1"),
    ({"init_mean": float("nan")}, ValueError, "init_mean=nan"),
    (
        {"lr_all": float("nan")},
        ValueError,
        r"lr_bu=nan is not a finite number \(lr_all=nan sets it\)",
    ),
    ({"reg_yj": "x"}, TypeError, "reg_yj must be a real number"),
    ({"lr_yj": float("inf")}, ValueError, "lr_yj=inf"),
    ({"cache_ratings": "yes"}, TypeError, "cache_ratings must be True or False"),
    ({"schedule": "fastest"}, ValueError, "schedule='fastest'"),
    ({"dtype": np.int32}, ValueError, "dtype=<class 'numpy.int32'>"),
    ({"dtype": np.float32, "schedule": "exact"}, ValueError, "does not work with schedule='exact'"),
    ({"n_jobs": 0}, ValueError, "n_jobs=0"),
    ({"random_state": "seed"}, ValueError, "Wrong random state"),
]
BAD_NMF = [
    ({"n_factors": -1}, ValueError, "n_factors=-1"),
    ({"n_epochs": 1.0}, TypeError, "n_epochs must be an integer"),
    ({"init_low": float("nan")}, ValueError, "init_low=nan"),
    ({"init_high": float("inf")}, ValueError, "init_high=inf"),
    ({"biased": "no"}, TypeError, "biased must be True or False"),
    ({"reg_pu": float("nan")}, ValueError, "reg_pu=nan"),
    ({"lr_bi": None}, TypeError, "lr_bi must be a real number"),
    ({"schedule": "fast"}, ValueError, "schedule='fast'"),
    ({"n_jobs": 1.5}, TypeError, "n_jobs must be an int"),
]


@pytest.mark.parametrize(("params", "error", "match"), BAD_SVDPP)
def test_svdpp_bad_parameters(tiny, params, error, match):
    algo = SVDpp(**params)
    with pytest.raises(error, match=match):
        algo.fit(tiny)
    assert "trainset" not in vars(algo)


@pytest.mark.parametrize(("params", "error", "match"), BAD_NMF)
def test_nmf_bad_parameters(tiny, params, error, match):
    algo = NMF(**params)
    with pytest.raises(error, match=match):
        algo.fit(tiny)
    assert "trainset" not in vars(algo)


@pytest.mark.parametrize("cls", [SVDpp, NMF])
def test_fit_needs_a_trainset(cls):
    with pytest.raises(TypeError, match="fit\\(\\) needs a Trainset"):
        cls().fit([("u", "i", 3.0)])


def test_divergence_raises_model_fit_error_naming_the_epoch(tiny):
    svdpp = SVDpp(lr_all=50.0, n_epochs=30, random_state=0)
    with pytest.raises(
        ModelFitError, match=r"training diverged at epoch [1-9]\d* \(the first is 1\): .*lr_all"
    ):
        svdpp.fit(tiny)
    assert "pu" not in vars(svdpp)
    nmf = NMF(biased=True, lr_bu=1e3, lr_bi=1e3, n_epochs=50, random_state=0)
    with pytest.raises(ModelFitError, match=r"training diverged at epoch \d+"):
        nmf.fit(tiny)
    # A fitted model keeps its previous state when a later fit diverges.
    good = SVDpp(n_epochs=1, random_state=0).fit(tiny)
    before = good.pu.copy()
    good.lr_bu = good.lr_bi = good.lr_pu = good.lr_qi = good.lr_yj = 50.0
    good.n_epochs = 30
    with pytest.raises(ModelFitError):
        good.fit(tiny)
    assert np.array_equal(good.pu, before)


def test_exact_schedule_keeps_a_diverged_model_as_surprise_with_a_warning(surprise, tiny):
    # Surprise trains on and keeps NaN factors (its own test_SVD.py relies on it: lr_all=5
    # must give another RMSE than the default); the exact schedule does the same and warns.
    for cls, kw in ((SVDpp, {"lr_all": 50.0}), (NMF, {"biased": True, "lr_bu": 1e3, "lr_bi": 1e3})):
        algo = cls(n_epochs=30, random_state=0, schedule="exact", **kw)
        with pytest.warns(ModelFitWarning, match=r"training diverged at epoch \d+") as record:
            algo.fit(tiny)
        assert len(record) == 1  # once per fit
        assert not np.isfinite(algo.bu).all()
        theirs = getattr(surprise, cls.__name__)(n_epochs=30, random_state=0, **kw)
        df = pd.DataFrame(
            {
                "u": tiny.raw_user_ids[tiny.rating_arrays()[0]],
                "i": tiny.raw_item_ids[tiny.rating_arrays()[1]],
                "r": tiny.rating_arrays()[2],
            }
        )
        theirs.fit(surprise.Dataset.load_from_df(df, surprise.Reader()).build_full_trainset())
        np.testing.assert_array_equal(np.isfinite(algo.bu), np.isfinite(theirs.bu))


# ------------------------------------------------------------------------------- Ctrl-C
CHILD = fit_child(
    "from turbosvd import NMF, SVDpp",
    '{"SVDpp": SVDpp, "NMF": NMF}[sys.argv[1]](n_factors=4, n_epochs=1, random_state=0, '
    "schedule=sys.argv[2])",
    "algo.n_factors = 100",
)


@pytest.mark.parametrize("name", ["SVDpp", "NMF"])
@pytest.mark.parametrize("schedule", ["blocked", "exact"])
def test_ctrl_c_interrupts_fit_promptly_and_keeps_the_model(name, schedule):
    assert interrupt(CHILD, name, schedule) == ["untouched=True", "predicts=True"]
