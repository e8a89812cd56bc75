"""The Spark jobs of DSGD training (``turbosvd.spark.fit``): numbering and packing the
ratings, the initial factor rows (drawn on the driver or on the executors), one sub-epoch's
cogroup, freeing checkpoints, collecting the trained rows, and the size checks that run
before the first epoch."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.group_ops import PandasCogroupedOps

from ..exceptions import ModelFitError
from ..train import dsgd as _dsgd
from ._common import (
    COLUMN_LIMIT,
    PACKED_OVERHEAD,
    RPC_HEADROOM,
    SparkLimits,
    _Clock,
    _partition_keys,
    _task_threads,
    check_column,
    check_result,
    local_frame,
)

_BLOCK_FIELDS = tuple(name for name, _ in _dsgd._LAYOUT_FIELDS)
# pyspark >= 4.0 cogroups Arrow tables (no pandas copies of the factor rows).
ARROW_COGROUP = hasattr(PandasCogroupedOps, "applyInArrow")
# The packed blocks are cached one block per cached batch, so that a sub-epoch's filter on
# its stratum skips the other blocks by the batches' statistics (False: Spark's default
# batches, which decode every block of a partition per sub-epoch; kept for the benchmark).
CACHE_BATCH_PER_BLOCK = True
# Initial factors up to this size (pu and qi together) are drawn on the driver with SVD's
# draws (so n_blocks=1 reproduces the local fit); larger ones on the executors.
DRIVER_INIT_MAX_BYTES = 16 << 20


def _map_frame(spark, pdf, id_type, limits: SparkLimits, what: str):
    """An id map (raw id, inner id, block, block-local id) as a DataFrame, sent in pieces
    that each fit one task, with the join hint its size allows: a broadcast when the
    driver may collect it (a broadcast is built on the driver, within
    ``spark.driver.maxResultSize``), else a shuffle join."""
    ints = [T.StructField(c, T.IntegerType(), False) for c in pdf.columns[1:]]
    schema = T.StructType([T.StructField(pdf.columns[0], id_type), *ints])
    frame = local_frame(spark, pdf, schema, limits, what, "nothing: ids are sent by row")
    nbytes = pdf.memory_usage(index=False, deep=True).sum()
    cap = BROADCAST_MAX_BYTES
    if limits.result_bytes:
        cap = min(cap, limits.result_bytes // 4)
    return frame.hint("broadcast") if nbytes <= cap else frame.hint("merge")


# Id maps up to this size are broadcast to the join with the ratings (the item map nearly
# always: 1M items take ~30 MB); larger ones are joined by a shuffle.
BROADCAST_MAX_BYTES = 64 << 20


def _rated(spark, base, grid, user_ids, item_ids, limits: SparkLimits, item_counts):
    """The ratings with inner ids, blocks and block-local ids (u, i, ub, ib, ul, il), and
    the two id maps as DataFrames (raw id, inner id, block, block-local id; the item map
    also ``support``, the item's training ratings, for ``min_support`` in top-N)."""
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
            "support": np.asarray(item_counts, dtype=np.int32),
        }
    )
    udf = _map_frame(spark, umap, base.schema["user"].dataType, limits, "the user id map")
    idf = _map_frame(spark, imap, base.schema["item"].dataType, limits, "the item id map")
    return base.join(udf, "user").join(idf, "item"), (udf, idf)


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
    )
    # One cached batch per packed block, so that the cache keeps the stratum's min/max per
    # block and a sub-epoch's filter on it skips (does not decode) the d - 1 blocks of each
    # partition it does not train. The batch size is read when the cache is built.
    batch_size = "spark.sql.inMemoryColumnarStorage.batchSize"
    before = spark.conf.get(batch_size, None)
    if CACHE_BATCH_PER_BLOCK:
        spark.conf.set(batch_size, "1")
    try:
        packed = packed.persist()
        summary = packed.select("ub", "ib", "n", "total").toPandas()  # materialises the cache
    finally:
        if before is None:
            spark.conf.unset(batch_size)
        else:
            spark.conf.set(batch_size, before)
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


