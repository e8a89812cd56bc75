"""SlopeOne's engine: the sparse co-rating table and batch estimates.

Surprise stores two dense ``n_items x n_items`` arrays (``freq``, ``dev``: 16 bytes per
pair of items, 1.5 GB for 10,000 items). Here only co-rated pairs are stored, as CSR rows
(column, count, deviation: 16 bytes per co-rated pair), built in C++ in two passes (count,
then fill) with the memory checked between them. Every number is Surprise's: ratings
truncated to integers in the deviations, the deviations summed in the user's rating order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _cluster
from .._validation import check_alloc

__all__ = ["SlopeOneTable", "build_table", "dense_arrays", "predict"]


@dataclass(frozen=True)
class SlopeOneTable:
    """Co-rated item pairs: row ``i`` is ``cols[row_ptr[i]:row_ptr[i + 1]]`` (sorted)."""

    row_ptr: np.ndarray  # int64, n_items + 1
    cols: np.ndarray  # int32
    freq: np.ndarray  # int32, |U_ij|
    dev: np.ndarray  # float64, mean of trunc(r_ui) - trunc(r_uj)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.row_ptr, self.cols, self.freq, self.dev))


def build_table(trainset, n_threads: int) -> SlopeOneTable:
    """Build the co-rating table of ``trainset``.

    Raises
    ------
    ValueError
        When the table would not fit in the machine's memory (checked before allocating).
    """
    u_indptr, u_items, u_ratings = trainset.user_csr()
    i_indptr, i_users, i_ratings = trainset.item_csr()
    counts = _cluster.slope_one_count(u_indptr, u_items, i_indptr, i_users, n_threads)
    row_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=row_ptr[1:])
    nnz = int(row_ptr[-1])
    check_alloc(f"SlopeOne's table of {nnz:,} co-rated item pairs", nnz * 16)
    cols, freq, dev = _cluster.slope_one_fill(
        u_indptr, u_items, u_ratings, i_indptr, i_users, i_ratings, row_ptr, n_threads
    )
    return SlopeOneTable(row_ptr, cols, freq, dev)


def dense_arrays(table: SlopeOneTable, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Surprise's dense ``(freq, dev)`` arrays, checking first that they fit in memory."""
    n = len(table.row_ptr) - 1
    check_alloc(f"SlopeOne's dense freq and dev arrays ({n:,} x {n:,} items)", 16 * n * n)
    return _cluster.slope_one_densify(table.row_ptr, table.cols, table.freq, table.dev, n_threads)


def predict(
    table: SlopeOneTable,
    u_indptr: np.ndarray,
    u_items: np.ndarray,
    user_mean: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    global_mean: float,
    n_threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and impossibility flags for inner ids ``users``/``items`` (-1 = unknown)."""
    return _cluster.slope_one_predict(
        np.ascontiguousarray(users, dtype=np.int32),
        np.ascontiguousarray(items, dtype=np.int32),
        u_indptr,
        u_items,
        user_mean,
        table.row_ptr,
        table.cols,
        table.dev,
        float(global_mean),
        n_threads,
    )
