"""Distributed top-N of a model held by Spark (``SparkSVD.recommend_for_all_users``): the
factors are read where training left them and the seen items from the packed ratings on
the same executors; nothing passes through the driver."""

from __future__ import annotations

import numpy as np
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .._validation import check_int
from ..prediction_algorithms.matrix_factorization import SVD
from ..train import dsgd as _dsgd
from ..trainset import Trainset
from ._common import _task_threads, check_column
from .topn import _ranked_batch, _ranked_schema, _task_top_n

__all__ = ["recommend_distributed"]

_BLOCK_FIELDS = tuple(name for name, _ in _dsgd._LAYOUT_FIELDS)
_NAMES = ("user", "recommendations", "rating")


def recommend_distributed(model, n: int, exclude_seen: bool):
    """Top-``n`` of every user of ``model`` (a ``SparkSVD``), as a DataFrame.

    One task per user block ``b`` (a cogroup on the partition key of the packed ratings):
    its left side holds the packed blocks ``(b, *)`` (the seen items; empty when
    ``exclude_seen`` is False), its right side user row ``b`` and every item row (each
    item row is sent to every user block: ``d |qi|`` bytes in the shuffle). The task
    assembles the items in inner-id order and runs ``SVD.recommend_all`` on a model of its
    users and all items, so its rows equal the local model's.
    """
    n = check_int("n", n, min_value=1)
    if not isinstance(exclude_seen, bool):
        raise TypeError(f"exclude_seen must be a bool, got {exclude_seen!r}")
    spark, grid, keys = model._spark, model._grid, model._keys
    d, k, dtype = grid.n_blocks, model.n_factors, model.dtype.name
    itemsize = model.dtype.itemsize
    check_column(
        "top-N: all item factors for one task",
        model.n_items * k * itemsize,
        "the items must fit one task; train fewer factors",
    )
    biased, scale, mu = model.biased, model.trainset.rating_scale, model.global_mean
    n_items = model.n_items
    user_type = model._id_frames[0].schema.fields[0].dataType
    item_type = model._id_frames[1].schema.fields[0].dataType
    key_of = F.array(*[F.lit(int(x)) for x in keys[:d]])
    factors = model.factors
    users = factors.filter(F.col("side") == 0).join(model._ids(0), "blk")
    items = factors.filter(F.col("side") == 1).join(model._ids(1), "blk")
    targets = spark.range(0, d).select(F.col("id").cast("int").alias("tb"))
    right = users.select(
        key_of[F.col("blk")].alias("part"), "side", "blk", "f", "b",
        F.col("ids").alias("uids"),
        F.lit(None).cast(T.ArrayType(item_type)).alias("iids"),
        F.lit(None).cast(T.ArrayType(T.IntegerType())).alias("inner"),
    ).unionByName(
        items.crossJoin(F.broadcast(targets)).select(
            key_of[F.col("tb")].alias("part"), "side", "blk", "f", "b",
            F.lit(None).cast(T.ArrayType(user_type)).alias("uids"),
            F.col("ids").alias("iids"), "inner",
        )
    )  # fmt: skip
    left = model._blocks.select("part", "ib", *_BLOCK_FIELDS)
    if not exclude_seen:
        left = left.filter(F.lit(False))
    out_schema = _ranked_schema(_NAMES, user_type, item_type)

    def task(left_t, right_t):
        import pyarrow as pa

        side = right_t.column("side").to_numpy()
        blk = right_t.column("blk").to_numpy()
        urows = np.flatnonzero(side == 0)
        irows = np.flatnonzero(side == 1)
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
        f_col, b_col = right_t.column("f"), right_t.column("b")
        pu = np.frombuffer(f_col[u].as_buffer(), dtype).reshape(m, k)
        bu = np.frombuffer(b_col[u].as_buffer(), dtype)
        qi = np.empty((n_items, k), dtype)
        bi = np.empty(n_items, dtype)
        inner_of, raw_parts, inner_parts = {}, [], []
        for r in irows[np.argsort(blk[irows], kind="stable")]:
            inner = np.asarray(right_t.column("inner")[int(r)].values, dtype=np.int64)
            inner_of[int(blk[r])] = inner
            qi[inner] = np.frombuffer(f_col[int(r)].as_buffer(), dtype).reshape(-1, k)
            bi[inner] = np.frombuffer(b_col[int(r)].as_buffer(), dtype)
            raw_parts.append(right_t.column("iids")[int(r)].values)
            inner_parts.append(inner)
        raw_items = pa.concat_arrays(raw_parts).take(
            pa.array(np.argsort(np.concatenate(inner_parts), kind="stable"))
        )
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
        sub_ts = Trainset.from_arrays(
            seen_u.astype(np.int32), seen_i, np.zeros(len(seen_i)),
            np.arange(m), np.arange(n_items), scale, global_mean=mu,
        )  # fmt: skip
        sub = SVD._from_factors(
            sub_ts, pu, qi, bu, bi, n_factors=k, biased=biased, schedule="blocked",
            dtype=dtype, n_jobs=_task_threads(),
        )  # fmt: skip
        offsets, items, est, ranks = _task_top_n(sub, m, n, exclude_seen)
        batch = _ranked_batch(_NAMES, uids, offsets, raw_items.take(pa.array(items)), est, ranks)
        return pa.Table.from_batches([batch])

    from pyspark.sql.pandas.types import to_arrow_schema

    out_schema_arrow = to_arrow_schema(out_schema)
    grouped = left.groupBy("part").cogroup(right.groupBy("part"))
    if not hasattr(grouped, "applyInArrow"):  # pragma: no cover - pyspark < 4.0
        raise RuntimeError("top-N of a SparkSVD needs pyspark >= 4.0 (cogroup applyInArrow)")
    return grouped.applyInArrow(task, out_schema)
