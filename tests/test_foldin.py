"""Fold-in (``partial_fit_users``): the compiled solve against a NumPy reference, against
retraining, and the folded users' life in the model (predict, recommend, files)."""

from __future__ import annotations

import pickle
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import turbosvd
from reference import foldin_solve
from turbosvd import (
    SVD,
    BaselineOnly,
    Dataset,
    NotFittedError,
    Reader,
    Trainset,
    _foldin,
    accuracy,
    dump,
)
from turbosvd.datasets import make_ratings
from turbosvd.foldin import foldin_reg, rotation_pays

READER = Reader(rating_scale=(1, 5))


def _trainset(df) -> Trainset:
    return Dataset.load_from_df(df, READER).build_full_trainset()


@pytest.fixture(scope="module")
def data():
    return make_ratings(400, 250, 16_000, random_state=3)


# ---------------------------------------------------------------- the compiled solve
def _batch(rng, n_items, sizes):
    items = np.concatenate([rng.integers(0, n_items, s) for s in sizes]).astype(np.int32)
    ratings = rng.integers(1, 6, len(items)).astype(np.float64)
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return indptr, items, ratings


def _kernel(indptr, items, ratings, qi, bi, mu, biased, reg, threads, rotate):
    """The compiled solve, in the batch's rotation (computed on ``threads`` too) or not."""
    rotation = _foldin.batch_rotation(items, qi, threads) if rotate and qi.shape[1] else None
    return _foldin.foldin_users(indptr, items, ratings, qi, bi, mu, biased, reg, threads, rotation)


@pytest.mark.parametrize("rotate", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("k", "biased"), [(12, True), (12, False), (0, True), (33, True)])
def test_kernel_matches_reference_solve(dtype, k, biased, rotate):
    rng = np.random.default_rng(k)
    n_items = 60
    qi = rng.normal(0, 0.3, (n_items, k)).astype(dtype)
    bi = rng.normal(0, 0.2, n_items).astype(dtype)
    # Users on both sides of the primal/dual switch (n < K dual), one over a chunk (256).
    sizes = [1, 2, k, k + 1, k + 2, 5, 300, 40]
    indptr, items, ratings = _batch(rng, n_items, sizes)
    reg = (2.5, 0.03, 1.5, 0.05)
    # The batch's rotation (preconditioned conjugate gradients in the eigenbasis of the
    # rated items' second moment) changes the path, not the solution.
    pu, bu, bad = _kernel(indptr, items, ratings, qi, bi, 3.4, biased, reg, 2, rotate)
    assert pu.dtype == dtype and bu.dtype == dtype and not bad.any()
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for u, n in enumerate(sizes):
        s, e = indptr[u], indptr[u + 1]
        p, b = foldin_solve(
            items[s:e], ratings[s:e], qi, bi, 3.4, biased, reg[0] + reg[1] * n, reg[2] + reg[3] * n
        )
        np.testing.assert_allclose(pu[u], p, rtol=tol, atol=tol)
        assert bu[u] == pytest.approx(b, rel=tol, abs=tol)


