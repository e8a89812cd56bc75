"""ALS (issue 15): against the NumPy reference, threads invariance, singular systems, bad
input, Surprise's interface."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import reference as ref
from interrupt import fit_child, interrupt
from turbosvd import ALS, SVD, Dataset, ModelFitError, Reader, _als, accuracy, dump, load
from turbosvd.als import solver as als_solver
from turbosvd.datasets import make_ratings
from turbosvd.model_selection import GridSearchCV, cross_validate, train_test_split


def small_trainset(seed=0, n_users=50, n_items=30, n_ratings=600):
    return make_ratings(n_users, n_items, n_ratings, random_state=seed, as_trainset=True)


def reference_fit(trainset, **p):
    users, items, ratings = trainset.rating_arrays()
    return ref.als_fit(
        users, items, ratings, trainset.n_users, trainset.n_items, p["n_factors"],
        p["n_epochs"], p["reg"], p["biased"], p.get("init_std_dev", 0.1), p["random_state"],
        solver=p.get("solver", "cg"), cg_steps=p.get("cg_steps", 3),
    )  # fmt: skip


def ref_layout(side, k):
    """The reference's ``[factors, 1, bias]`` rows of a working ``Side`` (float64)."""
    return np.hstack([side.F[:, : k + 1], side.B[:, None]]).astype(np.float64)


def sweep(ratings, X, Y, k, reg, solver, n_threads=1):
    _als.half_sweep(ratings.indptr, ratings.cols, ratings.targets, X.F, X.B, Y.F, Y.B, k, True,
                    reg, solver, 3, n_threads)  # fmt: skip


def assert_matches_reference(algo, trainset, params, atol=1e-6):
    bu, bi, pu, qi, mu = reference_fit(trainset, **params)
    np.testing.assert_allclose(algo.pu, pu, atol=atol, rtol=0)
    np.testing.assert_allclose(algo.qi, qi, atol=atol, rtol=0)
    np.testing.assert_allclose(algo.bu, bu, atol=atol, rtol=0)
    np.testing.assert_allclose(algo.bi, bi, atol=atol, rtol=0)


# ------------------------------------------------------------------ reference
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("biased", [True, False])
def test_matches_numpy_reference(solver, biased):
    trainset = small_trainset()
    params = dict(n_factors=5, n_epochs=4, reg=0.05, biased=biased, random_state=3, solver=solver)
    algo = ALS(**params, dtype=np.float64, n_jobs=2).fit(trainset)
    assert algo.pu.dtype == np.float64 and algo.pu.shape == (trainset.n_users, 5)
    assert_matches_reference(algo, trainset, params)
    if not biased:
        assert not algo.bu.any() and not algo.bi.any()


def test_cg_steps_match_reference():
    trainset = small_trainset(seed=2)
    params = dict(n_factors=6, n_epochs=3, reg=0.1, biased=True, random_state=0, cg_steps=7)
    algo = ALS(**params, dtype=np.float64).fit(trainset)
    assert_matches_reference(algo, trainset, params)


def test_float32_close_to_float64():
    trainset = small_trainset(seed=4)
    a32 = ALS(n_factors=5, n_epochs=5, random_state=0).fit(trainset)
    a64 = ALS(n_factors=5, n_epochs=5, random_state=0, dtype=np.float64).fit(trainset)
    assert a32.pu.dtype == np.float32 and a32.bu.dtype == np.float32
    np.testing.assert_allclose(a32.pu, a64.pu, atol=1e-3)
    np.testing.assert_allclose(a32.bi, a64.bi, atol=1e-3)


