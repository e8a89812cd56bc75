"""Fold-in: users who arrived after training get factors without retraining the model.

``partial_fit_users(ratings)`` keeps the item side (``qi``, ``bi``, the global mean) fixed
and gives each user of ``ratings`` the bias and factors of a regularised least-squares
solve on that user's ratings (``csrc/turbosvd/foldin.hpp``, in parallel over users, with
results independent of the number of threads). The users join the model: they are
predicted, tested, recommended to (their rated items count as seen), saved and loaded
like the users of the training set.

Regularisation consistent with training
---------------------------------------
SGD minimises, for one user with ``n`` ratings and the items held fixed,
``sum_j e_j^2 / 2 + reg * n * |p|^2 / 2`` (every rating's update shrinks the vector by
``lr * reg``), starting from ~0 and stopping after ``n_epochs`` passes of step ``lr``. On
a quadratic, gradient descent stopped at "time" ``lr * n_epochs`` shrinks the solution
like a ridge penalty of about ``1 / (lr * n_epochs)`` (the filter ``1 - exp(-s t)`` against
``s / (s + 1/t)``). So the solve uses

    lam_p = 1 / (lr_pu * n_epochs) + reg_pu * n,     lam_b = 1 / (lr_bu * n_epochs) + reg_bu * n

for ``sum_j e_j^2 + lam_p |p|^2 + lam_b b^2``. Measured on synthetic 1M ratings with every
10th user held out and folded in from 80 % of its ratings (``bench/bench_foldin.py``), this
lands on the other 20 % within a few thousandths of the best multiple of the early-stopping
term, and below the RMSE of retraining with those ratings included. A model trained with
AdaGrad rates (``learning_rate_schedule='adagrad'``) uses its base rates ``lr`` in the same
formula; measured the same way (``lr_all=0.1``, early stopping at 3 epochs), fold-in again
lands below the retrain's RMSE.
"""

from __future__ import annotations

import itertools
import numbers
import threading
import warnings

import numpy as np
import pandas as pd

from . import _foldin, _objects
from ._growth import append_rows

__all__ = [
    "FoldInMixin",
    "foldin_reg",
    "group_users",
    "inner_items",
    "read_user_ratings",
    "rotation_pays",
]

# Stands for an infinite penalty (a parameter training never moves): the solve gives ~0.
_HUGE = 1e300
# Up to this many ratings, a DataFrame's id columns become lists (dict lookups, no pandas
# hashing pass): its fixed cost per call dominates for one user's ratings.
_SMALL = 2048


def foldin_reg(n_epochs, lr_p, reg_p, lr_b, reg_b) -> tuple[float, float, float, float] | None:
    """``(lam_p0, lam_p1, lam_b0, lam_b1)`` consistent with ``n_epochs`` of SGD (module notes).

    None when training moves neither the user factors nor the user bias.
    """
    for name, value in (("reg_pu", reg_p), ("reg_bu", reg_b)):
        if value < 0:
            raise ValueError(f"{name}={value!r} is negative: fold-in needs a regularisation >= 0")

    def early_stop(lr):
        steps = float(lr) * int(n_epochs)
        return min(1.0 / steps, _HUGE) if steps > 0 else _HUGE

    lam_p0, lam_b0 = early_stop(lr_p), early_stop(lr_b)
    if lam_p0 == _HUGE and lam_b0 == _HUGE:
        return None
    return lam_p0, float(reg_p), lam_b0, float(reg_b)


