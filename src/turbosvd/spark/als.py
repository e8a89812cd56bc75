"""Distributed ALS on Spark: ``turbosvd.spark.fit_als``.

The model and the solver are those of :class:`turbosvd.ALS` (biased ALS-WR, one compiled
half-sweep per block of rows, ``csrc/turbosvd/als.hpp``); only where the rows live
changes:

1. The ratings get inner ids numbered by first appearance (as ``Dataset.load_from_df``
   numbers them). User ``u`` belongs to user block ``u mod d``, item ``i`` to item block
   ``i mod d``. Every block's ratings are packed **once** into one row per side (a CSR of
   the block's rows: ``indptr``, the other side's inner ids, the ratings, each row's
   ratings in the order of the local ``Trainset.user_csr()`` / ``item_csr()``), the
   packed rows are partitioned so that block ``b`` of either side lives in partition
   ``b``, and persisted. They never move again.
2. The model lives on the executors as ``2 d`` factor rows, one per block: the block's
   padded working rows of the local solver (``[factors, 1, 0 ...]``) and its biases, as
   raw bytes. The driver draws the initial factors exactly as ``ALS`` does and ships them
   once.
3. A half-sweep (users, then items) solves every block of one side against the whole
   other side: each of the other side's ``d`` factor rows is replicated to the ``d``
   blocks (the "broadcast of the small side", through a shuffle, since the DataFrame API
   has no broadcast variables on Spark Connect), cogrouped by block with the packed
   ratings and the block's own factor row, and each task reassembles the other side's
   matrix and runs the compiled half-sweep on its block's rows with the
   ``spark.task.cpus`` threads Spark gives it. The new factor rows are cut from their
   lineage with ``localCheckpoint(eager=True)``; the driver drops the previous ones.
4. After the last sweep the driver collects the ``2 d`` rows once and returns a local
   ``ALS`` (``ALS._from_factors``), which the distributed top-N and the converters accept
   like an ``SVD``.

Rows are independent within a half-sweep and each row's arithmetic has a fixed order, so
the result equals the local ``ALS.fit`` on the same data, bit for bit, for any ``d`` and
any number of task threads.

Cost per sweep: every packed rating is read once from the executors' cache; the shuffle
moves ``d`` copies of each side's factors (``d (n_users + n_items) (k + 1)`` values),
and each task holds the whole other side, which ``max_side_bytes`` bounds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .. import _als
from .._validation import check_int
from ..als import solver as als
from ..exceptions import ModelFitError
from ..prediction_algorithms.als import ALS
from ..train import dsgd as _dsgd
from ..trainset import Trainset
from ..utils import get_rng
from ._common import (
    _check_columns,
    _check_rating_scale,
    _col,
    _default_parallelism,
    _id_map,
    _partition_keys,
    _rating_stats,
    _task_threads,
)

__all__ = ["fit_als"]

# Ratings per block below which more blocks only add tasks (a task costs ~0.1 s).
MIN_ALS_BLOCK_RATINGS = 50_000
# Default bound on the bytes of one side's factors, which every task of the other side holds.
MAX_SIDE_BYTES = 1 << 30

_PACKED_SCHEMA = "blk int, n long, total double, indptr binary, cols binary, ratings binary"
_FACTOR_SCHEMA = "blk int, f binary, b binary, bad int"


def fit_als(
    df: DataFrame,
    user_col: str,
    item_col: str,
    rating_col: str,
    *,
    n_blocks: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    keep_ratings: bool = True,
    max_side_bytes: int = MAX_SIDE_BYTES,
    **als_params: Any,
) -> ALS:
    """Train a turbosvd ``ALS`` on a Spark DataFrame of ratings.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per rating.
    user_col, item_col, rating_col : str
        Column names. Ids may be of any type Spark can group by; ratings must be numeric
        and finite (null, NaN or infinite ratings raise ``ValueError`` before training).
    n_blocks : int, optional
        ``d``: users and items are each cut into ``d`` blocks and every half-sweep solves
        the ``d`` blocks of one side in ``d`` parallel tasks. None uses one block per core
        of the session (when it tells, else 1), fewer on small data (blocks of at least
        50,000 ratings). Capped to the number of users and of items. The result does not
        depend on it.
    rating_scale : (float, float), optional
        The trainset's rating scale (predictions are clipped to it). None uses the smallest
        and largest rating of the data.
    keep_ratings : bool, default True
        Collect the ratings (16 bytes per rating) into the returned model's ``trainset``,
        so everything Surprise offers works on it (``recommend`` excludes seen items,
        ``partial_fit_users`` ...). With False the trainset holds only the id maps, the
        counts and the mean.
    max_side_bytes : int, default 2**30
        Every task holds one whole side's factors (``n x stride(k + 1)`` values of the
        model's dtype); a fit whose larger side exceeds this raises ``ValueError`` before
        any work is done.
    **als_params
        ``ALS`` parameters (``n_factors``, ``n_epochs``, ``reg``, ``biased``,
        ``init_std_dev``, ``random_state``, ``solver``, ``cg_steps``, ``dtype``,
        ``verbose``), validated as ``ALS`` validates them. ``n_jobs`` does not apply to
        the tasks, which use the ``spark.task.cpus`` threads Spark gives them.

    Returns
    -------
    ALS
        A fitted model, as ``ALS.fit`` returns it; with the same parameters and the ids
        numbered alike (see ``turbosvd.spark.fit``, Notes, *Ids*), the same numbers.

    Raises
    ------
    ValueError, TypeError
        Bad columns, parameters or ratings (before any training).
    ModelFitError
        NaN or infinite factors, naming the first sweep where they appeared.
    """
    _check_columns(df, user_col=user_col, item_col=item_col, rating_col=rating_col)
    if not isinstance(df.schema[rating_col].dataType, T.NumericType):
        raise TypeError(
            f"rating_col={rating_col!r} has type {df.schema[rating_col].dataType.simpleString()}"
            ": ratings must be numeric"
        )
    if not isinstance(keep_ratings, bool):
        raise TypeError(f"keep_ratings must be a bool, got {keep_ratings!r}")
    max_side_bytes = check_int("max_side_bytes", max_side_bytes, min_value=1)
    if n_blocks is not None:
        n_blocks = check_int("n_blocks", n_blocks, min_value=1)
    scale = _check_rating_scale(rating_scale)
    model = ALS(**als_params)
    model._check_params()
    dtype = model._dtype()
    k, biased = int(model.n_factors), bool(model.biased)
    n_epochs = int(model.n_epochs)

    spark = df.sparkSession
    base = df.select(
        _col(user_col).alias("user"),
        _col(item_col).alias("item"),
        _col(rating_col).cast("double").alias("rating"),
    ).withColumn("pos", F.monotonically_increasing_id())
    base = base.persist()
    packed = []
    try:
        n_ratings, scale = _rating_stats(base, rating_col, scale)
        user_ids, _ = _id_map(base, "user", "user_col", user_col)
        item_ids, _ = _id_map(base, "item", "item_col", item_col)
        n_users, n_items = len(user_ids), len(item_ids)
        trainset = Trainset.from_arrays(
            np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0), user_ids, item_ids, scale
        )
        model._validate(trainset, fitting=False)
        stride = _als.stride(k + 1 if biased else k, dtype == np.float32)
        side_bytes = max(n_users, n_items) * (stride + 1) * dtype.itemsize
        if side_bytes > max_side_bytes:
            raise ValueError(
                f"max_side_bytes={max_side_bytes}: every task holds one side's factors, "
                f"{side_bytes} bytes here ({max(n_users, n_items)} rows of {stride} values); "
                "raise max_side_bytes if the executors have the memory, or lower n_factors"
            )
        if n_blocks is None:
            by_size = max(1, n_ratings // MIN_ALS_BLOCK_RATINGS)
            n_blocks = min(_default_parallelism(spark), by_size)
        d = max(1, min(n_blocks, n_users, n_items))

        rated = _rated(spark, base, user_ids, item_ids)
        n_parts = max(d, 2)  # one partition would be SinglePartition, which cogroup reshuffles
        keys = _partition_keys(spark, n_parts)
        ublocks, data_mean = _pack(rated, "u", "i", d, n_users, keys, n_parts)
        packed.append(ublocks)
        iblocks, _ = _pack(rated, "i", "u", d, n_items, keys, n_parts)
        packed.append(iblocks)
        mu = data_mean if biased else 0.0  # as ALS.fit: unbiased fits the raw ratings
        trainset = Trainset.from_arrays(
            np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0), user_ids, item_ids, scale,
            global_mean=data_mean,
        )  # fmt: skip
        trainset.n_ratings = n_ratings

        rng = get_rng(model.random_state)
        std = float(model.init_std_dev)
        U = als.init_side(rng, n_users, k, std, biased, dtype)
        V = als.init_side(rng, n_items, k, std, biased, dtype)
        ufac = _ship(spark, U, d)
        ifac = _ship(spark, V, d)
        opts = dict(
            k=k, biased=biased, reg=float(model.reg), solver=model.solver,
            cg_steps=int(model.cg_steps), mu=mu, dtype=dtype.name, stride=stride, d=d,
        )  # fmt: skip
        for sweep in range(n_epochs):
            if model.verbose:
                print(f"Processing epoch {sweep}")
            job = _half_sweep(ublocks, ufac, ifac, keys, n_items, sweep, opts)
            ufac = job.localCheckpoint(eager=True)
            del job
            job = _half_sweep(iblocks, ifac, ufac, keys, n_users, sweep, opts)
            ifac = job.localCheckpoint(eager=True)
            del job
        _collect(ufac, U, d)
        _collect(ifac, V, d)
        ufac = ifac = None
        pu, bu = als.unpack(U, k)
        qi, bi = als.unpack(V, k)
        if keep_ratings:
            full = rated.orderBy("pos").select("u", "i", "rating").toPandas()
            trainset = Trainset.from_arrays(
                full["u"].to_numpy(dtype=np.int32),
                full["i"].to_numpy(dtype=np.int32),
                full["rating"].to_numpy(dtype=np.float64),
                user_ids,
                item_ids,
                scale,
                global_mean=trainset.global_mean,
            )
    finally:
        ufac = ifac = None
        for frame in packed:
            frame.unpersist()
        base.unpersist()
    return ALS._from_factors(trainset, pu, qi, bu, bi, **als_params)


def _rated(spark, base, user_ids, item_ids):
    """The ratings with inner ids: columns ``u``, ``i``, ``rating``, ``pos``."""
    frames = []
    for column, inner, ids in (("user", "u", user_ids), ("item", "i", item_ids)):
        schema = T.StructType(
            [
                T.StructField(column, base.schema[column].dataType),
                T.StructField(inner, T.IntegerType(), False),
            ]
        )
        pdf = pd.DataFrame({column: ids, inner: np.arange(len(ids), dtype=np.int32)})
        frames.append(spark.createDataFrame(pdf, schema=schema))
    return base.join(frames[0], "user").join(frames[1], "item").select("u", "i", "rating", "pos")


def _pack(rated, row: str, col: str, d: int, n_rows: int, keys, n_parts):
    """One side's ratings packed once per block (row ``r`` in block ``r mod d``), each
    block in the partition of key ``keys[block]``, persisted.

    Returns the packed DataFrame and the mean of the ratings (exactly rounded sums).
    """
    max_bytes = _dsgd.MAX_BLOCK_BYTES

    def pack(pdf: pd.DataFrame) -> pd.DataFrame:
        rows = pdf[row].to_numpy(dtype=np.int64)
        blk = int(rows[0] % d)
        # Each row's ratings in order of appearance, as Trainset.user_csr()/item_csr().
        order = np.lexsort((pdf["pos"].to_numpy(), rows))
        local = rows[order] // d
        n_local = (n_rows - blk + d - 1) // d
        indptr = np.zeros(n_local + 1, dtype=np.int64)
        np.cumsum(np.bincount(local, minlength=n_local), out=indptr[1:])
        cols = pdf[col].to_numpy(dtype=np.int32)[order]
        ratings = pdf["rating"].to_numpy(dtype=np.float64)[order]
        if ratings.nbytes + cols.nbytes > max_bytes:
            raise ValueError(
                f"block {blk} holds {len(ratings)} ratings, more than one packed row may "
                f"hold ({max_bytes} bytes): use more blocks (n_blocks={d} is too few)"
            )
        return pd.DataFrame(
            {
                "blk": [blk],
                "n": [len(ratings)],
                "total": [math.fsum(ratings.tolist())],
                "indptr": [indptr.tobytes()],
                "cols": [cols.tobytes()],
                "ratings": [ratings.tobytes()],
            }
        )

    key_of = F.array(*[F.lit(int(x)) for x in keys[:d]])
    packed = (
        rated.withColumn("blk", F.pmod(F.col(row), F.lit(d)))
        .groupBy("blk")
        .applyInPandas(pack, _PACKED_SCHEMA)
        .withColumn("part", key_of[F.col("blk")])
        .repartition(n_parts, "part")
        .persist()
    )
    summary = packed.select("n", "total").toPandas()  # materialises the cache
    return packed, math.fsum(summary["total"].tolist()) / int(summary["n"].sum())


def _ship(spark, side: als.Side, d: int):
    """A side's working rows as ``d`` factor rows (block ``b``: rows ``b::d``), sent once."""
    pdf = pd.DataFrame(
        {
            "blk": np.arange(d, dtype=np.int32),
            "f": [side.F[b::d].tobytes() for b in range(d)],
            "b": [side.B[b::d].tobytes() for b in range(d)],
            "bad": np.full(d, -1, dtype=np.int32),
        }
    )
    return spark.createDataFrame(pdf, schema=_FACTOR_SCHEMA)


