"""Cross-validation iterators with Surprise's signatures, RNG draws and fold membership.

Every iterator draws from numpy's legacy ``RandomState`` exactly as Surprise does (a
``shuffle`` per ``KFold.split`` call, a ``permutation`` per ``ShuffleSplit`` split, a
``randint`` per user for ``LeaveOneOut``), so the same seed gives the same folds. Folds are
index arrays into the dataset's rating arrays; trainsets number their ids in order of first
appearance in the fold, as ``Dataset.construct_trainset`` does.
"""

from __future__ import annotations

import numbers
from math import ceil, floor

import numpy as np

from .. import _sgd
from ..utils import get_rng

__all__ = [
    "KFold",
    "LeaveOneOut",
    "PredefinedKFold",
    "RepeatedKFold",
    "ShuffleSplit",
    "get_cv",
    "train_test_split",
]


def get_cv(cv):
    """Return a CV iterator: None gives ``KFold(5)``, an int ``KFold(cv)``."""
    if cv is None:
        return KFold(n_splits=5)
    if isinstance(cv, numbers.Integral):
        return KFold(n_splits=cv)
    if hasattr(cv, "split") and not isinstance(cv, str):
        return cv
    raise ValueError(f"Wrong CV object. Expecting None, an int or CV iterator, got a {type(cv)}")


def _check_count(name, value, minimum=None):
    """An integer (Surprise fails later, with unrelated messages, on anything else)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value!r} is out of range: must be >= {minimum}")


def _check_size(name, value):
    """None, a count or a fraction; NaN and other types are refused."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be None, an int or a float, got {value!r}")
    if value != value:
        raise ValueError(f"{name}={value!r} is not a number")


def _table(data):
    try:
        return data._current_table()
    except AttributeError:
        raise TypeError(
            f"data must be a dataset from Dataset.load_from_file / load_from_df / "
            f"load_builtin, got {type(data).__name__}"
        ) from None


def _fold(data, table, train_idx, test_idx):
    return data._trainset(table, train_idx), table.testset(test_idx)


class KFold:
    """K-fold cross-validation.

    Parameters
    ----------
    n_splits : int, default 5
    random_state : None, int or RandomState
        Seed of the shuffle (drawn once per call to ``split``).
    shuffle : bool, default True
    """

    def __init__(self, n_splits=5, random_state=None, shuffle=True):
        _check_count("n_splits", n_splits)
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, data):
        """Generate ``(trainset, testset)`` for each fold."""
        table = _table(data)
        n = len(table)
        if self.n_splits > n or self.n_splits < 2:
            raise ValueError(
                f"Incorrect value for n_splits={self.n_splits}. Must be >=2 and less than "
                f"the number of ratings ({n})"
            )
        indices = np.arange(n)
        if self.shuffle:
            get_rng(self.random_state).shuffle(indices)
        start, stop = 0, 0
        for fold_i in range(self.n_splits):
            start = stop
            stop += n // self.n_splits
            if fold_i < n % self.n_splits:
                stop += 1
            train_idx = np.concatenate([indices[:start], indices[stop:]])
            yield _fold(data, table, train_idx, indices[start:stop])

    def get_n_folds(self):
        """The number of folds."""
        return self.n_splits


class RepeatedKFold:
    """K-fold cross-validation repeated ``n_repeats`` times with different shuffles."""

    def __init__(self, n_splits=5, n_repeats=10, random_state=None):
        _check_count("n_splits", n_splits)
        _check_count("n_repeats", n_repeats, minimum=1)
        self.n_repeats = n_repeats
        self.random_state = random_state
        self.n_splits = n_splits

    def split(self, data):
        """Generate ``(trainset, testset)`` for each fold of each repetition."""
        rng = get_rng(self.random_state)
        for _ in range(self.n_repeats):
            cv = KFold(n_splits=self.n_splits, random_state=rng, shuffle=True)
            yield from cv.split(data)

    def get_n_folds(self):
        """``n_repeats * n_splits``."""
        return self.n_repeats * self.n_splits


