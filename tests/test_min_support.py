"""``min_support`` of the top-N methods (issue 17, item 2): a candidate needs that many
training ratings; the default keeps every item. Checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

import turbosvd
from turbosvd import SVD, Dataset, Reader


@pytest.fixture(scope="module")
def fitted():
    df = turbosvd.datasets.make_ratings(80, 60, 1200, popularity=1.5, random_state=1)
    data = Dataset.load_from_df(df[["user", "item", "rating"]], Reader(rating_scale=(1, 5)))
    ts = data.build_full_trainset()
    return SVD(n_factors=8, n_epochs=5, random_state=0).fit(ts)


def _support(ts, kind):
    users, items, _ = ts.rating_arrays()
    ids = items if kind == "item" else users
    return np.bincount(ids, minlength=ts.n_items if kind == "item" else ts.n_users)


def _cos_brute(factors, inner, allowed, k):
    f = factors.astype(np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    s = f @ f[inner]
    order = [j for j in np.lexsort((np.arange(len(s)), -s)) if j != inner and allowed[j]]
    return order[:k]


@pytest.mark.parametrize("min_support", [0, 1, 5, 20, 10_000])
def test_similar_items_and_users(fitted, min_support):
    ts = fitted.trainset
    for kind, factors, method, raw in (
        ("item", fitted.qi, fitted.similar_items, ts.raw_item_ids),
        ("user", fitted.pu, fitted.similar_users, ts.raw_user_ids),
    ):
        allowed = _support(ts, kind) >= min_support
        for inner in (0, 3, 17):
            got = method(raw[inner], k=7, min_support=min_support)
            want = _cos_brute(factors, inner, allowed, 7)
            assert [r for r, _ in got] == raw[want].tolist()
    # the default keeps today's results
    assert fitted.similar_items(ts.raw_item_ids[3]) == fitted.similar_items(
        ts.raw_item_ids[3], min_support=0
    )


@pytest.mark.parametrize("min_support", [0, 3, 15, 10_000])
def test_recommend_and_recommend_all(fitted, min_support):
    ts = fitted.trainset
    allowed = _support(ts, "item") >= min_support
    recs = fitted.recommend_all(n=6, min_support=min_support)
    seen = {(u, i) for u, i, _ in ts.build_testset()}
    for u in ts.raw_user_ids[:25].tolist():
        got = fitted.recommend(u, n=6, min_support=min_support)
        rows = recs[recs["user"] == u]
        assert [(i, e) for i, e in zip(rows["item"], rows["estimate"], strict=True)] == got
        est = {
            i: fitted.predict(u, i, clip=False).est
            for inner, i in enumerate(ts.raw_item_ids.tolist())
            if allowed[inner] and (u, i) not in seen
        }
        want = sorted(est, key=lambda i: (-est[i], ts.to_inner_iid(i)))[:6]
        assert [i for i, _ in got] == want
        assert all(allowed[ts.to_inner_iid(i)] for i, _ in got)
    assert fitted.recommend_all(n=6).equals(fitted.recommend_all(n=6, min_support=0))


def test_cold_start_respects_min_support(fitted):
    ts = fitted.trainset
    allowed = _support(ts, "item") >= 10
    got = fitted.recommend("nobody", n=5, cold_start="bias", min_support=10)
    bi = fitted.bi.astype(np.float64)
    order = [j for j in np.lexsort((np.arange(len(bi)), -bi)) if allowed[j]][:5]
    assert [i for i, _ in got] == ts.raw_item_ids[order].tolist()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_min_support(fitted, bad):
    with pytest.raises((ValueError, TypeError), match="min_support"):
        fitted.recommend_all(n=3, min_support=bad)
    with pytest.raises((ValueError, TypeError), match="min_support"):
        fitted.similar_items(fitted.trainset.raw_item_ids[0], min_support=bad)
