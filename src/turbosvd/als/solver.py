"""The ALS sweep loop: explicit-feedback ALS-WR with biases, one compiled call per block
of rows (``csrc/turbosvd/als.hpp`` through ``turbosvd._als``).

Working layout. Each side is a ``Side``: factor rows ``[factors (k), 1, 0 ...]`` when
biased (``[factors, 0 ...]`` otherwise), padded to the kernel's stride, and a bias vector.
Solving a user row against the items then solves ``[p_u, b_u]`` against ``[q_i, 1]`` with
``b_i`` as an offset, and the same kernel solves the item rows against the users: the
biases are unknowns of the per-row least-squares problems (the augmented system),
regularised like the factors.

A sweep solves every user row, then every item row. The loop runs here (verbose output,
NaN/inf checks naming the sweep, Ctrl-C between compiled calls); each half-sweep is cut
into calls of about ``_CALL_RATINGS / m`` ratings, which gives exactly the numbers of one
call (rows are independent within a half-sweep).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import _als
from ..exceptions import ModelFitError

__all__ = [
    "SOLVERS",
    "RowRatings",
    "Side",
    "check_finite",
    "fold_in",
    "half_sweep",
    "init_side",
    "pack",
    "row_ratings",
    "unpack",
    "train",
]

SOLVERS = ("cg", "cholesky")
# Ratings x unknowns per compiled call: ~0.05-0.1 s of work, so Ctrl-C stays prompt.
_CALL_RATINGS = 1 << 25


@dataclass(frozen=True)
class RowRatings:
    """One side's ratings grouped by row: row ``r`` owns ``indptr[r]:indptr[r + 1]``."""

    indptr: np.ndarray  # int64, n_rows + 1
    cols: np.ndarray  # int32, rows of the other side
    targets: np.ndarray  # the model's dtype: rating - global mean (rating when unbiased)

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1


def row_ratings(indptr, cols, ratings, mean: float, dtype) -> RowRatings:
    """A ``RowRatings`` from a CSR of raw ratings; ``mean`` is subtracted in float64."""
    targets = np.asarray(ratings, dtype=np.float64) - float(mean)
    return RowRatings(
        np.ascontiguousarray(indptr, dtype=np.int64),
        np.ascontiguousarray(cols, dtype=np.int32),
        np.ascontiguousarray(targets.astype(dtype, copy=False)),
    )


@dataclass(frozen=True)
class Side:
    """One side's working model: padded factor rows ``F`` and biases ``B``."""

    F: np.ndarray  # n x stride(m)
    B: np.ndarray  # n (zeros when unbiased)


def pack(factors: np.ndarray, bias: np.ndarray | None, biased: bool, dtype) -> Side:
    """The working ``Side`` of ``factors`` (n x k) and ``bias`` (None: zeros)."""
    n, k = factors.shape
    dtype = np.dtype(dtype)
    d = _als.stride(k + 1 if biased else k, dtype == np.float32)
    F = np.zeros((n, d), dtype=dtype)
    F[:, :k] = factors
    if biased:
        F[:, k] = 1
    B = np.zeros(n, dtype=dtype)
    if bias is not None and biased:
        B[:] = bias
    return Side(F, B)


def unpack(side: Side, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous copies ``(factors, bias)`` of a working ``Side``."""
    return np.ascontiguousarray(side.F[:, :k]), side.B.copy()


def init_side(rng, n_rows: int, k: int, std: float, biased: bool, dtype) -> Side:
    """Working side of ``n_rows`` rows: factors ~ N(0, std) from ``rng``, zero biases."""
    return pack(rng.normal(0.0, std, size=(n_rows, k)), None, biased, dtype)


def half_sweep(
    ratings: RowRatings,
    X: Side,
    Y: Side,
    *,
    k: int,
    biased: bool,
    reg: float,
    solver: str,
    cg_steps: int,
    n_threads: int,
) -> None:
    """Solve every row of ``X`` against ``Y`` in place, in calls of bounded size."""
    m = k + 1 if biased else k
    per_call = max(1 << 12, _CALL_RATINGS // max(m, 1))
    indptr = ratings.indptr
    n = ratings.n_rows
    first = 0
    while first < n:
        # The first row whose ratings end past this call's budget closes the call.
        limit = indptr[first] + per_call
        last = int(np.searchsorted(indptr, limit, side="right")) - 1
        last = min(n, max(last, first + 1))
        _als.half_sweep(
            indptr, ratings.cols, ratings.targets, X.F, X.B, Y.F, Y.B, k, biased, reg, solver,
            cg_steps, n_threads, first, last,
        )  # fmt: skip
        first = last


def check_finite(sweep: int, *arrays) -> None:
    """Raise ``ModelFitError`` naming ``sweep`` if any array holds NaN or inf."""
    for a in arrays:
        if not np.isfinite(a).all():
            raise ModelFitError(
                f"ALS diverged at sweep {sweep} (epoch {sweep}): NaN or infinite values in "
                "the model; check the ratings' scale or raise reg"
            )


def train(
    users: RowRatings,
    items: RowRatings,
    U: Side,
    V: Side,
    *,
    k: int,
    n_epochs: int,
    biased: bool,
    reg: float,
    solver: str,
    cg_steps: int,
    n_threads: int,
    verbose: bool = False,
    on_sweep: Callable[[int, Side, Side], None] | None = None,
) -> None:
    """Run ``n_epochs`` sweeps (users, then items) in place on ``U`` and ``V``.

    ``on_sweep(sweep, U, V)`` is called after each sweep (for monitoring).
    """
    opts = dict(k=k, biased=biased, reg=reg, solver=solver, cg_steps=cg_steps, n_threads=n_threads)
    for sweep in range(n_epochs):
        if verbose:
            print(f"Processing epoch {sweep}")
        half_sweep(users, U, V, **opts)
        half_sweep(items, V, U, **opts)
        check_finite(sweep, U.F, U.B, V.F, V.B)
        if on_sweep is not None:
            on_sweep(sweep, U, V)


def fold_in(
    indptr: np.ndarray,
    cols: np.ndarray,
    ratings: np.ndarray,
    qi: np.ndarray,
    bi: np.ndarray,
    mean: float,
    *,
    biased: bool,
    reg: float,
    n_threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(pu, bu)`` of the grouped users: the user half-sweep on fixed items, solved exactly.

    Row ``r``'s ratings are ``indptr[r]:indptr[r + 1]`` of ``cols`` (inner item ids) and
    ``ratings`` (raw ratings). Every row is solved by Cholesky from zero, so a singular
    system (``reg=0`` with fewer ratings than unknowns) gets its minimum-norm
    least-squares solution. Raises ``ModelFitError`` on NaN or inf.
    """
    k = qi.shape[1]
    dtype = qi.dtype
    rows = row_ratings(indptr, cols, ratings, mean if biased else 0.0, dtype)
    V = pack(qi, bi, biased, dtype)
    U = pack(np.zeros((rows.n_rows, k), dtype=dtype), None, biased, dtype)
    half_sweep(
        rows, U, V, k=k, biased=biased, reg=reg, solver="cholesky", cg_steps=1,
        n_threads=n_threads,
    )  # fmt: skip
    for a in (U.F, U.B):
        if not np.isfinite(a).all():
            raise ModelFitError(
                "partial_fit_users: NaN or infinite values in the folded-in users; check the "
                "model's factors and the ratings' scale"
            )
    return unpack(U, k)