class ShuffleSplit:
    """Random train/test splits; sizes are fractions (test rounds up) or counts."""

    def __init__(self, n_splits=5, test_size=0.2, train_size=None, random_state=None, shuffle=True):
        _check_count("n_splits", n_splits)
        _check_size("test_size", test_size)
        _check_size("train_size", train_size)
        if n_splits <= 0:
            raise ValueError(f"n_splits = {n_splits} should be strictly greater than 0.")
        if test_size is not None and test_size <= 0:
            raise ValueError(f"test_size={test_size} should be strictly greater than 0")
        if train_size is not None and train_size <= 0:
            raise ValueError(f"train_size={train_size} should be strictly greater than 0")
        self.n_splits = n_splits
        self.test_size = test_size
        self.train_size = train_size
        self.random_state = random_state
        self.shuffle = shuffle

    def validate_train_test_sizes(self, test_size, train_size, n_ratings):
        """Resolve the sizes to counts; returns ``(train_size, test_size)``."""
        if test_size is not None and test_size >= n_ratings:
            raise ValueError(
                f"test_size={test_size} should be less than the number of ratings {n_ratings}"
            )
        if train_size is not None and train_size >= n_ratings:
            raise ValueError(
                f"train_size={train_size} should be less than the number of ratings {n_ratings}"
            )
        if np.asarray(test_size).dtype.kind == "f":
            test_size = ceil(test_size * n_ratings)
        if train_size is None:
            train_size = n_ratings - test_size
        elif np.asarray(train_size).dtype.kind == "f":
            train_size = floor(train_size * n_ratings)
        if test_size is None:
            test_size = n_ratings - train_size
        if train_size + test_size > n_ratings:
            raise ValueError(
                f"The sum of train_size and test_size ({train_size + test_size}) should be "
                f"smaller than the number of ratings {n_ratings}."
            )
        return int(train_size), int(test_size)

    def split(self, data):
        """Generate ``(trainset, testset)`` for each split."""
        table = _table(data)
        n = len(table)
        train_size, test_size = self.validate_train_test_sizes(self.test_size, self.train_size, n)
        rng = get_rng(self.random_state)
        for _ in range(self.n_splits):
            if self.shuffle:
                permutation = rng.permutation(n)
            else:
                permutation = np.arange(n)
            yield _fold(
                data,
                table,
                permutation[:train_size],
                permutation[train_size : train_size + test_size],
            )

    def get_n_folds(self):
        """The number of splits."""
        return self.n_splits


def train_test_split(data, test_size=0.2, train_size=None, random_state=None, shuffle=True):
    """Split a dataset into a trainset and a testset (one ``ShuffleSplit``).

    Parameters
    ----------
    data : Dataset
        The ratings (``Dataset.load_builtin``, ``load_from_file``, ``load_from_df``).
    test_size : float, int or None, default 0.2
        A float in (0, 1): the fraction of the ratings in the testset; an int: their
        number; None: the complement of ``train_size``.
    train_size : float, int or None, default None
        The same for the trainset; None: the complement of ``test_size``.
    random_state : int, numpy.random.RandomState or None, default None
        Seed of the shuffle (an int gives the same split every time; None draws from
        NumPy's global generator, as Surprise does).
    shuffle : bool, default True
        Shuffle the ratings first; False takes the testset from the end, in file order.

    Returns
    -------
    trainset : Trainset
        The training ratings, with inner ids numbered in order of first appearance.
    testset : list of (uid, iid, r_ui)
        Raw ids and true ratings, for ``algo.test(testset)``. Its users and items may be
        absent from the trainset (``predict`` then falls back, as in Surprise).

    Raises
    ------
    ValueError
        If a size is out of range or the two sizes add up to more than the data.
    """
    ss = ShuffleSplit(
        n_splits=1,
        test_size=test_size,
        train_size=train_size,
        random_state=random_state,
        shuffle=shuffle,
    )
    return next(ss.split(data))


class LeaveOneOut:
    """For each user, one rating in the testset and the others in the trainset.

    Users with ``min_n_ratings`` ratings or fewer are left out entirely.
    """

    def __init__(self, n_splits=5, random_state=None, min_n_ratings=0):
        _check_count("n_splits", n_splits, minimum=1)
        _check_count("min_n_ratings", min_n_ratings)
        self.n_splits = n_splits
        self.random_state = random_state
        self.min_n_ratings = min_n_ratings

    def split(self, data):
        """Generate ``(trainset, testset)`` for each split."""
        table = _table(data)
        n_users = len(table.user_ids)
        perm, indptr = _sgd.group_rows(table.users, n_users)
        counts = np.diff(indptr)
        eligible = np.flatnonzero(counts > self.min_n_ratings)
        owner = np.repeat(np.arange(n_users), counts)  # user of each grouped position
        rng = get_rng(self.random_state)
        for _ in range(self.n_splits):
            picks = np.array([rng.randint(0, c) for c in counts[eligible].tolist()], dtype=np.int64)
            test_pos = indptr[eligible] + picks
            keep = np.zeros(len(perm), dtype=bool)
            keep[np.isin(owner, eligible)] = True
            keep[test_pos] = False
            if not keep.any():
                raise ValueError("Could not build any trainset. Maybe min_n_ratings is too high?")
            yield _fold(data, table, perm[keep], perm[test_pos])

    def get_n_folds(self):
        """The number of splits."""
        return self.n_splits


class PredefinedKFold:
    """Folds given as files by ``Dataset.load_from_folds``."""

    def split(self, data):
        """Generate ``(trainset, testset)`` for each ``(train_file, test_file)``."""
        self.n_splits = len(data.folds_files)
        for train_file, test_file in data.folds_files:
            train_table = data._file_table(train_file)
            test_table = data._file_table(test_file)
            yield data._trainset(train_table), test_table.testset()

    def get_n_folds(self):
        """The number of folds (known after ``split`` was called)."""
        return self.n_splits