def rotation_pays(n_ratings: int, n_items: int, n_factors: int) -> bool:
    """Whether a batch of ``n_ratings`` is worth solving in its rotation.

    The compiled solve can run its conjugate gradients on the item factors rotated into the
    eigenvectors of their second moment weighted by the batch's ratings, where the users'
    normal equations are close to diagonal (apart from the bias) and a cheap per-user
    preconditioner works (csrc/turbosvd/foldin.hpp). The rotation costs a ``k x k``
    eigendecomposition and ``k^2`` per item of the model (the rotated copy of the item
    factors), computed once per batch before the parallel solve (results do not depend on
    the number of threads); it saves ~40 % of the conjugate-gradient steps, each
    ``O(k)`` per rating (measured at k = 100 in bench/bench_foldin.py: 897k ratings of 5,436
    users: 10.2M -> 5.8M row products). So: at least ``5 k^2`` ratings and ``k / 2`` per
    item of the model.
    """
    k = int(n_factors)
    return k >= 2 and n_ratings >= 5 * k * k and 2 * n_ratings >= k * n_items


def _at(column, k: int):
    """Entry ``k`` of a list or Series (by position), as ``tolist`` would give it."""
    x = column.iloc[k] if isinstance(column, pd.Series) else column[k]
    return x.item() if isinstance(x, np.generic) else x


def read_user_ratings(ratings, rating_scale) -> tuple:
    """``(users, items, float64 ratings)`` of a DataFrame or an iterable of triples.

    A DataFrame's first three columns are user, item and rating (as in
    ``Dataset.load_from_df``); its user and item columns are returned as pandas Series
    (no per-row Python objects) or, up to ``_SMALL`` ratings, as lists; a list of triples
    gives lists. Raises ``ValueError`` for
    no ratings, a missing user id (checked by the grouping, :func:`group_users`), a rating
    that is not a finite number, or one outside ``rating_scale``. Checks are vectorised: a
    million ratings take a fraction of a second.
    """
    if isinstance(ratings, pd.DataFrame):
        if ratings.shape[1] < 3:
            raise ValueError(
                f"ratings must have user, item and rating columns; the DataFrame has "
                f"{ratings.shape[1]} column(s)"
            )
        # items() is the cheapest public way to the columns (iloc costs ~3x more).
        users, items, column = itertools.islice(ratings.items(), 3)
        users, items, column = users[1], items[1], column[1]
        if len(column) <= _SMALL:  # dict lookups beat pandas' per-call cost here
            users, items = users.tolist(), items.tolist()
        if len(column) and column.dtype.kind in "iuf":
            na = {} if isinstance(column.dtype, np.dtype) else {"na_value": np.nan}
            out = column.to_numpy(dtype=np.float64, **na)
            values = column.tolist() if len(column) <= _SMALL else column  # for messages
        else:
            values = column.tolist()
            out = None
    elif isinstance(ratings, (str, bytes, dict)) or not hasattr(ratings, "__iter__"):
        raise TypeError(
            "ratings must be a DataFrame (user, item, rating columns) or an iterable of "
            f"(raw_uid, raw_iid, rating) triples, got {type(ratings).__name__}"
        )
    else:
        triples = ratings if isinstance(ratings, list) else list(ratings)
        # The usual case, checked in C loops: all tuples of three.
        if triples and not (set(map(type, triples)) == {tuple} and set(map(len, triples)) == {3}):
            for k, t in enumerate(triples):
                if isinstance(t, (str, bytes)) or not hasattr(t, "__len__") or len(t) != 3:
                    raise ValueError(
                        f"ratings[{k}] = {t!r} is not a (raw_uid, raw_iid, rating) triple"
                    )
        users, items, values = (
            (list(c) for c in zip(*triples, strict=True)) if triples else ([],) * 3
        )
        out = None
    if not len(users):
        raise ValueError("ratings is empty: fold-in needs at least one rating")
    if out is None:
        kinds = set(map(type, values))
        for kind in kinds:
            if issubclass(kind, (bool, np.bool_)) or not issubclass(
                kind, (numbers.Real, np.number)
            ):
                k = next(j for j, r in enumerate(values) if type(r) is kind)
                raise ValueError(
                    f"rating {k} of user {_at(users, k)!r} on item {_at(items, k)!r} is not "
                    f"a number: {values[k]!r}"
                )
        out = np.asarray(values, dtype=np.float64)
    lo, hi = rating_scale
    bad = ~np.isfinite(out)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"rating {k} of user {_at(users, k)!r} on item {_at(items, k)!r} is not finite: "
            f"{_at(values, k)!r}"
        )
    bad = (out < lo) | (out > hi)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"rating {k} of user {_at(users, k)!r} on item {_at(items, k)!r} is "
            f"{_at(values, k)!r}, outside the model's rating scale {tuple(rating_scale)}"
        )
    return users, items, out


