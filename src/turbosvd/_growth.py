"""Arrays that grow by appending rows in amortised O(rows appended).

``append_rows(a, new)`` returns ``a`` with ``new`` stacked below it. The result is a view
of the first rows of a larger buffer; the next append writes into the spare rows instead
of copying everything again. The buffer remembers how many of its rows the longest view
uses, and only the array that ends there may append in place: an older, shorter view (or
a copy of a model that shares the buffer) appending gets a fresh buffer, so no array ever
sees its rows change behind its back.
"""

from __future__ import annotations

import weakref

import numpy as np

__all__ = ["append_rows"]

# id(buffer) -> (weak reference to the buffer, rows in use by the longest view handed out);
# arrays are not hashable, and an entry leaves with its buffer.
_USED: dict[int, tuple[weakref.ref, int]] = {}
_GROWTH = 1.25


def _extends(a: np.ndarray, n_new: int) -> np.ndarray | None:
    """The buffer ``a`` may append into in place, or None."""
    base = a.base
    entry = _USED.get(id(base))
    if not isinstance(base, np.ndarray) or entry is None or entry[0]() is not base:
        return None
    if entry[1] != len(a):
        return None
    if (
        base.dtype != a.dtype
        or base.shape[1:] != a.shape[1:]
        or base.shape[0] < len(a) + n_new
        or not a.flags.writeable
        or a.__array_interface__["data"][0] != base.__array_interface__["data"][0]
    ):
        return None
    return base


def append_rows(a: np.ndarray, new) -> np.ndarray:
    """``np.concatenate([a, new])``, amortised: O(len(new)) when ``a`` came from here."""
    new = np.asarray(new, dtype=a.dtype)
    n, m = len(a), len(new)
    buf = _extends(a, m)
    if buf is None:
        capacity = max(n + m, int(n * _GROWTH) + 16)
        buf = np.empty((capacity, *a.shape[1:]), dtype=a.dtype)
        buf[:n] = a
    buf[n : n + m] = new
    key = id(buf)
    ref = _USED[key][0] if key in _USED and _USED[key][0]() is buf else None
    if ref is None:
        ref = weakref.ref(buf, lambda _, key=key: _USED.pop(key, None))
    _USED[key] = (ref, n + m)
    return buf[: n + m]
