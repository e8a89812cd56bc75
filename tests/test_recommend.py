"""SVD's similar_items / similar_users / recommend / recommend_all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import DATA_FOLDER, needs_ml100k, small_ratings
from reference import assert_topk_valid, faq_get_top_n, topk_score_matrix
from turbosvd import SVD, Dataset, NotFittedError, Reader


@pytest.fixture(scope="module")
def fitted():
    data = Dataset.load_from_df(small_ratings(70, 50, 0.3, seed=1), Reader(rating_scale=(1, 5)))
    # float64 factors: the brute-force comparisons below use float64 tolerances (the float32
    # path is covered by test_float32_factors).
    return SVD(n_factors=8, n_epochs=30, random_state=0, dtype=np.float64).fit(
        data.build_full_trainset()
    )


def _seen_mask(trainset):
    seen = np.zeros((trainset.n_users, trainset.n_items), dtype=bool)
    seen[trainset._users, trainset._items] = True
    return seen


def _estimates(algo):
    """Unclipped estimates of every (user, item) pair by the model's formula."""
    mu = algo.trainset.global_mean
    f64 = [np.asarray(getattr(algo, name), dtype=np.float64) for name in ("pu", "qi", "bu", "bi")]
    pu, qi, bu, bi = f64
    return mu + bu[:, None] + bi[None, :] + pu @ qi.T


def test_similar_items_match_brute_force(fitted):
    ts = fitted.trainset
    S = topk_score_matrix(fitted.qi, cosine=True)
    for inner in (0, 7, ts.n_items - 1):
        raw = ts.to_raw_iid(inner)
        got = fitted.similar_items(raw, k=6)
        assert len(got) == 6
        idx = np.array([[ts.to_inner_iid(r) for r, _ in got]])
        scores = np.array([[s for _, s in got]])
        assert_topk_valid(idx, scores, S[inner : inner + 1], 1e-12)
        assert raw not in [r for r, _ in got]


def test_similar_users_match_brute_force(fitted):
    ts = fitted.trainset
    S = topk_score_matrix(fitted.pu, cosine=True)
    raw = ts.to_raw_uid(3)
    got = fitted.similar_users(raw, k=10)
    idx = np.array([[ts.to_inner_uid(r) for r, _ in got]])
    assert_topk_valid(idx, np.array([[s for _, s in got]]), S[3:4], 1e-12)


def test_similar_k_is_clamped_and_validated(fitted):
    ts = fitted.trainset
    got = fitted.similar_items(ts.to_raw_iid(0), k=10_000)
    assert len(got) == ts.n_items - 1
    with pytest.raises(ValueError, match="k=0"):
        fitted.similar_items(ts.to_raw_iid(0), k=0)
    with pytest.raises(TypeError, match="k must be an integer"):
        fitted.similar_users(ts.to_raw_uid(0), k="3")


def test_unknown_ids_name_the_id(fitted):
    with pytest.raises(ValueError, match="item 'no such item' is not part of the trainset"):
        fitted.similar_items("no such item")
    with pytest.raises(ValueError, match="user 'ghost' is not part of the trainset"):
        fitted.similar_users("ghost")
    with pytest.raises(ValueError, match="user 'ghost' is not part of the trainset"):
        fitted.recommend("ghost")


def test_not_fitted():
    for method, arg in (
        ("similar_items", "i1"),
        ("similar_users", "u1"),
        ("recommend", "u1"),
        ("recommend_all", None),
    ):
        with pytest.raises(NotFittedError, match=f"before {method}"):
            getattr(SVD(), method)(*(() if arg is None else (arg,)))


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_recommend_matches_brute_force_and_predict(fitted, exclude_seen):
    ts = fitted.trainset
    E = _estimates(fitted)
    if exclude_seen:
        E[_seen_mask(ts)] = np.nan
    for inner in (0, 5, ts.n_users - 1):
        raw_u = ts.to_raw_uid(inner)
        got = fitted.recommend(raw_u, n=8, exclude_seen=exclude_seen, clip=False)
        idx = np.array([[ts.to_inner_iid(i) for i, _ in got]])
        est = np.array([[e for _, e in got]])
        assert_topk_valid(idx, est, E[inner : inner + 1], 1e-9)
        for raw_i, e in got:  # exactly predict()'s unclipped estimate
            assert e == fitted.predict(raw_u, raw_i, clip=False).est


