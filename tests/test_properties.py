"""Property-based tests: random rating tables, id types and splits (hypothesis).

Invariants checked against scikit-surprise where it defines the behaviour: identical raw
ratings, trainset dictionaries and splits; and our own invariants elsewhere (split sizes,
id round trips, clipped predictions inside the rating scale, no crash).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turbosvd import SVD, BaselineOnly, Dataset, Reader
from turbosvd.model_selection import KFold, LeaveOneOut, train_test_split

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ids = st.one_of(
    st.integers(-5, 30),
    st.text(alphabet="abcxyz019 _-", min_size=0, max_size=4),
    st.sampled_from([1.0, 2.5, -0.0, True, False]),
)
ratings = st.one_of(
    st.integers(-10, 10).map(float),
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
)
tables = st.lists(st.tuples(ids, ids, ratings), min_size=1, max_size=60)


def _df(rows):
    return pd.DataFrame(
        {
            "u": pd.Series([r[0] for r in rows], dtype=object),
            "i": pd.Series([r[1] for r in rows], dtype=object),
            "r": [r[2] for r in rows],
        }
    )


@SETTINGS
@given(rows=tables)
def test_random_tables_load_like_surprise(surprise, rows):
    df = _df(rows)
    ours = Dataset.load_from_df(df, Reader(rating_scale=(-10, 10)))
    theirs = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=(-10, 10)))
    assert ours.raw_ratings == theirs.raw_ratings
    t_o, t_t = ours.build_full_trainset(), theirs.build_full_trainset()
    assert t_o.ur == t_t.ur
    assert t_o.ir == t_t.ir
    assert t_o._raw2inner_id_users == t_t._raw2inner_id_users
    assert t_o.global_mean == t_t.global_mean
    # Round trips raw -> inner -> raw.
    for raw, inner in t_o._raw2inner_id_users.items():
        assert t_o.to_raw_uid(inner) == raw
        assert t_o.to_inner_uid(raw) == inner


@SETTINGS
@given(rows=tables, seed=st.integers(0, 2**31 - 1), test_size=st.sampled_from([0.2, 0.5, 1, 3]))
def test_random_splits_match_surprise(surprise, rows, seed, test_size):
    df = _df(rows)
    ours = Dataset.load_from_df(df, Reader())
    theirs = surprise.Dataset.load_from_df(df, surprise.Reader())
    n = len(rows)
    if test_size >= n:
        with pytest.raises(ValueError, match="should be less than the number of ratings"):
            train_test_split(ours, test_size=test_size, random_state=seed)
        return
    tr_o, te_o = train_test_split(ours, test_size=test_size, random_state=seed)
    tr_t, te_t = surprise.model_selection.train_test_split(
        theirs, test_size=test_size, random_state=seed
    )
    assert te_o == te_t
    assert tr_o.ur == tr_t.ur
    assert tr_o.n_ratings + len(te_o) == n
    if n >= 2:
        folds = list(KFold(2, random_state=seed).split(ours))
        assert sum(len(te) for _, te in folds) == n
        assert all(tr.n_ratings + len(te) == n for tr, te in folds)
    full = ours.build_full_trainset()
    loo = LeaveOneOut(n_splits=1, random_state=seed)
    if all(len(full.ur[u]) == 1 for u in full.all_users()):
        with pytest.raises(ValueError, match="Could not build any trainset"):
            next(loo.split(ours))
        return
    (tr, te), (tr_t, te_t) = (
        next(loo.split(ours)),
        next(surprise.model_selection.LeaveOneOut(n_splits=1, random_state=seed).split(theirs)),
    )
    assert te == te_t
    assert tr.ur == tr_t.ur
    assert len(te) == full.n_users  # one test rating per user


@SETTINGS
@given(
    rows=tables,
    scale=st.sampled_from([(1, 5), (-10, 10), (0.5, 4.5), (2, 3)]),
    biased=st.booleans(),
    schedule=st.sampled_from(["exact", "blocked"]),
)
def test_clipped_predictions_stay_in_scale(rows, scale, biased, schedule):
    df = _df(rows)
    data = Dataset.load_from_df(df, Reader(rating_scale=scale))
    trainset = data.build_full_trainset()
    algo = SVD(n_factors=3, n_epochs=2, random_state=0, biased=biased, schedule=schedule)
    algo.fit(trainset)
    queries = trainset.build_testset() + [("ghost", rows[0][1], None), ("ghost", "ghost", None)]
    preds = algo.test(queries)
    lo, hi = scale
    assert all(lo <= p.est <= hi for p in preds)
    assert preds == [algo.predict(u, i, r) for (u, i, r) in queries]
    unclipped = [algo.predict(u, i, r, clip=False).est for (u, i, r) in queries]
    assert all(np.isfinite(unclipped))
    base = BaselineOnly(verbose=False).fit(trainset)
    assert all(lo <= p.est <= hi for p in base.test(queries))
