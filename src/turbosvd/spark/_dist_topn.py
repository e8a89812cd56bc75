"""Distributed top-N of a model held by Spark (``SparkSVD``'s ``recommend_for_all_users``,
``recommend_for_users``, ``similar_items_all``): the factors are read where training left
them and the seen items from the packed ratings on the same executors; nothing
proportional to users or ratings passes through the driver."""

from __future__ import annotations

import numpy as np
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .._validation import check_int
from ..prediction_algorithms.matrix_factorization import SVD
from ..train import dsgd as _dsgd
from ..trainset import Trainset
from ._common import _check_columns, _col, _task_threads, check_column
from .topn import _ranked_batch, _ranked_schema, _task_top_n

__all__ = ["recommend_distributed", "similar_distributed"]

_BLOCK_FIELDS = tuple(name for name, _ in _dsgd._LAYOUT_FIELDS)
_NAMES = ("user", "recommendations", "rating")
_SIMILAR = ("item", "similar", "similarity")


def _check_items_fit(model, what: str) -> None:
    check_column(
        f"{what}: all item factors for one task",
        model.n_items * model.n_factors * model.dtype.itemsize,
        "the items must fit one task; train fewer factors",
    )


def _item_rows(model, key_of=None):
    """Every item row (``side``, ``blk``, ``f``, ``b``, ``iids``, ``inner``, ``support``)
    once per user block ``tb`` (each task gets all item factors: ``d |qi|`` bytes in the
    shuffle), with ``part`` = ``key_of[tb]`` when given, else ``tb``."""
    d = model._grid.n_blocks
    targets = model._spark.range(0, d).select(F.col("id").cast("int").alias("tb"))
    items = model.factors.filter(F.col("side") == 1).join(model._ids(1), "blk")
    part = F.col("tb") if key_of is None else key_of[F.col("tb")]
    return items.crossJoin(F.broadcast(targets)).select(
        part.alias("part"), "side", "blk", "f", "b", F.col("ids").alias("iids"), "inner",
        "support",
    )  # fmt: skip


def _assemble_items(table, rows, n_items: int, k: int, dtype):
    """The full item side from a task's ``d`` item rows: ``qi`` and ``bi`` in inner-id
    order, the raw ids in inner-id order (Arrow), the inner ids of each item block, and the
    support (training ratings) of every item."""
    import pyarrow as pa

    blk = table.column("blk").to_numpy()
    qi = np.empty((n_items, k), dtype)
    bi = np.empty(n_items, dtype)
    support = np.zeros(n_items, dtype=np.int64)
    inner_of, raw_parts, inner_parts = {}, [], []
    f_col, b_col = table.column("f"), table.column("b")
    for r in rows[np.argsort(blk[rows], kind="stable")]:
        r = int(r)
        inner = np.asarray(table.column("inner")[r].values, dtype=np.int64)
        inner_of[int(blk[r])] = inner
        bi[inner] = np.frombuffer(b_col[r].as_buffer(), dtype)
        qi[inner] = np.frombuffer(f_col[r].as_buffer(), dtype).reshape(len(inner), k)
        support[inner] = np.asarray(table.column("support")[r].values, dtype=np.int64)
        raw_parts.append(table.column("iids")[r].values)
        inner_parts.append(inner)
    raw_items = pa.concat_arrays(raw_parts).take(
        pa.array(np.argsort(np.concatenate(inner_parts), kind="stable"))
    )
    return qi, bi, raw_items, inner_of, support


