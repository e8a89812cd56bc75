"""Synthetic rating data with a planted low-rank structure, for tests and benchmarks.

``make_ratings`` draws a MovieLens-like data set of any size: biased low-rank ratings
plus noise, a power-law item popularity, skewed user activity, distinct (user, item)
pairs, rounded and clipped to a rating scale. It is generated in chunks with int32 ids and
float32 ratings, so 100 million ratings (the Netflix Prize shape) fit in a few GB, and
it uses its own generator: numpy's global random state is never touched.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ._validation import check_int, check_real
from .trainset import Trainset

__all__ = ["make_ratings"]

# Ratings generated per chunk: bounds the temporaries (a few hundred MB at most).
_CHUNK = 1 << 21
# Rounds of popularity-weighted draws before falling back to uniform draws; a user whose
# quota is still not met after the uniform rounds takes the rest from its unrated items.
_WEIGHTED_ROUNDS = 6
_UNIFORM_ROUNDS = 6


def make_ratings(
    n_users: int,
    n_items: int,
    n_ratings: int,
    *,
    n_factors: int = 10,
    noise: float = 0.6,
    popularity: float = 1.0,
    user_activity: float = 1.0,
    rating_scale: tuple[float, float] = (1, 5),
    rating_step: float | None = None,
    random_state: int | np.random.Generator | None = 0,
    as_trainset: bool = False,
) -> pd.DataFrame | Trainset:
    """Draw a synthetic explicit-feedback data set from a planted biased low-rank model.

    Every rating is ``mu + b_u + b_i + <p_u, q_i> + noise * e`` with ``e ~ N(0, 1)``,
    rounded to a multiple of ``rating_step`` above the scale's low end and clipped to
    ``rating_scale``. The mean, bias and factor scales follow MovieLens (mean about 63 %
    of the way up the scale, biases and factor term of about 0.1 of the scale's width
    each). Users and items are integers ``0 .. n - 1``.

    Parameters
    ----------
    n_users, n_items : int
        Sizes of the id spaces. Every user gets at least one rating; rare items may get
        none when ``n_ratings`` is small.
    n_ratings : int
        Number of distinct (user, item) pairs, between ``n_users`` and
        ``n_users * n_items``.
    n_factors : int, default 10
        Rank of the planted factor term.
    noise : float, default 0.6
        Standard deviation of the Gaussian noise, in rating units (before rounding).
    popularity : float, default 1.0
        Power-law exponent of item popularity: the item of popularity rank ``k`` (from 1)
        is drawn with weight ``k ** -popularity``. 0 gives uniform popularity. Ranks are
        assigned to item ids at random.
    user_activity : float, default 1.0
        Standard deviation of the log-normal weights that share the ratings between users
        (0 gives every user about the same number of ratings).
    rating_scale : (float, float), default (1, 5)
        Lowest and highest rating.
    rating_step : float, optional
        Granularity of the ratings. Default: 1 if both ends of the scale are integers,
        else 0.5 (MovieLens' half stars).
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the generator. The same seed gives the same data.
    as_trainset : bool, default False
        Return a ``Trainset`` built straight from the arrays (without the DataFrame),
        identical to ``Dataset.load_from_df(df, Reader(rating_scale=...)).build_full_trainset()``.
        Useful for very large data sets.

    Returns
    -------
    pandas.DataFrame or Trainset
        Columns ``user`` (int32), ``item`` (int32) and ``rating`` (float32), one row per
        rating, grouped by user in increasing id and by item id inside a user (the order of
        MovieLens' ``ratings.csv``). With ``as_trainset=True``, a ``Trainset`` whose inner
        ids are numbered in order of first appearance, as every loader does.

    Examples
    --------
    >>> from turbosvd.datasets import make_ratings
    >>> df = make_ratings(100, 50, 1000, random_state=0)
    >>> df.shape
    (1000, 3)
    """
    n_users = check_int("n_users", n_users, min_value=1)
    n_items = check_int("n_items", n_items, min_value=1)
    n_ratings = check_int("n_ratings", n_ratings, min_value=1)
    n_factors = check_int("n_factors", n_factors, min_value=0)
    noise = check_real("noise", noise, min_value=0)
    popularity = check_real("popularity", popularity, min_value=0)
    user_activity = check_real("user_activity", user_activity, min_value=0)
    limit = np.iinfo(np.int32).max
    if n_users > limit or n_items > limit:
        raise ValueError(
            f"n_users={n_users} and n_items={n_items} must both be at most {limit} (int32 ids)"
        )
    if n_ratings < n_users:
        raise ValueError(
            f"n_ratings={n_ratings} is smaller than n_users={n_users}: every user needs a rating"
        )
    if n_ratings > n_users * n_items:
        raise ValueError(
            f"n_ratings={n_ratings} is more than the n_users * n_items = {n_users * n_items} "
            "distinct pairs"
        )
    lo, hi = _check_scale(rating_scale)
    step = _check_step(rating_step, lo, hi)
    rng = _generator(random_state)

    # The planted model, with MovieLens-like proportions.
    span = hi - lo
    mu = lo + 0.63 * span
    b_u = rng.normal(0.0, 0.1 * span, n_users).astype(np.float32)
    b_i = rng.normal(0.0, 0.1 * span, n_items).astype(np.float32)
    # Each factor entry ~ N(0, s) makes <p_u, q_i> have standard deviation s^2 sqrt(f).
    s = np.sqrt(0.1 * span) / max(n_factors, 1) ** 0.25
    p = rng.normal(0.0, s, (n_users, n_factors)).astype(np.float32)
    q = rng.normal(0.0, s, (n_items, n_factors)).astype(np.float32)

    weights = np.arange(1, n_items + 1, dtype=np.float64) ** -popularity
    weights = weights[np.argsort(rng.permutation(n_items))]  # rank k -> a random item
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    counts = _user_counts(rng, n_users, n_items, n_ratings, user_activity)

    users = np.empty(n_ratings, dtype=np.int32)
    items = np.empty(n_ratings, dtype=np.int32)
    ratings = np.empty(n_ratings, dtype=np.float64 if as_trainset else np.float32)
    first_seen = np.full(n_items, -1, dtype=np.int64) if as_trainset else None
    ends = np.cumsum(counts)
    u0 = pos = 0
    while u0 < n_users:
        u1 = max(u0 + 1, int(np.searchsorted(ends, ends[u0] - counts[u0] + _CHUNK, "right")))
        u1 = min(u1, n_users)
        cu, ci = _draw_pairs(rng, counts[u0:u1], cdf, n_items)
        cu += u0
        m = len(cu)
        users[pos : pos + m] = cu
        items[pos : pos + m] = ci
        r = _score(rng, cu, ci, mu, b_u, b_i, p, q, noise)
        r = lo + np.round((r - lo) / step) * step
        ratings[pos : pos + m] = np.clip(r, lo, hi).astype(np.float32)
        if first_seen is not None:
            seen, where = _first_positions(ci)
            new = first_seen[seen] < 0
            first_seen[seen[new]] = pos + where[new]
        pos += m
        u0 = u1
    assert pos == n_ratings

    if not as_trainset:
        return pd.DataFrame({"user": users, "item": items, "rating": ratings}, copy=False)
    # Inner ids in order of first appearance: users already are (grouped, increasing, none
    # missing); items are renumbered in place through a lookup table.
    present = np.flatnonzero(first_seen >= 0)
    item_ids = present[np.argsort(first_seen[present], kind="stable")].astype(np.int32)
    lut = np.full(n_items, -1, dtype=np.int32)
    lut[item_ids] = np.arange(len(item_ids), dtype=np.int32)
    for start in range(0, n_ratings, _CHUNK):
        items[start : start + _CHUNK] = lut[items[start : start + _CHUNK]]
    user_ids = np.arange(n_users, dtype=np.int32)
    return Trainset.from_arrays(users, items, ratings, user_ids, item_ids, (lo, hi))


def _check_scale(rating_scale) -> tuple:
    try:
        lo, hi = rating_scale
    except (TypeError, ValueError):
        raise ValueError(
            f"rating_scale={rating_scale!r} must be a pair (lowest, highest)"
        ) from None
    lo = check_real("rating_scale[0]", lo)
    hi = check_real("rating_scale[1]", hi)
    if not lo < hi:
        raise ValueError(f"rating_scale={rating_scale!r} must have lowest < highest")
    # Keep the caller's types (Surprise's Reader keeps ints as ints).
    return tuple(x if isinstance(x, numbers.Real) else float(x) for x in rating_scale)


def _check_step(rating_step, lo, hi) -> float:
    if rating_step is None:
        return 1.0 if float(lo).is_integer() and float(hi).is_integer() else 0.5
    step = check_real("rating_step", rating_step)
    if step <= 0:
        raise ValueError(f"rating_step={rating_step!r} is out of range: must be > 0")
    return step


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"random_state={random_state!r} is not valid: use an int, None or a numpy Generator"
    )


def _user_counts(rng, n_users, n_items, n_ratings, sigma) -> np.ndarray:
    """Ratings per user: at least 1, summing to n_ratings, at most half the items when
    that leaves enough room (real users rate a fraction of the catalogue), else n_items."""
    cap = max(1, n_items // 2)
    if n_ratings > n_users * cap:
        cap = n_items
    w = rng.lognormal(0.0, sigma, n_users)
    counts = 1 + rng.multinomial(n_ratings - n_users, w / w.sum())
    while True:
        excess = int(np.clip(counts - cap, 0, None).sum())
        if excess == 0:
            return counts.astype(np.int64)
        np.minimum(counts, cap, out=counts)
        room = (cap - counts).astype(np.float64)
        counts += rng.multinomial(excess, room / room.sum())


def _draw_pairs(rng, counts, cdf, n_items):
    """Distinct (user, item) pairs, ``counts[u]`` of them for local user ``u``.

    Draws with replacement by popularity, drops repeats and redraws what is missing; the
    rare users still short after a few rounds take uniform draws, then a random subset of
    their unrated items. Returns (local users, items), sorted by user then item.
    """
    counts = counts.astype(np.int64)
    n_local = len(counts)
    keys = np.empty(0, dtype=np.int64)
    need = counts
    for rnd in range(_WEIGHTED_ROUNDS + _UNIFORM_ROUNDS):
        total = int(need.sum())
        if total == 0:
            break
        owner = np.repeat(np.arange(n_local, dtype=np.int64), need)
        if rnd < _WEIGHTED_ROUNDS:
            drawn = np.searchsorted(cdf, rng.random(total), side="right")
            np.minimum(drawn, n_items - 1, out=drawn)  # guards cdf[-1] rounding
        else:
            drawn = rng.integers(0, n_items, total)
        keys = _merge_unique(keys, owner * n_items + drawn)
        need = counts - np.bincount(keys // n_items, minlength=n_local)
    if need.any():
        extra = []
        for u in np.flatnonzero(need):
            have = keys[(keys >= u * n_items) & (keys < (u + 1) * n_items)] - u * n_items
            free = np.setdiff1d(np.arange(n_items), have, assume_unique=True)
            extra.append(u * n_items + rng.choice(free, int(need[u]), replace=False))
        keys = _merge_unique(keys, np.concatenate(extra))
    local, item = np.divmod(keys, n_items)
    return local.astype(np.int32), item.astype(np.int32)


def _merge_unique(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``a`` and ``b`` (sort-based: numpy's hash path is slow here)."""
    out = np.concatenate((a, b))
    out.sort()
    if len(out) < 2:
        return out
    keep = np.empty(len(out), dtype=bool)
    keep[0] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


def _first_positions(values: np.ndarray):
    """Distinct values and the position of the first occurrence of each."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    start = np.empty(len(values), dtype=bool)
    start[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=start[1:])
    return ordered[start], order[start]


def _score(rng, users, items, mu, b_u, b_i, p, q, noise) -> np.ndarray:
    """The planted rating of each pair plus noise (float32, before rounding)."""
    r = np.einsum("ij,ij->i", p[users], q[items])
    r += b_u[users]
    r += b_i[items]
    r += np.float32(mu)
    r += rng.normal(0.0, noise, len(users)).astype(np.float32)
    return r
