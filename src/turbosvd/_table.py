"""Array storage of ratings: the data layer under ``Dataset`` and ``Trainset``.

A ``RatingTable`` holds one row per rating as contiguous arrays: user and item codes
(int32, numbered in order of first appearance, exactly like Surprise's inner ids), float64
ratings, optional timestamps, and the raw id of each code. Surprise's Python objects (the
``raw_ratings`` list, ``ur``/``ir`` dicts, testsets) are built from it only on request.
"""

from __future__ import annotations

import csv
import itertools
import locale
import os

import numpy as np
import pandas as pd

__all__ = ["RatingTable", "table_from_df", "table_from_file", "table_from_list"]


class RatingTable:
    """Ratings as arrays. ``users``/``items`` index ``user_ids``/``item_ids``."""

    __slots__ = ("users", "items", "ratings", "timestamps", "user_ids", "item_ids")

    def __init__(self, users, items, ratings, timestamps, user_ids, item_ids):
        self.users = users
        self.items = items
        self.ratings = ratings
        self.timestamps = timestamps
        self.user_ids = user_ids
        self.item_ids = item_ids

    def __len__(self) -> int:
        return len(self.ratings)

    def raw_list(self, idx=None) -> list:
        """Surprise's ``raw_ratings``: a list of ``(uid, iid, rating, timestamp)``."""
        users, items, ratings, ts = self.users, self.items, self.ratings, self.timestamps
        if idx is not None:
            users, items, ratings = users[idx], items[idx], ratings[idx]
            ts = None if ts is None else ts[idx]
        tss = itertools.repeat(None, len(ratings)) if ts is None else ts.tolist()
        return list(
            zip(
                id_values(self.user_ids, users),
                id_values(self.item_ids, items),
                ratings.tolist(),
                tss,
            )
        )

    def testset(self, idx=None) -> list:
        """A Surprise testset: a list of ``(uid, iid, rating)``."""
        users, items, ratings = self.users, self.items, self.ratings
        if idx is not None:
            users, items, ratings = users[idx], items[idx], ratings[idx]
        return list(
            zip(id_values(self.user_ids, users), id_values(self.item_ids, items), ratings.tolist())
        )


def id_values(ids: np.ndarray, codes: np.ndarray) -> list:
    """Raw ids of ``codes`` as Python objects (numeric ids become Python scalars)."""
    return ids[codes].tolist()


def factorize_ids(values, what: str):
    """Codes in order of first appearance (int32) and the raw id of each code.

    Equality follows Python's hash and ``==``, as a dict would (so ``1`` and ``1.0`` are
    one id and ``"1"`` another). Missing ids (None, NaN) are rejected.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(codes) and codes.min() < 0:
        row = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(f"{what} id is missing (None or NaN) at row {row}")
    if len(uniques) > np.iinfo(np.int32).max:
        raise ValueError(f"too many distinct {what} ids ({len(uniques)}); the limit is 2**31 - 1")
    return codes.astype(np.int32, copy=False), np.asarray(uniques)


def _check_ratings(ratings: np.ndarray, where) -> None:
    bad = ~np.isfinite(ratings)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"rating {ratings[row]!r} at {where(row)} is not a finite number; "
            "ratings must not be NaN or infinite"
        )


def _ids_for_table(values: np.ndarray, what: str):
    codes, uniques = factorize_ids(values, what)
    if uniques.dtype.kind not in "biuf":
        uniques = uniques.astype(object)
    return codes, uniques


def table_from_list(raw: list, *, where=None) -> RatingTable:
    """Build a table from Surprise-style 4-tuples ``(uid, iid, rating, timestamp)``."""
    n = len(raw)
    where = where or (lambda row: f"row {row}")
    if n == 0:
        empty_ids = np.empty(0, dtype=object)
        return RatingTable(
            np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0), None, empty_ids, empty_ids
        )
    for k, t in enumerate(raw):
        if len(t) != 4:
            raise ValueError(
                f"each raw rating must be a 4-tuple (uid, iid, rating, timestamp); "
                f"{where(k)} has {len(t)} values: {t!r}"
            )
    uids, iids, rs, tss = zip(*raw)
    users, user_ids = _ids_for_table(np.fromiter(uids, dtype=object, count=n), "user")
    items, item_ids = _ids_for_table(np.fromiter(iids, dtype=object, count=n), "item")
    try:
        ratings = np.fromiter(rs, dtype=np.float64, count=n)
    except (TypeError, ValueError):
        for k, r in enumerate(rs):
            try:
                float(r)
            except (TypeError, ValueError):
                raise ValueError(f"rating {r!r} at {where(k)} is not a number") from None
        raise
    _check_ratings(ratings, where)
    timestamps = None
    if any(t is not None for t in tss):
        timestamps = np.fromiter(tss, dtype=object, count=n)
    return RatingTable(users, items, ratings, timestamps, user_ids, item_ids)


def table_from_df(df: pd.DataFrame) -> RatingTable:
    """Build a table from a DataFrame whose first three columns are user, item, rating.

    Raw ids keep their pandas element type as Python scalars, as Surprise's
    ``itertuples`` does (an int64 column gives ``int`` ids).
    """
    n = len(df)
    where = lambda row: f"row {row} (index {df.index[row]!r})"  # noqa: E731
    cols = []
    for k, what in enumerate(("user", "item")):
        col = df.iloc[:, k]
        if col.dtype.kind in "biuf" and isinstance(col.dtype, np.dtype):
            values = col.to_numpy()
        else:
            values = col.to_numpy(dtype=object)
        cols.append(_ids_for_table(values, what))
    rcol = df.iloc[:, 2]
    if isinstance(rcol.dtype, np.dtype) and rcol.dtype.kind in "biuf":
        ratings = rcol.to_numpy(dtype=np.float64)
    else:
        ratings = _floats_from_objects(rcol.to_numpy(dtype=object), where)
    if ratings.base is not None or not ratings.flags.writeable:  # a view of the DataFrame
        ratings = _shared_or_copied(rcol, ratings)
    _check_ratings(ratings, where)
    (users, user_ids), (items, item_ids) = cols
    assert len(users) == n
    return RatingTable(users, items, ratings, None, user_ids, item_ids)


def _copy_on_write() -> bool:
    """Whether pandas copies a DataFrame's data before modifying shared data in place."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return getattr(pd.options.mode, "copy_on_write", False) is True


