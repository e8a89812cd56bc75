"""Distributed training on Spark: ``turbosvd.spark.fit`` (DSGD).

Needs the optional extra ``pip install turbosvd[spark]`` (``pyspark>=3.5`` and ``pyarrow``),
and turbosvd installed on the executors too (the tasks run its compiled kernels). Only
the DataFrame API is used (no RDD, no ``SparkContext``, no broadcast variables), so every
function works on a classic session and on Spark Connect.

Training (:func:`fit`) is DSGD (Gemulla et al., KDD 2011) over a ``d x d`` grid of user
blocks x item blocks, see ``turbosvd.train.dsgd``:

1. The ratings get inner ids numbered by first appearance (as ``Dataset.load_from_df``
   numbers them) and are cut into the grid. Each block is packed **once** into one row
   (its ratings as the compiled kernel's blocked layout, raw bytes), and the packed blocks
   are repartitioned so that the ``d`` blocks of user block ``b`` live in partition ``b``,
   then persisted. They never move again.
2. The model lives on the executors. The driver draws the initial factors (the same draws
   as ``SVD``) and ships them **once** as ``2 d`` factor rows: one per user block (its
   ``pu``, ``bu`` as raw bytes) and one per item block (``qi``, ``bi``).
3. Sub-epoch ``s`` trains the stratum ``{(b, (b + s) mod d)}``: every item-factor row is
   keyed by the user block it meets, the factor rows are cogrouped with the stratum's
   packed blocks by that key (the packed side is already partitioned that way, so only
   the ``2 d`` factor rows are shuffled), each task runs one block through the compiled
   blocked kernel (multi-threaded with the task's ``spark.task.cpus``) and returns its two
   factor rows, trained. The result is cut from its lineage with
   ``localCheckpoint(eager=True)`` (one job per sub-epoch, plans do not grow) and the
   driver drops its reference to the previous checkpoint, which Spark then frees (a
   checkpoint is not released by ``unpersist``: on a classic session its context
   cleaner frees it after the driver's JVM collects it, on Spark Connect the server
   does once the client's DataFrame is gone).
4. After the last epoch the driver collects the ``2 d`` rows once, checks that every block
   came back exactly once, and assembles ``pu``, ``qi``, ``bu``, ``bi``.

Per epoch every packed block is read once from the executors' cache (so the ratings
once in all), ``d`` jobs run, and no factor passes through the driver: each sub-epoch
moves the item factors (``|qi|`` in all) from executor to executor, while a user block's
factors are written and read back by the executor that holds its ratings. The cost model
and its limits at scale are in ``bench/SPARK.md``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .._validation import check_int
from ..exceptions import ModelFitError
from ..prediction_algorithms.matrix_factorization import SVD
from ..train import dsgd as _dsgd
from ..train.sgd import draw_normal
from ..trainset import Trainset
from ..utils import get_rng
from ._common import (
    _check_columns,
    _Clock,
    _col,
    _default_parallelism,
    _id_map,
    _partition_keys,
    _task_threads,
    default_n_blocks,
)

__all__ = ["fit"]

# A given n_blocks is lowered so that blocks average at least this many ratings.
MIN_CAPPED_BLOCK_RATINGS = 100
_BLOCK_FIELDS = tuple(name for name, _ in _dsgd._LAYOUT_FIELDS)


# ------------------------------------------------------------------------------- fit
def fit(
    df: DataFrame,
    user_col: str,
    item_col: str,
    rating_col: str,
    *,
    n_blocks: int | None = None,
    task_bins: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    keep_ratings: bool = True,
    profile: list | None = None,
    **svd_params: Any,
) -> SVD:
    """Train a turbosvd ``SVD`` on a Spark DataFrame of ratings, by DSGD.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per rating.
    user_col, item_col, rating_col : str
        Column names. Ids may be of any type Spark can group by; ratings must be numeric
        and finite (null, NaN or infinite ratings raise ``ValueError`` before training).
    n_blocks : int, optional
        ``d``: the ratings are cut into ``d x d`` blocks and every sub-epoch trains ``d``
        of them in parallel. None uses one block per core of the session (when it tells,
        else 1), fewer on small data (see ``default_n_blocks``). A given ``d`` is lowered,
        with a ``UserWarning``, to what the data can fill: at most ``sqrt(n_ratings / 100)``
        (blocks averaging at least 100 ratings).
    task_bins : int, optional
        Bins of the blocked layout inside each block (the local kernel's own grid, run by
        the task's threads). None chooses them as ``SVD(schedule="blocked")`` does, so
        ``n_blocks=1`` gives exactly the local ``SVD`` fit.
    rating_scale : (float, float), optional
        The trainset's rating scale (predictions are clipped to it). None uses the smallest
        and largest rating of the data.
    keep_ratings : bool, default True
        Collect the ratings (inner ids and values, 16 bytes per rating) into the returned
        model's ``trainset``, so everything Surprise offers works on it. With False the
        trainset holds only the id maps, the counts and the mean: ``predict``, ``test``
        and top-N without seen-item exclusion work, but its ``ur``, ``ir``,
        ``all_ratings`` and the test-set builders see no ratings.
    profile : list, optional
        If given, timings are appended as dicts: ``{"phase": "setup", "step", "s"}`` for
        each setup step (``"ship the initial factors"`` and ``"collect the factors"`` also
        give the factor ``bytes`` the driver sent or received, once per fit), and one
        ``{"phase": "sub_epoch", "epoch", "sub_epoch", ...}`` per sub-epoch with the
        driver's time to build the job (``plan_s``), the wall time of the job and its
        checkpoint (``job_s``), per trained block (in user-block order) the kernel time
        (``task_train_s``) and the task's time to decode and encode its arrays
        (``task_io_s``), the factor bytes through the driver (``bytes``: 0, the factors
        stay on the executors) and the factor bytes in the sub-epoch's shuffle
        (``shuffle_bytes``). The tasks' timings travel with the factors, so the sub-epoch
        records are appended after the step ``"collect the factors"``.
    **svd_params
        ``SVD`` parameters (``n_factors``, ``n_epochs``, ``lr_all``, ``reg_all``, ...,
        ``random_state``, ``dtype``, ``verbose``). ``schedule`` must be ``'blocked'``.
        ``n_jobs`` does not apply to the tasks, which use the ``spark.task.cpus`` threads
        Spark gives them (the result does not depend on it).

    Returns
    -------
    SVD
        A fitted model (``pu``, ``qi``, ``bu``, ``bi``, ``trainset``), as ``SVD.fit``
        returns it.

    Notes
    -----
    *Ids.* Inner ids are numbered by first appearance in the DataFrame's row order as
    ``monotonically_increasing_id`` sees it (partition by partition, row by row). For a
    DataFrame made by ``spark.createDataFrame(pandas_df)`` that is ``pandas_df``'s order,
    so the ids are those of ``Dataset.load_from_df(pandas_df, ...)``. For other sources
    the order is the sources' partition order; the ratings are cached before the ids are
    drawn, so one fit sees one order.

    *Initialisation.* ``pu`` then ``qi`` are drawn on the driver from ``random_state``
    exactly as ``SVD`` draws them, so a fit with ``n_blocks=1`` equals
    ``SVD(schedule="blocked", ...).fit`` on the same data bit for bit, and any ``d``
    equals ``turbosvd.train.dsgd.fit_local`` with the same ``d``.

    *Divergence.* The tasks check every trained block for NaN or infinite values; the
    driver learns it when it collects the factors after the last epoch and raises
    ``ModelFitError`` naming the first epoch that diverged (the local ``SVD`` stops at
    that epoch).

    *Executor memory.* Each sub-epoch's factors are a ``localCheckpoint`` (one model's
    worth, on the executors). The previous one is released when the driver's JVM
    collects it (classic session) or the Connect server drops it; Spark forces that
    collection only every ``spark.cleaner.periodicGC.interval`` (30 min by default), so
    for long fits of large models set it to a few minutes.

    *Global mean.* The exactly rounded sum of every block's exactly rounded sum, divided by
    the count: equal to ``Trainset.global_mean`` whenever the sums are exact (ratings on a
    grid such as whole or half stars), else within an ulp or two.
    """
    _check_columns(df, user_col=user_col, item_col=item_col, rating_col=rating_col)
    if not isinstance(df.schema[rating_col].dataType, T.NumericType):
        raise TypeError(
            f"rating_col={rating_col!r} has type {df.schema[rating_col].dataType.simpleString()}"
            ": ratings must be numeric"
        )
    if not isinstance(keep_ratings, bool):
        raise TypeError(f"keep_ratings must be a bool, got {keep_ratings!r}")
    if profile is not None and not isinstance(profile, list):
        raise TypeError(f"profile must be a list or None, got {type(profile).__name__}")
    svd_params.setdefault("schedule", "blocked")
    svd = SVD(**svd_params)
    if svd.schedule != "blocked":
        raise ValueError(
            f"schedule={svd.schedule!r} is not available on Spark: DSGD runs the blocked "
            "kernel on every block (use schedule='blocked', the default)"
        )
    dtype = svd._dtype()
    rates = svd._rates()
    check_int("n_factors", svd.n_factors, min_value=0)
    n_epochs = check_int("n_epochs", svd.n_epochs, min_value=0)
    if n_blocks is not None:
        n_blocks = check_int("n_blocks", n_blocks, min_value=1)
    if task_bins is not None:
        task_bins = check_int("task_bins", task_bins, min_value=1)
    scale = _check_scale(rating_scale)

    spark = df.sparkSession
    clock = _Clock()

    def setup(step: str, **extra) -> None:
        seconds = clock.lap()
        if profile is not None:
            profile.append({"phase": "setup", "step": step, "s": seconds, **extra})

    base = df.select(
        _col(user_col).alias("user"),
        _col(item_col).alias("item"),
        _col(rating_col).cast("double").alias("rating"),
    ).withColumn("pos", F.monotonically_increasing_id())
    base = base.persist()
    blocks = None
    try:
        stats = base.agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(
                F.when(
                    F.col("rating").isNull()
                    | F.isnan("rating")
                    | (F.abs("rating") == F.lit(float("inf"))),
                    1,
                ).otherwise(0)
            ).alias("bad"),
            F.min("rating").alias("lo"),
            F.max("rating").alias("hi"),
        ).collect()[0]
        n_ratings = int(stats["n"])
        if n_ratings == 0:
            raise ValueError("df is empty: it has no ratings")
        if stats["bad"]:
            raise ValueError(
                f"rating_col={rating_col!r} has {stats['bad']} null, NaN or infinite values"
            )
        if scale is None:
            lo, hi = float(stats["lo"]), float(stats["hi"])
            scale = (lo, hi) if lo < hi else (lo, lo + 1.0)
        setup("cache and check the ratings")
        user_ids, user_counts = _id_map(base, "user", "user_col", user_col)
        item_ids, item_counts = _id_map(base, "item", "item_col", item_col)
        setup("number the ids")
        trainset = Trainset.from_arrays(
            np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0), user_ids, item_ids, scale
        )
        svd._validate(trainset, fitting=False)
        if n_blocks is None:
            n_blocks = default_n_blocks(n_ratings, _default_parallelism(spark))
        else:
            n_blocks = _cap_n_blocks(n_blocks, n_ratings)
        grid = _dsgd.make_grid(user_counts, item_counts, n_blocks)

        rated = _rated(spark, base, grid, user_ids, item_ids)
        blocks, mu, present, keys = _pack(spark, rated, grid, svd, dtype, task_bins)
        trainset = Trainset.from_arrays(
            np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0), user_ids, item_ids, scale,
            global_mean=mu,
        )  # fmt: skip
        trainset.n_ratings = n_ratings  # the ratings stay in Spark unless keep_ratings
        setup("pack and cache the blocks")

        rng = get_rng(svd.random_state)
        k = svd.n_factors
        pu = draw_normal(rng, svd.init_mean, svd.init_std_dev, trainset.n_users, k, dtype)
        qi = draw_normal(rng, svd.init_mean, svd.init_std_dev, trainset.n_items, k, dtype)
        bu = np.zeros(trainset.n_users, dtype=dtype)
        bi = np.zeros(trainset.n_items, dtype=dtype)
        factors, shipped = _ship_factors(spark, grid, (pu, qi, bu, bi))
        setup("ship the initial factors", bytes=shipped)
        jobs = []
        for epoch in range(n_epochs):
            if svd.verbose:
                print(f"Processing epoch {epoch}")
            for s in range(n_blocks):
                if not any(bc in present for bc in _dsgd.strata(n_blocks, s)):
                    continue
                sub = _Clock()
                train = _train_fn(dtype, k, mu, bool(svd.biased), rates, epoch, s)
                job = _sub_epoch(blocks, factors, s, keys, n_blocks, train)
                plan_s = sub.lap()
                # Cut the lineage; dropping every reference to the previous checkpoint
                # lets Spark free it (unpersist does not release checkpoints).
                factors = job.localCheckpoint(eager=True)
                del job
                job_s = sub.lap()
                jobs.append((epoch, s, plan_s, job_s))
        clock.lap()
        logs, received = _collect_factors(factors, grid, (pu, qi, bu, bi))
        setup("collect the factors", bytes=received)
        factors = None
        records = _sub_epoch_records(jobs, logs, grid, k, np.dtype(dtype).itemsize)
        if profile is not None:
            # The setup steps so far, then the sub-epochs, then what follows.
            profile.extend(records)

        if keep_ratings:
            full = rated.orderBy("pos").select("u", "i", "rating").toPandas()
            trainset = Trainset.from_arrays(
                full["u"].to_numpy(dtype=np.int32),
                full["i"].to_numpy(dtype=np.int32),
                full["rating"].to_numpy(dtype=np.float64),
                user_ids,
                item_ids,
                scale,
                global_mean=mu,
            )
            setup("collect the ratings")
    finally:
        factors = None
        if blocks is not None:
            blocks.unpersist()
        base.unpersist()
    return SVD._from_factors(trainset, pu, qi, bu, bi, **svd_params)


def _cap_n_blocks(n_blocks: int, n_ratings: int) -> int:
    """``n_blocks`` capped to what the data can fill, with a warning when it is lowered.

    Each epoch runs ``n_blocks`` Spark jobs of up to ``n_blocks`` tasks; blocks averaging
    fewer than ``MIN_CAPPED_BLOCK_RATINGS`` ratings only add jobs (2,000 ratings with
    ``n_blocks=200`` would be 40,000 blocks and 200 jobs per epoch, for 0.05 ratings each).
    """
    cap = max(1, math.isqrt(n_ratings // MIN_CAPPED_BLOCK_RATINGS))
    if n_blocks > cap:
        warnings.warn(
            f"n_blocks={n_blocks} is too many for {n_ratings:,} ratings: using n_blocks={cap} "
            f"(the {cap * cap} blocks average at least {MIN_CAPPED_BLOCK_RATINGS} ratings)",
            UserWarning,
            stacklevel=3,
        )
        return cap
    return n_blocks


def _check_scale(rating_scale):
    if rating_scale is None:
        return None
    try:
        lo, hi = (float(x) for x in rating_scale)
    except (TypeError, ValueError):
        raise ValueError(
            f"rating_scale={rating_scale!r} must be a pair (lowest, highest)"
        ) from None
    if not lo < hi:
        raise ValueError(f"rating_scale={rating_scale!r} must have lowest < highest")
    return tuple(rating_scale)


def _rated(spark, base, grid, user_ids, item_ids):
    """The ratings with inner ids, blocks and block-local ids (u, i, ub, ib, ul, il)."""
    umap = pd.DataFrame(
        {
            "user": user_ids,
            "u": np.arange(len(user_ids), dtype=np.int32),
            "ub": grid.user_block,
            "ul": grid.user_local,
        }
    )
    imap = pd.DataFrame(
        {
            "item": item_ids,
            "i": np.arange(len(item_ids), dtype=np.int32),
            "ib": grid.item_block,
            "il": grid.item_local,
        }
    )
    ints = [T.StructField(c, T.IntegerType(), False) for c in ("u", "ub", "ul")]
    uschema = T.StructType([T.StructField("user", base.schema["user"].dataType), *ints])
    ints = [T.StructField(c, T.IntegerType(), False) for c in ("i", "ib", "il")]
    ischema = T.StructType([T.StructField("item", base.schema["item"].dataType), *ints])
    udf = spark.createDataFrame(umap, schema=uschema)
    idf = spark.createDataFrame(imap, schema=ischema)
    return base.join(udf, "user").join(idf, "item")


def _pack(spark, rated, grid, svd, dtype, task_bins):
    """Pack every block once, partition the packed blocks by user block, persist them.

    Returns (blocks DataFrame, global mean, set of non-empty blocks, partition keys).
    """
    d = grid.n_blocks
    n_users_in = [grid.n_users_in(b) for b in range(d)]
    n_items_in = [grid.n_items_in(c) for c in range(d)]
    k = svd.n_factors
    dtype_name = np.dtype(dtype).name

    def pack(pdf: pd.DataFrame) -> pd.DataFrame:
        b, c = int(pdf["ub"].iloc[0]), int(pdf["ib"].iloc[0])
        ratings = pdf["rating"].to_numpy(dtype=np.float64)
        layout = _dsgd.pack_block(
            pdf["ul"].to_numpy(),
            pdf["il"].to_numpy(),
            ratings,
            pdf["pos"].to_numpy(),
            n_users_in[b],
            n_items_in[c],
            n_factors=k,
            dtype=dtype_name,
            task_bins=task_bins,
        )
        fields = _dsgd.encode_block(layout)
        row = {"ub": [b], "ib": [c], "n": [len(ratings)], "total": [math.fsum(ratings)]}
        row.update({name: [fields[name]] for name in _BLOCK_FIELDS})
        return pd.DataFrame(row)

    schema = "ub int, ib int, n long, total double, " + ", ".join(
        f"{name} binary" for name in _BLOCK_FIELDS
    )
    n_parts = max(d, 2)  # one partition would be SinglePartition, which cogroup reshuffles
    keys = _partition_keys(spark, n_parts)
    key_of = F.array(*[F.lit(int(x)) for x in keys[:d]])
    packed = (
        rated.select("ub", "ib", "ul", "il", "rating", "pos")
        .groupBy("ub", "ib")
        .applyInPandas(pack, schema)
        .withColumn("part", key_of[F.col("ub")])
        .withColumn("stratum", F.pmod(F.col("ib") - F.col("ub"), F.lit(d)))
        .repartition(n_parts, "part")
        .persist()
    )
    summary = packed.select("ub", "ib", "n", "total").toPandas()  # materialises the cache
    mu = math.fsum(summary["total"].tolist()) / int(summary["n"].sum())
    present = set(zip(summary["ub"].tolist(), summary["ib"].tolist(), strict=True))
    return packed, mu, present, keys


# A factor row: one user block (side 0: pu, bu) or one item block (side 1: qi, bi). User
# rows also carry the log of the blocks their tasks trained, _LOG_FIELDS float64 per entry.
_FACTOR_SCHEMA = "side int, blk int, f binary, b binary, log binary"
_FACTOR_COLUMNS = [c.split()[0] for c in _FACTOR_SCHEMA.split(", ")]
_USER, _ITEM = 0, 1
_LOG_FIELDS = ("epoch", "sub_epoch", "train_s", "io_s", "finite")


def _factor_rows(grid, model) -> list[tuple]:
    """The model as ``2 d`` factor rows: every user block, then every item block."""
    pu, qi, bu, bi = model
    d = grid.n_blocks
    rows = []
    for b in range(d):
        us = grid.users_of(b)
        rows.append((_USER, b, _dsgd.to_bytes(pu[us]), _dsgd.to_bytes(bu[us]), b""))
    for c in range(d):
        items = grid.items_of(c)
        rows.append((_ITEM, c, _dsgd.to_bytes(qi[items]), _dsgd.to_bytes(bi[items]), b""))
    return rows


def _ship_factors(spark, grid, model):
    """The initial model as a DataFrame of ``2 d`` factor rows (sent once by the driver).

    Rows are sent in chunks of at most ``_dsgd.MAX_BLOCK_BYTES`` (Arrow stores a binary
    column with 32-bit offsets). Returns the DataFrame and the bytes sent.
    """
    rows = _factor_rows(grid, model)
    chunks, chunk, size = [], [], 0
    for row in rows:
        nbytes = len(row[2]) + len(row[3])
        if nbytes > _dsgd.MAX_BLOCK_BYTES:
            side = "user" if row[0] == _USER else "item"
            raise ValueError(
                f"the factors of {side} block {row[1]} take {nbytes} bytes, more than the "
                f"{_dsgd.MAX_BLOCK_BYTES} one block may hold: use more blocks "
                f"(n_blocks={grid.n_blocks} is too few)"
            )
        if chunk and size + nbytes > _dsgd.MAX_BLOCK_BYTES:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(row)
        size += nbytes
    chunks.append(chunk)
    frames = [
        spark.createDataFrame(pd.DataFrame(c, columns=_FACTOR_COLUMNS), schema=_FACTOR_SCHEMA)
        for c in chunks
    ]
    factors = frames[0]
    for frame in frames[1:]:
        factors = factors.unionByName(frame)
    return factors, sum(len(row[2]) + len(row[3]) for row in rows)


def _train_fn(dtype, k, mu, biased, rates, epoch, s):
    """The cogroup function of sub-epoch ``s`` of ``epoch``.

    One group per user block ``b``: the stratum's packed block ``(b, c)`` if it has
    ratings, and exactly two factor rows, user block ``b`` and item block ``c``. Returns
    the two rows, trained (the user row's log gains an entry) or unchanged.
    """
    dtype_name = np.dtype(dtype).name

    def train(blocks: pd.DataFrame, factors: pd.DataFrame) -> pd.DataFrame:
        sides = factors["side"].tolist()
        if len(blocks) > 1 or sides.count(_USER) != 1 or sides.count(_ITEM) != 1:
            raise RuntimeError(
                f"epoch {epoch}, sub-epoch {s}: a DSGD task got {len(blocks)} rating blocks, "
                f"{sides.count(_USER)} user-factor rows and {sides.count(_ITEM)} item-factor "
                "rows; expected at most one block and exactly one row of each"
            )
        out = factors[_FACTOR_COLUMNS]
        if len(blocks) == 0:  # no ratings in this block: the factors pass through
            return out
        clock = _Clock()
        blk = blocks.iloc[0]
        user = factors.iloc[sides.index(_USER)]
        item = factors.iloc[sides.index(_ITEM)]
        if (int(blk["ub"]), int(blk["ib"])) != (int(user["blk"]), int(item["blk"])):
            raise RuntimeError(
                f"epoch {epoch}, sub-epoch {s}: block ({blk['ub']}, {blk['ib']}) met the "
                f"factors of user block {user['blk']} and item block {item['blk']}"
            )
        layout = _dsgd.decode_block({name: blk[name] for name in _BLOCK_FIELDS}, dtype_name)
        pu = _dsgd.from_bytes(user["f"], dtype_name, k)
        bu = _dsgd.from_bytes(user["b"], dtype_name)
        qi = _dsgd.from_bytes(item["f"], dtype_name, k)
        bi = _dsgd.from_bytes(item["b"], dtype_name)
        io_s = clock.lap()
        _dsgd.train_block(layout, pu, qi, bu, bi, mu, biased, rates, _task_threads())
        train_s = clock.lap()
        finite = all(np.isfinite(a).all() for a in (pu, qi, bu, bi))
        f = [_dsgd.to_bytes(pu), _dsgd.to_bytes(qi)]
        b = [_dsgd.to_bytes(bu), _dsgd.to_bytes(bi)]
        io_s += clock.lap()
        entry = np.array([epoch, s, train_s, io_s, float(finite)], dtype=np.float64)
        log = [bytes(user["log"]) + entry.tobytes(), item["log"]]
        return pd.DataFrame(
            {"side": [_USER, _ITEM], "blk": [user["blk"], item["blk"]], "f": f, "b": b, "log": log}
        )

    return train


def _sub_epoch(blocks, factors, s, keys, d, train):
    """The job of sub-epoch ``s``: every factor row keyed by the user block it meets.

    User block ``b`` meets item block ``(b + s) mod d``, so item block ``c`` goes to user
    block ``(c - s) mod d``. The cached packed blocks are already partitioned by that key:
    the factor rows are the only data that moves (one ``Exchange``).
    """
    key_of = F.array(*[F.lit(int(x)) for x in keys[:d]])
    meets = F.when(F.col("side") == _USER, F.col("blk")).otherwise(
        F.pmod(F.col("blk") - F.lit(s), F.lit(d))
    )
    keyed = factors.withColumn("part", key_of[meets])
    return (
        blocks.filter(F.col("stratum") == s)
        .groupBy("part")
        .cogroup(keyed.groupBy("part"))
        .applyInPandas(train, _FACTOR_SCHEMA)
    )


def _collect_factors(factors, grid, model):
    """Write the trained factor rows into ``model`` (pu, qi, bu, bi), checking that each of
    the ``2 d`` blocks came back exactly once with its size. Returns the logs of the user
    blocks ({b: array of shape (entries, len(_LOG_FIELDS))}) and the bytes received."""
    pu, qi, bu, bi = model
    d, k = grid.n_blocks, pu.shape[1]
    out = factors.toPandas()
    seen = {side: sorted(out["blk"][out["side"] == side].tolist()) for side in (_USER, _ITEM)}
    if len(out) != 2 * d or any(seen[side] != list(range(d)) for side in seen):
        raise RuntimeError(
            f"training lost or duplicated factor blocks: expected user blocks and item blocks "
            f"0..{d - 1} once each, got user blocks {seen[_USER]} and item blocks {seen[_ITEM]}"
        )
    logs, received = {}, 0
    for row in out.itertuples(index=False):
        if row.side == _USER:
            rows, f, b = grid.users_of(row.blk), pu, bu
            logs[row.blk] = np.frombuffer(row.log, dtype=np.float64).reshape(-1, len(_LOG_FIELDS))
        else:
            rows, f, b = grid.items_of(row.blk), qi, bi
        new_f, new_b = _dsgd.from_bytes(row.f, f.dtype, k), _dsgd.from_bytes(row.b, b.dtype)
        if new_f.shape != f[rows].shape or new_b.shape != b[rows].shape:
            raise RuntimeError(
                f"factor block (side {row.side}, block {row.blk}) came back with shape "
                f"{new_f.shape}, expected {f[rows].shape}"
            )
        f[rows], b[rows] = new_f, new_b
        received += len(row.f) + len(row.b)
    return logs, received


def _sub_epoch_records(jobs, logs, grid, k, itemsize) -> list[dict]:
    """The profile's sub-epoch records, from the driver's timings and the tasks' logs.

    Raises ``ModelFitError`` naming the first epoch in which a task saw NaN or infinite
    factors (the tasks check after every block; the driver learns it at the end).
    """
    entries = {}
    for b in sorted(logs):
        for epoch, s, train_s, io_s, finite in logs[b]:
            entries.setdefault((int(epoch), int(s)), []).append(
                (float(train_s), float(io_s), finite)
            )
    bad = [epoch for (epoch, _), xs in entries.items() if not all(x[2] for x in xs)]
    if bad:
        raise ModelFitError(
            f"training diverged at epoch {min(bad) + 1} (the first is 1): NaN or infinite "
            "values in the model; "
            "lower the learning rates (lr_all) or raise the regularisation (reg_all)"
        )
    # Every factor row goes through the sub-epoch's exchange (user rows normally stay on
    # their executor: their shuffle output is local to the task that reads it).
    n_rows = len(grid.user_block) + len(grid.item_block)
    shuffled = n_rows * (k + 1) * itemsize
    records = []
    for epoch, s, plan_s, job_s in jobs:
        xs = entries.get((epoch, s), [])
        records.append(
            {
                "phase": "sub_epoch",
                "epoch": epoch,
                "sub_epoch": s,
                "plan_s": plan_s,
                "job_s": job_s,
                "task_train_s": [x[0] for x in xs],
                "task_io_s": [x[1] for x in xs],
                "bytes": 0,
                "shuffle_bytes": shuffled,
            }
        )
    return records