def _ship_factors(spark, grid, model, limits: SparkLimits):
    """The initial model as a DataFrame of ``2 d`` factor rows (sent once by the driver),
    in pieces that each fit one task (``local_frame``). Returns the DataFrame and the bytes
    sent."""
    rows = _factor_rows(grid, model)
    pdf = pd.DataFrame(rows, columns=_FACTOR_COLUMNS)
    factors = local_frame(
        spark,
        pdf,
        _FACTOR_SCHEMA,
        limits,
        "shipping the initial factors from the driver",
        "draw them on the executors (init='executors'), or use more blocks (n_blocks)",
    )
    return factors, sum(len(row[2]) + len(row[3]) for row in rows)


def _draw_on_executors(spark, grid, k, dtype, mean, std, seed, n_parts):
    """The initial model as ``2 d`` factor rows drawn by the executors.

    Row ``(side, b)`` (side 0: user block ``b``, 1: item block ``b``) draws its factors,
    row by row of the block in order, from ``numpy.random.Generator(PCG64(SeedSequence(
    [seed, side, b])))`` with ``normal(mean, std)`` in float64, cast to the model's
    dtype; biases start at 0. Deterministic for a given seed and grid, whatever the
    executors, and recomputed identically if a task is retried.
    """
    d = grid.n_blocks
    sizes = [[grid.n_users_in(b) for b in range(d)], [grid.n_items_in(c) for c in range(d)]]
    dtype_name = np.dtype(dtype).name
    chunk = max(1, (1 << 22) // max(k, 1))

    def draw(batches):
        for pdf in batches:
            for j in pdf["id"].tolist():
                side, blk = divmod(int(j), d)
                n = sizes[side][blk]
                seq = np.random.SeedSequence([seed, side, blk])
                rng = np.random.Generator(np.random.PCG64(seq))
                f = np.empty((n, k), dtype=dtype_name)
                for start in range(0, n, chunk):
                    stop = min(n, start + chunk)
                    f[start:stop] = rng.normal(mean, std, size=(stop - start, k))
                b = np.zeros(n, dtype=dtype_name)
                yield pd.DataFrame(
                    {"side": [side], "blk": [blk], "f": [f.tobytes()], "b": [b.tobytes()],
                     "log": [b""]}
                )  # fmt: skip

    rows = spark.range(0, 2 * d, 1, numPartitions=max(1, min(2 * d, n_parts)))
    return rows.mapInPandas(draw, _FACTOR_SCHEMA)


def largest_factor_row(grid, k: int, itemsize: int) -> int:
    """Bytes of the largest factor row (factors and biases of one user or item block)."""
    d = grid.n_blocks
    rows = max([grid.n_users_in(b) for b in range(d)] + [grid.n_items_in(c) for c in range(d)])
    return rows * (k + 1) * itemsize


def driver_row_budget(limits: SparkLimits) -> int:
    """The most driver data one task may carry (``spark.rpc.message.maxSize`` less room)."""
    return limits.rpc_bytes - RPC_HEADROOM


def free_frame(frame, *, durable: bool = False) -> None:
    """Release what a persisted or checkpointed DataFrame holds on the executors, now.

    ``unpersist`` frees a cached frame but not a checkpoint: on a classic session this
    unpersists the checkpoint's RDD (a local checkpoint's blocks) and, for a durable
    checkpoint, deletes its files from the checkpoint directory. On Spark Connect the
    server releases a checkpoint when the client drops its last reference to it (the
    caller does), so only ``unpersist`` is called here.
    """
    if frame is None:
        return
    try:
        frame.unpersist(blocking=False)
    except Exception:  # pragma: no cover - a frame whose session is gone
        return
    jdf = getattr(frame, "_jdf", None)
    if jdf is None:  # Spark Connect
        return
    try:
        plan = jdf.queryExecution().logical()
        if plan.getClass().getSimpleName() != "LogicalRDD":
            return
        rdd = plan.rdd()
        path = rdd.getCheckpointFile()
        rdd.unpersist(False)
        if durable and path.isDefined():
            jvm = frame.sparkSession.sparkContext._jvm
            hpath = jvm.org.apache.hadoop.fs.Path(path.get())
            conf = frame.sparkSession.sparkContext._jsc.hadoopConfiguration()
            hpath.getFileSystem(conf).delete(hpath, True)
    except Exception:  # pragma: no cover - internals of another Spark version
        pass


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
        bi_in = np.frombuffer(item["b"], dtype_name)
        qi_in = np.frombuffer(item["f"], dtype_name).reshape(len(bi_in), k)
        io_s = clock.lap()
        qi, bi = _dsgd.train_block_rows(
            layout, pu, bu, qi_in, bi_in, mu, biased, rates, _task_threads()
        )
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


def _train_arrow_fn(dtype, k, mu, biased, rates, epoch, s):
    """``_train_fn`` on Arrow tables (``applyInArrow``, pyspark >= 4.0): the packed block
    and the factor rows are read from Arrow buffers without going through pandas, which
    saves two copies of every factor row per sub-epoch (Arrow -> Python bytes -> numpy, and
    back). Same checks, same floats."""
    dtype_name = np.dtype(dtype).name

    def train(blocks, factors):
        import pyarrow as pa

        sides = factors.column("side").to_pylist()
        if blocks.num_rows > 1 or sides.count(_USER) != 1 or sides.count(_ITEM) != 1:
            raise RuntimeError(
                f"epoch {epoch}, sub-epoch {s}: a DSGD task got {blocks.num_rows} rating "
                f"blocks, {sides.count(_USER)} user-factor rows and {sides.count(_ITEM)} "
                "item-factor rows; expected at most one block and exactly one row of each"
            )
        if blocks.num_rows == 0:  # no ratings in this block: the factors pass through
            return factors.select(_FACTOR_COLUMNS)
        clock = _Clock()
        u, i = sides.index(_USER), sides.index(_ITEM)
        blk = factors.column("blk").to_pylist()
        block = (blocks.column("ub")[0].as_py(), blocks.column("ib")[0].as_py())
        if block != (blk[u], blk[i]):
            raise RuntimeError(
                f"epoch {epoch}, sub-epoch {s}: block {block} met the factors of user block "
                f"{blk[u]} and item block {blk[i]}"
            )
        fields = {name: blocks.column(name)[0].as_buffer() for name in _BLOCK_FIELDS}
        layout = _dsgd.decode_block(fields, dtype_name)
        f_col, b_col = factors.column("f"), factors.column("b")
        pu = _dsgd.from_bytes(f_col[u].as_buffer(), dtype_name, k)
        bu = _dsgd.from_bytes(b_col[u].as_buffer(), dtype_name)
        bi_in = np.frombuffer(b_col[i].as_buffer(), dtype_name)
        qi_in = np.frombuffer(f_col[i].as_buffer(), dtype_name).reshape(len(bi_in), k)
        io_s = clock.lap()
        # The item rows are trained stored bin by bin (the gather and scatter are the
        # copies from_bytes would make anyway), against false sharing between threads.
        qi, bi = _dsgd.train_block_rows(
            layout, pu, bu, qi_in, bi_in, mu, biased, rates, _task_threads()
        )
        train_s = clock.lap()
        finite = all(np.isfinite(a).all() for a in (pu, qi, bu, bi))
        f = pa.array([memoryview(pu).cast("B"), memoryview(qi).cast("B")], pa.binary())
        b = pa.array([memoryview(bu).cast("B"), memoryview(bi).cast("B")], pa.binary())
        io_s += clock.lap()
        entry = np.array([epoch, s, train_s, io_s, float(finite)], dtype=np.float64)
        log_col = factors.column("log")
        log = [log_col[u].as_py() + entry.tobytes(), log_col[i].as_py()]
        return pa.table(
            {
                "side": pa.array([_USER, _ITEM], pa.int32()),
                "blk": pa.array([blk[u], blk[i]], pa.int32()),
                "f": f,
                "b": b,
                "log": pa.array(log, pa.binary()),
            }
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
    grouped = blocks.filter(F.col("stratum") == s).groupBy("part").cogroup(keyed.groupBy("part"))
    if ARROW_COGROUP:
        return grouped.applyInArrow(train, _FACTOR_SCHEMA)
    return grouped.applyInPandas(train, _FACTOR_SCHEMA)


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


def check_sizes(
    limits: SparkLimits,
    grid,
    user_counts,
    item_counts,
    k: int,
    itemsize: int,
    *,
    rated=None,
    init_on_driver: bool = False,
    collect_factors: bool = False,
    collect_ratings: int = 0,
) -> None:
    """Size every object of the fit that will cross one of Spark's limits, before any work.

    - every packed block (~``PACKED_OVERHEAD + itemsize`` bytes per rating with the run
      index, one Arrow row) and the ratings of a block as the packing task receives them
      (8 bytes per rating in the widest column): under ``COLUMN_LIMIT``;
    - the cogroup of a sub-epoch, whose factor side holds one user-factor row and one
      item-factor row in the same Arrow column: under ``COLUMN_LIMIT``;
    - initial factors drawn on the driver: every factor row within one task
      (``spark.rpc.message.maxSize``);
    - what the driver collects: the trained factors (``collect_factors``) and the
      ``collect_ratings`` ratings at 16 bytes each (``spark.driver.maxResultSize``).

    Raises ``SparkLimitError`` naming the setting to raise or the parameter to change.
    """
    d = grid.n_blocks
    user_counts = np.asarray(user_counts, dtype=np.int64)
    item_counts = np.asarray(item_counts, dtype=np.int64)
    per_rating = max(PACKED_OVERHEAD + itemsize, 8)
    more = f"use more blocks (n_blocks={d} is too few)"
    by_user = np.bincount(grid.user_block, weights=user_counts, minlength=d)
    by_item = np.bincount(grid.item_block, weights=item_counts, minlength=d)
    bound = min(by_user.max(initial=0), by_item.max(initial=0))  # a block's most ratings
    if bound * per_rating > COLUMN_LIMIT:
        if rated is None:
            counts = [(0, 0, int(bound))]
        else:
            pdf = rated.groupBy("ub", "ib").count().toPandas()
            counts = list(zip(pdf["ub"].tolist(), pdf["ib"].tolist(), pdf["count"].tolist()))
        b, c, n = max(counts, key=lambda x: x[2])
        need = math.ceil(d * math.sqrt(n * per_rating / COLUMN_LIMIT)) + 1
        check_column(
            f"block ({b}, {c}) of {n:,} ratings ({per_rating} bytes each packed, with the run "
            "index)",
            n * per_rating,
            f"{more}; about n_blocks={need} would do",
        )
    row = (k * itemsize, itemsize)
    users = [grid.n_users_in(b) for b in range(d)]
    items = [grid.n_items_in(c) for c in range(d)]
    pair = (max(users) + max(items)) * row[0]
    check_column(
        "the cogroup of a sub-epoch (one user-factor row and one item-factor row, "
        f"{max(users):,} users and {max(items):,} items of {k} factors)",
        pair,
        f"{more}; the largest user block must shrink",
    )
    if init_on_driver:
        from ._common import check_rpc

        check_rpc(
            limits,
            f"shipping the initial factors of the largest block ({max(users + items):,} rows "
            f"of {k} factors) from the driver",
            largest_factor_row(grid, k, itemsize),
            f"draw them on the executors (init='executors'), or {more}",
        )
    if collect_factors:
        nbytes = (len(user_counts) + len(item_counts)) * sum(row)
        check_result(
            limits,
            f"collecting the trained model ({len(user_counts):,} users and "
            f"{len(item_counts):,} items of {k} factors)",
            nbytes,
            "keep the factors in Spark: turbosvd.spark.fit_distributed returns them as "
            "DataFrames, with distributed top-N",
        )
    if collect_ratings:
        check_result(
            limits,
            f"collecting the {collect_ratings:,} ratings into the trainset (keep_ratings=True)",
            collect_ratings * 16,
            "pass keep_ratings=False (the ratings stay in Spark)",
        )


def _collect_logs(factors, d: int) -> dict:
    """The logs the user-factor rows carry ({b: array (entries, len(_LOG_FIELDS))}): ``d``
    small rows, no factor bytes."""
    out = factors.filter(F.col("side") == _USER).select("blk", "log").toPandas()
    if sorted(out["blk"].tolist()) != list(range(d)):
        raise RuntimeError(
            f"training lost or duplicated factor blocks: expected user blocks 0..{d - 1} "
            f"once each, got {sorted(out['blk'].tolist())}"
        )
    return {
        int(b): np.frombuffer(log, dtype=np.float64).reshape(-1, len(_LOG_FIELDS))
        for b, log in zip(out["blk"].tolist(), out["log"].tolist(), strict=True)
    }
