"""Engine-independent pieces of distributed SGD (DSGD), on plain numpy arrays.

DSGD (Gemulla, Nijkamp, Haas and Sismanis, KDD 2011) cuts the rating matrix into a
``d x d`` grid of blocks: ``d`` user blocks times ``d`` item blocks. Two blocks that share
no user block and no item block touch disjoint rows of ``pu``/``bu`` and ``qi``/``bi``, so
they can be trained at the same time by independent workers. An epoch is ``d``
sub-epochs; sub-epoch ``s`` trains the *stratum* ``{(b, (b + s) mod d) : b = 0..d-1}``,
``d`` independent blocks that together cover every user block and every item block once.
After ``d`` sub-epochs every block, hence every rating, has been visited once.

This module holds everything that does not depend on the engine that runs the blocks:

- ``make_grid``: the blocks of users and items. User blocks are contiguous ranges of inner
  ids with about equal rating counts and item blocks deal the items by decreasing count
  in snake order (``_blocked.user_bins`` / ``item_bins``): deterministic, balanced, and the
  same bins as the local blocked schedule, so ``d`` blocks of one item each behave exactly
  like ``SVD(schedule="blocked")`` with ``d`` bins.
- ``pack_block``: one block's ratings (block-local ids, in input order) as the blocked
  layout (``turbosvd.train.blocked``), with a sub-grid chosen as ``SVD`` chooses it
  (``task_bins``). A task runs the compiled blocked kernel on it, multi-threaded inside the task.
- ``train_block``: one pass over one block, in place on the block's factor rows. Inside a
  block the kernel works on the item rows stored bin by bin (``item_order``), as the local
  blocked schedule does against false sharing between the task's threads: the same numbers
  in another memory order, so the floats do not change.
- ``encode_block`` / ``decode_block``: a packed block as a few ``bytes`` (what an engine
  stores once per block), and ``to_bytes`` / ``from_bytes`` for factor blocks.
- ``fit_local``: the whole DSGD schedule serially on one machine, the reference that every
  engine must reproduce bit for bit (the blocks of a stratum are independent, so running
  them one after the other or in parallel gives the same floats).

With ``d = 1`` and the default ``task_bins`` the single block *is* the whole trainset laid
out as ``SVD(schedule="blocked")`` lays it out, so DSGD reproduces the local fit exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .. import _sgd
from .._validation import check_int
from . import blocked as _blocked

__all__ = [
    "Grid",
    "decode_block",
    "encode_block",
    "fit_local",
    "from_bytes",
    "make_grid",
    "pack_block",
    "strata",
    "to_bytes",
    "train_block",
    "train_block_rows",
]

# The fields of a packed block, in order, with their dtypes (None: the ratings' dtype).
_LAYOUT_FIELDS = (
    ("block_ptr", np.int64),
    ("run_user", np.int32),
    ("run_ptr", np.int64),
    ("items", np.int32),
    ("ratings", None),
    ("item_order", np.int32),
)
# Arrow (and so Spark's pandas UDFs) store a binary value with 32-bit offsets: one block's
# ratings must stay under 2 GiB. Kept well below so a whole Arrow batch fits as well.
MAX_BLOCK_BYTES = 1 << 30


@dataclass(frozen=True)
class Grid:
    """The ``d x d`` blocking of users and items.

    Attributes
    ----------
    n_blocks : int
        ``d``.
    user_block, item_block : numpy.ndarray of int32
        Block of every inner user id / item id.
    user_start : numpy.ndarray of int64, shape (d + 1,)
        User block ``b`` holds the inner user ids ``user_start[b] .. user_start[b + 1] - 1``
        (user blocks are contiguous ranges, so a block's ``pu`` rows are a slice).
    item_members : numpy.ndarray of int64
        Inner item ids sorted by (block, id); block ``c`` holds
        ``item_members[item_ptr[c]:item_ptr[c + 1]]``.
    item_ptr : numpy.ndarray of int64, shape (d + 1,)
    user_local, item_local : numpy.ndarray of int32
        Position of every user / item inside its block (its row in the block's factors).
    """

    n_blocks: int
    user_block: np.ndarray
    item_block: np.ndarray
    user_start: np.ndarray
    item_members: np.ndarray
    item_ptr: np.ndarray
    user_local: np.ndarray
    item_local: np.ndarray

    def users_of(self, b: int) -> slice:
        """The inner user ids of user block ``b``, as a slice."""
        return slice(int(self.user_start[b]), int(self.user_start[b + 1]))

    def items_of(self, c: int) -> np.ndarray:
        """The inner item ids of item block ``c``, in increasing order."""
        return self.item_members[self.item_ptr[c] : self.item_ptr[c + 1]]

    def n_users_in(self, b: int) -> int:
        return int(self.user_start[b + 1] - self.user_start[b])

    def n_items_in(self, c: int) -> int:
        return int(self.item_ptr[c + 1] - self.item_ptr[c])


def make_grid(user_counts, item_counts, n_blocks: int) -> Grid:
    """Cut users and items into ``n_blocks`` blocks each.

    Parameters
    ----------
    user_counts, item_counts : array-like of int
        Ratings of every inner user id / item id.
    n_blocks : int
        ``d`` (>= 1).

    Returns
    -------
    Grid
    """
    d = check_int("n_blocks", n_blocks, min_value=1)
    user_counts = np.asarray(user_counts, dtype=np.int64)
    item_counts = np.asarray(item_counts, dtype=np.int64)
    user_block = _blocked.user_bins(user_counts, d)
    item_block = _blocked.item_bins(item_counts, d)
    user_start = np.searchsorted(user_block, np.arange(d + 1), side="left").astype(np.int64)
    item_members = np.argsort(item_block, kind="stable").astype(np.int64)
    item_ptr = np.zeros(d + 1, dtype=np.int64)
    np.cumsum(np.bincount(item_block, minlength=d), out=item_ptr[1:])
    user_local = (np.arange(len(user_block)) - user_start[user_block]).astype(np.int32)
    item_local = np.empty(len(item_block), dtype=np.int32)
    item_local[item_members] = (
        np.arange(len(item_block)) - item_ptr[item_block[item_members]]
    ).astype(np.int32)
    return Grid(
        d, user_block, item_block, user_start, item_members, item_ptr, user_local, item_local
    )


def strata(n_blocks: int, sub_epoch: int) -> list[tuple[int, int]]:
    """The blocks ``(user block, item block)`` of sub-epoch ``sub_epoch``: ``(b, (b + s) % d)``."""
    d = check_int("n_blocks", n_blocks, min_value=1)
    s = check_int("sub_epoch", sub_epoch, min_value=0)
    return [(b, (b + s) % d) for b in range(d)]


def stratum_of(user_block, item_block, n_blocks: int):
    """The sub-epoch in which block ``(user_block, item_block)`` runs: ``(c - b) mod d``."""
    return (np.asarray(item_block) - np.asarray(user_block)) % n_blocks


def pack_block(
    users,
    items,
    ratings,
    order,
    n_users: int,
    n_items: int,
    *,
    n_factors: int,
    dtype=np.float32,
    task_bins: int | None = None,
) -> _blocked.BlockedLayout:
    """The blocked layout of one block's ratings.

    Parameters
    ----------
    users, items : array-like of int
        Block-local user and item ids (rows of the block's ``pu`` and ``qi``).
    ratings : array-like of float
    order : array-like of int or None
        A sort key giving the input order of the ratings (for example their position in
        the whole data set); ratings are visited in increasing ``order`` inside each user's
        run. None keeps the given order.
    n_users, n_items : int
        Rows of the block's ``pu`` and ``qi``.
    n_factors : int
        Used, with the sizes, to choose the sub-grid.
    dtype : numpy.float32 or numpy.float64
        Type in which the ratings are stored (the model's dtype).
    task_bins : int, optional
        Bins of the sub-grid inside the block. None chooses them from the block's size
        exactly as ``SVD(schedule="blocked")`` does for a whole trainset.

    Returns
    -------
    BlockedLayout
        With ``item_order``: ``items`` holds positions in the block's item rows stored bin
        by bin (``item_order[pos]`` is the block-local id at row ``pos``);
        ``train_block`` takes and returns the rows in block-local order.
    """
    dtype = np.dtype(dtype)
    users = np.asarray(users)
    items = np.asarray(items)
    ratings = np.asarray(ratings, dtype=np.float64)
    if not (len(users) == len(items) == len(ratings)):
        raise ValueError(
            f"users, items and ratings have lengths {len(users)}, {len(items)} and "
            f"{len(ratings)}: they must be equal"
        )
    if order is not None:
        perm = np.argsort(np.asarray(order), kind="stable")
        users, items, ratings = users[perm], items[perm], ratings[perm]
    if task_bins is None:
        task_bins = _blocked.choose_n_bins(
            len(ratings), n_users, n_items, n_factors, dtype.itemsize
        )
    task_bins = check_int("task_bins", task_bins, min_value=1)
    nbytes = len(ratings) * (4 + dtype.itemsize)
    if nbytes > MAX_BLOCK_BYTES:
        raise ValueError(
            f"a block of {len(ratings)} ratings needs {nbytes} bytes, more than the "
            f"{MAX_BLOCK_BYTES} one block may hold: use more blocks (n_blocks)"
        )
    ub = _blocked.user_bins(np.bincount(users, minlength=n_users), task_bins)
    ib = _blocked.item_bins(np.bincount(items, minlength=n_items), task_bins)
    # The items of a block are dealt to the task's bins in snake order, so neighbouring
    # rows belong to bins that other threads train at the same time: the layout refers to
    # the item rows stored bin by bin (item_order), as SVD(schedule="blocked") does.
    item_order = np.argsort(ib, kind="stable").astype(np.int32)
    position = np.empty_like(item_order)
    position[item_order] = np.arange(len(item_order), dtype=np.int32)
    out = _sgd.blocked_layout(
        np.ascontiguousarray(users, dtype=np.int32),
        np.ascontiguousarray(items, dtype=np.int32),
        np.ascontiguousarray(ratings),
        ub,
        ib,
        task_bins,
        dtype == np.float32,
        position,
    )
    return _blocked.BlockedLayout(task_bins, *out, ub, ib, item_order)


def encode_block(layout: _blocked.BlockedLayout) -> dict[str, bytes]:
    """The arrays the kernel needs, as raw bytes (native byte order), keyed by field name
    (``item_order`` empty when the layout refers to block-local ids directly)."""
    out = {}
    for name, _ in _LAYOUT_FIELDS:
        value = getattr(layout, name)
        out[name] = b"" if value is None else np.ascontiguousarray(value).tobytes()
    return out


def decode_block(fields, dtype) -> _blocked.BlockedLayout:
    """Inverse of ``encode_block`` (read-only views on the bytes, no copies).

    ``fields`` maps the field names to bytes-like objects. The bins of users and items are
    not stored (the kernel does not need them) and come back empty.
    """
    dtype = np.dtype(dtype)
    arrays = {
        name: np.frombuffer(fields[name], dtype=dtype if kind is None else kind)
        for name, kind in _LAYOUT_FIELDS
    }
    n_bins = math.isqrt(len(arrays["block_ptr"]) - 1)
    if n_bins * n_bins + 1 != len(arrays["block_ptr"]):
        raise ValueError(f"block_ptr has {len(arrays['block_ptr'])} entries, not B * B + 1")
    if len(arrays["item_order"]) == 0 and len(arrays["items"]) > 0:
        arrays["item_order"] = None  # a layout of block-local ids
    empty = np.empty(0, dtype=np.int32)
    return _blocked.BlockedLayout(n_bins, **arrays, user_bin=empty, item_bin=empty)


def to_bytes(a: np.ndarray) -> bytes:
    """A factor or bias block as raw bytes (C order, native byte order)."""
    return np.ascontiguousarray(a).tobytes()


def from_bytes(data, dtype, n_cols: int | None = None) -> np.ndarray:
    """A writable array from ``to_bytes`` output: 1-D, or ``(-1, n_cols)`` when given."""
    a = np.frombuffer(data, dtype=np.dtype(dtype)).copy()
    if n_cols is None:
        return a
    return a.reshape(-1, n_cols) if n_cols > 0 else a.reshape(0, 0)


def train_block(layout, pu, qi, bu, bi, global_mean: float, biased: bool, rates, n_threads=1):
    """One SGD pass over one packed block, in place on its factor and bias rows.

    ``pu``/``bu`` are the rows of the block's users and ``qi``/``bi`` those of its items
    (block-local ids index them); ``rates`` is ``SVD._rates()``'s 8-tuple. A layout with
    ``item_order`` trains copies of the item rows stored bin by bin, written back after.
    """
    order = layout.item_order
    if order is None:
        layout.epoch(pu, qi, bu, bi, global_mean, biased, rates, n_threads)
        return
    qw, bw = qi[order], bi[order]
    layout.epoch(pu, qw, bu, bw, global_mean, biased, rates, n_threads)
    qi[order], bi[order] = qw, bw


def train_block_rows(layout, pu, bu, qi_rows, bi_rows, global_mean, biased, rates, n_threads=1):
    """``train_block`` on item rows given read-only (as an engine receives them, e.g. views
    on a message's bytes): returns the trained ``(qi, bi)`` as new arrays in block-local
    order, with one copy each way (``pu`` and ``bu`` are trained in place)."""
    order = layout.item_order
    if order is None:
        qi, bi = qi_rows.copy(), bi_rows.copy()
        layout.epoch(pu, qi, bu, bi, global_mean, biased, rates, n_threads)
        return qi, bi
    qw, bw = qi_rows[order], bi_rows[order]
    layout.epoch(pu, qw, bu, bw, global_mean, biased, rates, n_threads)
    qi, bi = np.empty_like(qw), np.empty_like(bw)
    qi[order], bi[order] = qw, bw
    return qi, bi


def split_ratings(grid: Grid, users, items) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(b, c, indices)`` of the ratings of every non-empty block, in block order."""
    key = grid.user_block[users].astype(np.int64) * grid.n_blocks + grid.item_block[items]
    perm = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[perm], np.arange(grid.n_blocks**2 + 1))
    for k in range(grid.n_blocks**2):
        if bounds[k + 1] > bounds[k]:
            yield k // grid.n_blocks, k % grid.n_blocks, perm[bounds[k] : bounds[k + 1]]


def fit_local(
    users,
    items,
    ratings,
    pu,
    qi,
    bu,
    bi,
    *,
    n_blocks: int,
    n_epochs: int,
    global_mean: float,
    biased: bool,
    rates,
    task_bins: int | None = None,
    n_threads: int = 1,
) -> Grid:
    """Run DSGD serially on one machine, in place (the reference of every engine).

    ``users``/``items`` are inner ids in input order, ``pu``, ``qi``, ``bu``, ``bi`` the
    initial model (its dtype is the training dtype). Returns the grid used.
    """
    users = np.asarray(users)
    items = np.asarray(items)
    ratings = np.asarray(ratings, dtype=np.float64)
    grid = make_grid(
        np.bincount(users, minlength=len(bu)), np.bincount(items, minlength=len(bi)), n_blocks
    )
    k = pu.shape[1]
    blocks = {}
    for b, c, idx in split_ratings(grid, users, items):
        blocks[b, c] = pack_block(
            grid.user_local[users[idx]],
            grid.item_local[items[idx]],
            ratings[idx],
            None,  # idx is increasing: input order already
            grid.n_users_in(b),
            grid.n_items_in(c),
            n_factors=k,
            dtype=pu.dtype,
            task_bins=task_bins,
        )
    for _ in range(n_epochs):
        for s in range(grid.n_blocks):
            for b, c in strata(grid.n_blocks, s):
                if (b, c) not in blocks:
                    continue
                rows_u, rows_i = grid.users_of(b), grid.items_of(c)
                # Users are a slice (views, updated in place); items are gathered and
                # scattered back, as an engine ships them.
                qi_c, bi_c = qi[rows_i], bi[rows_i]
                train_block(
                    blocks[b, c],
                    pu[rows_u],
                    qi_c,
                    bu[rows_u],
                    bi_c,
                    global_mean,
                    biased,
                    rates,
                    n_threads,
                )
                qi[rows_i], bi[rows_i] = qi_c, bi_c
    return grid