def test_recommend_all_equals_recommend_per_user(fitted):
    ts = fitted.trainset
    df = fitted.recommend_all(n=5)
    assert list(df.columns) == ["user", "item", "estimate", "rank"]
    assert df["rank"].dtype == np.int64
    assert df["estimate"].dtype == np.float64
    assert len(df) == 5 * ts.n_users
    for raw_u, group in df.groupby("user", sort=False):
        assert group["rank"].tolist() == [1, 2, 3, 4, 5]
        want = fitted.recommend(raw_u, n=5)
        assert list(zip(group["item"], group["estimate"], strict=True)) == want
    assert df["user"].drop_duplicates().tolist() == [ts.to_raw_uid(u) for u in range(ts.n_users)]


def test_recommend_all_fewer_candidates_than_n():
    # u0 rated everything but i2; u1 rated only i0.
    df = pd.DataFrame(
        {
            "user": ["u0", "u0", "u1", "u0"],
            "item": ["i0", "i1", "i0", "i3"],
            "rating": [4.0, 3.0, 5.0, 1.0],
        }
    )
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    ts = data.build_full_trainset()
    algo = SVD(n_factors=3, random_state=0).fit(ts)
    recs = algo.recommend_all(n=10)
    assert recs.loc[recs.user == "u0", "item"].tolist() == []  # u0 rated all 3 items
    assert sorted(recs.loc[recs.user == "u1", "item"]) == ["i1", "i3"]
    assert algo.recommend("u0", n=10) == []
    assert len(algo.recommend("u0", n=10, exclude_seen=False)) == 3


def test_cold_start(fitted):
    ts = fitted.trainset
    got = fitted.recommend("ghost", n=4, cold_start="bias", clip=False)
    order = np.lexsort((np.arange(ts.n_items), -fitted.bi))[:4]
    assert [ts.to_inner_iid(i) for i, _ in got] == order.tolist()
    for raw_i, e in got:
        assert e == fitted.predict("ghost", raw_i, clip=False).est
    with pytest.raises(ValueError, match="cold_start='nope' is not one of"):
        fitted.recommend("ghost", cold_start="nope")
    data = Dataset.load_from_df(small_ratings(10, 8, 0.5), Reader(rating_scale=(1, 5)))
    unbiased = SVD(n_factors=2, biased=False, random_state=0).fit(data.build_full_trainset())
    with pytest.raises(ValueError, match="unbiased model"):
        unbiased.recommend("ghost", cold_start="bias")


def test_unbiased_model_ranks_by_dot_product():
    data = Dataset.load_from_df(small_ratings(30, 40, 0.3, seed=2), Reader(rating_scale=(1, 5)))
    algo = SVD(n_factors=5, biased=False, random_state=0, dtype=np.float64)
    algo.fit(data.build_full_trainset())
    ts = algo.trainset
    E = algo.pu @ algo.qi.T
    E[_seen_mask(ts)] = np.nan
    df = algo.recommend_all(n=6, clip=False)
    for u in range(ts.n_users):
        rows = df[df.user == ts.to_raw_uid(u)]
        idx = np.array([[ts.to_inner_iid(i) for i in rows["item"]]])
        assert_topk_valid(idx, rows["estimate"].to_numpy()[None, :], E[u : u + 1], 1e-12)


def test_float32_factors(fitted):
    """The methods accept float32 factors (the float32 training path)."""
    algo = SVD(n_factors=8, random_state=0).fit(fitted.trainset)
    for name in ("pu", "qi", "bu", "bi"):
        setattr(algo, name, getattr(algo, name).astype(np.float32))
    ts = algo.trainset
    E = _estimates(algo).astype(np.float64)
    E[_seen_mask(ts)] = np.nan
    raw_u = ts.to_raw_uid(2)
    got = algo.recommend(raw_u, n=5, clip=False)
    idx = np.array([[ts.to_inner_iid(i) for i, _ in got]])
    assert_topk_valid(idx, np.array([[e for _, e in got]]), E[2:3], 1e-5)
    for raw_i, e in got:
        assert e == algo.predict(raw_u, raw_i, clip=False).est
    sims = algo.similar_items(ts.to_raw_iid(1), k=4)
    assert len(sims) == 4
    assert all(isinstance(s, float) for _, s in sims)
    df = algo.recommend_all(n=3)
    assert len(df) == 3 * ts.n_users


