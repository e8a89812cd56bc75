"""Helpers shared by the Spark jobs (fit, converters, top-N): column checks, partition keys,
task threads, id numbering."""

from __future__ import annotations

import math
import time

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
    """Cores of the cluster when the session says so (classic sessions), else 1."""
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext
        pass
    try:
        value = spark.conf.get("spark.default.parallelism", None)
        return int(value) if value else 1
    except Exception:
        return 1


def default_n_blocks(n_ratings: int, parallelism: int) -> int:
    """``d`` for ``n_blocks=None``: one user block per core, fewer on small data.

    Each sub-epoch runs ``d`` tasks, so ``d`` = the cluster's cores keeps all of them busy;
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


def _id_map(base, column: str, param: str, name: str):
    """Distinct values of ``column`` numbered by first appearance (``pos``), with counts.

    ``param`` and ``name`` (the user's parameter and column) are for error messages.
    """
    pdf = base.groupBy(column).agg(F.min("pos").alias("first"), F.count(F.lit(1)).alias("n"))
    pdf = pdf.toPandas().sort_values("first", kind="stable")
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
