"""The blocked layout of the fast SGD schedule (see ``csrc/turbosvd/sgd_blocked.hpp``).

Users and items are split into ``B`` bins each; the ratings are reordered once per fit
into the ``B x B`` grid of blocks, block-major, runs of one user inside a block. The
assignment uses only the rating counts (no random numbers), so the RNG stream of ``SVD``
stays exactly Surprise's (the ``pu`` draw, then the ``qi`` draw).

- User bins are contiguous ranges of inner ids holding about ``n / B`` ratings each: the
  users of a block are visited in ascending id, so their factor rows stream through memory.
- Item bins are dealt in snake order over the items sorted by decreasing count (ties by
  id): every bin gets a share of popular and rare items, so the blocks of a wave have
  similar sizes whatever the order in which items first appear.
- ``B`` depends on the data and model size only, never on the thread count, so the result
  is the same for any number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _sgd

__all__ = ["BlockedLayout", "build_layout", "choose_n_bins", "item_bins", "user_bins"]

# Bytes of item rows (factors and bias) one item bin may hold, so the items of a block stay
# in L2 (1-2 MB per core on current x86 servers).
L2_BUDGET = 1 << 20
# Enough blocks per wave to balance the dynamic schedule over a few threads.
MIN_BINS = 8
MAX_BINS = 64
# Average ratings per block below which the grid is coarsened (scheduling overhead).
MIN_BLOCK = 2048
# Average ratings per run (one user inside one block) below which the grid is coarsened:
# every run starts with an extra pass over the user's factors, and more bins mean more
# passes over pu per epoch. Measured: on 10M ratings x 70k users, 8 bins (18 ratings per
# run) ran 1.5x faster than 16 bins (9 per run).
MIN_RUN = 12


def choose_n_bins(n_ratings: int, n_users: int, n_items: int, n_factors: int, itemsize: int) -> int:
    """Number of user bins and item bins ``B`` (a function of the data and model size only).

    At least ``MIN_BINS``, more if one item bin would not fit in ``L2_BUDGET``, at most
    ``MAX_BINS``; fewer when blocks would average under ``MIN_BLOCK`` ratings or runs under
    ``MIN_RUN`` ratings (tiny data runs as one block).
    """
    row_bytes = (n_factors + 1) * itemsize
    by_cache = math.ceil(n_items * row_bytes / L2_BUDGET)
    b = max(MIN_BINS, by_cache)
    n_ratings = max(int(n_ratings), 0)
    b = min(
        b,
        MAX_BINS,
        math.isqrt(n_ratings // MIN_BLOCK),
        max(by_cache, n_ratings // (MIN_RUN * max(n_users, 1))),
    )
    return max(1, b)


def user_bins(counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Contiguous user ranges of about equal rating counts: bin of each user (int32)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(len(counts), dtype=np.int32)
    start = np.cumsum(counts) - counts  # ratings before each user
    # Users without ratings after the last rating would land in bin n_bins: they own no
    # rating, any bin will do, so they join the last one.
    return np.minimum(start * n_bins // total, n_bins - 1).astype(np.int32)


def item_bins(counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Snake deal of the items by decreasing count: bin of each item (int32)."""
    counts = np.asarray(counts, dtype=np.int64)
    order = np.argsort(-counts, kind="stable")
    pos = np.arange(len(counts), dtype=np.int64)
    lap, seat = np.divmod(pos, n_bins)
    seat = np.where(lap % 2 == 0, seat, n_bins - 1 - seat)
    bins = np.empty(len(counts), dtype=np.int32)
    bins[order] = seat
    return bins


@dataclass
class BlockedLayout:
    """Ratings in block-major order (see ``sgd_blocked.hpp`` for the fields)."""

    n_bins: int
    block_ptr: np.ndarray  # int64 (B*B + 1,), runs of each block
    run_user: np.ndarray  # int32 (n_runs,)
    run_ptr: np.ndarray  # int64 (n_runs + 1,), ratings of each run
    items: np.ndarray  # int32 (n_ratings,)
    ratings: np.ndarray  # float32 or float64 (n_ratings,)
    user_bin: np.ndarray  # int32 (n_users,)
    item_bin: np.ndarray  # int32 (n_items,)
    # When set, `items` holds positions in this order of the items (bin by bin) rather than
    # inner ids: item_order[pos] is the inner id stored at row `pos` of the working qi / bi.
    item_order: np.ndarray | None = None

    def epoch(
        self,
        pu, qi, bu, bi, global_mean, biased, rates, n_threads, first_wave=0, last_wave=-1,
        adagrad=None,
    ) -> None:  # fmt: skip
        """Run waves ``first_wave`` to ``last_wave - 1`` (all by default) of one SGD epoch
        over this layout, in place on ``pu``, ``qi``, ``bu``, ``bi`` (the compiled kernel).

        ``adagrad``: None (constant rates) or AdaGrad's accumulators ``(g_pu, g_qi, g_bu,
        g_bi)``, rows as the parameters', updated in place."""
        _sgd.sgd_epoch_blocked(
            self.block_ptr, self.run_user, self.run_ptr, self.items, self.ratings,
            pu, qi, bu, bi, float(global_mean), bool(biased), tuple(rates), int(n_threads),
            first_wave, last_wave, adagrad,
        )  # fmt: skip

    def waves(self):
        """Yield, for every wave, the block numbers ``ub * B + ib`` it runs."""
        b = self.n_bins
        for w in range(b):
            yield [ub * b + (ub + w) % b for ub in range(b)]


def build_layout(
    trainset, dtype, n_factors: int, n_bins: int | None = None, *, items_by_bin: bool = False
) -> BlockedLayout:
    """The blocked layout of ``trainset``'s ratings, stored as ``dtype``.

    ``n_bins`` defaults to ``choose_n_bins``; tests pass it to compare grids. With
    ``items_by_bin`` the layout refers to item rows stored bin by bin (``item_order``), which
    the caller must use for qi and bi; otherwise to inner item ids.
    """
    dtype = np.dtype(dtype)
    users, items, ratings = trainset.rating_arrays()
    if n_bins is None:
        n_bins = choose_n_bins(
            len(ratings), trainset.n_users, trainset.n_items, n_factors, dtype.itemsize
        )
    ub = user_bins(np.bincount(users, minlength=trainset.n_users), n_bins)
    ib = item_bins(np.bincount(items, minlength=trainset.n_items), n_bins)
    # Item bins are dealt in snake order, so neighbouring rows of qi and bi belong to
    # different bins, which other threads update at the same time: every write would bounce
    # a cache line between cores (false sharing; it cost all of the second thread's gain).
    # The kernel therefore works on qi / bi stored bin by bin (item_order), the same numbers
    # in another memory order: the result is bit-identical. User bins are already ranges.
    item_order = position = None
    if items_by_bin:
        item_order = np.argsort(ib, kind="stable").astype(np.int32)
        position = np.empty_like(item_order)
        position[item_order] = np.arange(len(item_order), dtype=np.int32)
    block_ptr, run_user, run_ptr, out_items, out_ratings = _sgd.blocked_layout(
        np.ascontiguousarray(users, dtype=np.int32),
        np.ascontiguousarray(items, dtype=np.int32),
        np.ascontiguousarray(ratings, dtype=np.float64),
        ub,
        ib,
        n_bins,
        dtype == np.float32,
        position,
    )
    return BlockedLayout(
        n_bins, block_ptr, run_user, run_ptr, out_items, out_ratings, ub, ib, item_order
    )