# ----------------------------------------------------------------- MovieLens 100k
def _ml100k_titles():
    folder = DATA_FOLDER / "ml-100k" / "ml-100k"
    items = pd.read_csv(
        folder / "u.item",
        sep="|",
        encoding="latin-1",
        header=None,
        usecols=[0, 1],
        names=["iid", "title"],
    )
    ratings = pd.read_csv(folder / "u.data", sep="\t", header=None, names=["uid", "iid", "r", "ts"])
    ratings["title"] = ratings["iid"].map(dict(zip(items["iid"], items["title"], strict=True)))
    return Dataset.load_from_df(ratings[["uid", "title", "r"]], Reader(rating_scale=(1, 5)))


@pytest.fixture(scope="module")
def ml100k_model():
    trainset = _ml100k_titles().build_full_trainset()
    return SVD(random_state=0).fit(trainset)


@needs_ml100k
def test_star_wars_neighbours(ml100k_model):
    # With the default SVD (100 factors, 20 epochs) on the full data, the two sequels are
    # the two nearest movies by cosine of qi (checked for seeds 0-4 and on a 75% split).
    top2 = [title for title, _ in ml100k_model.similar_items("Star Wars (1977)", k=2)]
    assert sorted(top2) == ["Empire Strikes Back, The (1980)", "Return of the Jedi (1983)"]


@needs_ml100k
def test_recommend_all_matches_surprise_route(ml100k_model):
    """Top-10 sets equal the FAQ route (build_anti_testset + test + sort by est).

    test() clips estimates to [1, 5], so users with more than 10 items estimated above 5
    have ties at 5.0 that the FAQ breaks by anti-testset order while recommend_all breaks
    them by the unclipped estimate: the check accepts any valid top-10 of the clipped
    estimates.
    """
    algo = ml100k_model
    ts = algo.trainset
    preds = algo.test(ts.build_anti_testset())
    faq = faq_get_top_n(preds, n=10)
    recs = algo.recommend_all(n=10)
    assert len(recs) == 10 * ts.n_users
    clipped = np.full((ts.n_users, ts.n_items), np.nan)
    u = ts._inner_uids([p.uid for p in preds])
    i = ts._inner_iids([p.iid for p in preds])
    clipped[u, i] = [p.est for p in preds]
    recs = recs.assign(
        u=ts._inner_uids(recs["user"].tolist()), i=ts._inner_iids(recs["item"].tolist())
    )
    idx = recs["i"].to_numpy().reshape(ts.n_users, 10)
    est = np.clip(recs["estimate"].to_numpy(), 1, 5).reshape(ts.n_users, 10)
    np.testing.assert_array_equal(recs["u"].to_numpy().reshape(ts.n_users, 10)[:, 0], range(943))
    assert_topk_valid(idx, est, clipped, 0.0)
    # Where the sets differ, the FAQ's 10th estimate is the clipping bound (a tie).
    for uid, top in faq.items():
        ours = set(recs.loc[recs.u == ts.to_inner_uid(uid), "item"])
        if ours != {iid for iid, _ in top}:
            assert top[-1][1] == 5.0, uid


def test_shown_estimates_are_clipped_ranking_is_not(fitted):
    """Issue 17, item 4: recommendations rank by the unclipped estimate and show what
    predict() shows (clipped to the rating scale) unless clip=False."""
    algo = SVD(n_factors=8, random_state=0).fit(fitted.trainset)
    algo.bi = algo.bi + 3.0  # every estimate above the scale's top
    ts = algo.trainset
    raw_u = ts.to_raw_uid(1)
    raw = algo.recommend(raw_u, n=6, clip=False)
    shown = algo.recommend(raw_u, n=6)
    assert [i for i, _ in shown] == [i for i, _ in raw]
    assert max(e for _, e in raw) > 5
    assert [e for _, e in shown] == [algo.predict(raw_u, i).est for i, _ in shown]
    assert all(e <= 5 for _, e in shown)
    df, df_raw = algo.recommend_all(n=6), algo.recommend_all(n=6, clip=False)
    assert df[["user", "item", "rank"]].equals(df_raw[["user", "item", "rank"]])
    assert (df["estimate"] == df_raw["estimate"].clip(1, 5)).all()
    with pytest.raises(TypeError, match="clip must be a bool"):
        algo.recommend(raw_u, clip="yes")
