"""``turbosvd.datasets.make_ratings``: shapes, distinct pairs, scale, determinism, skew."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from turbosvd import SVD, Dataset, Reader, Trainset
from turbosvd.datasets import make_ratings


@pytest.fixture(scope="module")
def df():
    return make_ratings(500, 300, 20_000, random_state=1)


def test_shape_dtypes_and_order(df):
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["user", "item", "rating"]
    assert df.shape == (20_000, 3)
    assert df["user"].dtype == np.int32
    assert df["item"].dtype == np.int32
    assert df["rating"].dtype == np.float32
    keys = df["user"].to_numpy(np.int64) * 300 + df["item"].to_numpy(np.int64)
    assert np.all(np.diff(keys) > 0)  # grouped by user, items increasing: also distinct


def test_every_user_present_ids_in_range(df):
    assert set(df["user"].unique()) == set(range(500))
    assert df["item"].min() >= 0
    assert df["item"].max() < 300


def test_distinct_pairs(df):
    assert not df.duplicated(["user", "item"]).any()


def test_scale_and_step(df):
    values = set(df["rating"].unique().tolist())
    assert values <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(values) == 5
    assert 3.0 < df["rating"].mean() < 4.0  # MovieLens-like mean
    half = make_ratings(50, 40, 800, rating_scale=(0.5, 5), random_state=0)
    r = half["rating"].to_numpy()
    assert r.min() >= 0.5
    assert r.max() <= 5
    assert np.all((r * 2) == np.round(r * 2))
    assert np.any(r * 2 % 2 == 1)  # half stars occur
    custom = make_ratings(50, 40, 800, rating_scale=(0, 10), rating_step=2.5, random_state=0)
    assert set(custom["rating"].unique().tolist()) <= {0.0, 2.5, 5.0, 7.5, 10.0}


def test_deterministic_and_seeded(df):
    again = make_ratings(500, 300, 20_000, random_state=1)
    pd.testing.assert_frame_equal(df, again)
    other = make_ratings(500, 300, 20_000, random_state=2)
    assert not df.equals(other)


def test_does_not_touch_global_rng():
    state = np.random.get_state()  # noqa: NPY002 - the legacy global state on purpose
    make_ratings(30, 20, 200, random_state=0)
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0]
    assert np.array_equal(state[1], after[1])
    assert state[2:] == after[2:]


def test_power_law_popularity():
    skewed = make_ratings(2000, 1000, 60_000, popularity=1.2, random_state=0)
    flat = make_ratings(2000, 1000, 60_000, popularity=0.0, random_state=0)

    def top_share(d):
        counts = np.sort(d["item"].value_counts().to_numpy())[::-1]
        return counts[: len(counts) // 100].sum() / counts.sum()

    assert top_share(skewed) > 0.15  # the top 1 % of items carry a large share
    assert top_share(flat) < 0.03
    counts = np.sort(skewed["item"].value_counts().to_numpy())[::-1]
    # Log-log slope of count against rank, over the head, is about -popularity.
    ranks = np.arange(1, 51)
    slope = np.polyfit(np.log(ranks[5:]), np.log(counts[5:50]), 1)[0]
    assert -1.6 < slope < -0.6


def test_dense_corner_fills_every_pair():
    d = make_ratings(6, 5, 30, random_state=0)  # the whole matrix
    assert len(d) == 30
    assert not d.duplicated(["user", "item"]).any()


def test_planted_structure_is_learnable():
    d = make_ratings(300, 200, 15_000, noise=0.3, random_state=0)
    train, test = d.iloc[:12_000], d.iloc[12_000:]
    trainset = Dataset.load_from_df(train, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = SVD(n_factors=10, n_epochs=30, random_state=0).fit(trainset)
    testset = list(zip(test["user"], test["item"], test["rating"], strict=True))
    preds = np.array([p.est for p in algo.test(testset)])
    rmse = float(np.sqrt(np.mean((preds - test["rating"].to_numpy()) ** 2)))
    assert rmse < float(test["rating"].std())  # better than predicting the mean


def test_as_trainset_equals_the_dataframe_path():
    ts = make_ratings(300, 200, 9_000, random_state=4, as_trainset=True)
    assert isinstance(ts, Trainset)
    df = make_ratings(300, 200, 9_000, random_state=4)
    ref = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    for name in ("_users", "_items", "_ratings", "_user_ids", "_item_ids"):
        a, b = getattr(ts, name), getattr(ref, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name
    assert ts.rating_scale == ref.rating_scale
    assert ts.global_mean == ref.global_mean
    assert ts.to_inner_iid(int(df["item"].iloc[0])) == 0  # inner ids by first appearance
    assert ts.n_users == 300


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_users": 0}, "n_users=0 is out of range"),
        ({"n_ratings": 5}, "n_ratings=5 is smaller than n_users=10"),
        ({"n_ratings": 101}, "n_ratings=101 is more than"),
        ({"noise": -1.0}, "noise=-1.0 is out of range"),
        ({"popularity": -0.5}, "popularity=-0.5 is out of range"),
        ({"rating_scale": (5, 1)}, r"rating_scale=\(5, 1\) must have lowest < highest"),
        ({"rating_scale": 5}, "rating_scale=5 must be a pair"),
        ({"rating_step": 0.0}, "rating_step=0.0 is out of range"),
        ({"random_state": "x"}, "random_state='x' is not valid"),
    ],
)
def test_errors_name_the_parameter(kwargs, match):
    args = {"n_users": 10, "n_items": 10, "n_ratings": 50, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_ratings(args.pop("n_users"), args.pop("n_items"), args.pop("n_ratings"), **args)
