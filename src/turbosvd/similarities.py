"""Similarity measures between all pairs of users (or items), as ``surprise.similarities``.

Each function takes Surprise's arguments: ``n_x`` (the number of users, or items) and
``yr``, a dict mapping every y (item, or user) to its list of ``(x, rating)`` (a trainset's
``ir`` for user-user similarities, ``ur`` for item-item ones). Only common ratings count.
The result is the dense ``n_x x n_x`` float64 matrix with Surprise's values, bit for bit:
the sums are accumulated in float64 in Surprise's order (``yr``'s order), by the
compiled kernel of ``turbosvd.neighbors``. Two differences, both where Surprise raises
``ZeroDivisionError``: a cosine or pearson_baseline whose denominator is zero, and a pair
without common ratings when ``min_support`` is 0, have a similarity of 0.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._threads import effective_n_threads
from .neighbors.engine import Groups, SimSpec, full_matrix

__all__ = ["cosine", "msd", "pearson", "pearson_baseline"]


def _check_count(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} is out of range: must be >= {minimum}")
    return int(value)


def _groups_from_yr(n_x, yr) -> tuple[Groups, list]:
    """Surprise's ``yr`` dict as ``Groups``; also the keys in ``yr``'s order."""
    n_x = _check_count("n_x", n_x, minimum=0)
    keys = list(yr.keys())
    lists = [yr[key] for key in keys]
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    indptr = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
    pairs = [pair for ratings in lists for pair in ratings]
    if pairs:
        xs_obj, rs_obj = zip(*pairs, strict=True)
        xs = np.asarray(xs_obj)
        ratings = np.asarray(rs_obj, dtype=np.float64)
    else:
        xs = np.zeros(0, dtype=np.int64)
        ratings = np.zeros(0)
    if xs.size and not np.issubdtype(xs.dtype, np.integer):
        raise TypeError("the x ids in yr must be integers (inner ids)")
    if xs.size and (xs.min() < 0 or xs.max() >= n_x):
        bad = xs[(xs < 0) | (xs >= n_x)][0]
        raise ValueError(f"yr holds x={bad}, out of range for n_x={n_x}")
    return Groups.from_csr(n_x, indptr, xs, ratings), keys


def _compute(name, n_x, yr, min_support, **extra) -> np.ndarray:
    min_support = _check_count("min_support", min_support, minimum=0)
    groups, keys = _groups_from_yr(n_x, yr)
    if name == "pearson_baseline":
        x_bias = np.ascontiguousarray(extra["x_biases"], dtype=np.float64)
        y_all = np.asarray(extra["y_biases"], dtype=np.float64)
        if x_bias.shape != (groups.n_x,):
            raise ValueError(f"x_biases has shape {x_bias.shape}, expected ({groups.n_x},)")
        try:
            y_bias = np.ascontiguousarray(y_all[np.asarray(keys, dtype=np.int64)])
        except (IndexError, ValueError, TypeError):
            raise ValueError("y_biases must have an entry for every key of yr") from None
        extra = {
            "shrinkage": float(extra["shrinkage"]),
            "global_mean": float(extra["global_mean"]),
            "x_bias": x_bias,
            "y_bias": y_bias,
        }
        if not extra["shrinkage"] >= 0:
            raise ValueError(f"shrinkage={extra['shrinkage']!r} is out of range: must be >= 0")
    spec = SimSpec(name, min_support, **extra)
    return full_matrix(groups, spec, effective_n_threads(None))


def cosine(n_x, yr, min_support):
    """Cosine similarity between all pairs of users (or items), on common ratings.

    ``sim(u, v) = sum r_ui r_vi / sqrt(sum r_ui^2 * sum r_vi^2)``, over the items both
    rated; 0 for pairs with fewer than ``min_support`` common ratings; 1 on the diagonal.

    Parameters
    ----------
    n_x : int
        Number of users (or items).
    yr : dict
        ``{y: [(x, rating), ...]}`` (a trainset's ``ir`` or ``ur``).
    min_support : int
        Minimum number of common ratings.

    Returns
    -------
    numpy.ndarray of shape (n_x, n_x)
    """
    return _compute("cosine", n_x, yr, min_support)


def msd(n_x, yr, min_support):
    """Mean squared difference similarity: ``1 / (mean of (r_ui - r_vi)^2 + 1)``.

    Parameters and result as in :func:`cosine`.
    """
    return _compute("msd", n_x, yr, min_support)


def pearson(n_x, yr, min_support):
    """Pearson correlation on common ratings (0 when undefined or without common ratings).

    Parameters and result as in :func:`cosine`.
    """
    return _compute("pearson", n_x, yr, min_support)


def pearson_baseline(n_x, yr, min_support, global_mean, x_biases, y_biases, shrinkage=100):
    """Shrunk Pearson correlation of the baseline residuals ``r_xy - b_xy``.

    ``b_xy = global_mean + y_biases[y] + x_biases[x]``; the correlation is multiplied by
    ``(n - 1) / (n - 1 + shrinkage)`` for ``n`` common ratings, and the minimum support is
    at least 2.

    Parameters
    ----------
    n_x, yr, min_support
        As in :func:`cosine`.
    global_mean : float
    x_biases : array of shape (n_x,)
    y_biases : array indexed by the keys of ``yr``
    shrinkage : float, default 100

    Returns
    -------
    numpy.ndarray of shape (n_x, n_x)
    """
    return _compute(
        "pearson_baseline",
        n_x,
        yr,
        min_support,
        global_mean=global_mean,
        x_biases=x_biases,
        y_biases=y_biases,
        shrinkage=shrinkage,
    )