def recommend_distributed(
    model, n: int, exclude_seen: bool, *, min_support: int = 0, clip: bool = True,
    users_df=None, user_col: str = "user",
):  # fmt: skip
    """Top-``n`` of every user of ``model`` (a ``SparkSVD``), or of the users listed in
    ``users_df[user_col]``, as a DataFrame.

    One task per user block ``b`` (a cogroup on the partition key of the packed ratings):
    its left side holds the packed blocks ``(b, *)`` (the seen items; empty when
    ``exclude_seen`` is False), its right side user row ``b`` and every item row. The task
    assembles the items in inner-id order and runs the local top-N on a model of its users
    and all items (scored in float32, the same rows as the float64 search:
    ``RecommendMixin._top_n_single``), so its rows equal the local model's
    ``recommend_all(n, exclude_seen, min_support=min_support, clip=clip)``. Wanted users
    (``users_df``) are matched to their blocks by a join on the executors.
    """
    n = check_int("n", n, min_value=1)
    min_support = check_int("min_support", min_support, min_value=0)
    if not isinstance(exclude_seen, bool):
        raise TypeError(f"exclude_seen must be a bool, got {exclude_seen!r}")
    if not isinstance(clip, bool):
        raise TypeError(f"clip must be a bool, got {clip!r}")
    _check_items_fit(model, "top-N")
    grid, keys = model._grid, model._keys
    d, k, dtype = grid.n_blocks, model.n_factors, model.dtype.name
    biased, scale, mu = model.biased, model.trainset.rating_scale, model.global_mean
    n_items = model.n_items
    user_type = model._id_frames[0].schema.fields[0].dataType
    item_type = model._id_frames[1].schema.fields[0].dataType
    key_of = F.array(*[F.lit(int(x)) for x in keys[:d]])
    users = model.factors.filter(F.col("side") == 0).join(model._ids(0), "blk")
    if users_df is None:
        users = users.withColumn("want", F.lit(None).cast(T.ArrayType(T.IntegerType())))
    else:
        _check_columns(users_df, user_col=user_col)
        umap = model._id_frames[0]
        raw, _, blk, local = umap.columns[:4]
        wanted = (
            users_df.select(_col(user_col).cast(user_type).alias(raw))
            .distinct()
            .join(umap, raw)
            .groupBy(F.col(blk).alias("blk"))
            .agg(F.sort_array(F.collect_list(local)).alias("want"))
        )
        users = users.join(wanted, "blk")  # blocks without a wanted user drop out
    none = F.lit(None)
    right = users.select(
        key_of[F.col("blk")].alias("part"), "side", "blk", "f", "b",
        F.col("ids").alias("uids"), "want",
        none.cast(T.ArrayType(item_type)).alias("iids"),
        none.cast(T.ArrayType(T.IntegerType())).alias("inner"),
        none.cast(T.ArrayType(T.LongType())).alias("support"),
    ).unionByName(
        _item_rows(model, key_of).select(
            "part", "side", "blk", "f", "b",
            none.cast(T.ArrayType(user_type)).alias("uids"),
            none.cast(T.ArrayType(T.IntegerType())).alias("want"),
            "iids", "inner", "support",
        )
    )  # fmt: skip
    left = model._blocks.select("part", "ib", *_BLOCK_FIELDS)
    if not exclude_seen:
        left = left.filter(F.lit(False))
    out_schema = _ranked_schema(_NAMES, user_type, item_type)
    subset = users_df is not None  # (the task must not capture the DataFrame)

    def task(left_t, right_t):
        import pyarrow as pa

        side = right_t.column("side").to_numpy()
        urows = np.flatnonzero(side == 0)
        irows = np.flatnonzero(side == 1)
        if len(urows) == 0 and subset:  # no wanted user in this block
            return out_schema_arrow.empty_table()
        if len(urows) != 1 or len(irows) != d:
            raise RuntimeError(
                f"a top-N task got {len(urows)} user rows and {len(irows)} item rows; "
                f"expected 1 and {d}"
            )
        u = int(urows[0])
        uids = right_t.column("uids")[u].values
        m = len(uids)
        if m == 0:
            return out_schema_arrow.empty_table()
        pu = np.frombuffer(right_t.column("f")[u].as_buffer(), dtype).reshape(m, k)
        bu = np.frombuffer(right_t.column("b")[u].as_buffer(), dtype)
        qi, bi, raw_items, inner_of, support = _assemble_items(right_t, irows, n_items, k, dtype)
        seen_u, seen_i = [np.empty(0, np.int32)], [np.empty(0, np.int32)]
        for r in range(left_t.num_rows):
            layout = _dsgd.decode_block(
                {name: left_t.column(name)[r].as_buffer() for name in _BLOCK_FIELDS}, dtype
            )
            seen_u.append(np.repeat(layout.run_user, np.diff(layout.run_ptr)))
            c = left_t.column("ib")[r].as_py()
            local = layout.items if layout.item_order is None else layout.item_order[layout.items]
            seen_i.append(inner_of[c][local].astype(np.int32))
        seen_u, seen_i = np.concatenate(seen_u), np.concatenate(seen_i)
        want = right_t.column("want")[u].values
        if want is not None and subset:  # only these users of the block
            want = np.asarray(want, dtype=np.int64)
            position = np.full(m, -1, dtype=np.int64)
            position[want] = np.arange(len(want))
            keep = position[seen_u] >= 0
            seen_u, seen_i = position[seen_u[keep]].astype(np.int32), seen_i[keep]
            pu, bu, uids = pu[want], bu[want], uids.take(pa.array(want))
            m = len(want)
        sub_ts = Trainset.from_arrays(
            seen_u.astype(np.int32), seen_i, np.zeros(len(seen_i)),
            np.arange(m), np.arange(n_items), scale, global_mean=mu,
        )  # fmt: skip
        sub = SVD._from_factors(
            sub_ts, pu, qi, bu, bi, n_factors=k, biased=biased, schedule="blocked",
            dtype=dtype, n_jobs=_task_threads(),
        )  # fmt: skip
        cand = np.flatnonzero(support >= min_support) if min_support else None
        offsets, items, est, ranks = _task_top_n(sub, m, n, exclude_seen, clip, cand)
        batch = _ranked_batch(_NAMES, uids, offsets, raw_items.take(pa.array(items)), est, ranks)
        return pa.Table.from_batches([batch])

    from pyspark.sql.pandas.types import to_arrow_schema

    out_schema_arrow = to_arrow_schema(out_schema)
    grouped = left.groupBy("part").cogroup(right.groupBy("part"))
    if not hasattr(grouped, "applyInArrow"):  # pragma: no cover - pyspark < 4.0
        raise RuntimeError("top-N of a SparkSVD needs pyspark >= 4.0 (cogroup applyInArrow)")
    return grouped.applyInArrow(task, out_schema)


