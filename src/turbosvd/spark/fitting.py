"""Distributed training on Spark: ``turbosvd.spark.fit`` and ``fit_distributed`` (DSGD).

DSGD (Gemulla et al., KDD 2011) over a ``d x d`` grid of user blocks x item blocks, see
``turbosvd.train.dsgd``:

1. The ratings get inner ids numbered by first appearance (as ``Dataset.load_from_df``
   numbers them) and are cut into the grid. Each block is packed **once** into one row
   (its ratings as the compiled kernel's blocked layout, raw bytes), and the packed blocks
   are repartitioned so that the ``d`` blocks of user block ``b`` live in partition ``b``,
   then persisted. They never move again.
2. The model lives on the executors as ``2 d`` factor rows: one per user block (its
   ``pu``, ``bu`` as raw bytes) and one per item block (``qi``, ``bi``). Small models are
   drawn on the driver (``SVD``'s own draws) and shipped once, in pieces that each fit a
   task; large ones are drawn by the executors (see ``init``).
3. Sub-epoch ``s`` trains the stratum ``{(b, (b + s) mod d)}``: every item-factor row is
   keyed by the user block it meets, the factor rows are cogrouped with the stratum's
   packed blocks by that key (the packed side is already partitioned that way, so only
   the ``2 d`` factor rows are shuffled), each task runs one block through the compiled
   blocked kernel (multi-threaded with the task's ``spark.task.cpus``) and returns its two
   factor rows, trained. The result is cut from its lineage with a checkpoint (one job
   per sub-epoch, plans do not grow) and the previous checkpoint is freed at once.
4. ``fit`` then collects the ``2 d`` rows once (size-checked before the first epoch) and
   returns a local ``SVD``; ``fit_distributed`` returns a ``SparkSVD`` whose factors stay
   on the executors, with distributed top-N and an explicit, size-checked ``to_local()``.

Before any work, every object that will cross one of Spark's limits (task size, result
size, Arrow column and batch) is sized, and a ``SparkLimitError`` names the setting to
raise or the parameter to change. The cost model is in ``bench/SPARK.md``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .._validation import check_int
from ..prediction_algorithms.matrix_factorization import SVD
from ..train import dsgd as _dsgd
from ..train.sgd import draw_normal
from ..trainset import Trainset
from ..utils import get_rng
from . import _dsgd_jobs as jobs
from ._common import (
    _check_columns,
    _check_rating_scale,
    _Clock,
    _col,
    _id_map,
    _rating_stats,
    default_n_blocks,
    session_limits,
    task_slots,
)
from .model import KEEP_RATINGS_MAX, SparkSVD

__all__ = ["fit", "fit_distributed"]

# A given n_blocks is lowered so that blocks average at least this many ratings.
MIN_CAPPED_BLOCK_RATINGS = 100
# ... and to at most this many (d * d packed blocks, d jobs per epoch).
MAX_N_BLOCKS = 1024
_INITS = ("auto", "driver", "executors")

_PARAMS_DOC = """
    df : pyspark.sql.DataFrame
        One row per rating.
    user_col, item_col, rating_col : str
        Column names. Ids may be of any type Spark can group by; ratings must be numeric
        and finite (null, NaN or infinite ratings raise ``ValueError`` before training).
    n_blocks : int, optional
        ``d``: the ratings are cut into ``d x d`` blocks and every sub-epoch trains ``d``
        of them in parallel. None uses one block per task slot of the cluster (its cores
        over ``spark.task.cpus``, read on Spark Connect too), fewer on small data (see
        ``default_n_blocks``). A given ``d`` is lowered, with a ``UserWarning``, to what
        the data can fill (blocks averaging at least 100 ratings) and to 1024.
    task_bins : int, optional
        Bins of the blocked layout inside each block (the local kernel's own grid, run by
        the task's threads). None chooses them as ``SVD(schedule="blocked")`` does, so
        ``n_blocks=1`` gives exactly the local ``SVD`` fit.
    rating_scale : (float, float), optional
        The trainset's rating scale (predictions are clipped to it). None uses the smallest
        and largest rating of the data.
    init : {'auto', 'driver', 'executors'}, default 'auto'
        Where the initial factors are drawn. ``'driver'``: ``pu`` then ``qi`` exactly as
        ``SVD`` draws them from ``random_state`` (so ``n_blocks=1`` equals the local fit
        bit for bit, any ``d`` equals ``turbosvd.train.dsgd.fit_local``), shipped once in
        pieces under ``spark.rpc.message.maxSize``. ``'executors'``: each factor row
        ``(side, b)`` is drawn by a task from ``numpy.random.Generator(PCG64(
        SeedSequence([seed, side, b])))`` (side 0 for user blocks, 1 for item blocks;
        ``seed`` is ``random_state`` when it is an int, else one draw from it), so nothing
        proportional to the model leaves the driver; the draws then depend on
        ``random_state`` and the grid (``n_blocks``), deterministically. ``'auto'``: the
        driver when ``pu`` and ``qi`` take at most 16 MiB and every factor row fits one
        task (``spark.rpc.message.maxSize``), else the executors.
    checkpoint_interval : int, optional
        Durable checkpoints: every ``checkpoint_interval`` epochs the factors are written
        with ``DataFrame.checkpoint`` to the session's checkpoint directory (classic:
        ``spark.sparkContext.setCheckpointDir``; Spark Connect: ``spark.checkpoint.dir``),
        and between them each sub-epoch is cached with its lineage, so a lost executor
        costs a recompute from the last checkpoint instead of the fit. The previous
        checkpoint's files and the cached sub-epochs are deleted as soon as the next one
        is written. None (default): each sub-epoch is a ``localCheckpoint`` on the
        executors (faster; losing an executor aborts the fit), the previous one freed
        at once.
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
        records are appended after the last epoch.
    **svd_params
        ``SVD`` parameters (``n_factors``, ``n_epochs``, ``lr_all``, ``reg_all``, ...,
        ``random_state``, ``dtype``, ``verbose``). ``schedule`` must be ``'blocked'``.
        ``n_jobs`` does not apply to the tasks, which use the ``spark.task.cpus`` threads
        Spark gives them (the result does not depend on it)."""

_NOTES_DOC = """
    *Ids.* Inner ids are numbered by first appearance in the DataFrame's row order as
    ``monotonically_increasing_id`` sees it (partition by partition, row by row). For a
    DataFrame made by ``spark.createDataFrame(pandas_df)`` that is ``pandas_df``'s order,
    so the ids are those of ``Dataset.load_from_df(pandas_df, ...)``. For other sources
    the order is the sources' partition order; the ratings are cached before the ids are
    drawn, so one fit sees one order. The id maps (raw id, first position, count: not
    proportional to factors) pass through the driver, size-checked.

    *Divergence.* The tasks check every trained block for NaN or infinite values; the
    driver reads their flags after the last epoch (``d`` small rows) and raises
    ``ModelFitError`` naming the first epoch that diverged.

    *Limits.* Before the first epoch ``SparkLimitError`` (a ``ValueError``) is raised if a
    packed block or a sub-epoch's pair of factor rows would pass the 1 GiB Arrow column
    (use more blocks), if an initial factor row drawn on the driver would not fit in one
    task (``spark.rpc.message.maxSize``), or if what the driver collects would pass
    ``spark.driver.maxResultSize``.

    *Global mean.* The exactly rounded sum of every block's exactly rounded sum, divided by
    the count: equal to ``Trainset.global_mean`` whenever the sums are exact (ratings on a
    grid such as whole or half stars), else within an ulp or two."""


def fit(
    df: DataFrame,
    user_col: str,
    item_col: str,
    rating_col: str,
    *,
    n_blocks: int | None = None,
    task_bins: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    keep_ratings: bool | None = None,
    init: str = "auto",
    checkpoint_interval: int | None = None,
    profile: list | None = None,
    **svd_params: Any,
) -> SVD:
    """Train a turbosvd ``SVD`` on a Spark DataFrame of ratings, by DSGD, and collect it.

    ``fit_distributed(...).to_local(keep_ratings)``, with the collect sized before the
    first epoch: a model whose factors would pass ``spark.driver.maxResultSize`` fails at
    once (use :func:`fit_distributed`, which keeps them in Spark).

    Parameters
    ----------%s
    keep_ratings : bool, optional
        Collect the ratings (inner ids and values, 16 bytes per rating) into the returned
        model's ``trainset``, so everything Surprise offers works on it. With False the
        trainset holds only the id maps, the counts and the mean: ``predict``, ``test``
        and top-N without seen-item exclusion work, but its ``ur``, ``ir``,
        ``all_ratings`` and the test-set builders see no ratings. None (default): True up
        to 10M ratings (160 MB) when they fit ``spark.driver.maxResultSize``, else False.

    Returns
    -------
    SVD
        A fitted model (``pu``, ``qi``, ``bu``, ``bi``, ``trainset``), as ``SVD.fit``
        returns it.

    Notes
    -----%s
    """
    if keep_ratings is not None and not isinstance(keep_ratings, bool):
        raise TypeError(f"keep_ratings must be a bool or None, got {keep_ratings!r}")
    model = _train(
        df, user_col, item_col, rating_col, n_blocks=n_blocks, task_bins=task_bins,
        rating_scale=rating_scale, init=init, checkpoint_interval=checkpoint_interval,
        profile=profile, local=(keep_ratings,), svd_params=svd_params,
    )  # fmt: skip
    try:
        return model.to_local(keep_ratings=model._keep_ratings, profile=profile)
    finally:
        model.unpersist()


def fit_distributed(
    df: DataFrame,
    user_col: str,
    item_col: str,
    rating_col: str,
    *,
    n_blocks: int | None = None,
    task_bins: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    init: str = "auto",
    checkpoint_interval: int | None = None,
    profile: list | None = None,
    **svd_params: Any,
) -> SparkSVD:
    """Train an ``SVD`` on a Spark DataFrame of ratings, by DSGD, keeping it in Spark.

    Nothing proportional to users x factors or to the ratings passes through the driver:
    the returned :class:`SparkSVD` holds the trained factors on the executors (and the
    packed ratings, for seen-item exclusion), gives them as DataFrames
    (``user_factors``, ``item_factors``), serves distributed top-N
    (``recommend_for_all_users``), and collects a local ``SVD`` only when asked
    (``to_local``, size-checked). Call ``unpersist()`` when done with it.

    Parameters
    ----------%s

    Returns
    -------
    SparkSVD

    Notes
    -----%s
    """
    return _train(
        df, user_col, item_col, rating_col, n_blocks=n_blocks, task_bins=task_bins,
        rating_scale=rating_scale, init=init, checkpoint_interval=checkpoint_interval,
        profile=profile, local=None, svd_params=svd_params,
    )  # fmt: skip


fit.__doc__ = fit.__doc__ % (_PARAMS_DOC, _NOTES_DOC)
fit_distributed.__doc__ = fit_distributed.__doc__ % (_PARAMS_DOC, _NOTES_DOC)


def _train(df, user_col, item_col, rating_col, *, n_blocks, task_bins, rating_scale, init,
           checkpoint_interval, profile, local, svd_params) -> SparkSVD:  # fmt: skip
    """The fit itself; ``local`` is None (keep the model in Spark) or ``(keep_ratings,)``
    (it will be collected: sized before the first epoch)."""
    _check_columns(df, user_col=user_col, item_col=item_col, rating_col=rating_col)
    if not isinstance(df.schema[rating_col].dataType, T.NumericType):
        raise TypeError(
            f"rating_col={rating_col!r} has type {df.schema[rating_col].dataType.simpleString()}"
            ": ratings must be numeric"
        )
    if profile is not None and not isinstance(profile, list):
        raise TypeError(f"profile must be a list or None, got {type(profile).__name__}")
    if init not in _INITS:
        raise ValueError(f"init={init!r} must be one of {_INITS}")
    if checkpoint_interval is not None:
        checkpoint_interval = check_int("checkpoint_interval", checkpoint_interval, min_value=1)
    svd_params.setdefault("schedule", "blocked")
    svd = SVD(**svd_params)
    if svd.schedule != "blocked":
        raise ValueError(
            f"schedule={svd.schedule!r} is not available on Spark: DSGD runs the blocked "
            "kernel on every block (use schedule='blocked', the default)"
        )
    if svd._adagrad():
        raise ValueError(
            "learning_rate_schedule='adagrad' is not available on Spark: DSGD runs the "
            "blocked kernel with constant rates (use learning_rate_schedule='constant')"
        )
    dtype = svd._dtype()
    itemsize = np.dtype(dtype).itemsize
    rates = svd._rates()
    k = check_int("n_factors", svd.n_factors, min_value=0)
    n_epochs = check_int("n_epochs", svd.n_epochs, min_value=0)
    if n_blocks is not None:
        n_blocks = check_int("n_blocks", n_blocks, min_value=1)
    if task_bins is not None:
        task_bins = check_int("task_bins", task_bins, min_value=1)
    scale = _check_rating_scale(rating_scale)

    spark = df.sparkSession
    limits = session_limits(spark)
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
    blocks = factors = None
    done = False
    try:
        n_ratings, scale = _rating_stats(base, rating_col, scale)
        setup("cache and check the ratings")
        user_ids, user_counts = _id_map(base, "user", "user_col", user_col, limits)
        item_ids, item_counts = _id_map(base, "item", "item_col", item_col, limits)
        setup("number the ids")
        empty = (np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0))
        trainset = Trainset.from_arrays(*empty, user_ids, item_ids, scale)
        svd._validate(trainset, fitting=False)
        if n_blocks is None:
            n_blocks = default_n_blocks(n_ratings, task_slots(spark))
        else:
            n_blocks = _cap_n_blocks(n_blocks, n_ratings)
        grid = _dsgd.make_grid(user_counts, item_counts, n_blocks)
        n_users, n_items = len(user_ids), len(item_ids)
        on_driver = init == "driver" or (
            init == "auto"
            and (n_users + n_items) * k * itemsize <= jobs.DRIVER_INIT_MAX_BYTES
            and jobs.largest_factor_row(grid, k, itemsize) <= jobs.driver_row_budget(limits)
        )
        keep = None
        if local is not None:
            keep = local[0]
            if keep is None:
                keep = n_ratings <= KEEP_RATINGS_MAX and (
                    not limits.result_bytes or 16 * n_ratings <= limits.result_bytes
                )
        rated, id_frames = jobs._rated(spark, base, grid, user_ids, item_ids, limits, item_counts)
        jobs.check_sizes(
            limits, grid, user_counts, item_counts, k, itemsize, rated=rated,
            init_on_driver=on_driver, collect_factors=local is not None,
            collect_ratings=n_ratings if keep else 0,
        )  # fmt: skip
        blocks, mu, present, keys = jobs._pack(spark, rated, grid, svd, dtype, task_bins)
        trainset = Trainset.from_arrays(*empty, user_ids, item_ids, scale, global_mean=mu)
        trainset.n_ratings = n_ratings  # the ratings stay in Spark
        setup("pack and cache the blocks")

        rng = get_rng(svd.random_state)
        if on_driver:
            pu = draw_normal(rng, svd.init_mean, svd.init_std_dev, n_users, k, dtype)
            qi = draw_normal(rng, svd.init_mean, svd.init_std_dev, n_items, k, dtype)
            bu, bi = np.zeros(n_users, dtype=dtype), np.zeros(n_items, dtype=dtype)
            factors, shipped = jobs._ship_factors(spark, grid, (pu, qi, bu, bi), limits)
            del pu, qi, bu, bi
            setup("ship the initial factors", bytes=shipped)
        else:
            if isinstance(svd.random_state, (int, np.integer)) and not isinstance(
                svd.random_state, bool
            ):
                seed = int(svd.random_state)
            else:
                seed = int(rng.randint(0, 2**31 - 1))
            factors = jobs._draw_on_executors(
                spark, grid, k, dtype, svd.init_mean, svd.init_std_dev, seed, len(keys)
            )
            setup("draw the initial factors on the executors", bytes=0)
        steps = [
            s for s in range(n_blocks) if any(bc in present for bc in _dsgd.strata(n_blocks, s))
        ]
        done_jobs = []
        durable_prev = None
        for epoch in range(n_epochs):
            if svd.verbose:
                print(f"Processing epoch {epoch}")
            for s in steps:
                sub = _Clock()
                make = jobs._train_arrow_fn if jobs.ARROW_COGROUP else jobs._train_fn
                train = make(dtype, k, mu, bool(svd.biased), rates, epoch, s)
                job = jobs._sub_epoch(blocks, factors, s, keys, n_blocks, train)
                plan_s = sub.lap()
                previous = factors
                if checkpoint_interval is None:
                    # Cut the lineage, then free the previous checkpoint at once.
                    factors = job.localCheckpoint(eager=True)
                    jobs.free_frame(previous)
                elif s == steps[-1] and (
                    (epoch + 1) % checkpoint_interval == 0 or epoch == n_epochs - 1
                ):
                    # Durable: written to the checkpoint directory; what came before it
                    # (the cached sub-epochs, the previous checkpoint's files) is deleted.
                    factors = job.checkpoint(eager=True)
                    jobs.free_frame(previous)
                    jobs.free_frame(durable_prev, durable=True)
                    durable_prev = factors
                else:
                    # Cached with its lineage back to the last durable checkpoint, so a
                    # lost partition is recomputed; the previous cached one is freed.
                    factors = job.persist()
                    factors.count()
                    if previous is not durable_prev:
                        jobs.free_frame(previous)
                del job, previous
                done_jobs.append((epoch, s, plan_s, sub.lap()))
        clock.lap()
        logs = jobs._collect_logs(factors, n_blocks)
        records = jobs._sub_epoch_records(done_jobs, logs, grid, k, itemsize)
        if profile is not None:
            profile.extend(records)
        model = SparkSVD(
            spark=spark, factors=factors, blocks=blocks, base=base if keep else None,
            rated=rated, id_frames=id_frames, grid=grid, trainset=trainset,
            n_ratings=n_ratings, svd_params=svd_params, dtype=dtype, keys=keys,
            limits=limits, keep_ratings=keep,
        )  # fmt: skip
        done = True
        return model
    finally:
        if not done:
            jobs.free_frame(factors, durable=True)
            if blocks is not None:
                blocks.unpersist()
            base.unpersist()
        elif not keep:
            base.unpersist()


def _cap_n_blocks(n_blocks: int, n_ratings: int) -> int:
    """``n_blocks`` capped to what the data can fill and to ``MAX_N_BLOCKS``, with a
    warning when it is lowered.

    Each epoch runs ``n_blocks`` Spark jobs of up to ``n_blocks`` tasks; blocks averaging
    fewer than ``MIN_CAPPED_BLOCK_RATINGS`` ratings only add jobs (2,000 ratings with
    ``n_blocks=200`` would be 40,000 blocks and 200 jobs per epoch, for 0.05 ratings each),
    and past ``MAX_N_BLOCKS`` the driver plans over a million blocks.
    """
    cap = max(1, math.isqrt(n_ratings // MIN_CAPPED_BLOCK_RATINGS))
    if n_blocks > MAX_N_BLOCKS and cap >= MAX_N_BLOCKS:
        warnings.warn(
            f"n_blocks={n_blocks} is more than {MAX_N_BLOCKS}: using n_blocks={MAX_N_BLOCKS} "
            f"({MAX_N_BLOCKS}**2 blocks, {MAX_N_BLOCKS} Spark jobs per epoch)",
            UserWarning,
            stacklevel=4,
        )
        return MAX_N_BLOCKS
    if n_blocks > cap:
        warnings.warn(
            f"n_blocks={n_blocks} is too many for {n_ratings:,} ratings: using n_blocks={cap} "
            f"(the {cap * cap} blocks average at least {MIN_CAPPED_BLOCK_RATINGS} ratings)",
            UserWarning,
            stacklevel=4,
        )
        return cap
    return n_blocks