def _half_sweep(blocks, own, other, keys, n_other: int, sweep: int, opts: dict):
    """The job solving every block of one side (``own``) against ``other``, replicated.

    Each task gets one packed block, that block's factor row (role 0) and all ``d`` factor
    rows of the other side (role 1); it returns the block's factor row, solved. ``bad`` is
    the first sweep at which the block (or the side it was solved against) held NaN or inf.
    """
    d, stride, dtype = opts["d"], opts["stride"], opts["dtype"]
    solve = {name: opts[name] for name in ("k", "biased", "reg", "solver", "cg_steps")}
    mu = opts["mu"]

    def task(packed: pd.DataFrame, factors: pd.DataFrame) -> pd.DataFrame:
        roles = factors["role"].to_numpy()
        others = factors[roles == 1]
        if len(packed) != 1 or (roles == 0).sum() != 1 or sorted(others["blk"]) != list(range(d)):
            raise RuntimeError(
                f"sweep {sweep}: an ALS task got {len(packed)} rating blocks, "
                f"{int((roles == 0).sum())} own factor rows and other-side blocks "
                f"{sorted(others['blk'].tolist())}; expected one, one and 0..{d - 1}"
            )
        blk = packed.iloc[0]
        mine = factors[roles == 0].iloc[0]
        if int(mine["blk"]) != int(blk["blk"]):
            raise RuntimeError(f"sweep {sweep}: block {blk['blk']} met factors of {mine['blk']}")
        X = als.Side(
            np.frombuffer(mine["f"], dtype=dtype).reshape(-1, stride).copy(),
            np.frombuffer(mine["b"], dtype=dtype).copy(),
        )
        Y = als.Side(np.empty((n_other, stride), dtype=dtype), np.empty(n_other, dtype=dtype))
        for row in others.itertuples(index=False):
            Y.F[row.blk :: d] = np.frombuffer(row.f, dtype=dtype).reshape(-1, stride)
            Y.B[row.blk :: d] = np.frombuffer(row.b, dtype=dtype)
        ratings = als.row_ratings(
            np.frombuffer(blk["indptr"], dtype=np.int64),
            np.frombuffer(blk["cols"], dtype=np.int32),
            np.frombuffer(blk["ratings"], dtype=np.float64),
            mu,
            dtype,
        )
        als.half_sweep(ratings, X, Y, n_threads=_task_threads(), **solve)
        earlier = [int(b) for b in factors["bad"] if int(b) >= 0]
        if earlier:
            bad = min(earlier)
        else:
            bad = -1 if np.isfinite(X.F).all() and np.isfinite(X.B).all() else sweep
        return pd.DataFrame(
            {"blk": [int(blk["blk"])], "f": [X.F.tobytes()], "b": [X.B.tobytes()], "bad": [bad]}
        )

    key_of = F.array(*[F.lit(int(x)) for x in keys[:d]])
    mine = own.withColumn("role", F.lit(0)).withColumn("to", F.col("blk"))
    replicated = other.withColumn("role", F.lit(1)).withColumn(
        "to", F.explode(F.sequence(F.lit(0), F.lit(d - 1)))
    )
    factors = mine.unionByName(replicated).withColumn("part", key_of[F.col("to")])
    return (
        blocks.groupBy("part").cogroup(factors.groupBy("part")).applyInPandas(task, _FACTOR_SCHEMA)
    )