def similar_distributed(model, k: int, min_support: int = 0):
    """For every item of ``model`` (a ``SparkSVD``), the ``k`` most cosine-similar items,
    as ``SVD.similar_items(item, k, min_support=min_support)`` gives them.

    One task per item block: it receives every item row (``d |qi|`` bytes in the
    shuffle), assembles ``qi`` in inner-id order and runs the compiled cosine top-k for
    the block's items against the candidates (items with at least ``min_support``
    training ratings), each item excluded from its own list.
    """
    from ..topn import cosine_topk

    k = check_int("k", k, min_value=1)
    min_support = check_int("min_support", min_support, min_value=0)
    _check_items_fit(model, "similar items")
    d, n_factors, dtype = model._grid.n_blocks, model.n_factors, model.dtype.name
    n_items = model.n_items
    item_type = model._id_frames[1].schema.fields[0].dataType
    out_schema = _ranked_schema(_SIMILAR, item_type, item_type)

    def task(table):
        import pyarrow as pa

        rows = np.flatnonzero(table.column("side").to_numpy() == 1)
        if len(rows) != d:
            raise RuntimeError(f"a similar-items task got {len(rows)} item rows; expected {d}")
        tb = int(table.column("part")[0].as_py())
        qi, _, raw_items, inner_of, support = _assemble_items(
            table, rows, n_items, n_factors, dtype
        )
        queries = inner_of[tb]
        m = len(queries)
        if min_support:
            cand = np.flatnonzero(support >= min_support)
            pos = np.searchsorted(cand, queries)
            mine = (pos < len(cand)) & (cand[np.minimum(pos, len(cand) - 1)] == queries)
            Y = np.ascontiguousarray(qi[cand])
        else:
            cand, pos, mine, Y = None, queries, np.ones(m, dtype=bool), qi
        ptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(mine, out=ptr[1:])
        if len(Y) == 0:
            idx = np.full((m, 1), -1, dtype=np.int64)
            scores = np.full((m, 1), -np.inf, dtype=qi.dtype)
        else:
            idx, scores = cosine_topk(
                np.ascontiguousarray(qi[queries]), k, Y=Y,
                exclude=(ptr, pos[mine].astype(np.int64)), num_threads=_task_threads(),
            )  # fmt: skip
        valid = idx >= 0
        found = idx[valid] if cand is None else cand[idx[valid]]
        offsets = np.zeros(m + 1, dtype=np.int32)
        np.cumsum(valid.sum(axis=1), out=offsets[1:])
        ranks = np.broadcast_to(np.arange(1, idx.shape[1] + 1, dtype=np.int32), idx.shape)
        batch = _ranked_batch(
            _SIMILAR, raw_items.take(pa.array(queries)), offsets,
            raw_items.take(pa.array(found)), scores[valid].astype(np.float64), ranks[valid],
        )  # fmt: skip
        return pa.Table.from_batches([batch])

    grouped = _item_rows(model).groupBy("part")
    if not hasattr(grouped, "applyInArrow"):  # pragma: no cover - pyspark < 4.0
        raise RuntimeError("top-N of a SparkSVD needs pyspark >= 4.0 (applyInArrow)")
    return grouped.applyInArrow(task, out_schema)