class _PinnedColumn:
    """Exposes a column's buffer while holding the column (pandas' copy-on-write reference)."""

    def __init__(self, column: pd.Series, values: np.ndarray):
        self.column, self.values = column, values
        interface = dict(values.__array_interface__)
        interface["data"] = (interface["data"][0], True)  # read-only
        self.__array_interface__ = interface


def _shared_or_copied(column: pd.Series, values: np.ndarray) -> np.ndarray:
    """A float64 rating column used in place when that is safe, else a private copy.

    With copy-on-write (pandas >= 3, or ``pd.options.mode.copy_on_write = True``), a
    DataFrame holding data that another pandas object references copies it before any
    in-place change. The returned read-only array keeps a reference to the column ``Series``
    (its ``base``), so later changes to the DataFrame never reach the trainset, and the
    80 MB of a 10M-rating column are not duplicated. Without copy-on-write: a copy.
    """
    if values.dtype == np.float64 and values.ndim == 1 and _copy_on_write():
        shared = np.asarray(_PinnedColumn(column, values))
        if shared.flags.c_contiguous or values.strides == (8,):
            return shared
    return np.array(values, dtype=np.float64)


def _floats_from_objects(values: np.ndarray, where) -> np.ndarray:
    """``float()`` of every value, computed once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    converted = np.empty(len(uniques), dtype=np.float64)
    for k, v in enumerate(uniques):
        try:
            converted[k] = float(v)
        except (TypeError, ValueError):
            row = int(np.flatnonzero(codes == k)[0])
            raise ValueError(f"rating {v!r} at {where(row)} is not a number") from None
    return converted[codes]


class _Fallback(Exception):
    """The fast reader cannot reproduce ``Reader.parse_line`` on this file."""


def table_from_file(path, reader) -> RatingTable:
    """Read a ratings file with exactly ``Reader.parse_line``'s semantics.

    A vectorised pandas reader handles the common case (one-character or whitespace
    separator, rectangular file); anything it cannot reproduce falls back to parsing
    line by line in Python.
    """
    path = os.path.expanduser(path)
    sep = reader.sep
    if sep is None or (isinstance(sep, str) and len(sep) == 1 and sep not in "\r\n\"'\\ "):
        try:
            return _fast_read(path, reader)
        except _Fallback:
            pass
    return table_from_list(read_lines(path, reader), where=_line_where(path, reader))


def _line_where(path, reader):
    return lambda row: f"line {row + 1 + reader.skip_lines} of {path}"


def read_lines(path, reader) -> list:
    """Parse a file line by line with ``reader.parse_line``; errors name the line."""
    path = os.path.expanduser(path)
    out = []
    with open(path) as f:
        for lineno, line in enumerate(itertools.islice(f, reader.skip_lines, None)):
            try:
                out.append(reader.parse_line(line))
            except ValueError as e:
                where = _line_where(path, reader)(lineno)
                raise ValueError(f"{e} ({where}: {line!r})") from None
    return out


def _fast_read(path, reader) -> RatingTable:
    n_needed = max(reader.indexes) + 1
    try:
        df = pd.read_csv(
            path,
            sep=r"\s+" if reader.sep is None else reader.sep,
            header=None,
            skiprows=reader.skip_lines,
            dtype=object,
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
            encoding=locale.getpreferredencoding(False),
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise _Fallback from None
    if df.shape[1] < n_needed:
        raise _Fallback
    names = ("user", "item", "rating", "timestamp")
    cols = {}
    for name, k in zip(names, reader.indexes):
        col = df.iloc[:, k]
        if col.isna().any():  # a short or blank line: let the line parser report it
            raise _Fallback
        values = col.to_numpy(dtype=object)
        if reader.sep is not None:
            values = col.str.strip().to_numpy(dtype=object)
        cols[name] = values
    where = _line_where(path, reader)
    users, user_ids = _ids_for_table(cols["user"], "user")
    items, item_ids = _ids_for_table(cols["item"], "item")
    try:
        ratings = _floats_from_objects(cols["rating"], where)
    except ValueError:  # the line parser gives Surprise's exact message
        raise _Fallback from None
    _check_ratings(ratings, where)
    return RatingTable(users, items, ratings, cols.get("timestamp"), user_ids, item_ids)
