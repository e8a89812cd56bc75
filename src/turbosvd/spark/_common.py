"""Helpers shared by the Spark jobs (fit, converters, top-N): column checks, partition keys,
task threads, id numbering."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

try:  # pyspark is optional: importing turbosvd.spark without it raises a clear error
    from pyspark.sql import functions as F
except ImportError as exc:  # pragma: no cover - exercised only without pyspark
    raise ImportError(
        "turbosvd.spark needs pyspark and pyarrow: pip install 'turbosvd[spark]'"
    ) from exc

# Blocks are never chosen so small that a task's fixed cost (~0.1 s) dominates its work.
MIN_BLOCK_RATINGS = 100_000


# ----------------------------------------------------------------------------- helpers
def _col(name: str):
    """A column by its exact name (dots and spaces are not parsed)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _check_columns(df, **columns) -> None:
    for param, name in columns.items():
        if not isinstance(name, str):
            raise TypeError(f"{param} must be a column name (str), got {name!r}")
        if name not in df.columns:
            raise ValueError(
                f"{param}={name!r} is not a column of df; its columns are {df.columns}"
            )


def _default_parallelism(spark) -> int:
    """Task slots of the cluster (see :func:`task_slots`; classic sessions and Connect)."""
    return task_slots(spark)


def default_n_blocks(n_ratings: int, parallelism: int) -> int:
    """``d`` for ``n_blocks=None``: one user block per task slot, fewer on small data.

    Each sub-epoch runs ``d`` tasks, so ``d`` = the cluster's task slots keeps all busy;
    blocks average at least ``MIN_BLOCK_RATINGS`` ratings (``d * d`` blocks in all).
    """
    by_size = math.isqrt(max(int(n_ratings), 0) // MIN_BLOCK_RATINGS)
    return max(1, min(int(parallelism), by_size))


def _partition_keys(spark, n_partitions: int) -> list[int]:
    """Integers ``k[p]`` that Spark's hash partitioning sends to partition ``p``.

    ``repartition(n, col)`` places a row in ``pmod(hash(col), n)`` (Murmur3, as
    ``functions.hash``), so keying user block ``b`` by ``k[b]`` puts the ``d`` blocks of a
    stratum in ``d`` different partitions, hence ``d`` parallel tasks. Only parallelism
    depends on this, never the result.
    """
    n_candidates = 64 * n_partitions
    cand = (
        spark.range(0, n_candidates)
        .select(F.col("id").cast("int").alias("k"))
        .select("k", F.pmod(F.hash("k"), F.lit(n_partitions)).alias("p"))
        .toPandas()
    )
    first = cand.sort_values("k").groupby("p")["k"].first()
    if len(first) < n_partitions:  # pragma: no cover - probability ~ exp(-64)
        raise RuntimeError(f"could not find a key for each of {n_partitions} partitions")
    return [int(first[p]) for p in range(n_partitions)]


def _task_threads() -> int:
    """Cores Spark gives the current task (``spark.task.cpus``)."""
    from pyspark import TaskContext

    tc = TaskContext.get()
    try:
        return max(1, int(tc.cpus())) if tc is not None else 1
    except Exception:  # pragma: no cover - pyspark without TaskContext.cpus
        return 1


def _id_map(base, column: str, param: str, name: str, limits=None):
    """Distinct values of ``column`` numbered by first appearance (``pos``), with counts.

    ``param`` and ``name`` (the user's parameter and column) are for error messages. With
    ``limits``, the map's size is computed on the executors first and checked against
    ``spark.driver.maxResultSize`` before it is collected.
    """
    agg = base.groupBy(column).agg(F.min("pos").alias("first"), F.count(F.lit(1)).alias("n"))
    if limits is not None and limits.result_bytes:
        agg = agg.persist()
        size = agg.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.coalesce(F.octet_length(F.col(column).cast("string")), F.lit(0))).alias("b"),
        ).first()
        nbytes = int(size["rows"]) * 24 + int(size["b"] or 0)
        try:
            check_result(
                limits,
                f"numbering the {int(size['rows']):,} distinct ids of {param}={name!r}",
                nbytes,
                "map the ids to compact integers first",
            )
            pdf = agg.toPandas()
        finally:
            agg.unpersist()
    else:
        pdf = agg.toPandas()
    pdf = pdf.sort_values("first", kind="stable")
    raw = pdf[column]
    if raw.isna().any():
        n_null = int(pdf["n"][raw.isna()].sum())
        raise ValueError(f"{param}={name!r} has {n_null} null ids")
    if isinstance(raw.dtype, np.dtype) and raw.dtype.kind in "biuf":
        ids = raw.to_numpy()
    else:
        ids = raw.to_numpy(dtype=object)
    return ids, pdf["n"].to_numpy(dtype=np.int64)