def group_users(users) -> tuple[list, np.ndarray | None, np.ndarray | None]:
    """Distinct users in order of first appearance, and where each one's ratings are.

    Returns ``(uniques, codes, indptr)`` with one of the last two set: ``indptr`` (int64)
    when the ratings come grouped by user in that order (user ``k``'s are rows
    ``indptr[k]:indptr[k + 1]``), else ``codes``, each rating's index among ``uniques``
    (int64). Hash equality, as a dict's keys (``pandas.factorize``); a missing id (None,
    NaN) raises ``ValueError``. One user (a single fold-in call) skips the hashing pass; a
    Series hashes only the first id of each run of equal ids (grouped ratings: one per
    user).
    """
    codes = indptr = None
    if isinstance(users, list):
        first = users[0]
        if type(first) in (str, int) and users.count(first) == len(users):
            return [first], None, np.array([0, len(users)], dtype=np.int64)
        ids = np.empty(len(users), dtype=object)
        ids[:] = users
        codes, uniques = pd.factorize(ids)
    else:  # a pandas Series: only the first id of every run of equal ids is hashed
        heads = _run_heads(users.to_numpy())
        if heads is None:
            codes, uniques = pd.factorize(users)
        else:
            head_codes, uniques = pd.factorize(users.iloc[heads])  # the column's dtype
            if len(uniques) == len(heads) and head_codes.min(initial=0) >= 0:
                indptr = np.append(heads, len(users)).astype(np.int64, copy=False)
            else:
                codes = np.repeat(head_codes, np.diff(heads, append=len(users)))
    if codes is not None and len(codes) and codes.min() < 0:
        k = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(f"rating {k} has no user id ({_at(users, k)!r})")
    codes = codes.astype(np.int64, copy=False) if codes is not None else None
    return uniques.tolist(), codes, indptr


def _run_heads(ids: np.ndarray) -> np.ndarray | None:
    """Start of every run of equal consecutive ids (equal as a dict's keys), or None when
    the ids do not compare to booleans (e.g. pandas' NA)."""
    try:
        if ids.dtype == object:  # one C loop of ``==``, no temporary boolean objects
            return _objects.run_starts(ids)
        differ = ids[1:] != ids[:-1]
    except (TypeError, ValueError):
        return None
    if not isinstance(differ, np.ndarray) or differ.dtype != np.bool_:
        return None
    return np.flatnonzero(np.concatenate(([True], differ)))


def inner_items(trainset, items) -> tuple[np.ndarray, int]:
    """Inner ids (int32, -1 where unknown) of the items, and how many distinct are unknown.

    An integer Series is looked up in a table indexed by id when the model's raw item ids
    are integers in a compact range (:func:`_int_item_table`); another Series is factorised
    first, so the id map is asked once per distinct item.
    """
    if isinstance(items, list):
        inner = trainset.inner_iids(items)
        unknown = inner < 0
        n_unknown = (
            len({i for i, bad in zip(items, unknown.tolist(), strict=True) if bad})
            if unknown.any()
            else 0
        )
        return inner, n_unknown
    column = _int64_or_none(items)
    if column is not None:
        table = _int_item_table(trainset.raw_item_ids, len(column))
        if table is not None:
            lo, lut = table
            # Ids outside [lo, hi] land on the table's -1 at either end (an int64 overflow
            # of the difference too: it wraps to beyond the table).
            inner = lut.take(column - (lo - 1), mode="clip")
            unknown = inner < 0
            return inner, len(np.unique(column[unknown])) if unknown.any() else 0
    codes, uniques = pd.factorize(items)
    lut = np.append(trainset.inner_iids(uniques.tolist()), np.int32(-1))  # code -1: missing
    return lut[codes], int((lut[:-1] < 0).sum()) + int(codes.min(initial=0) < 0)


