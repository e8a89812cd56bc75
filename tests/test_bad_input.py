"""Bad input: a clear exception naming the parameter and the value, never a crash or a
silent wrong answer (issue 6). Behaviour Surprise's own tests pin is kept elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from turbosvd import SVD, Dataset, Reader, topn
from turbosvd.model_selection import (
    KFold,
    LeaveOneOut,
    RepeatedKFold,
    ShuffleSplit,
    train_test_split,
)


@pytest.fixture(scope="module")
def data():
    df = pd.DataFrame({"u": ["a", "b", "c", "a"], "i": ["x", "y", "x", "z"], "r": [1.0, 2, 3, 4]})
    return Dataset.load_from_df(df, Reader())


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"rating_scale": (5, 1)}, ValueError, r"rating_scale=\(5, 1\): the lowest rating"),
        ({"rating_scale": (float("nan"), 5)}, ValueError, "both bounds must be finite"),
        ({"rating_scale": ("1", 5)}, ValueError, "both bounds must be finite"),
        ({"skip_lines": -1}, ValueError, "skip_lines=-1 is out of range"),
        ({"skip_lines": 1.5}, TypeError, "skip_lines must be an integer, got 1.5"),
        ({"sep": ""}, ValueError, "sep='' is not valid"),
        ({"sep": 3}, ValueError, "sep=3 is not valid"),
    ],
)
def test_reader_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        Reader(**kwargs)


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda d: next(KFold(2.5).split(d)), TypeError, "n_splits must be an integer, got 2.5"),
        (lambda d: RepeatedKFold(n_repeats=0), ValueError, "n_repeats=0 is out of range"),
        (lambda d: list(LeaveOneOut(n_splits=-1).split(d)), ValueError, "n_splits=-1 is out of"),
        (lambda d: LeaveOneOut(min_n_ratings=0.5), TypeError, "min_n_ratings must be an integer"),
        (lambda d: train_test_split(d, test_size=float("nan")), ValueError, "test_size=nan is not"),
        (lambda d: train_test_split(d, test_size="a"), TypeError, "test_size must be None, an int"),
        (lambda d: ShuffleSplit(train_size=[1]), TypeError, r"train_size must be None, an int"),
    ],
)
def test_split_arguments(data, make, exc, message):
    with pytest.raises(exc, match=message):
        make(data)


@pytest.mark.parametrize(
    ("params", "fit_with", "exc", "message"),
    [
        ({"n_jobs": 10**6}, "trainset", ValueError, "n_jobs=1000000 is absurd"),
        ({"n_jobs": 2.0}, "trainset", TypeError, "n_jobs must be an int or None, got 2.0"),
        ({"biased": "yes"}, "trainset", TypeError, "biased must be True or False, got 'yes'"),
        (
            {"lr_all": "0.1"},
            "trainset",
            TypeError,
            r"lr_bu must be .* got '0.1' \(str\) \(lr_all='0.1' sets it\)",
        ),
        (
            {"lr_all": 0.1, "lr_qi": "x"},
            "trainset",
            TypeError,
            r"lr_qi must be .* got 'x' \(str\)$",
        ),
        ({}, None, TypeError, "fit\\(\\) needs a Trainset .* got NoneType"),
        ({}, "df", TypeError, "fit\\(\\) needs a Trainset .* got DataFrame"),
    ],
)
def test_fit_arguments(data, params, fit_with, exc, message):
    target = {"trainset": data.build_full_trainset(), None: None, "df": pd.DataFrame()}[fit_with]
    with pytest.raises(exc, match=message):
        SVD(n_factors=2, n_epochs=1, **params).fit(target)


def test_unknown_builtin_name_that_is_not_a_string():
    with pytest.raises(ValueError, match="unknown dataset 5. Accepted values are"):
        Dataset.load_builtin(5)


def test_numpy_bool_and_ints_still_accepted(data):
    SVD(n_factors=np.int64(2), n_epochs=np.int32(1), biased=np.bool_(True)).fit(
        data.build_full_trainset()
    )
    assert next(KFold(np.int64(2), random_state=0).split(data))


def test_allocations_larger_than_the_machine_are_refused_before_allocating(data):
    trainset = data.build_full_trainset()
    msg = (
        rf"n_factors=1000000000000 on {trainset.n_users} users and {trainset.n_items} items "
        r"needs [0-9.]+ GiB, more than this machine's [0-9.]+ GiB of memory"
    )
    with pytest.raises(ValueError, match=msg):
        SVD(n_factors=10**12, n_epochs=1).fit(trainset)
    X = np.ones((300_000, 1), dtype=np.float32)  # 300k x 300k results: ~1 TB
    with pytest.raises(ValueError, match=r"the top-299999 results of 300000 queries needs"):
        topn.cosine_topk(X, 10**9)