def _check_rating_scale(rating_scale):
    """``rating_scale`` as given, after checking it is None or a pair (lowest < highest)."""
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


def _rating_stats(base, rating_col: str, scale) -> tuple[int, tuple]:
    """``(n_ratings, rating scale)`` of ``base`` (a ``rating`` column), in one job.

    Raises ``ValueError`` when ``base`` is empty or holds null, NaN or infinite ratings;
    a None ``scale`` becomes (smallest, largest rating).
    """
    rating = F.col("rating")
    invalid = rating.isNull() | F.isnan(rating) | (F.abs(rating) == F.lit(float("inf")))
    stats = base.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(invalid, 1).otherwise(0)).alias("bad"),
        F.min(rating).alias("lo"),
        F.max(rating).alias("hi"),
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
    return n_ratings, scale


class _Clock:
    def __init__(self):
        self.t = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        out, self.t = now - self.t, now
        return out


# ------------------------------------------------------------------- Spark's limits
# Local mode enforces none of these; a cluster enforces all of them. Every job of the Spark
# wing sizes what it will send across one before it runs (``check_*`` below), so that a
# model too large for the session's settings fails at once with the setting to raise or
# the parameter to change, not after hours of training.

# Java's Arrow writer allocates one buffer per column and batch: at most 1 GiB each.
COLUMN_LIMIT = 1 << 30
# What a serialized task carries besides its data (closure, plan, metadata), kept free
# under spark.rpc.message.maxSize.
RPC_HEADROOM = 256 << 10
# Bytes of one rating when packed for DSGD: item id (4), rating (the model's dtype) and
# its share of the run index (run_user, run_ptr: 12 bytes per run, ~1/3 run per rating).
PACKED_OVERHEAD = 4 + 4


class SparkLimitError(ValueError):
    """An object a Spark job would send is over one of Spark's limits (the message names
    the setting to raise or the parameter to change)."""


@dataclass(frozen=True)
class SparkLimits:
    """The limits of one session, in bytes or rows (see :func:`session_limits`).

    Attributes
    ----------
    rpc_bytes : int
        ``spark.rpc.message.maxSize`` (MiB, default 128): the largest serialized task, so
        the largest piece of driver data one task may carry.
    result_bytes : int
        ``spark.driver.maxResultSize`` (default 1g; 0 means unlimited, stored as 0): the
        most one job may send to the driver (collects, ``toPandas``, broadcast builds).
    arrow_records : int
        ``spark.sql.execution.arrow.maxRecordsPerBatch`` (default 10,000; 0 or less means
        one batch per partition, stored as 0).
    task_cpus : int
        ``spark.task.cpus`` (default 1).
    """

    rpc_bytes: int
    result_bytes: int
    arrow_records: int
    task_cpus: int


def _conf(spark, key: str) -> str | None:
    """A setting of the session: the SparkConf on a classic session, else the runtime conf."""
    try:
        value = spark.sparkContext.getConf().get(key)
        if value is not None:
            return str(value)
    except Exception:  # Spark Connect: no SparkContext
        pass
    try:
        value = spark.conf.get(key, None)
    except Exception:
        return None
    return None if value is None else str(value)


_UNITS = {"b": 0, "k": 10, "kb": 10, "m": 20, "mb": 20, "g": 30, "gb": 30, "t": 40, "tb": 40}


def parse_size(text: str, default_unit: str = "b") -> int:
    """Bytes of a Spark size setting (``"5m"``, ``"1g"``, ``"512k"``, ``"1024"``)."""
    s = str(text).strip().lower()
    digits = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(digits) :] or default_unit
    if not digits or unit not in _UNITS:
        raise ValueError(f"cannot read {text!r} as a size (like '512k', '5m' or '1g')")
    return int(float(digits) * (1 << _UNITS[unit]))