def _int64_or_none(items: pd.Series) -> np.ndarray | None:
    """The Series as int64 if it is a NumPy integer column whose values fit, else None."""
    kind = items.dtype.kind if isinstance(items.dtype, np.dtype) else ""
    if kind not in "iu" or (kind == "u" and items.dtype.itemsize == 8 and items.max() >= 2**63):
        return None
    return items.to_numpy(dtype=np.int64)


def _int_item_table(raw_ids: np.ndarray, n_lookups: int) -> tuple[int, np.ndarray] | None:
    """``(lo, table)`` with ``table[raw - lo + 1]`` the inner id of the integer raw id
    ``raw`` (-1 where none, and at both ends), or None where a table does not pay or would
    differ from the id map's lookups.

    The map's keys must all be integers (``int`` or NumPy's, not ``bool``): then an integer
    finds exactly the key equal to it, as in the map. The table takes O(range) to build,
    so the range must be within a small multiple of the number of items, and the items at
    most as many as the ids to look up.
    """
    n = len(raw_ids)
    if not 0 < n <= n_lookups:
        return None
    if raw_ids.dtype == object:
        kinds = set(map(type, raw_ids.tolist()))
        if not all(issubclass(t, (int, np.integer)) and not issubclass(t, bool) for t in kinds):
            return None
        try:
            raw_ids = raw_ids.astype(np.int64)
        except OverflowError:  # a Python int past 64 bits
            return None
    elif raw_ids.dtype.kind not in "iu" or raw_ids.max() >= 2**62:
        return None
    raw_ids = raw_ids.astype(np.int64, copy=False)
    lo, hi = int(raw_ids.min()), int(raw_ids.max())
    if lo < -(2**62) or hi >= 2**62 or hi - lo >= 4 * n + 65536:
        return None
    table = np.full(hi - lo + 3, -1, dtype=np.int32)
    table[raw_ids - (lo - 1)] = np.arange(n, dtype=np.int32)
    return lo, table