def _collect(factors, side: als.Side, d: int) -> None:
    """Write the ``d`` solved factor rows into ``side``, checking each came back once.

    Raises ``ModelFitError`` naming the first sweep that produced NaN or inf.
    """
    out = factors.toPandas()
    if sorted(out["blk"].tolist()) != list(range(d)):
        raise RuntimeError(
            f"ALS lost or duplicated factor blocks: expected 0..{d - 1} once each, got "
            f"{sorted(out['blk'].tolist())}"
        )
    bad = [int(b) for b in out["bad"] if int(b) >= 0]
    if bad:
        raise ModelFitError(
            f"ALS diverged at sweep {min(bad)} (epoch {min(bad)}): NaN or infinite values in "
            "the model; check the ratings' scale or raise reg"
        )
    stride = side.F.shape[1]
    for row in out.itertuples(index=False):
        f = np.frombuffer(row.f, dtype=side.F.dtype).reshape(-1, stride)
        b = np.frombuffer(row.b, dtype=side.B.dtype)
        if f.shape != side.F[row.blk :: d].shape or b.shape != side.B[row.blk :: d].shape:
            raise RuntimeError(f"factor block {row.blk} came back with shape {f.shape}")
        side.F[row.blk :: d] = f
        side.B[row.blk :: d] = b