@pytest.mark.parametrize("rotate", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_result_does_not_depend_on_threads(dtype, rotate):
    rng = np.random.default_rng(0)
    qi = rng.normal(0, 0.3, (80, 20)).astype(dtype)
    bi = rng.normal(0, 0.2, 80).astype(dtype)
    indptr, items, ratings = _batch(rng, 80, rng.integers(1, 60, 50))
    reg = (4.0, 0.02, 4.0, 0.02)
    runs = [
        _kernel(indptr, items, ratings, qi, bi, 3.0, True, reg, t, rotate) for t in (1, 2, 3, 7)
    ]
    for pu, bu, _ in runs[1:]:
        assert np.array_equal(pu, runs[0][0]) and np.array_equal(bu, runs[0][1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rotation_with_zero_penalties_gives_the_reference_solve(dtype):
    """With a zero penalty on the factors the preconditioner is off (plain conjugate
    gradients on the rotated rows); with a zero one on the bias it stays on. Item factors
    with a few dominant directions, as trained ones have."""
    rng = np.random.default_rng(5)
    k, n_items = 10, 50
    qi = (rng.normal(0, 0.5, (n_items, k)) * np.r_[3.0, 2.0, np.ones(k - 2)]).astype(dtype)
    bi = rng.normal(0, 0.2, n_items).astype(dtype)
    sizes = [11, 40, 200]
    indptr, items, ratings = _batch(rng, n_items, sizes)
    tol = 1e-11 if dtype == np.float64 else 2e-5
    for reg in ((3.0, 0.01, 2.0, 0.0), (0.0, 0.0, 2.0, 0.0), (3.0, 0.0, 0.0, 0.0)):
        pu, bu, bad = _kernel(indptr, items, ratings, qi, bi, 3.0, True, reg, 2, True)
        assert not bad.any()
        for u, n in enumerate(sizes):
            s, e = indptr[u], indptr[u + 1]
            p, b = foldin_solve(
                items[s:e], ratings[s:e], qi, bi, 3.0, True, reg[0] + reg[1] * n, reg[2]
            )
            np.testing.assert_allclose(pu[u], p, rtol=tol, atol=tol)
            assert bu[u] == pytest.approx(b, rel=tol, abs=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_rotation(dtype):
    """V is orthogonal and diagonalises the rated items' count-weighted second moment, qr is
    qi V, and neither depends on the number of threads."""
    rng = np.random.default_rng(2)
    k, n_items = 9, 40
    qi = (rng.normal(0, 0.4, (n_items, k)) * np.linspace(3, 1, k)).astype(dtype)
    items = rng.integers(0, n_items - 5, 500).astype(np.int32)  # 5 items never rated
    runs = [_foldin.batch_rotation(items, qi, t) for t in (1, 2, 3)]
    for V, qr in runs[1:]:
        assert np.array_equal(V, runs[0][0]) and np.array_equal(qr, runs[0][1])
    V, qr = runs[0]
    assert V.dtype == np.float64 and qr.dtype == dtype and qr.shape == qi.shape
    np.testing.assert_allclose(V.T @ V, np.eye(k), atol=1e-12)
    counts = np.bincount(items, minlength=n_items).astype(np.float64)
    c = (qi.T.astype(np.float64) * counts) @ qi.astype(np.float64)
    rotated = V.T @ c @ V
    off = rotated - np.diag(np.diag(rotated))
    tol = 1e-10 if dtype == np.float64 else 1e-4
    assert np.abs(off).max() <= tol * np.abs(rotated).max()
    np.testing.assert_allclose(qr, qi.astype(np.float64) @ V, rtol=0, atol=tol)
    with pytest.raises(ValueError, match="item id out of range"):
        _foldin.batch_rotation(np.array([n_items], np.int32), qi, 1)
    with pytest.raises(ValueError, match="needs factors"):
        _foldin.batch_rotation(items, qi[:, :0], 1)
    indptr, bi = np.array([0, 3], np.int64), np.zeros(n_items, dtype)
    with pytest.raises(ValueError, match="rotation must be"):
        _foldin.foldin_users(
            indptr, items[:3], np.ones(3), qi, bi, 3.0, True, (1, 0, 1, 0), 1, (V[:2], qr)
        )


@pytest.mark.parametrize("n", [1, 2, 3, 17, 101])
@pytest.mark.parametrize("kind", ["random", "gram", "repeated"])
def test_symmetric_eigenvectors_match_numpy(n, kind):
    # The fold-in rotation's eigensolver (symeig.hpp) against numpy.linalg.eigh: the same
    # spectrum, orthonormal rows, and A v = d v for every pair (repeated eigenvalues
    # included, where the vectors themselves are not unique).
    rng = np.random.default_rng(n)
    if kind == "random":
        x = rng.normal(size=(n, n))
        a = x + x.T
    elif kind == "gram":  # what the rotation factors: a second moment of factor rows
        x = rng.normal(0, 0.1, size=(3 * n + 5, n))
        a = x.T @ x / len(x)
    else:
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        a = (q * np.repeat([2.0, -1.0, 0.5], n)[:n]) @ q.T
        a = (a + a.T) / 2
    d, v = _foldin.symmetric_eigenvectors(a)
    scale = max(1.0, np.abs(a).max())
    np.testing.assert_allclose(np.sort(d), np.linalg.eigvalsh(a), rtol=0, atol=1e-12 * n * scale)
    np.testing.assert_allclose(v @ v.T, np.eye(n), rtol=0, atol=1e-12 * n)
    np.testing.assert_allclose(a @ v.T, v.T * d, rtol=0, atol=1e-11 * n * scale)


def test_kernel_rejects_bad_arguments():
    qi = np.zeros((3, 2))
    bi = np.zeros(3)
    ok = (np.array([0, 1], dtype=np.int64), np.array([0], dtype=np.int32), np.array([3.0]))
    with pytest.raises(ValueError, match="item id out of range"):
        _foldin.foldin_users(
            ok[0], np.array([3], np.int32), ok[2], qi, bi, 0, True, (1, 0, 1, 0), 1
        )
    with pytest.raises(ValueError, match="regularisation"):
        _foldin.foldin_users(*ok, qi, bi, 0, True, (-1, 0, 1, 0), 1)
    with pytest.raises(ValueError, match="n_threads"):
        _foldin.foldin_users(*ok, qi, bi, 0, True, (1, 0, 1, 0), 0)
    # A zero penalty with fewer ratings than unknowns is singular: flagged, not a crash.
    _, _, bad = _foldin.foldin_users(*ok, qi, bi, 0, True, (0, 0, 0, 0), 1)
    assert bad.tolist() == [True]


# -------------------------------------------------------------------- SVD.partial_fit_users
def _assert_reference_solves(algo, triples, raws, tol):
    """The folded-in users ``raws`` of ``triples`` hold the NumPy reference solve."""
    lp0, lp1, lb0, lb1 = algo._foldin_reg()
    ts = algo.trainset
    for raw in raws:
        rows = [(ts.to_inner_iid(i), r) for u, i, r in triples if u == raw]
        items, ratings = zip(*rows, strict=True)
        n = len(rows)
        p, b = foldin_solve(
            items, ratings, algo.qi, algo.bi, ts.global_mean, algo.biased,
            lp0 + lp1 * n, lb0 + lb1 * n,
        )  # fmt: skip
        u = ts.to_inner_uid(raw)
        np.testing.assert_allclose(algo.pu[u], p, rtol=tol, atol=tol)
        assert algo.bu[u] == pytest.approx(b, rel=tol, abs=tol)


@pytest.mark.parametrize("schedule", ["exact", "blocked"])
@pytest.mark.parametrize("biased", [True, False])
def test_svd_foldin_is_the_reference_solve(data, schedule, biased):
    algo = SVD(n_factors=8, biased=biased, random_state=0, schedule=schedule)
    algo.fit(_trainset(data))
    new = [("a", 3, 4.0), ("a", 10, 2.0), ("b", 7, 5.0), ("a", 11, 3.5)]
    for k in range(30):
        new.append(("b", 20 + k, 1.0 + (k % 5)))
    algo.partial_fit_users(new)
    lp0, lp1, lb0, lb1 = foldin_reg(algo.n_epochs, algo.lr_pu, algo.reg_pu, algo.lr_bu, algo.reg_bu)
    assert lp0 == pytest.approx(1 / (0.005 * 20)) and lp1 == 0.02
    _assert_reference_solves(algo, new, ("a", "b"), 1e-12 if schedule == "exact" else 2e-5)


def test_foldin_matches_retraining(data):
    """Every 10th user held out, folded in from 80 % of its ratings: its other 20 % are
    predicted within 0.005 RMSE of a retrain that includes the 80 % (same seed and params)."""
    rng = np.random.default_rng(0)
    held = (data.user.to_numpy() % 10) == 0
    draw = rng.random(len(data))
    fold = data[held & (draw < 0.8)]
    test = data[held & (draw >= 0.8)]
    testset = list(test.itertuples(index=False, name=None))
    params = dict(random_state=0)  # k=100 (with k=20 on data this small the retrain, whose
    # item factors also learn from the held-out users, is ~0.006 better: bench/bench_foldin.py)
    algo = SVD(**params).fit(_trainset(data[~held]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # items seen only by held-out users
        algo.partial_fit_users(fold)
    folded = accuracy.rmse(algo.test(testset), verbose=False)
    retrained = SVD(**params).fit(_trainset(data[~held | (draw < 0.8)]))
    assert folded <= accuracy.rmse(retrained.test(testset), verbose=False) + 0.005
    # ... and it is information, not the biases alone: far better than the unknown user.
    cold = SVD(**params).fit(_trainset(data[~held]))
    assert folded < accuracy.rmse(cold.test(testset), verbose=False) - 0.02


def test_new_users_join_the_model(data, tmp_path):
    ts = _trainset(data)
    algo = SVD(n_factors=8, random_state=0).fit(ts)
    n_users, n_ratings = ts.n_users, ts.n_ratings
    df = pd.DataFrame({"who": [900, 900, 900, 901], "what": [3, 4, 5, 3], "stars": [5, 4, 1, 2]})
    assert algo.partial_fit_users(df) is algo
    # The trainset given to fit is untouched; the model has its own.
    assert ts.n_users == n_users and ts.n_ratings == n_ratings and 900 not in ts._raw2inner_id_users
    mts = algo.trainset
    assert mts is not ts and mts.n_users == n_users + 2 and mts.n_ratings == n_ratings + 4
    assert mts.global_mean == ts.global_mean
    assert algo.pu.shape == (n_users + 2, 8) and algo.bu.shape == (n_users + 2,)
    u = mts.to_inner_uid(900)
    assert u == n_users and mts.to_raw_uid(u) == 900
    assert sorted(i for i, _ in mts.ur[u]) == sorted(mts.to_inner_iid(i) for i in (3, 4, 5))
    # predict / test use the folded factors.
    est = algo.predict(900, 7, clip=False).est
    i = mts.to_inner_iid(7)
    manual = mts.global_mean + algo.bu[u] + algo.bi[i] + float(np.dot(algo.qi[i], algo.pu[u]))
    assert est == pytest.approx(manual, rel=1e-6)
    assert algo.test([(900, 7, 3.0)])[0].est == algo.predict(900, 7).est
    # recommend excludes the items the user rated; similar_users knows the user.
    recs = algo.recommend(900, n=300)
    assert {3, 4, 5}.isdisjoint(i for i, _ in recs) and len(recs) == mts.n_items - 3
    assert recs[0][1] == pytest.approx(algo.predict(900, recs[0][0]).est)
    assert 901 in [uid for uid, _ in algo.similar_users(900, k=mts.n_users)]
    # save / load and dump keep them.
    path = algo.save(tmp_path / "m.tsvd")
    loaded = turbosvd.load(path)
    assert loaded.predict(900, 7).est == algo.predict(900, 7).est
    assert loaded.recommend(900, n=5) == algo.recommend(900, n=5)
    dump.dump(str(tmp_path / "m.pkl"), algo=algo)
    _, unpickled = dump.load(str(tmp_path / "m.pkl"))
    assert unpickled.predict(901, 3).est == algo.predict(901, 3).est
    # A loaded model folds in more users.
    loaded.partial_fit_users([(902, 3, 4)])
    assert loaded.predict(902, 4).details["was_impossible"] is False


def test_foldin_shares_but_never_changes_the_fitted_trainset(data):
    """The model's own trainset shares the fitted one's arrays (no O(ratings) copy on the
    first fold-in); appends and replacements never show through, nor across two models."""
    ts = _trainset(data)
    before = [np.array(a, copy=True) for a in ts.rating_arrays()]
    users_before, items_map = ts.raw_user_ids.copy(), dict(ts._raw2inner_id_items)
    algo = SVD(n_factors=4, random_state=0).fit(ts)
    other = SVD(n_factors=4, random_state=0).fit(ts)
    for k in range(30):
        algo.partial_fit_users([(5000 + k, 3, 4.0), (5000 + k, 4, 2.0)])
    other.partial_fit_users([(5000, 7, 1.0)])
    algo.partial_fit_users([(ts.to_raw_uid(0), 5, 5.0)])  # a known user: replaced
    for a, b in zip(before, ts.rating_arrays(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(users_before, ts.raw_user_ids)
    assert dict(ts._raw2inner_id_items) == items_map and ts.n_users == len(users_before)
    mine, theirs = algo.trainset, other.trainset
    assert sorted(i for i, _ in mine.ur[mine.to_inner_uid(5000)]) == sorted(
        mine.to_inner_iid(i) for i in (3, 4)
    )
    assert [i for i, _ in theirs.ur[theirs.to_inner_uid(5000)]] == [theirs.to_inner_iid(7)]
    assert theirs.n_users == ts.n_users + 1 and mine.n_users == ts.n_users + 30


def test_repeated_foldins_and_known_users(data):
    ts = _trainset(data)
    algo = SVD(n_factors=6, random_state=0).fit(ts)
    base = algo.trainset.n_users
    one_batch = SVD(n_factors=6, random_state=0).fit(ts)
    triples = [(1000 + k, 3 + k % 7, 1 + k % 5) for k in range(40)]
    one_batch.partial_fit_users(triples)
    for t in triples:  # one user at a time (grows the arrays in place)
        algo.partial_fit_users([t])
    assert algo.trainset.revision == 40
    assert algo.trainset.n_users == base + 40
    np.testing.assert_array_equal(algo.pu, one_batch.pu)
    np.testing.assert_array_equal(algo.bu, one_batch.bu)
    # A known user (of the training set) is recomputed from the given ratings only, and
    # those replace its ratings in the model's trainset.
    raw = algo.trainset.to_raw_uid(0)
    before = algo.pu[0].copy()
    algo.recommend(raw, n=3)  # caches the seen items of this trainset revision
    algo.partial_fit_users([(raw, 5, 5.0), (raw, 6, 1.0)])
    assert not np.array_equal(algo.pu[0], before)
    assert algo.trainset.n_users == base + 40
    assert sorted(algo.trainset.ur[0]) == sorted(
        [(algo.trainset.to_inner_iid(5), 5.0), (algo.trainset.to_inner_iid(6), 1.0)]
    )
    assert algo.trainset.n_ratings == len(algo.trainset.rating_arrays()[0])
    assert {5, 6}.isdisjoint(i for i, _ in algo.recommend(raw, n=algo.trainset.n_items))


def test_foldin_does_not_depend_on_n_jobs(data):
    ts = _trainset(data)
    triples = [(2000 + k % 60, k % 200, 1 + k % 5) for k in range(3000)]
    # A batch this large (for k=12 and 250 items) is solved with the batch's rotation.
    assert rotation_pays(3000, ts.n_items, 12)
    out = []
    for n_jobs in (1, 2, 3):
        algo = SVD(n_factors=12, random_state=0, n_jobs=n_jobs).fit(ts)
        algo.partial_fit_users(triples)
        out.append((algo.pu.copy(), algo.bu.copy()))
    for pu, bu in out[1:]:
        assert np.array_equal(pu, out[0][0]) and np.array_equal(bu, out[0][1])
    _assert_reference_solves(algo, triples, (2000, 2031, 2059), 2e-5)  # ... and still exact


def test_rotation_pays_only_for_large_batches():
    assert rotation_pays(897_393, 3706, 100)  # bench_foldin's batch of 5,436 users
    assert not rotation_pays(82_227, 3706, 100)  # its 604 held-out users
    assert not rotation_pays(165, 3706, 100)  # one user
    assert not rotation_pays(10_000, 10, 1) and not rotation_pays(10_000, 10, 0)


def test_unknown_items_are_skipped_with_one_warning(data):
    algo = SVD(n_factors=4, random_state=0).fit(_trainset(data))
    ref = SVD(n_factors=4, random_state=0).fit(_trainset(data))
    ref.partial_fit_users([(5000, 3, 4), (5000, 4, 2)])
    with pytest.warns(UserWarning, match="skipped 3 rating\\(s\\) of 2 item\\(s\\) unknown") as w:
        algo.partial_fit_users(
            [(5000, 3, 4), (5000, "x", 5), (5000, 4, 2), (5000, "y", 1), (5000, "x", 2)]
        )
    assert len(w) == 1
    np.testing.assert_array_equal(algo.pu[-1], ref.pu[-1])


@pytest.mark.parametrize(
    ("ratings", "match"),
    [
        ([], "empty"),
        (pd.DataFrame({"u": [], "i": [], "r": []}), "empty"),
        ([(1, 3, 6.0)], "outside the model's rating scale"),
        ([(1, 3, 0.5)], "outside the model's rating scale"),
        ([(1, 3, float("nan"))], "not finite"),
        ([(1, 3, "5")], "not a number"),
        ([(None, 3, 4)], "no user id"),
        ([(1, "nope", 4), (2, 3, 4)], "1 have no rating on an item known"),
        ([(1, 3)], "triple"),
        (pd.DataFrame({"u": [1], "i": [3]}), "columns"),
    ],
)
def test_bad_ratings_raise_and_change_nothing(data, ratings, match):
    algo = SVD(n_factors=4, random_state=0).fit(_trainset(data))
    pu, ts = algo.pu.copy(), algo.trainset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            algo.partial_fit_users(ratings)
    assert np.array_equal(algo.pu, pu) and algo.trainset is ts and ts.n_users == 400


def test_bad_types_and_unfitted():
    with pytest.raises(NotFittedError):
        SVD().partial_fit_users([(1, 2, 3)])
    algo = SVD(n_factors=2, n_epochs=1, random_state=0)
    algo.fit(_trainset(make_ratings(20, 10, 100, random_state=0)))
    with pytest.raises(TypeError, match="DataFrame"):
        algo.partial_fit_users("ratings.csv")


def test_zero_epochs_folds_in_zeros():
    algo = SVD(n_factors=3, n_epochs=0, random_state=0)
    algo.fit(_trainset(make_ratings(20, 10, 100, random_state=0)))
    algo.partial_fit_users([(99, 1, 5)])
    assert not algo.pu[-1].any() and algo.bu[-1] == 0


def test_surprise_style_trainset_dicts_follow(data):
    """A trainset built by Surprise's constructor keeps ur / ir as its truth: they follow."""
    ts = _trainset(data)
    surprise_ts = pickle.loads(pickle.dumps(ts))
    surprise_ts = Trainset(
        surprise_ts.ur,
        surprise_ts.ir,
        ts.n_users,
        ts.n_items,
        ts.n_ratings,
        ts.rating_scale,
        ts._raw2inner_id_users,
        ts._raw2inner_id_items,
    )
    algo = SVD(n_factors=4, random_state=0).fit(surprise_ts)
    algo.partial_fit_users([(777, 3, 5), (777, 4, 4)])
    mts = algo.trainset
    u = mts.to_inner_uid(777)
    assert mts.ur[u] == [(mts.to_inner_iid(3), 5.0), (mts.to_inner_iid(4), 4.0)]
    assert (u, 5.0) in mts.ir[mts.to_inner_iid(3)]
    assert 777 not in surprise_ts._raw2inner_id_users
    assert len(list(mts.all_ratings())) == ts.n_ratings + 2


# ------------------------------------------------------------------------- BaselineOnly
def test_baseline_als_foldin_is_the_als_user_step(data):
    algo = BaselineOnly(bsl_options={"method": "als", "reg_u": 12}, verbose=False)
    algo.fit(_trainset(data))
    algo.partial_fit_users([("n", 3, 5.0), ("n", 4, 3.0)])
    ts = algo.trainset
    i3, i4 = ts.to_inner_iid(3), ts.to_inner_iid(4)
    mu = ts.global_mean
    expected = ((5.0 - mu - algo.bi[i3]) + (3.0 - mu - algo.bi[i4])) / (12 + 2)
    assert algo.bu[ts.to_inner_uid("n")] == pytest.approx(expected, rel=1e-12)
    assert algo.predict("n", 3).est == pytest.approx(min(5, mu + expected + algo.bi[i3]), rel=1e-12)


def test_baseline_sgd_foldin(data):
    algo = BaselineOnly(bsl_options={"method": "sgd"}, verbose=False).fit(_trainset(data))
    algo.partial_fit_users([("n", 3, 5.0)])
    ts = algo.trainset
    i3 = ts.to_inner_iid(3)
    lam = 1 / (0.005 * 20) + 0.02 * 1
    expected = (5.0 - ts.global_mean - algo.bi[i3]) / (1 + lam)
    assert algo.bu[ts.to_inner_uid("n")] == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------- SVD++
@pytest.mark.parametrize("schedule", ["exact", "blocked"])
def test_svdpp_foldin_is_the_reference_solve_with_the_implicit_term(data, schedule):
    from turbosvd import SVDpp

    algo = SVDpp(n_factors=6, n_epochs=5, random_state=0, schedule=schedule)
    algo.fit(_trainset(data))
    new = [("a", 3, 4.0), ("a", 10, 2.0), ("a", 11, 3.5), ("a", 12, 5.0)]
    algo.partial_fit_users(new)
    ts = algo.trainset
    items = [ts.to_inner_iid(i) for _, i, _ in new]
    ratings = np.array([r for _, _, r in new])
    yj = np.asarray(algo.yj, dtype=np.float64)
    z = yj[items].sum(axis=0) / np.sqrt(len(items))  # the implicit term of the user
    qi = np.asarray(algo.qi, dtype=np.float64)
    n = len(items)
    lam_p = 1 / (algo.lr_pu * 5) + algo.reg_pu * n
    lam_b = 1 / (algo.lr_bu * 5) + algo.reg_bu * n
    p, b = foldin_solve(
        items, ratings - qi[items] @ z, qi, algo.bi, ts.global_mean, True, lam_p, lam_b
    )
    u = ts.to_inner_uid("a")
    tol = 1e-10 if schedule == "exact" else 1e-4
    np.testing.assert_allclose(algo.pu[u], p, rtol=tol, atol=tol)
    assert algo.bu[u] == pytest.approx(b, rel=tol, abs=tol)
    # Its predictions use the folded ratings as its implicit feedback.
    i = ts.to_inner_iid(20)
    expected = ts.global_mean + b + algo.bi[i] + qi[i] @ (p + z)
    assert algo.predict("a", 20, clip=False).est == pytest.approx(expected, rel=tol, abs=tol)
    # Folding in again (the model's trainset changes in place): predictions follow.
    algo.partial_fit_users([("a", 3, 1.0)])
    assert algo.predict("a", 20, clip=False).est != pytest.approx(expected, rel=tol, abs=tol)


# ------------------------------------------------------------- input paths (issue 14 speed)
def test_frame_paths_and_triples_agree(data, monkeypatch):
    """A large DataFrame (factorised columns), a small one (lists) and triples fold in the
    same users identically, interleaved or not, with the same unknown-item warning."""
    import turbosvd.foldin as foldin_module

    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame(
        {
            "u": rng.integers(0, 70, n) + 7000,  # interleaved users, new ones
            "i": rng.integers(0, 260, n),  # items 250..259 are unknown
            "r": rng.integers(1, 6, n).astype(float),
        },
        index=rng.permutation(n) + 100,  # not a RangeIndex: rows are taken by position
    )
    ts = _trainset(data)
    results = []
    for kind, small in (("frame", 10**9), ("frame", 0), ("triples", 0)):
        monkeypatch.setattr(foldin_module, "_SMALL", small)
        algo = SVD(n_factors=5, random_state=0).fit(ts)
        arg = frame if kind == "frame" else list(frame.itertuples(index=False, name=None))
        with pytest.warns(UserWarning, match=r"skipped \d+ rating\(s\) of 10 item\(s\)"):
            algo.partial_fit_users(arg)
        mts = algo.trainset
        order = [mts.to_inner_uid(u) for u in pd.unique(frame.u)]
        results.append((algo.pu[order], algo.bu[order], [mts.ur[u] for u in order]))
    for pu, bu, ur in results[1:]:
        np.testing.assert_array_equal(pu, results[0][0])
        np.testing.assert_array_equal(bu, results[0][1])
        assert ur == results[0][2]
    # Each user's ratings keep their order of appearance.
    mts = algo.trainset
    first = frame[frame.u == frame.u.iloc[0]]
    known = first[first.i < 250]
    assert [i for i, _ in results[0][2][0]] == [mts.to_inner_iid(i) for i in known.i]


def test_large_frame_errors_name_rows_by_position(data, monkeypatch):
    import turbosvd.foldin as foldin_module

    monkeypatch.setattr(foldin_module, "_SMALL", 0)  # the factorised path
    algo = SVD(n_factors=4, random_state=0).fit(_trainset(data))
    frame = pd.DataFrame({"u": [1, 2, 3], "i": [3, 4, 5], "r": [4.0, 9.0, 2.0]}, index=[7, 8, 9])
    with pytest.raises(ValueError, match="rating 1 of user 2 on item 4 is 9.0, outside"):
        algo.partial_fit_users(frame)
    frame = pd.DataFrame({"u": [1.0, np.nan], "i": [3, 4], "r": [4.0, 2.0]}, index=[5, 6])
    with pytest.raises(ValueError, match="rating 1 has no user id"):
        algo.partial_fit_users(frame)
    frame = pd.DataFrame({"u": [1, 2], "i": [3, 4], "r": pd.array([4.0, None], "Float64")})
    with pytest.raises(ValueError, match="rating 1 of user 2 on item 4 is not finite"):
        algo.partial_fit_users(frame)
    assert algo.trainset.n_users == 400


def test_append_rows_never_overwrites_a_view_handed_out():
    from turbosvd._growth import append_rows

    a = append_rows(np.arange(3.0), [3.0])
    b = append_rows(a, [4.0])  # in place: b shares a's buffer
    assert np.shares_memory(a, b) and b.tolist() == [0, 1, 2, 3, 4]
    c = append_rows(a, [9.0])  # a is no longer the tail: a fresh buffer
    assert not np.shares_memory(c, b) and b.tolist() == [0, 1, 2, 3, 4]
    assert c.tolist() == [0, 1, 2, 3, 9]
    d = append_rows(b[:], [5.0])  # another view of the tail's rows: a fresh buffer too
    assert not np.shares_memory(d, b) and d.tolist() == [0, 1, 2, 3, 4, 5]
    e = append_rows(b, [6.0])
    assert np.shares_memory(e, b) and e.tolist() == [0, 1, 2, 3, 4, 6]


# ------------------------------------------------------------ the large-batch pipeline
@pytest.mark.parametrize("user_kind", ["str", "int"])
def test_grouped_frame_paths_agree(data, monkeypatch, user_kind):
    """A frame grouped by user (runs found without hashing every id, no codes) gives the
    same users, bit for bit, as its lists (the small-frame path) and as triples; the
    batch's rotation, computed in a worker thread while the users are grouped, is used in
    all three, and the users hold the reference solve."""
    import turbosvd.foldin as foldin_module

    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 120, 40)
    users = np.repeat(np.arange(40) + 9000, sizes)
    frame = pd.DataFrame(
        {
            "u": ["u" + str(u) for u in users] if user_kind == "str" else users,
            "i": rng.integers(0, 250, len(users)),
            "r": rng.integers(1, 6, len(users)).astype(float),
        }
    )
    raws = list(pd.unique(frame.u))
    triples = list(frame.itertuples(index=False, name=None))
    assert rotation_pays(len(frame), 250, 12)
    rotations = []
    batch_rotation = foldin_module._foldin.batch_rotation
    monkeypatch.setattr(
        foldin_module._foldin,
        "batch_rotation",
        lambda *a: rotations.append(threading.current_thread()) or batch_rotation(*a),
    )
    ts = _trainset(data)
    results = []
    for arg, small in ((frame, 0), (frame, 10**9), (triples, 0)):
        monkeypatch.setattr(foldin_module, "_SMALL", small)
        algo = SVD(n_factors=12, random_state=0).fit(ts)
        algo.partial_fit_users(arg)
        inner = algo.trainset.inner_uids(raws)
        assert inner.tolist() == list(range(400, 440))
        results.append((algo.pu[inner], algo.bu[inner], algo.trainset.n_ratings))
    for pu, bu, n in results[1:]:
        assert np.array_equal(pu, results[0][0]) and np.array_equal(bu, results[0][1])
        assert n == results[0][2] == len(data) + len(frame)
    assert len(rotations) == 3 and threading.main_thread() not in rotations
    _assert_reference_solves(algo, triples, raws[::7], 2e-5)


def test_a_failure_in_the_rotation_worker_changes_nothing(data, monkeypatch):
    import turbosvd.foldin as foldin_module

    algo = SVD(n_factors=6, random_state=0).fit(_trainset(data))
    algo.partial_fit_users([(5000, 3, 4.0), (5000, 8, 2.0)])  # the model's own trainset
    ts, pu, bu, n_ratings = algo.trainset, algo.pu.copy(), algo.bu.copy(), algo.trainset.n_ratings
    batch = [(6000 + k // 100, k % 250, 1 + k % 5) for k in range(800)] + [(5000, 9, 1.0)]
    assert rotation_pays(len(batch), 250, 6)

    def fail(*args):
        raise RuntimeError("rotation failed")

    monkeypatch.setattr(foldin_module._foldin, "batch_rotation", fail)
    with pytest.raises(RuntimeError, match="rotation failed"):
        algo.partial_fit_users(batch)
    assert algo.trainset is ts and ts.n_users == 401 and ts.n_ratings == n_ratings
    assert np.array_equal(algo.pu, pu) and np.array_equal(algo.bu, bu)
    assert [i for i, _ in ts.ur[ts.to_inner_uid(5000)]] == [ts.to_inner_iid(3), ts.to_inner_iid(8)]
    monkeypatch.undo()
    algo.partial_fit_users(batch)
    assert algo.trainset.n_users == 409


def test_run_starts_and_group_users():
    from turbosvd import _objects
    from turbosvd.foldin import group_users

    # Equal strings that are distinct objects, equal as dict keys across types (1 == 1.0).
    ids = np.array(["ab", "".join(["a", "b"]), "c", 1, 1.0, "1"], dtype=object)
    assert _objects.run_starts(ids).tolist() == [0, 2, 3, 5]
    assert _objects.run_starts(np.array([], dtype=object)).tolist() == []
    with pytest.raises(ValueError, match="object array"):
        _objects.run_starts(np.arange(3))
    with pytest.raises(TypeError):
        _objects.run_starts(np.array(["a", pd.NA], dtype=object))
    uniques, codes, indptr = group_users(pd.Series(ids))
    assert uniques == ["ab", "c", 1, "1"] and codes is None and indptr.tolist() == [0, 2, 3, 5, 6]
    uniques, codes, indptr = group_users(pd.Series(["x", "y", "x"]))
    assert uniques == ["x", "y"] and codes.tolist() == [0, 1, 0] and indptr is None
    uniques, codes, indptr = group_users(pd.Series([3, 3, 1]))
    assert uniques == [3, 1] and codes is None and indptr.tolist() == [0, 2, 3]
    with pytest.raises(ValueError, match="rating 1 has no user id"):
        group_users(pd.Series(["a", pd.NA], dtype=object))
    with pytest.raises(ValueError, match="rating 2 has no user id"):
        group_users(pd.Series(["a", "a", None]))


def test_integer_item_ids_are_looked_up_in_a_table(data):
    """An integer item column is looked up in a table indexed by id (the model's ids are
    integers in a compact range): the same inner ids and unknown count as the id map."""
    from turbosvd.foldin import _int_item_table, inner_items

    ts = _trainset(data)
    assert _int_item_table(ts.raw_item_ids, 10**6) is not None
    values = [0, 5, 249, 250, -3, 2**40, 5, -(2**62) - 7, 2**62 + 9]
    expected = ts.inner_iids(values).tolist()
    assert expected[:3] == [ts.to_inner_iid(0), ts.to_inner_iid(5), ts.to_inner_iid(249)]
    for dtype in (np.int64, np.int32, np.uint64, np.uint8, np.int8):
        column = pd.Series(np.array([v for v in values if _fits(v, dtype)], dtype=dtype))
        inner, n_unknown = inner_items(ts, column)
        want = ts.inner_iids(column.tolist())
        assert inner.tolist() == want.tolist()
        assert n_unknown == len({v for v, i in zip(column.tolist(), want.tolist()) if i < 0})
    huge = pd.Series(np.array([2**63 + 5, 5], dtype=np.uint64))  # past int64: factorised
    assert inner_items(ts, huge)[0].tolist() == [-1, ts.to_inner_iid(5)]
    # No table where it would differ from the map or not pay.
    assert _int_item_table(np.array(["a", "b"], dtype=object), 10) is None
    assert _int_item_table(np.array([True, 2], dtype=object), 10) is None
    assert _int_item_table(np.array([0, 10**9], dtype=object), 10) is None  # sparse
    assert _int_item_table(np.array([0, 1, 2], dtype=object), 2) is None  # few lookups
    assert _int_item_table(np.array([2**70, 1], dtype=object), 10) is None
    lo, table = _int_item_table(np.array([7, np.int64(3), 5], dtype=object), 10)
    assert lo == 3 and table.tolist() == [-1, 1, -1, 2, -1, 0, -1]


def _fits(value, dtype) -> bool:
    info = np.iinfo(dtype)
    return info.min <= value <= info.max