class FoldInMixin:
    """``partial_fit_users`` for models with a user bias (and user factors).

    The model provides ``trainset``, ``bu``, ``bi`` and ``_n_threads()``, optionally
    ``biased`` (True when absent), ``pu`` and ``qi`` (without them, only the bias is folded
    in) and ``_foldin_offsets`` (a fixed part of each rating's estimate, e.g. SVD++'s
    implicit-feedback term), and
    ``_foldin_reg()``: ``(lam_p0, lam_p1, lam_b0, lam_b1)`` so that a user with ``n``
    ratings gets ``lam_p0 + lam_p1 * n`` on its factors and ``lam_b0 + lam_b1 * n`` on its
    bias, or None when training would leave users at their initial values (no epochs).
    """

    def _foldin_reg(self) -> tuple[float, float, float, float] | None:
        raise NotImplementedError

    def _foldin_offsets(self, indptr, items) -> np.ndarray | None:
        """Per rating, a part of the estimate the fold-in does not fit (None: nothing)."""
        return None

    def partial_fit_users(self, ratings):
        """Fold users in: fit their biases and factors with the items fixed; returns ``self``.

        Each user of ``ratings`` gets the bias and factors of a regularised least-squares
        solve on its ratings (conjugate gradients to a relative residual of 1e-6 for float32
        models and 1e-13 for float64, or an exact dual solve for users with few ratings),
        with the item factors, item biases and the global mean held fixed, and a
        regularisation derived from the model's training (see :mod:`turbosvd.foldin`). New
        users join the model: ``predict``, ``test``, ``recommend`` (their rated items are
        excluded), ``similar_users``, ``save`` and ``dump`` treat them like the users of the
        training set. A known user's bias and
        factors are recomputed from the given ratings only, and these replace its ratings
        in ``trainset``. Users are solved in parallel (``n_jobs``); the result does not
        depend on the number of threads.

        Parameters
        ----------
        ratings : pandas.DataFrame or iterable of (raw_uid, raw_iid, rating)
            A DataFrame's first three columns are user, item and rating, as in
            ``Dataset.load_from_df``. Ids are raw ids, as in the training data.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``ratings`` is empty, a rating is not a number or lies outside the model's
            rating scale, or a user has no rating on an item the model knows (then nothing
            is changed).

        Warns
        -----
        UserWarning
            Once, with the count, when ratings on items unknown to the model are skipped.

        Notes
        -----
        ``self.trainset`` is copied on the first fold-in, so the trainset given to ``fit``
        is never modified; later fold-ins update the model's own copy in place. Its
        ``global_mean`` stays the training mean. ``pu`` and ``bu`` gain one row per new user
        (they may be reallocated); known users' rows are overwritten. A large batch (see
        ``turbosvd.foldin.rotation_pays``) starts one short-lived worker thread, which
        computes the batch's rotation in compiled code while the calling thread groups the
        ratings by user; its errors are raised in the calling thread.

        Examples
        --------
        >>> algo = SVD(random_state=0).fit(trainset)  # doctest: +SKIP
        >>> algo.partial_fit_users([("new", "50", 5), ("new", "172", 4)])  # doctest: +SKIP
        >>> algo.recommend("new", n=10)  # doctest: +SKIP
        """
        self._check_fitted("partial_fit_users")
        trainset = self.trainset
        users, items, values = read_user_ratings(ratings, trainset.rating_scale)
        inner, n_unknown_items = inner_items(trainset, items)
        keep = inner >= 0 if n_unknown_items else None
        # A large batch's rotation (compiled, GIL released) is computed from its items in a
        # worker thread while this one groups the ratings by user (Python objects).
        task = self._foldin_rotation_task(inner[keep] if n_unknown_items else inner)
        pending = _Worker(task) if task is not None else None
        try:
            raw_users, codes, indptr = group_users(users)
        finally:
            if pending is not None:
                pending.join()
        rotation = pending.result() if pending is not None else None
        if n_unknown_items:
            warnings.warn(
                f"partial_fit_users: skipped {len(keep) - int(keep.sum())} rating(s) of "
                f"{n_unknown_items} item(s) unknown to the model",
                UserWarning,
                stacklevel=2,
            )
            if codes is None:
                codes = np.repeat(np.arange(len(raw_users)), np.diff(indptr))
            codes, inner, values = codes[keep], inner[keep], values[keep]
        if codes is not None:  # not grouped by user, or some ratings skipped
            indptr = _group_by_codes(codes, raw_users)
            if len(codes) > 1 and (codes[1:] < codes[:-1]).any():
                order = np.argsort(codes, kind="stable")
                inner, values = inner[order], values[order]
        items_sorted = np.ascontiguousarray(inner, dtype=np.int32)
        ratings_sorted = np.ascontiguousarray(values, dtype=np.float64)
        # Recording the users while the solve runs (in a worker thread) was measured: it
        # slows the solve by more than it saves (bench_foldin's batch: 115 ms against 108).
        pu, bu = self._foldin_solve(indptr, items_sorted, ratings_sorted, rotation)
        self._foldin_commit(raw_users, indptr, items_sorted, ratings_sorted, pu, bu)
        return self

    def _foldin_rotation_task(self, items):
        """A function computing the batch's rotation for the compiled solve, or None when
        the batch is too small for it to pay (:func:`rotation_pays`) or there are no factors.
        """
        qi = getattr(self, "qi", None)
        if qi is None or not rotation_pays(len(items), *np.shape(qi)):
            return None
        qi = np.ascontiguousarray(qi)
        if qi.dtype not in (np.float32, np.float64):
            return None
        # The model's threads: the rotated table costs up to ~2 k multiply-adds per rating
        # (rotation_pays), more than grouping the ratings when the model has many items.
        n_threads = self._n_threads()
        items = np.ascontiguousarray(items, dtype=np.int32)
        return lambda: _foldin.batch_rotation(items, qi, n_threads)

    def _foldin_solve(
        self, indptr, items, ratings, rotation=None
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """New factor rows (None without factors) and biases of the grouped users
        (``rotation``: the batch's, from ``_foldin_rotation_task``, or None)."""
        qi = getattr(self, "qi", None)
        bi = np.ascontiguousarray(self.bi)
        dtype = bi.dtype if bi.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        bi = bi.astype(dtype, copy=False)
        qi = np.zeros((len(bi), 0), dtype=dtype) if qi is None else np.ascontiguousarray(qi)
        biased = bool(getattr(self, "biased", True))
        reg = self._foldin_reg()
        n_users = len(indptr) - 1
        offsets = self._foldin_offsets(indptr, items)
        if offsets is not None:  # a fixed part of each estimate (SVD++'s implicit term)
            ratings = ratings - offsets
        if reg is None:
            pu = np.zeros((n_users, qi.shape[1]), dtype=dtype)
            bu = np.zeros(n_users, dtype=dtype)
        else:
            pu, bu, bad = _foldin.foldin_users(
                indptr,
                items,
                ratings,
                qi,
                bi,
                float(self.trainset.global_mean),
                biased,
                tuple(float(x) for x in reg),
                self._n_threads(),
                rotation,
            )
            if bad.any():  # cannot happen with a positive regularisation
                raise ValueError("fold-in failed: a user's system is singular (regularisation 0)")
        return (pu if getattr(self, "qi", None) is not None else None), bu

    def _foldin_commit(self, raw_users, indptr, items, ratings, pu, bu) -> None:
        """Record the users in the model's own trainset and in its user arrays."""
        trainset = self.trainset
        if self.__dict__.get("_foldin_trainset") is not trainset:
            trainset = trainset.copy(for_set_user_ratings=True)  # O(n_users), not O(n_ratings)
        n_before = trainset.n_users
        inner = trainset.set_user_ratings(raw_users, indptr, items, ratings)
        self.trainset = trainset
        self._foldin_trainset = trainset
        new = inner >= n_before
        known = ~new
        self.bu = _set_rows(self.bu, inner, known, new, bu)
        if pu is not None:
            self.pu = _set_rows(self.pu, inner, known, new, pu)


def _group_by_codes(codes: np.ndarray, raw_users: list) -> np.ndarray:
    """``indptr`` of the users once their ratings are sorted by ``codes``; a user left with
    no rating raises ``ValueError``."""
    counts = np.bincount(codes, minlength=len(raw_users))
    if (counts == 0).any():
        empty = [raw_users[k] for k in np.flatnonzero(counts == 0)[:5].tolist()]
        raise ValueError(
            f"user(s) {', '.join(map(repr, empty))} have no rating on an item known to the "
            "model: nothing to fold in from"
        )
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr


class _Worker:
    """``fn()`` in a worker thread: ``join()`` waits for it, ``result()`` then returns its
    value or raises its exception in the caller's thread."""

    def __init__(self, fn):
        self._out: dict = {}
        self._thread = threading.Thread(
            target=self._run, args=(fn,), name="turbosvd-foldin", daemon=True
        )
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._out["error"] = exc

    def join(self) -> None:
        self._thread.join()

    def result(self):
        self.join()
        if "error" in self._out:
            raise self._out.pop("error")
        return self._out["value"]


def _set_rows(a: np.ndarray, inner, known, new, values) -> np.ndarray:
    """``a`` with rows ``inner[known]`` overwritten and the new users' rows appended."""
    a = np.asarray(a)
    if known.any():
        if not a.flags.writeable:
            a = a.copy()
        a[inner[known]] = values[known]
    if new.any():
        # New inner ids are consecutive from len(a), in the order of `inner`.
        a = append_rows(a, values if new.all() else values[new])
    return a