def test_cholesky_solves_the_normal_equations_exactly():
    # After a user half-sweep with the Cholesky solver, every user row satisfies its
    # normal equations (the gradient of the objective in that row is zero).
    trainset = small_trainset(seed=5)
    k, reg = 4, 0.2
    users = als_solver.row_ratings(*trainset.user_csr(), trainset.global_mean, np.float64)
    rng = np.random.RandomState(0)
    U = als_solver.init_side(rng, trainset.n_users, k, 0.1, True, np.float64)
    V = als_solver.init_side(rng, trainset.n_items, k, 0.1, True, np.float64)
    V.B[:] = rng.normal(0, 0.3, trainset.n_items)
    sweep(users, U, V, k, reg, "cholesky", n_threads=2)
    Vr = ref_layout(V, k)
    for u in range(trainset.n_users):
        lo, hi = users.indptr[u], users.indptr[u + 1]
        A, b = ref.als_row_system(users.cols[lo:hi], users.targets[lo:hi], Vr, k, True, reg)
        x = np.append(U.F[u, :k], U.B[u])
        np.testing.assert_allclose(A @ x, b, atol=1e-9)
    assert (U.F[:, k] == 1).all() and not U.F[:, k + 1 :].any()


# ------------------------------------------------------------------ singular systems
def one_rating_users_trainset():
    # Users 0..4 rate one item each; the others rate many.
    rng = np.random.RandomState(0)
    rows = [(f"solo{u}", f"i{u % 3}", float(rng.randint(1, 6))) for u in range(5)]
    for u in range(20):
        for i in rng.choice(12, size=8, replace=False):
            rows.append((f"u{u}", f"i{i}", float(rng.randint(1, 6))))
    df = pd.DataFrame(rows, columns=["user", "item", "rating"])
    return Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_reg_zero_one_rating_user_is_nearest_exact_fit(solver):
    # reg=0 and a user with one rating: the system [q q^T] is singular. The row gets the
    # least-squares solution nearest its previous value, which fits the rating exactly.
    trainset = one_rating_users_trainset()
    k = 3
    users = als_solver.row_ratings(*trainset.user_csr(), trainset.global_mean, np.float64)
    rng = np.random.RandomState(1)
    U = als_solver.init_side(rng, trainset.n_users, k, 0.1, True, np.float64)
    V = als_solver.init_side(rng, trainset.n_items, k, 0.5, True, np.float64)
    before = ref_layout(U, k)
    sweep(users, U, V, k, 0.0, solver)
    assert np.isfinite(U.F).all() and np.isfinite(U.B).all()
    Vr = ref_layout(V, k)
    for u in range(trainset.n_users):
        lo, hi = users.indptr[u], users.indptr[u + 1]
        if hi - lo != 1:
            continue
        A, b = ref.als_row_system(users.cols[lo:hi], users.targets[lo:hi], Vr, k, True, 0.0)
        x0 = np.append(before[u, :k], before[u, k + 1])
        x = np.append(U.F[u, :k], U.B[u])
        np.testing.assert_allclose(x, ref.als_nearest_solution(A, b, x0), atol=1e-10)
        i = users.cols[lo]
        fitted = x @ Vr[i, : k + 1] + Vr[i, k + 1]
        assert fitted == pytest.approx(users.targets[lo], abs=1e-10)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_reg_zero_fit_is_finite_and_matches_reference(solver):
    trainset = one_rating_users_trainset()
    params = dict(n_factors=3, n_epochs=3, reg=0.0, biased=True, random_state=0, solver=solver)
    algo = ALS(**params, dtype=np.float64).fit(trainset)
    for a in (algo.pu, algo.qi, algo.bu, algo.bi):
        assert np.isfinite(a).all()
    assert_matches_reference(algo, trainset, params, atol=1e-6)


# ------------------------------------------------------------------ threads, chunks
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_independent_of_n_jobs(solver, dtype):
    trainset = make_ratings(400, 300, 20_000, random_state=7, as_trainset=True)
    fits = [
        ALS(n_factors=16, n_epochs=3, random_state=0, solver=solver, dtype=dtype, n_jobs=n).fit(
            trainset
        )
        for n in (1, 2, 8)
    ]
    for other in fits[1:]:
        for name in ("pu", "qi", "bu", "bi"):
            np.testing.assert_array_equal(getattr(fits[0], name), getattr(other, name))


