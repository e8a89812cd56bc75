"""Exact top-k search by cosine similarity or inner product, on plain arrays.

Both functions compare every query row with every item row (brute force, no index to
build), in tiles, with the GIL released and without materialising the score matrix; see
``csrc/turbosvd/cosine_topn.hpp`` for the algorithm. Typical uses: similar items
(``cosine_topk(qi, k)``), similar users, and recommendations
(``inner_product_topk(user_vectors, n, Y=item_vectors, exclude=seen)``).

Results, for every query, are the ``k`` best items, best first, ties broken by the smaller
item index. They are exactly the same (bit for bit) for any ``num_threads``, tile sizes and
strategy on a given machine.
"""

from __future__ import annotations

import numpy as np

from .. import _knn
from .._progress import make_progress
from .._threads import effective_n_threads
from .._validation import check_alloc, check_int

__all__ = ["cosine_topk", "inner_product_topk"]

_STRATEGIES = {"auto": 0, "queries": 1, "items": 2}


def cosine_topk(
    X,
    k: int,
    Y=None,
    *,
    exclude_self: bool = True,
    exclude=None,
    num_threads: int | None = None,
    query_tile: int | None = None,
    item_tile: int | None = None,
    strategy: str = "auto",
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``Y`` most cosine-similar to each row of ``X``.

    Parameters
    ----------
    X : numpy.ndarray of shape (n_queries, n_features), float32 or float64
        Query vectors.
    k : int
        Neighbours per query (>= 1). Clamped to the number of candidates: ``n_items``, or
        ``n_items - 1`` when the queries' own rows are excluded.
    Y : numpy.ndarray of shape (n_items, n_features), optional
        Item vectors, same dtype as ``X``. ``None`` (or ``X`` itself) searches ``X``
        against itself.
    exclude_self : bool, default True
        When searching ``X`` against itself, never return a query's own row.
        Ignored when ``Y`` is another array.
    exclude : (indptr, indices) or CSR matrix, optional
        Pairs to skip: the items ``indices[indptr[q]:indptr[q + 1]]`` are never returned
        for query ``q`` (for example the items a user has already rated). Any object with
        ``indptr`` and ``indices`` attributes (a ``scipy.sparse`` CSR matrix or array)
        works; rows need not be sorted and may repeat an index.
    num_threads : int, optional
        OpenMP threads. None: OpenMP's default, lowered for a small search so that every
        thread has at least 2**27 multiply-adds (~10 ms on one core) of work (a full
        MovieLens 100k search runs on one thread: a second one saves milliseconds there and
        costs tens of them when another process holds a core). A count is used as given;
        negative: back from the CPU count. Results never depend on it.
    query_tile, item_tile : int, optional
        Tile sizes (queries per parallel task; items whose packed vectors stay in cache).
        The defaults are tuned; results never depend on them.
    strategy : {'auto', 'queries', 'items'}, default 'auto'
        Which loop runs in parallel: query tiles (each thread owns whole output rows), or
        item tiles with private heaps merged at the end (better with few queries). 'auto'
        uses queries when there are at least two query tiles per thread.
    progress : bool or None, default None
        A progress bar on stderr for long searches (run as several compiled calls over
        slabs of queries). None: only when stderr is a terminal and the search lasts over
        a second. True: always. False: never.

    Returns
    -------
    indices : numpy.ndarray of shape (n_queries, k), int64
        Item row numbers, best first; ties are broken by the smaller index.
    scores : numpy.ndarray of shape (n_queries, k), dtype of ``X``
        The cosine similarities. Rows with fewer than ``k`` candidates (because of
        ``exclude``) are padded with index -1 and score -inf.

    Notes
    -----
    Each row is scaled to unit norm once (norm computed in float64); an all-zero row has
    cosine 0 with every row. Scores are accumulated in the input dtype, like BLAS
    ``sgemm``: pass float64 arrays for double precision. They can exceed 1 by a rounding
    error.
    """
    return _topk(
        X, k, Y, normalize=True, exclude_self=exclude_self, exclude=exclude,
        num_threads=num_threads, query_tile=query_tile, item_tile=item_tile,
        strategy=strategy, progress=progress,
    )  # fmt: skip


def inner_product_topk(
    X,
    k: int,
    Y=None,
    *,
    exclude_self: bool = True,
    exclude=None,
    num_threads: int | None = None,
    query_tile: int | None = None,
    item_tile: int | None = None,
    strategy: str = "auto",
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``Y`` with the largest inner product with each row of ``X``.

    Same parameters and results as :func:`cosine_topk`, with the raw inner product
    ``X[q] . Y[i]`` as the score (no normalisation), accumulated in the input dtype in
    increasing feature order.
    """
    return _topk(
        X, k, Y, normalize=False, exclude_self=exclude_self, exclude=exclude,
        num_threads=num_threads, query_tile=query_tile, item_tile=item_tile,
        strategy=strategy, progress=progress,
    )  # fmt: skip


# Multiply-adds per compiled call of a large search (about 0.1-0.3 s of work).
_SLAB_MULTIPLY_ADDS = 1 << 33


# Least work per thread when the caller leaves the thread count to the search.
_MIN_MULTIPLY_ADDS_PER_THREAD = 1 << 27


def _threads_for_work(n_threads: int, multiply_adds: int) -> int:
    """At most ``n_threads``, and one per ``_MIN_MULTIPLY_ADDS_PER_THREAD`` of work."""
    return max(1, min(n_threads, multiply_adds // _MIN_MULTIPLY_ADDS_PER_THREAD))


def _slab_rows(n_items: int, dim: int) -> int:
    """Queries per compiled call: at least 1024, so packing the items costs little."""
    return max(1024, _SLAB_MULTIPLY_ADDS // max(1, n_items * dim))


def _topk(
    X,
    k,
    Y,
    *,
    normalize: bool,
    exclude_self: bool = True,
    exclude=None,
    num_threads: int | None = None,
    query_tile: int | None = None,
    item_tile: int | None = None,
    strategy: str = "auto",
    progress: bool | None = None,
    verbose: bool = False,
):
    """The search behind the two public functions; ``verbose`` (a model's) joins the
    automatic progress rule."""
    self_search = Y is None or Y is X
    X = _as_matrix("X", X)
    Y = X if self_search else _as_matrix("Y", Y)
    if Y.dtype != X.dtype:
        raise TypeError(
            f"X has dtype {X.dtype} but Y has dtype {Y.dtype}: pass both in the same dtype"
        )
    if Y.shape[1] != X.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features (columns) but Y has {Y.shape[1]}: they must match"
        )
    k = check_int("k", k, min_value=1)
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise TypeError(f"exclude_self must be a bool, got {exclude_self!r}")
    exclude_diag = bool(exclude_self) and self_search
    n_queries, n_items = X.shape[0], Y.shape[0]
    k = max(0, min(k, n_items - (1 if exclude_diag else 0)))
    check_alloc(
        f"the top-{k} results of {n_queries} queries",
        n_queries * k * (np.dtype(np.int64).itemsize + X.dtype.itemsize),
    )
    n_threads = effective_n_threads(num_threads, "num_threads")
    if num_threads is None:
        n_threads = _threads_for_work(n_threads, n_queries * n_items * (X.shape[1] + 1))
    qt = 0 if query_tile is None else check_int("query_tile", query_tile, min_value=1)
    it = 0 if item_tile is None else check_int("item_tile", item_tile, min_value=1)
    if not isinstance(strategy, str) or strategy not in _STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not one of {tuple(_STRATEGIES)}")
    indptr = indices = None
    if exclude is not None:
        indptr, indices = _as_csr(exclude, n_queries, n_items)
    # Big searches run as slabs of queries, each one compiled call of ~0.1-0.3 s, so Ctrl-C is
    # handled promptly between them. Results do not depend on the slab size.
    rows = _slab_rows(n_items, X.shape[1])
    bar = None
    if n_queries > rows:
        bar = make_progress(progress, n_queries, "top-k search", verbose=verbose, unit="queries")
    elif progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be None or a bool, got {progress!r}")
    if n_queries <= rows:
        return _knn.topk(
            X,
            Y,
            k,
            normalize,
            exclude_diag,
            indptr,
            indices,
            qt,
            it,
            n_threads,
            _STRATEGIES[strategy],
        )
    out_idx = np.empty((n_queries, k), dtype=np.int64)
    out_scores = np.empty((n_queries, k), dtype=X.dtype)
    ok = False
    try:
        for s in range(0, n_queries, rows):
            e = min(n_queries, s + rows)
            slab_indptr = slab_indices = None
            if indptr is not None:
                slab_indptr = indptr[s : e + 1] - indptr[s]
                slab_indices = indices[indptr[s] : indptr[e]]
            out_idx[s:e], out_scores[s:e] = _knn.topk(
                X[s:e],
                Y,
                k,
                normalize,
                exclude_diag,
                slab_indptr,
                slab_indices,
                qt,
                it,
                n_threads,
                _STRATEGIES[strategy],
                s,
            )
            if bar is not None:
                bar.update(e, final=e == n_queries)
        ok = True
    finally:
        if bar is not None:
            bar.close(keep=not ok)
    return out_idx, out_scores


def _as_matrix(name: str, A) -> np.ndarray:
    if not isinstance(A, np.ndarray):
        try:
            A = np.asarray(A)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a 2-d float32 or float64 array: {e}") from None
    if A.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-d array of shape (n_rows, n_features), got shape {A.shape}"
        )
    if A.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{name} has dtype {A.dtype}; expected float32 or float64 "
            f"(convert with {name}.astype(np.float32))"
        )
    A = np.ascontiguousarray(A)
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return A


def _as_csr(exclude, n_queries: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated (indptr, indices) int64 arrays with each row sorted."""
    if hasattr(exclude, "indptr") and hasattr(exclude, "indices"):
        shape = getattr(exclude, "shape", None)
        if shape is not None and tuple(shape) != (n_queries, n_items):
            raise ValueError(
                f"exclude has shape {tuple(shape)}, expected (n_queries, n_items) = "
                f"({n_queries}, {n_items})"
            )
        indptr, indices = exclude.indptr, exclude.indices
    elif isinstance(exclude, tuple) and len(exclude) == 2:
        indptr, indices = exclude
    else:
        raise TypeError(
            "exclude must be a (indptr, indices) tuple or a CSR matrix, "
            f"got {type(exclude).__name__}"
        )
    indptr = _as_index_array("exclude indptr", indptr)
    indices = _as_index_array("exclude indices", indices)
    if len(indptr) != n_queries + 1:
        raise ValueError(
            f"exclude indptr has {len(indptr)} entries, expected n_queries + 1 = {n_queries + 1}"
        )
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise ValueError(
            "exclude indptr must start at 0, never decrease, and end at len(indices) "
            f"= {len(indices)}"
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        bad = indices[(indices < 0) | (indices >= n_items)][0]
        raise ValueError(f"exclude contains item index {bad}, outside [0, n_items={n_items})")
    # Sort each row (the kernel looks indices up by binary search).
    if len(indices) > 1:
        step_down = np.diff(indices) < 0
        if step_down.any():
            rows = np.repeat(np.arange(n_queries), np.diff(indptr))
            if (step_down & (rows[1:] == rows[:-1])).any():
                indices = indices[np.lexsort((indices, rows))]
    return np.ascontiguousarray(indptr), np.ascontiguousarray(indices)


def _as_index_array(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {a.shape}")
    if len(a) and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)
