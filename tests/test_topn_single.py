"""The float32-scored top-N (``RecommendMixin._top_n_single``, what the Spark top-N tasks
run) returns exactly ``_top_n``'s rows: same items, same estimates, same order, also on
exact ties, near-ties below the float32 resolution, seen-item exclusion and candidates."""

from __future__ import annotations

import numpy as np
import pytest

from turbosvd import SVD, Dataset, Reader
from turbosvd.datasets import make_ratings


@pytest.fixture(scope="module")
def model():
    df = make_ratings(400, 300, 15000, random_state=3)
    ts = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    return SVD(n_factors=16, n_epochs=3, random_state=0).fit(ts)


def _same(model, users, n, exclude_seen, cand=None):
    want = model._top_n(users, n, exclude_seen, cand=cand)
    got = model._top_n_single(users, n, exclude_seen, cand=cand)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    return got


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("n", [1, 10, 299, 400])
def test_equals_the_float64_search(model, exclude_seen, n):
    users = np.arange(model.trainset.n_users)
    _same(model, users, n, exclude_seen)
    _same(model, users[::7], n, exclude_seen)  # a subset of the users


def test_with_candidates(model):
    support = np.bincount(model.trainset.rating_arrays()[1], minlength=model.trainset.n_items)
    cand = np.flatnonzero(support >= np.median(support))
    _same(model, np.arange(model.trainset.n_users), 10, True, cand=cand)


def test_ties_and_near_ties_fall_back_to_the_float64_search(model, monkeypatch):
    """Duplicated items tie exactly; items a few float64 ulps apart tie in float32. The
    float64 search (``_top_n``) decides them, so the rows stay the local ones."""
    m = SVD(n_factors=16, n_epochs=3, random_state=0).fit(model.trainset)
    qi, bi = m.qi.copy(), m.bi.copy()
    best = np.argsort(-(m.pu[:50] @ qi.T + bi).mean(axis=0))[:40]
    qi[best[20:]] = qi[best[:20]]  # 20 exact twins of popular items
    bi[best[20:]] = bi[best[:20]]
    bi[best[:10]] = np.nextafter(bi[best[:10]], np.float32(np.inf))  # float32 near-ties
    m.qi, m.bi = qi, bi
    calls = []
    original = type(m)._top_n

    def spy(self, users, *args, **kwargs):
        calls.append(len(users))
        return original(self, users, *args, **kwargs)

    users = np.arange(m.trainset.n_users)
    want = m._top_n(users, 12, True)
    monkeypatch.setattr(type(m), "_top_n", spy)
    got = m._top_n_single(users, 12, True)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    assert calls and 0 < calls[0] < len(users)  # some users (not all) were searched again


def test_float64_models_and_empty_inputs_take_the_float64_search(model):
    m64 = SVD(n_factors=8, n_epochs=2, random_state=0, dtype=np.float64).fit(model.trainset)
    _same(m64, np.arange(20), 5, True)
    _same(model, np.arange(0), 5, True)
    _same(model, np.arange(5), 5, True, cand=np.arange(0))