def session_limits(spark) -> SparkLimits:
    """The limits the session's settings impose (Spark's defaults where unset)."""
    rpc = parse_size(_conf(spark, "spark.rpc.message.maxSize") or "128", "m")
    result = parse_size(_conf(spark, "spark.driver.maxResultSize") or "1g", "b")
    records = int(_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch") or 10_000)
    cpus = int(_conf(spark, "spark.task.cpus") or 1)
    return SparkLimits(rpc, max(result, 0), max(records, 0), max(cpus, 1))


def task_slots(spark) -> int:
    """Tasks the cluster runs at once: its cores (``defaultParallelism``) over ``spark.task.cpus``.

    On Spark Connect, which has no ``SparkContext``, the cores are read from a tiny job:
    ``spark.range`` cuts its rows into ``defaultParallelism`` partitions.
    """
    try:
        cores = int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect
        try:
            row = spark.range(0, 1 << 16).agg(F.max(F.spark_partition_id()).alias("p")).first()
            cores = int(row["p"]) + 1
        except Exception:
            cores = 1
    return max(1, cores // session_limits(spark).task_cpus)


def _mb(nbytes: float) -> str:
    return f"{nbytes / (1 << 20):,.1f} MB"


def check_result(limits: SparkLimits, what: str, nbytes: float, fix: str) -> None:
    """Raise if ``nbytes`` sent to the driver by one job would pass
    ``spark.driver.maxResultSize``."""
    if limits.result_bytes and nbytes > limits.result_bytes:
        raise SparkLimitError(
            f"{what} would send {_mb(nbytes)} to the driver, over spark.driver.maxResultSize "
            f"({_mb(limits.result_bytes)}): raise spark.driver.maxResultSize, or {fix}"
        )


def check_rpc(limits: SparkLimits, what: str, nbytes: float, fix: str) -> None:
    """Raise if one task would carry ``nbytes`` of driver data over
    ``spark.rpc.message.maxSize``."""
    if nbytes > limits.rpc_bytes - RPC_HEADROOM:
        raise SparkLimitError(
            f"{what} would put {_mb(nbytes)} in one task, over spark.rpc.message.maxSize "
            f"({_mb(limits.rpc_bytes)} with {_mb(RPC_HEADROOM)} kept for the task itself): "
            f"raise spark.rpc.message.maxSize, or {fix}"
        )


def check_column(what: str, nbytes: float, fix: str) -> None:
    """Raise if one Arrow column of one batch would hold more than ``COLUMN_LIMIT`` bytes."""
    if nbytes > COLUMN_LIMIT:
        raise SparkLimitError(
            f"{what} would hold {_mb(nbytes)} in one Arrow column, over the 1 GiB Spark's "
            f"Arrow writer allocates per column and batch: {fix}"
        )


def check_batch(limits: SparkLimits, what: str, row_bytes: float, rows: int, fix: str) -> None:
    """Raise if an Arrow batch of ``min(rows, maxRecordsPerBatch)`` rows of ``row_bytes``
    would pass the column limit."""
    n = rows if limits.arrow_records == 0 else min(rows, limits.arrow_records)
    if n * row_bytes > COLUMN_LIMIT:
        raise SparkLimitError(
            f"{what}: an Arrow batch of {n:,} rows of {row_bytes:,.0f} bytes would hold "
            f"{_mb(n * row_bytes)}, over the 1 GiB per column and batch: lower "
            f"spark.sql.execution.arrow.maxRecordsPerBatch (now {limits.arrow_records}), or {fix}"
        )


def local_frame(spark, pdf, schema, limits: SparkLimits, what: str, fix: str):
    """``spark.createDataFrame(pdf, schema)`` sent in pieces that each fit one task.

    ``createDataFrame`` puts the driver's rows into the tasks that read them, so one call
    with a large frame makes tasks over ``spark.rpc.message.maxSize``. The rows are sent
    in chunks of at most a quarter of that limit (each its own ``createDataFrame``, then a
    union); a single row over the limit raises ``SparkLimitError``. Row order is kept.
    """
    n = len(pdf)
    if n == 0:
        return spark.createDataFrame(pdf, schema=schema)
    row_bytes = pdf.memory_usage(index=False, deep=True).sum() / n
    sizes = None
    binary = [c for c in pdf.columns if len(pdf) and isinstance(pdf[c].iloc[0], (bytes, bytearray))]
    if binary:  # rows of very different sizes (factor blocks): size each row
        sizes = sum(pdf[c].map(len).to_numpy(dtype=np.int64) for c in binary) + 64
        check_rpc(limits, what, float(sizes.max()), fix)
    else:
        check_rpc(limits, what, row_bytes, fix)
    budget = max((limits.rpc_bytes - RPC_HEADROOM) // 4, 1)
    if sizes is None:
        sizes = np.full(n, row_bytes)
    cum = np.cumsum(sizes, dtype=np.float64)
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        before = cum[start - 1] if start else 0.0
        end = int(np.searchsorted(cum, before + budget, side="right"))
        bounds.append(min(n, max(end, start + 1)))
    frames = [
        spark.createDataFrame(pdf.iloc[a:b], schema=schema)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    out = frames[0]
    for frame in frames[1:]:
        out = out.union(frame)
    return out
