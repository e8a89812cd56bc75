"""Distributed top-N on Spark: ``recommend_for_all_users``, ``recommend_for_users``,
``similar_items_all`` (ALS-shaped output; each task runs the compiled top-k search)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .._validation import check_int
from ..prediction_algorithms.matrix_factorization import SVD
from ..topn import recommend as _topn_local
from ..trainset import Trainset
from ._common import (
    _check_columns,
    _col,
    _default_parallelism,
    _partition_keys,
    _task_threads,
    local_frame,
    session_limits,
)

__all__ = ["recommend_for_all_users", "recommend_for_users", "similar_items_all"]


# ------------------------------------------------------------------------------ top-N
def _id_types(ids: np.ndarray) -> tuple[T.DataType, Any]:
    """The Spark and Arrow types of an array of raw ids."""
    import pyarrow as pa

    kind = ids.dtype.kind
    if kind == "i" and ids.dtype.itemsize <= 4:
        return T.IntegerType(), pa.int32()
    if kind in "iu":
        return T.LongType(), pa.int64()
    if kind == "f":
        return T.DoubleType(), pa.float64()
    values = ids.tolist()
    if all(isinstance(v, str) for v in values):
        return T.StringType(), pa.string()
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return T.LongType(), pa.int64()
    raise TypeError(
        "raw ids must all be strings, all integers or all floats to become a Spark column; "
        f"got {sorted({type(v).__name__ for v in values})}"
    )


def _seen_rows(csr, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The items each of ``users`` rated: a CSR (indptr, item inner ids) in ``users`` order,
    from the trainset's ``user_csr()`` (computed once for all blocks)."""
    indptr, items, _ = csr
    starts, lengths = indptr[users], indptr[users + 1] - indptr[users]
    sub_ptr = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum(lengths, out=sub_ptr[1:])
    take = np.repeat(starts - sub_ptr[:-1], lengths) + np.arange(sub_ptr[-1])
    return sub_ptr, items[take].astype(np.int64)


