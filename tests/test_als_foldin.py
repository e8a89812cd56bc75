"""ALS.partial_fit_users (issue 14): the user solve of one sweep on fixed items, against a
NumPy reference solve; Surprise-style input handling shared with SVD's fold-in."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import reference as ref
from turbosvd import ALS, Dataset, Reader, load
from turbosvd.datasets import make_ratings


def fitted(biased=True, reg=0.1, dtype=np.float64, seed=0):
    trainset = make_ratings(60, 40, 900, random_state=seed, as_trainset=True)
    algo = ALS(n_factors=4, n_epochs=3, reg=reg, biased=biased, random_state=0, dtype=dtype)
    return algo.fit(trainset)


def reference_user(algo, items, ratings):
    """``(pu, bu)`` of one user by np.linalg on the normal equations (float64)."""
    k = algo.n_factors
    ts = algo.trainset
    cols = np.array([ts.to_inner_iid(i) for i in items])
    Y = np.hstack([algo.qi, np.ones((ts.n_items, 1)), algo.bi[:, None]]).astype(np.float64)
    mu = ts.global_mean if algo.biased else 0.0
    targets = np.asarray(ratings, dtype=np.float64) - mu
    if not algo.biased:
        Y = Y[:, :k]
    A, b = ref.als_row_system(cols, targets, Y, k, algo.biased, algo.reg)
    x = np.linalg.lstsq(A, b, rcond=None)[0] if algo.reg == 0 else np.linalg.solve(A, b)
    return x[:k], (x[k] if algo.biased else 0.0)


def some_items(algo, n, seed):
    raw = algo.trainset.raw_item_ids
    return list(np.random.RandomState(seed).choice(raw, size=n, replace=False))


@pytest.mark.parametrize("biased", [True, False])
def test_new_and_known_users_match_the_reference_solve(biased):
    algo = fitted(biased=biased)
    ts0 = algo.trainset
    n_users = ts0.n_users
    known = ts0.raw_user_ids[3]
    rows = []
    plan = {
        "new_a": some_items(algo, 6, 1),
        "new_b": some_items(algo, 2, 2),
        known: some_items(algo, 5, 3),
    }
    rng = np.random.RandomState(4)
    for user, items in plan.items():
        rows += [(user, i, float(rng.randint(1, 6))) for i in items]
    pu_before = algo.pu.copy()
    algo.partial_fit_users(rows)
    assert algo.pu.shape == (n_users + 2, 4) and algo.bu.shape == (n_users + 2,)
    assert algo.trainset is not ts0 and ts0.n_users == n_users  # the fit's trainset untouched
    for user, items in plan.items():
        mine = [r for (u, _, r) in rows if u == user]
        pu, bu = reference_user(algo, items, mine)
        inner = algo.trainset.to_inner_uid(user)
        np.testing.assert_allclose(algo.pu[inner], pu, atol=1e-9, rtol=0)
        assert algo.bu[inner] == pytest.approx(bu, abs=1e-9)
    others = [u for u in range(n_users) if u != ts0.to_inner_uid(known)]
    np.testing.assert_array_equal(algo.pu[others], pu_before[others])
    if not biased:
        assert not algo.bu.any()
    # The new user is predicted from its folded-in row, and recommended unseen items only.
    inner = algo.trainset.to_inner_uid("new_a")
    i0 = ts0.to_inner_iid(plan["new_a"][0])
    mu = ts0.global_mean if biased else 0.0
    expected = mu + algo.bu[inner] + algo.bi[i0] + algo.pu[inner] @ algo.qi[i0]
    assert algo.predict("new_a", plan["new_a"][0], clip=False).est == pytest.approx(expected)
    recs = [i for i, _ in algo.recommend("new_a", n=10)]
    assert not set(recs) & set(plan["new_a"])


def test_float32_and_threads():
    a32 = fitted(dtype=np.float32)
    items = some_items(a32, 8, 5)
    rows = [("z", i, 1.0 + (j % 5)) for j, i in enumerate(items)]
    results = []
    for n_jobs in (1, 2, 4):
        algo = fitted(dtype=np.float32)
        algo.n_jobs = n_jobs
        algo.partial_fit_users(rows)
        assert algo.pu.dtype == np.float32 and algo.bu.dtype == np.float32
        results.append(algo.pu[-1])
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    pu, _ = reference_user(a32, items, [r for *_, r in rows])
    np.testing.assert_allclose(results[0], pu, atol=1e-4)


def test_refit_of_a_training_user_is_its_cholesky_half_sweep():
    # Folding in a training user with all its ratings gives what one more user half-sweep
    # with the Cholesky solver gives that user.
    algo = fitted(seed=3)
    ts = algo.trainset
    u = 7
    raw = ts.raw_user_ids[u]
    rows = [(raw, ts.to_raw_iid(i), r) for i, r in ts.ur[u]]
    pu, bu = reference_user(algo, [ts.to_raw_iid(i) for i, _ in ts.ur[u]], [r for *_, r in rows])
    algo.partial_fit_users(pd.DataFrame(rows, columns=["user", "item", "rating"]))
    assert algo.trainset.n_users == ts.n_users
    np.testing.assert_allclose(algo.pu[u], pu, atol=1e-9)
    assert algo.bu[u] == pytest.approx(bu, abs=1e-9)


def test_reg_zero_one_rating_is_the_minimum_norm_exact_fit():
    algo = fitted(reg=0.0)
    item = some_items(algo, 1, 0)[0]
    algo.partial_fit_users([("solo", item, 5.0)])
    pu, bu = reference_user(algo, [item], [5.0])  # lstsq: the minimum-norm solution
    assert np.isfinite(algo.pu).all()
    np.testing.assert_allclose(algo.pu[-1], pu, atol=1e-9)
    assert algo.bu[-1] == pytest.approx(bu, abs=1e-9)
    assert algo.predict("solo", item, clip=False).est == pytest.approx(5.0, abs=1e-9)


def test_unknown_items_are_skipped_with_a_counted_warning():
    algo = fitted()
    items = some_items(algo, 3, 0)
    rows = [("n", i, 4.0) for i in items] + [
        ("n", "nope1", 2.0),
        ("n", "nope2", 1.0),
        ("n", "nope1", 3.0),
    ]
    with pytest.warns(UserWarning, match=r"skipped 3 rating\(s\) of 2 item\(s\) unknown"):
        algo.partial_fit_users(rows)
    pu, _ = reference_user(algo, items, [4.0] * 3)
    np.testing.assert_allclose(algo.pu[-1], pu, atol=1e-9)


@pytest.mark.parametrize(
    ("ratings", "exc", "match"),
    [
        ([], ValueError, "ratings is empty"),
        ("u,i,3", TypeError, "ratings must be a DataFrame"),
        ([("u", "x")], ValueError, "is not a"),
        ([("u", "ITEM", 9.0)], ValueError, "outside the model's rating scale"),
        ([("u", "ITEM", float("nan"))], ValueError, "not finite"),
        ([("u", "ITEM", "high")], ValueError, "is not a number"),
        ([(None, "ITEM", 3.0)], ValueError, "has no user id"),
        ([("u", "unknown-item", 3.0)], ValueError, "no rating on an item known"),
    ],
)
def test_bad_input_changes_nothing(ratings, exc, match):
    algo = fitted()
    item = algo.trainset.raw_item_ids[0]
    ratings = (
        [tuple(item if x == "ITEM" else x for x in t) for t in ratings]
        if isinstance(ratings, list)
        else ratings
    )
    pu, trainset = algo.pu.copy(), algo.trainset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc, match=match):
            algo.partial_fit_users(ratings)
    assert algo.trainset is trainset
    np.testing.assert_array_equal(algo.pu, pu)


def test_unfitted_model_is_refused():
    with pytest.raises(Exception, match="partial_fit_users"):
        ALS().partial_fit_users([("u", "i", 3.0)])


def test_folded_in_users_are_saved_and_loaded(tmp_path):
    df = pd.DataFrame({"u": ["a", "a", "b", "b", "c"], "i": ["x", "y", "x", "z", "y"],
                       "r": [4.0, 3.0, 5.0, 2.0, 1.0]})  # fmt: skip
    trainset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = ALS(n_factors=2, n_epochs=2, random_state=0).fit(trainset)
    algo.partial_fit_users([("new", "x", 5.0), ("new", "z", 1.0)])
    algo.save(tmp_path / "m.tsvd")
    again = load(tmp_path / "m.tsvd")
    assert again.predict("new", "y").est == algo.predict("new", "y").est
    assert again.trainset.n_users == 4