def test_split_half_sweep_equals_one_call(monkeypatch):
    trainset = make_ratings(300, 200, 15_000, random_state=1, as_trainset=True)
    whole = ALS(n_factors=8, n_epochs=2, random_state=0).fit(trainset)
    monkeypatch.setattr(als_solver, "_CALL_RATINGS", 1)  # one row or a few per call
    split = ALS(n_factors=8, n_epochs=2, random_state=0).fit(trainset)
    for name in ("pu", "qi", "bu", "bi"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(split, name))


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(n_factors=0), ValueError, "n_factors=0"),
        (dict(n_factors=2.5), TypeError, "n_factors must be an integer"),
        (dict(n_epochs=-1), ValueError, "n_epochs=-1"),
        (dict(reg=-0.1), ValueError, "reg=-0.1"),
        (dict(reg=float("nan")), ValueError, "reg=nan"),
        (dict(reg="0.1"), TypeError, "reg must be a real number"),
        (dict(init_std_dev=-1), ValueError, "init_std_dev=-1"),
        (dict(biased="yes"), TypeError, "biased must be True or False"),
        (dict(solver="lu"), ValueError, "solver='lu'"),
        (dict(cg_steps=0), ValueError, "cg_steps=0"),
        (dict(dtype=np.int32), ValueError, "dtype="),
        (dict(n_jobs=0), ValueError, "n_jobs=0"),
        (dict(random_state="x"), ValueError, "Wrong random state"),
    ],
)
def test_bad_parameters(kwargs, exc, match):
    trainset = small_trainset()
    with pytest.raises(exc, match=match):
        ALS(**kwargs).fit(trainset)


def test_fit_needs_a_trainset():
    with pytest.raises(TypeError, match="needs a Trainset"):
        ALS().fit([("u", "i", 3.0)])


def test_divergence_is_a_model_fit_error_naming_the_sweep():
    # Ratings near float32's limit overflow the float32 normal equations.
    df = pd.DataFrame(
        {"u": [0, 0, 1, 1, 2], "i": [0, 1, 0, 2, 1], "r": [1e30, -1e30, 3e30, 1e30, -2e30]}
    )
    trainset = Dataset.load_from_df(df, Reader(rating_scale=(-3e30, 3e30))).build_full_trainset()
    algo = ALS(n_factors=2, n_epochs=3, reg=0.1, random_state=0, init_std_dev=1e20)
    with pytest.raises(ModelFitError, match="sweep 0"):
        algo.fit(trainset)
    assert not hasattr(algo, "pu")


def test_shim_rejects_bad_arrays():
    trainset = small_trainset()
    r = als_solver.row_ratings(*trainset.user_csr(), 3.0, np.float64)
    U = als_solver.init_side(np.random.RandomState(0), trainset.n_users, 4, 0.1, True, np.float64)
    V = als_solver.init_side(np.random.RandomState(1), trainset.n_items, 4, 0.1, True, np.float64)

    def call(indptr=r.indptr, cols=r.cols, Yf=V.F, Yb=V.B, solver="cg"):
        _als.half_sweep(indptr, cols, r.targets, U.F, U.B, Yf, Yb, 4, True, 0.1, solver, 3, 1)

    with pytest.raises(ValueError, match="columns"):
        call(Yf=V.F[:, :5].copy())
    with pytest.raises(ValueError, match="one bias per row"):
        call(Yb=V.B[:-1].copy())
    with pytest.raises(ValueError, match="indptr has"):
        call(indptr=r.indptr[:-1].copy())
    bad_cols = r.cols.copy()
    bad_cols[3] = trainset.n_items
    with pytest.raises(ValueError, match="column id out of range"):
        call(cols=bad_cols)
    bad_ptr = r.indptr.copy()
    bad_ptr[2], bad_ptr[3] = bad_ptr[3], bad_ptr[2]
    with pytest.raises(ValueError, match="indptr decreases"):
        call(indptr=bad_ptr)
    with pytest.raises(ValueError, match="solver="):
        call(solver="x")


# ------------------------------------------------------------------ Surprise's interface
@pytest.fixture(scope="module")
def ml100k():
    return Dataset.load_builtin("ml-100k", prompt=False)