def _n_query_blocks(spark, n_queries: int, n_blocks) -> int:
    if n_blocks is None:
        # One block per core: the other side is shipped once per block, so fewer, larger
        # blocks are cheaper; tiny blocks are not worth a task.
        n_blocks = max(1, min(_default_parallelism(spark), -(-n_queries // 256)))
    n_blocks = check_int("n_blocks", n_blocks, min_value=1)
    return max(1, min(n_blocks, n_queries))


def _block_frame(spark, pdf: pd.DataFrame, schema: T.StructType, n_blocks: int):
    """``pdf`` (one row per block, column ``part`` = block number) with block b alone in
    partition b, so that each block is one task."""
    n_parts = max(n_blocks, 2)
    keys = _partition_keys(spark, n_parts)
    pdf = pdf.assign(part=np.asarray(keys, dtype=np.int32)[pdf["part"].to_numpy()])
    frame = local_frame(
        spark, pdf, schema, session_limits(spark), "top-N of a local model: one block of queries",
        f"use more blocks (n_blocks={n_blocks}), or keep the model in Spark (fit_distributed)",
    )  # fmt: skip
    return frame.repartition(n_parts, "part")


def _one_row(spark, pdf: pd.DataFrame, schema: T.StructType):
    """A one-row frame of the model's other side, sent to every task (size-checked)."""
    return local_frame(
        spark, pdf, schema, session_limits(spark), "top-N of a local model: all candidates",
        "keep the model in Spark (fit_distributed) and use its top-N",
    )  # fmt: skip


def _dtype_name(model) -> str:
    return np.asarray(model.pu).dtype.name


def _buffer(column, row: int):
    """The bytes of a binary Arrow cell, without a copy."""
    return column[row].as_buffer()


def _recommend(
    spark, model, users: np.ndarray, n: int, exclude_seen: bool, n_blocks, min_support=0,
    clip=True,
):  # fmt: skip
    """Top-n of the inner ``users`` (in that order), as a DataFrame of nested rows."""
    import pyarrow as pa

    ts = model.trainset
    if exclude_seen and len(ts.rating_arrays()[2]) == 0:
        raise ValueError(
            "exclude_seen=True needs the training ratings, but model.trainset holds none "
            "(fit with keep_ratings=True, or pass exclude_seen=False)"
        )
    # Candidate items (min_support): the tasks search only these, as recommend_all does.
    cand = _topn_local.candidates(ts, "item", min_support)
    cand = np.arange(ts.n_items) if cand is None else cand
    user_ids, item_ids = ts.raw_user_ids, ts.raw_item_ids
    user_type, _ = _id_types(user_ids)
    item_type, _ = _id_types(item_ids)
    d = _n_query_blocks(spark, len(users), n_blocks)
    bounds = np.linspace(0, len(users), d + 1).astype(np.int64)
    pu, bu = np.ascontiguousarray(model.pu), np.ascontiguousarray(model.bu)
    rows = []
    csr = ts.user_csr() if exclude_seen else None
    for b in range(d):
        block = users[bounds[b] : bounds[b + 1]]
        if exclude_seen:
            ptr, idx = _seen_rows(csr, block)
            if len(cand) < ts.n_items:
                ptr, idx = _topn_local.restrict_exclusions(ptr, idx, cand, ts.n_items)
        else:
            ptr, idx = np.zeros(len(block) + 1, np.int64), np.empty(0, np.int64)
        rows.append(
            {
                "part": b,
                "pu": pu[block].tobytes(),
                "bu": bu[block].tobytes(),
                "seen_ptr": ptr.tobytes(),
                "seen_idx": idx.tobytes(),
                "user_ids": user_ids[block].tolist(),
            }
        )
    schema = T.StructType(
        [T.StructField("part", T.IntegerType())]
        + [T.StructField(c, T.BinaryType()) for c in ("pu", "bu", "seen_ptr", "seen_idx")]
        + [T.StructField("user_ids", T.ArrayType(user_type))]
    )
    blocks = _block_frame(spark, pd.DataFrame(rows), schema, d)
    items = _one_row(
        spark,
        pd.DataFrame(
            {
                "qi": [np.ascontiguousarray(model.qi[cand]).tobytes()],
                "bi": [np.ascontiguousarray(model.bi[cand]).tobytes()],
                "item_ids": [item_ids[cand].tolist()],
            }
        ),
        T.StructType(
            [
                T.StructField("qi", T.BinaryType()),
                T.StructField("bi", T.BinaryType()),
                T.StructField("item_ids", T.ArrayType(item_type)),
            ]
        ),
    )
    dtype_name = _dtype_name(model)
    k, biased = model.n_factors, bool(model.biased)
    mu, scale = float(ts.global_mean), ts.rating_scale
    n_items = len(cand)

    def task(batches):
        for batch in batches:
            for r in range(batch.num_rows):
                item_ids = batch.column("item_ids")[r].values
                user_ids = batch.column("user_ids")[r].values
                m = len(user_ids)
                ptr = np.frombuffer(_buffer(batch.column("seen_ptr"), r), dtype=np.int64)
                idx = np.frombuffer(_buffer(batch.column("seen_idx"), r), dtype=np.int64)
                # A model of this block's users and all items, whose trainset holds the
                # block's seen items: its recommend_all is the local one, row for row.
                sub_ts = Trainset.from_arrays(
                    np.repeat(np.arange(m, dtype=np.int32), np.diff(ptr)),
                    idx.astype(np.int32),
                    np.zeros(len(idx)),
                    np.arange(m),
                    np.arange(n_items),
                    scale,
                    global_mean=mu,
                )
                sub = SVD._from_factors(
                    sub_ts,
                    np.frombuffer(_buffer(batch.column("pu"), r), dtype_name).reshape(m, k),
                    np.frombuffer(_buffer(batch.column("qi"), r), dtype_name).reshape(-1, k),
                    np.frombuffer(_buffer(batch.column("bu"), r), dtype_name),
                    np.frombuffer(_buffer(batch.column("bi"), r), dtype_name),
                    n_factors=k,
                    biased=biased,
                    schedule="blocked",
                    dtype=dtype_name,
                    n_jobs=_task_threads(),
                )
                offsets, items, est, ranks = _task_top_n(sub, m, n, exclude_seen, clip)
                yield _ranked_batch(
                    ("user", "recommendations", "rating"),
                    user_ids,
                    offsets,
                    item_ids.take(pa.array(items)),
                    est,
                    ranks,
                )

    out = _ranked_schema(("user", "recommendations", "rating"), user_type, item_type)
    return blocks.crossJoin(F.broadcast(items)).mapInArrow(task, out)


def recommend_for_all_users(
    model, spark: SparkSession | None = None, n: int = 10, exclude_seen: bool = True, *,
    n_blocks=None, min_support: int = 0, clip: bool = True,
) -> DataFrame:  # fmt: skip
    """The top ``n`` items of every user of the trainset, computed in Spark tasks.

    ``model`` is a local ``SVD`` or a ``SparkSVD`` (``fit_distributed``). For a
    ``SparkSVD`` everything happens on the executors (``SparkSVD.recommend_for_all_users``;
    ``spark`` and ``n_blocks`` are not used). For a local model:

    The users are cut into ``n_blocks`` blocks, one task each; every task receives its
    users' factors, biases and seen items, plus the item factors (once per task, through a
    broadcast join of a one-row DataFrame), and runs ``SVD.recommend_all`` (the compiled
    top-N kernel) on them.

    Parameters
    ----------
    model : SVD or SparkSVD
        A fitted model whose ``recommend_all`` is available.
    spark : SparkSession
        Needed for a local model.
    n : int, default 10
        Recommendations per user (>= 1), clamped to the number of candidate items.
    exclude_seen : bool, default True
        Leave out the items each user rated in the trainset (which Spark's ALS cannot do).
        Needs the training ratings in ``model.trainset``.
    n_blocks : int, optional
        Tasks. None uses one per core of the session (when it tells), at most one per 256
        users.
    min_support : int, default 0
        Only items with at least this many training ratings are recommended (0: all), as
        in ``SVD.recommend_all``; needs the training ratings when positive.
    clip : bool, default True
        ``rating`` clipped to the rating scale (what ``predict`` shows); False: the
        unclipped estimate. The ranking uses the unclipped estimate either way.

    Returns
    -------
    pyspark.sql.DataFrame
        Shaped like ``ALSModel.recommendForAllUsers``: ``user`` (raw id) and
        ``recommendations``, an array of ``struct<item, rating, rank>`` best first, where
        ``rating`` is the estimate (double, as ``recommend_all``'s ``estimate``)
        and ``rank`` starts at 1. Exactly ``model.recommend_all(n, exclude_seen,
        min_support=min_support, clip=clip)``, nested
        per user; a user without candidates has an empty array. Row order is not
        specified (sort by ``user`` if needed).
    """
    if getattr(model, "is_distributed", False):  # a SparkSVD: factors stay where they are
        return model.recommend_for_all_users(n, exclude_seen, min_support=min_support, clip=clip)
    model._check_fitted("recommend_for_all_users")
    n = check_int("n", n, min_value=1)
    if not isinstance(exclude_seen, bool):
        raise TypeError(f"exclude_seen must be a bool, got {exclude_seen!r}")
    if not isinstance(clip, bool):
        raise TypeError(f"clip must be a bool, got {clip!r}")
    users = np.arange(model.trainset.n_users, dtype=np.int64)
    return _recommend(spark, model, users, n, exclude_seen, n_blocks, min_support, clip)


def recommend_for_users(
    model: SVD,
    users_df: DataFrame,
    n: int = 10,
    exclude_seen: bool = True,
    *,
    user_col: str = "user",
    n_blocks=None,
    min_support: int = 0,
    clip: bool = True,
) -> DataFrame:
    """The top ``n`` items of the users listed in ``users_df`` (``recommendForUserSubset``).

    Ids that are not in the trainset are left out (they have no factors, as with ALS). For
    a local ``model`` the distinct raw ids of ``users_df[user_col]`` are collected to the
    driver and the rest runs as :func:`recommend_for_all_users` on those users, with the
    same output. For a ``SparkSVD`` the ids are matched to their blocks by a join on the
    executors (``SparkSVD.recommend_for_users``; ``n_blocks`` is not used).
    """
    if getattr(model, "is_distributed", False):
        return model.recommend_for_users(
            users_df, n, exclude_seen, user_col=user_col, min_support=min_support, clip=clip
        )
    model._check_fitted("recommend_for_users")
    n = check_int("n", n, min_value=1)
    if not isinstance(exclude_seen, bool):
        raise TypeError(f"exclude_seen must be a bool, got {exclude_seen!r}")
    if not isinstance(clip, bool):
        raise TypeError(f"clip must be a bool, got {clip!r}")
    _check_columns(users_df, user_col=user_col)
    raw = users_df.select(_col(user_col)).distinct().toPandas().iloc[:, 0].tolist()
    inner = model.trainset.inner_uids(raw)
    users = np.unique(inner[inner >= 0]).astype(np.int64)
    return _recommend(
        users_df.sparkSession, model, users, n, exclude_seen, n_blocks, min_support, clip
    )


def similar_items_all(
    model, spark: SparkSession | None = None, k: int = 10, *, n_blocks=None,
    min_support: int = 0,
) -> DataFrame:  # fmt: skip
    """For every item, the ``k`` items whose factors are most cosine-similar, in Spark tasks.

    Each task takes a block of items as queries and all item factors (shipped once per
    task) as candidates, and runs the compiled cosine top-k (``turbosvd.topn.cosine_topk``)
    exactly as ``SVD.similar_items`` does for one item. ``model`` is a local ``SVD`` or a
    ``SparkSVD`` (then everything runs on the executors, one task per item block;
    ``spark`` and ``n_blocks`` are not used).

    Parameters
    ----------
    min_support : int, default 0
        Only items with at least this many training ratings are candidates (the query item
        itself may have fewer), as in ``SVD.similar_items``; needs the training ratings
        when positive (a ``SparkSVD`` always has their counts).

    Returns
    -------
    pyspark.sql.DataFrame
        ``item`` (raw id) and ``similar``, an array of ``struct<item, similarity, rank>``
        best first (the item itself excluded, ties by smaller inner id); the same items
        and scores (widened to double) as ``model.similar_items(item, k, min_support=
        min_support)``.
    """
    import pyarrow as pa

    if getattr(model, "is_distributed", False):
        return model.similar_items_all(k, min_support=min_support)
    model._check_fitted("similar_items_all")
    k = check_int("k", k, min_value=1)
    if spark is None:
        raise TypeError("similar_items_all needs a SparkSession for a local model")
    ts = model.trainset
    cand = _topn_local.candidates(ts, "item", min_support)
    item_ids = ts.raw_item_ids
    item_type, _ = _id_types(item_ids)
    d = _n_query_blocks(spark, ts.n_items, n_blocks)
    bounds = np.linspace(0, ts.n_items, d + 1).astype(np.int64)
    qi = np.ascontiguousarray(model.qi)
    cand_ids = np.arange(ts.n_items) if cand is None else cand
    blocks = _block_frame(
        spark,
        pd.DataFrame({"part": np.arange(d), "start": bounds[:-1], "stop": bounds[1:]}),
        T.StructType([T.StructField(c, T.LongType()) for c in ("part", "start", "stop")]),
        d,
    )
    items = _one_row(
        spark,
        pd.DataFrame(
            {
                "qi": [qi.tobytes()],
                "item_ids": [item_ids.tolist()],
                "cand": [np.asarray(cand_ids, dtype=np.int64).tobytes()],
            }
        ),  # fmt: skip
        T.StructType(
            [
                T.StructField("qi", T.BinaryType()),
                T.StructField("item_ids", T.ArrayType(item_type)),
                T.StructField("cand", T.BinaryType()),
            ]
        ),
    )
    filtered = cand is not None
    dtype_name, n_factors = _dtype_name(model), model.n_factors

    def task(batches):
        from turbosvd.topn import cosine_topk

        for batch in batches:
            for r in range(batch.num_rows):
                start = batch.column("start")[r].as_py()
                stop = batch.column("stop")[r].as_py()
                item_ids = batch.column("item_ids")[r].values
                factors = np.frombuffer(_buffer(batch.column("qi"), r), dtype_name)
                factors = factors.reshape(-1, n_factors)
                m = stop - start
                queries = np.arange(start, stop)
                if filtered:  # candidates only; a query is excluded where it is one
                    cand = np.frombuffer(_buffer(batch.column("cand"), r), dtype=np.int64)
                    pos = np.searchsorted(cand, queries)
                    mine = (pos < len(cand)) & (cand[np.minimum(pos, len(cand) - 1)] == queries)
                    Y = np.ascontiguousarray(factors[cand])
                else:
                    cand, pos, mine, Y = None, queries, np.ones(m, dtype=bool), factors
                ptr = np.zeros(m + 1, dtype=np.int64)
                np.cumsum(mine, out=ptr[1:])
                if len(Y) == 0:
                    idx = np.full((m, 1), -1, dtype=np.int64)
                    scores = np.full((m, 1), -np.inf)
                else:
                    idx, scores = cosine_topk(
                        factors[start:stop], k, Y=Y, exclude=(ptr, pos[mine]),
                        num_threads=_task_threads(),
                    )  # fmt: skip
                valid = idx >= 0
                offsets = np.zeros(m + 1, dtype=np.int32)
                np.cumsum(valid.sum(axis=1), out=offsets[1:])
                ranks = np.broadcast_to(np.arange(1, idx.shape[1] + 1, dtype=np.int32), idx.shape)
                yield _ranked_batch(
                    ("item", "similar", "similarity"),
                    item_ids.slice(start, m),
                    offsets,
                    item_ids.take(pa.array(idx[valid] if cand is None else cand[idx[valid]])),
                    scores[valid].astype(np.float64),
                    ranks[valid],
                )

    out = _ranked_schema(("item", "similar", "similarity"), item_type, item_type)
    return blocks.crossJoin(F.broadcast(items)).mapInArrow(task, out)


def _task_top_n(sub, m: int, n: int, exclude_seen: bool, clip: bool = True, cand=None):
    """A top-N task's rows: ``sub.recommend_all(n, exclude_seen, clip=clip)`` for the
    ``m`` users of ``sub`` (a model of the task's users; ``cand``: the candidate items,
    None for all), searched in float32 (``_top_n_single``: the same rows as the float64
    search, see there). Returns the per-user offsets (int32, ``m + 1``), the inner items
    (int64), the estimates shown (float64) and the ranks (int32), users in order, best
    first."""
    _, items, est = sub._top_n_single(np.arange(m), n, exclude_seen, cand=cand)
    valid = items >= 0
    offsets = np.zeros(m + 1, dtype=np.int32)
    np.cumsum(valid.sum(axis=1), out=offsets[1:])
    ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1, dtype=np.int32), items.shape)
    return offsets, items[valid], sub._shown(est[valid], clip), ranks[valid]


def _ranked_schema(names, key_type, item_type) -> T.StructType:
    """ALS's output shape: a key column and an array of (item, score, rank) structs.

    ``names`` is (key column, array column, score field).
    """
    key, lists, score = names
    entry = T.StructType(
        [
            T.StructField("item", item_type),
            T.StructField(score, T.DoubleType()),
            T.StructField("rank", T.IntegerType()),
        ]
    )
    return T.StructType([T.StructField(key, key_type), T.StructField(lists, T.ArrayType(entry))])


def _ranked_batch(names, keys, offsets, items, scores, ranks):
    """An Arrow batch of ``_ranked_schema(names, ...)``: row ``r`` is ``keys[r]`` and the
    entries ``offsets[r]:offsets[r + 1]`` of ``items`` (Arrow), ``scores`` (float64) and
    ``ranks`` (int32)."""
    import pyarrow as pa

    key, lists, score = names
    struct = pa.StructArray.from_arrays(
        [items, pa.array(scores), pa.array(ranks)], names=["item", score, "rank"]
    )
    return pa.RecordBatch.from_arrays(
        [keys, pa.ListArray.from_arrays(pa.array(offsets), struct)], names=[key, lists]
    )
