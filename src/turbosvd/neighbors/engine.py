"""The neighbourhood engine: rating groupings, similarity rows in blocks, k-NN estimates.

Everything heavy happens in ``turbosvd._neighbors`` (C++ with OpenMP, GIL released). This
module cuts the work into blocks of bounded cost, one compiled call per block, so that
Ctrl-C (``KeyboardInterrupt``) is seen within a fraction of a second, and so that the
n x n similarity matrix is never required: rows are computed for the block of users (or
items) that needs them, and a full matrix is only built when asked for and when
``check_alloc`` accepts its size.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .. import _neighbors, _sgd
from .._validation import check_alloc

__all__ = [
    "SIM_KINDS",
    "BLOCK_COST",
    "Groups",
    "SimSpec",
    "full_matrix",
    "group_means",
    "group_stds",
    "knn_estimates",
    "sim_row",
    "top_neighbors",
]

# Surprise's names, in its order (its NameError message lists them so).
SIM_KINDS = {"cosine": 0, "msd": 1, "pearson": 2, "pearson_baseline": 3}
KNN_KINDS = {"basic": 0, "means": 1, "zscore": 2, "baseline": 3}

# Accumulations (co-rating terms) per compiled call: about 20-100 ms of work, so an
# interrupt is handled well within a second while the call overhead stays negligible.
BLOCK_COST = 20_000_000

# On-demand similarities of a group of pairs sharing x: intersecting x's ratings with each
# candidate's (sequential reads) is chosen over accumulating row x (scattered updates)
# when its cost, in terms, is below this many times the row's. Both give the same bits;
# tests set 0 (rows only) and infinity (intersections only).
PAIR_COST_RATIO = 3.0


@dataclass(frozen=True)
class Groups:
    """The ratings grouped by y (Surprise's ``yr``) and by x (sorted by y).

    ``x`` is the user when the similarities are user-based, the item otherwise.
    """

    n_x: int
    n_y: int
    y_indptr: np.ndarray
    y_x: np.ndarray
    y_r: np.ndarray
    x_indptr: np.ndarray
    x_y: np.ndarray
    x_r: np.ndarray
    # The similarity values of the last SimSpec used with these groups (see _sim_args).
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_csr(cls, n_x: int, y_indptr, y_x, y_r) -> Groups:
        """From the ``yr`` grouping; the ``xr`` grouping is its stable transpose."""
        y_indptr = np.ascontiguousarray(y_indptr, dtype=np.int64)
        y_x = np.ascontiguousarray(y_x, dtype=np.int32)
        y_r = np.ascontiguousarray(y_r, dtype=np.float64)
        n_y = len(y_indptr) - 1
        perm, x_indptr = _sgd.group_rows(y_x, n_x)
        y_of_entry = np.repeat(np.arange(n_y, dtype=np.int32), np.diff(y_indptr))
        return cls(
            n_x,
            n_y,
            y_indptr,
            y_x,
            y_r,
            x_indptr,
            y_of_entry[perm],
            np.ascontiguousarray(y_r[perm]),
        )

    @classmethod
    def from_trainset(cls, trainset, user_based: bool) -> Groups:
        """``yr`` is the trainset's ``ir`` (user-based) or ``ur`` (item-based)."""
        if user_based:
            indptr, others, ratings = trainset.item_csr()
            return cls.from_csr(trainset.n_users, indptr, others, ratings)
        indptr, others, ratings = trainset.user_csr()
        return cls.from_csr(trainset.n_items, indptr, others, ratings)

    def arrays(self) -> tuple:
        return (
            self.n_x,
            self.n_y,
            self.y_indptr,
            self.y_x,
            self.y_r,
            self.x_indptr,
            self.x_y,
            self.x_r,
        )

    def row_costs(self) -> np.ndarray:
        """Accumulations needed by each row: sum over x's ratings of |ratings of y|."""
        return self._row_costs

    @cached_property
    def _row_costs(self) -> np.ndarray:
        per_entry = np.diff(self.y_indptr)[self.x_y]
        csum = np.concatenate(([0], np.cumsum(per_entry, dtype=np.int64)))
        return csum[self.x_indptr[1:]] - csum[self.x_indptr[:-1]]

    @cached_property
    def by_y_then_x(self) -> np.ndarray:
        """The order of the ``yr`` entries that sorts each y's ratings by x (stable)."""
        perm, _ = _sgd.group_rows(self.y_x, self.n_x)  # entries by x, stable
        y_of_entry = np.repeat(np.arange(self.n_y, dtype=np.int32), np.diff(self.y_indptr))
        return perm[np.argsort(y_of_entry[perm], kind="stable")]

    @cached_property
    def ys_x(self) -> np.ndarray:
        """``yr``'s x ids with each y's ratings sorted by x."""
        return np.ascontiguousarray(self.y_x[self.by_y_then_x])

    @cached_property
    def candidate_costs(self) -> np.ndarray:
        """Per y: sum over the x2 who rated y of |ratings of x2| (the cost of intersecting
        a row with every candidate of a pair on y)."""
        y_of_entry = np.repeat(np.arange(self.n_y), np.diff(self.y_indptr))
        weights = np.diff(self.x_indptr)[self.y_x].astype(np.float64)
        return np.bincount(y_of_entry, weights=weights, minlength=self.n_y).astype(np.int64)


@dataclass(frozen=True)
class SimSpec:
    """A similarity measure and its options (biases for pearson_baseline only)."""

    name: str
    min_support: int = 1
    shrinkage: float = 100.0
    global_mean: float = 0.0
    x_bias: np.ndarray | None = None
    y_bias: np.ndarray | None = None

    def arrays(self, groups: Groups) -> tuple:
        """The kernel's arguments: kind, supports and the values the measure compares."""
        y_v, x_v = self.values(groups)
        return (SIM_KINDS[self.name], self.min_support, self.shrinkage, y_v, x_v)

    def values(self, groups: Groups) -> tuple:
        """``(y_v, x_v)``: None (the ratings) or, for pearson_baseline, the residuals.

        A residual is ``r - ((global_mean + y_bias[y]) + x_bias[x])``, Surprise's
        expression in its order, so the similarities keep Surprise's bits.
        """
        if self.name != "pearson_baseline":
            return None, None
        mu = self.global_mean
        y_of_entry = np.repeat(np.arange(groups.n_y), np.diff(groups.y_indptr))
        x_of_entry = np.repeat(np.arange(groups.n_x), np.diff(groups.x_indptr))
        y_v = groups.y_r - ((mu + self.y_bias[y_of_entry]) + self.x_bias[groups.y_x])
        x_v = groups.x_r - ((mu + self.y_bias[groups.x_y]) + self.x_bias[x_of_entry])
        return y_v, x_v


def _sim_args(groups: Groups, spec: SimSpec) -> tuple:
    """``spec.arrays(groups)``, computed once per (groups, spec) and kept on ``groups``
    (the residuals of pearson_baseline cost a pass over the ratings)."""
    hit = groups.cache.get("sim_args")
    if hit is not None and hit[0] is spec:
        return hit[1]
    args = spec.arrays(groups)
    groups.cache["sim_args"] = (spec, args)
    return args


def _blocks(costs: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Split consecutive items into runs whose summed cost stays near ``budget``."""
    if len(costs) == 0:
        return []
    csum = np.cumsum(costs, dtype=np.int64)
    bounds = [0]
    while bounds[-1] < len(costs):
        start = bounds[-1]
        base = csum[start - 1] if start > 0 else 0
        stop = int(np.searchsorted(csum, base + budget, side="right"))
        bounds.append(max(stop, start + 1))
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def sim_rows(groups: Groups, spec: SimSpec, rows, n_threads: int) -> np.ndarray:
    """Similarity rows ``rows`` as a ``(len(rows), n_x)`` float64 array."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    check_alloc("the similarity rows", 8 * len(rows) * groups.n_x)
    out = np.empty((len(rows), groups.n_x))
    _fill_rows(groups, spec, rows, out, n_threads)
    return out


def _fill_rows(groups: Groups, spec: SimSpec, rows: np.ndarray, out, n_threads: int) -> None:
    costs = groups.row_costs()[rows] + groups.n_x
    args = (*groups.arrays(), *_sim_args(groups, spec))
    for start, stop in _blocks(costs, BLOCK_COST):
        _neighbors.sim_rows(*args, rows[start:stop], out[start:stop], n_threads)


def sim_row(groups: Groups, spec: SimSpec, x: int, n_threads: int = 1) -> np.ndarray:
    """One similarity row (``n_x`` float64)."""
    return sim_rows(groups, spec, [x], n_threads)[0]


def full_matrix(groups: Groups, spec: SimSpec, n_threads: int) -> np.ndarray:
    """The ``n_x x n_x`` similarity matrix (refused by ``check_alloc`` if it cannot fit).

    Only the upper triangle is computed (each pair once, from its smaller x: the same
    sums in the same order), then mirrored.
    """
    n = groups.n_x
    check_alloc(f"the {n:,} x {n:,} similarity matrix", 8 * n * n)
    out = np.empty((n, n))
    args = (*groups.arrays(), *_sim_args(groups, spec))
    y_v = args[-2] if args[-2] is not None else groups.y_r
    # yr with each y's ratings sorted by x: a stable sort of the entries by (y, x)
    ys_x = groups.ys_x
    ys_v = np.ascontiguousarray(y_v[groups.by_y_then_x])
    rows = np.arange(n, dtype=np.int64)
    costs = groups.row_costs() // 2 + (n - rows)
    for start, stop in _blocks(costs, BLOCK_COST):
        _neighbors.sim_rows(*args, rows[start:stop], out[start:stop], n_threads, ys_x, ys_v)
    _neighbors.mirror(out, n_threads)
    return out


def group_means(indptr: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.mean`` of every group, bit for bit.

    numpy sums a contiguous array pairwise (8-way unrolled blocks); ``np.add.reduceat``
    does not, so each group is reduced on its own slice (about a microsecond per group).
    """
    bounds = np.asarray(indptr).tolist()
    add = np.add.reduce
    sums = np.fromiter(
        (add(values[a:b]) if b > a else 0.0 for a, b in zip(bounds[:-1], bounds[1:])),
        dtype=np.float64,
        count=len(bounds) - 1,
    )
    counts = np.diff(indptr)
    return np.divide(sums, counts, out=np.zeros(len(counts)), where=counts > 0)


def group_stds(indptr: np.ndarray, values: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``np.std`` of every group (numpy's two-pass formula and summation)."""
    counts = np.diff(indptr)
    dev = values - np.repeat(means, counts)
    dev = dev * dev
    return np.sqrt(group_means(indptr, dev))


def knn_estimates(
    groups: Groups,
    spec: SimSpec,
    sim_matrix: np.ndarray | None,
    *,
    kind: str,
    k: int,
    min_k: int,
    user_based: bool,
    means=None,
    sigmas=None,
    global_mean: float = 0.0,
    bx=None,
    by=None,
    xs: np.ndarray,
    ys: np.ndarray,
    n_threads: int,
):
    """Estimates, ``actual_k`` and codes (0 ok, 2 not enough neighbours) of known pairs.

    The pairs are grouped by x; each block of groups is one compiled call (the rows of
    the block are computed on demand when ``sim_matrix`` is None).
    """
    xs = np.ascontiguousarray(xs, dtype=np.int32)
    ys = np.ascontiguousarray(ys, dtype=np.int32)
    n = len(xs)
    est = np.zeros(n)
    actual_k = np.zeros(n, dtype=np.int32)
    code = np.zeros(n, dtype=np.int8)
    if n == 0:
        return est, actual_k, code
    order = np.argsort(xs, kind="stable")
    sorted_x = xs[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_x[1:] != sorted_x[:-1])))
    group_ptr = np.append(starts, n).astype(np.int64)
    costs = _group_sums(np.diff(groups.y_indptr)[ys[order]] + 64, group_ptr)
    by_pairs = None
    if sim_matrix is None:
        row_cost = groups.row_costs()[sorted_x[starts]]
        pair_cost = _group_sums(groups.candidate_costs[ys[order]], group_ptr)
        use_pairs = pair_cost < PAIR_COST_RATIO * row_cost
        by_pairs = use_pairs.astype(np.int8)
        costs = costs + np.where(use_pairs, pair_cost, row_cost)
    sim_args = (*groups.arrays(), *_sim_args(groups, spec))
    for g0, g1 in _blocks(costs, BLOCK_COST):
        p0, p1 = group_ptr[g0], group_ptr[g1]
        idx = order[p0:p1]
        b_est, b_k, b_code = _neighbors.predict(
            *sim_args,
            sim_matrix,
            KNN_KINDS[kind],
            k,
            min_k,
            user_based,
            means,
            sigmas,
            global_mean,
            bx,
            by,
            xs[idx],
            ys[idx],
            np.arange(p1 - p0, dtype=np.int64),
            group_ptr[g0 : g1 + 1] - p0,
            n_threads,
            None if by_pairs is None else by_pairs[g0:g1],
            None if by_pairs is None or not by_pairs[g0:g1].any() else groups.ys_x,
        )
        est[idx], actual_k[idx], code[idx] = b_est, b_k, b_code
    return est, actual_k, code


def _group_sums(values: np.ndarray, group_ptr: np.ndarray) -> np.ndarray:
    csum = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    return csum[group_ptr[1:]] - csum[group_ptr[:-1]]


def top_neighbors(row: np.ndarray, x: int, k: int) -> list[int]:
    """The ``k`` largest entries of ``row`` other than ``x`` (ties: smaller index first)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an integer, got {k!r}")
    n = len(row)
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or not 0 <= x < n:
        raise ValueError(f"iid={x!r} is not an inner id (0 <= iid < {n})")
    if k <= 0:
        return []
    others = np.delete(np.arange(n), x)
    order = np.argsort(-row[others], kind="stable")[:k]
    return others[order].tolist()