def test_interface_on_movielens(ml100k):
    trainset, testset = train_test_split(ml100k, test_size=0.2, random_state=0)
    algo = ALS(n_factors=20, random_state=0).fit(trainset)
    preds = algo.test(testset)
    rmse = accuracy.rmse(preds, verbose=False)
    assert 0.85 < rmse < 0.95
    p = algo.predict(testset[0][0], testset[0][1])
    assert p.est == pytest.approx(preds[0].est)
    assert algo.predict("nobody", "nothing").est == pytest.approx(trainset.global_mean)
    assert algo.predict("nobody", testset[0][1]).est == pytest.approx(
        min(5, trainset.global_mean + algo.bi[trainset.to_inner_iid(testset[0][1])])
    )
    recs = algo.recommend(testset[0][0], n=5)
    assert len(recs) == 5
    assert recs[0][1] == pytest.approx(algo.predict(testset[0][0], recs[0][0]).est)
    assert len(algo.similar_items(testset[0][1], k=3)) == 3


def test_cg_and_cholesky_reach_the_same_accuracy(ml100k):
    trainset, testset = train_test_split(ml100k, test_size=0.2, random_state=1)
    rmse = {
        s: accuracy.rmse(ALS(n_factors=20, solver=s, random_state=0).fit(trainset).test(testset),
                         verbose=False)
        for s in ("cg", "cholesky")
    }  # fmt: skip
    assert abs(rmse["cg"] - rmse["cholesky"]) < 0.005, rmse


def test_model_selection_dump_and_model_file(ml100k, tmp_path):
    res = cross_validate(ALS(n_factors=5, n_epochs=3, random_state=0), ml100k, cv=2,
                         measures=["rmse"])  # fmt: skip
    assert len(res["test_rmse"]) == 2 and (res["test_rmse"] < 1.1).all()
    gs = GridSearchCV(ALS, {"reg": [0.05, 0.2], "n_factors": [4]}, measures=["rmse"], cv=2)
    gs.fit(ml100k)
    assert gs.best_params["rmse"]["reg"] in (0.05, 0.2)
    trainset = ml100k.build_full_trainset()
    algo = ALS(n_factors=5, n_epochs=2, random_state=0).fit(trainset)
    dump.dump(str(tmp_path / "d"), algo=algo)
    _, again = dump.load(str(tmp_path / "d"))
    np.testing.assert_array_equal(again.pu, algo.pu)
    assert (
        pickle.loads(pickle.dumps(algo)).predict("196", "242").est == algo.predict("196", "242").est
    )
    algo.save(tmp_path / "m.tsvd")
    loaded = load(tmp_path / "m.tsvd")
    assert type(loaded) is ALS and loaded.reg == algo.reg
    np.testing.assert_array_equal(loaded.qi, algo.qi)
    assert loaded.predict("196", "242").est == algo.predict("196", "242").est


def test_history_and_verbose(capsys):
    trainset = small_trainset()
    algo = ALS(n_factors=3, n_epochs=3, random_state=0, verbose=True)
    algo.fit(trainset, history=True)
    out = capsys.readouterr().out
    assert out.splitlines() == [f"Processing epoch {k}" for k in range(3)]
    assert algo.history_["epoch"] == [1, 2, 3]
    # ALS decreases the regularised objective each sweep; the training RMSE follows here.
    assert algo.history_["train_rmse"][-1] < algo.history_["train_rmse"][0]


def test_same_prediction_rule_as_svd():
    trainset = small_trainset()
    algo = ALS(n_factors=3, n_epochs=2, random_state=0, dtype=np.float64).fit(trainset)
    svd = SVD(n_factors=3, n_epochs=0, random_state=0, schedule="exact").fit(trainset)
    svd.pu, svd.qi, svd.bu, svd.bi = algo.pu, algo.qi, algo.bu, algo.bi
    testset = trainset.build_testset()[:50]
    assert [p.est for p in algo.test(testset)] == [p.est for p in svd.test(testset)]


# ------------------------------------------------------------------ Ctrl-C
CHILD = fit_child(
    "from turbosvd import ALS",
    "ALS(n_factors=4, n_epochs=1, random_state=0)",
    'algo.n_factors, algo.solver = 200, "cholesky"',
)


def test_ctrl_c_interrupts_fit_promptly():
    assert interrupt(CHILD) == ["untouched=True", "predicts=True"]
