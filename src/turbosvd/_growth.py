"""Arrays that grow by appending rows in amortised O(rows appended).

``append_rows(a, new)`` returns ``a`` with ``new`` stacked below it. The result is a view
of the first rows of a larger buffer; the next append writes into the spare rows instead
of copying everything again. Only the very array object last returned for a buffer (the
one that ends where the buffer's used rows end) may append in place: an older, shorter
view, any other view of the buffer, or a copy of a model that shares it gets a fresh
buffer, so no array ever sees its rows change behind its back.
"""

from __future__ import annotations

import weakref

import numpy as np

__all__ = ["append_rows"]

# id(view) -> weak reference to the view last returned for its buffer (views are not
# hashable; an entry leaves with its view, or when that view is extended).
_TAIL: dict[int, weakref.ref] = {}
_GROWTH = 1.25


def _forget(key: int, ref: weakref.ref) -> None:
    if _TAIL.get(key) is ref:
        del _TAIL[key]


def _extends(a: np.ndarray, n_new: int) -> np.ndarray | None:
    """The buffer ``a`` may append into in place, or None."""
    ref = _TAIL.get(id(a))
    if ref is None or ref() is not a:
        return None
    base = a.base
    if base.shape[0] < len(a) + n_new or not a.flags.writeable:
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
    else:
        _forget(id(a), _TAIL[id(a)])  # the shorter view may no longer append in place
    buf[n : n + m] = new
    out = buf[: n + m]
    key = id(out)
    _TAIL[key] = weakref.ref(out, lambda ref, key=key: _forget(key, ref))
    return out
