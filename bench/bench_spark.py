"""DSGD on Spark (local mode) against the local fit, on 1M synthetic ratings.

Measures, in one run, on ``make_ratings(6040, 3706, 1_000_000, random_state=0)`` split
80/20 (``train_test_split(random_state=0)``), with ``n_factors=100, n_epochs=20`` (SVD's
defaults) and the same seed:

- the local ``SVD(schedule="blocked")`` fit: time per epoch (with the threads of this
  machine and with one thread: a Spark task has one core here) and test RMSE;
- ``turbosvd.spark.fit`` with ``n_blocks`` = 1, 2 and 4 (``--blocks``): setup time
  (including shipping the initial factors once and collecting them once), time per epoch
  split into block compute (the kernel inside the tasks, critical path of each
  sub-epoch), factor (de)serialisation in the tasks (decode and encode the factor
  blocks), and Spark overhead (the rest: building the job, scheduling, the cogroup's
  shuffle of the factor rows, Arrow transfers to and from the Python workers, the
  checkpoint of the trained factors), the factor bytes through the driver per epoch
  (none: the factors stay on the executors) and in the shuffles, and test RMSE.

Per-epoch figures are medians over the epochs. Usage::

    python bench/bench_spark.py [--blocks 1 2 4] [--n-ratings 1000000] [--epochs 20]

It ends with the round trip of one factor payload of 1 to 64 MB through the driver
(``--ship-mb``): the fixed and per-byte cost of moving factor blocks driver -> task ->
driver (what ``fit`` does once per fit; earlier versions did it every sub-epoch); and
with the distributed top-N (``recommend_for_all_users``, ``similar_items_all``) against
the local ``recommend_all`` on the local model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd

import _common as C

K = 100


def _session(cores: int):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("turbosvd-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _data(n_ratings: int):
    from turbosvd import Dataset, Reader
    from turbosvd.datasets import make_ratings
    from turbosvd.model_selection import train_test_split

    df = make_ratings(6040, 3706, n_ratings, random_state=0)
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    train, test = train_test_split(data, test_size=0.2, random_state=0)
    # The training ratings as a DataFrame in the trainset's order, so Spark numbers the ids
    # exactly as the local trainset does.
    train_df = pd.DataFrame(
        {
            "user": train._user_ids[train._users].astype(np.int32),
            "item": train._item_ids[train._items].astype(np.int32),
            "rating": train._ratings,
        }
    )
    return train, test, train_df


def _local(train, test, epochs: int, n_jobs):
    from turbosvd import SVD, accuracy

    def fit():
        return SVD(n_factors=K, n_epochs=epochs, random_state=0, n_jobs=n_jobs).fit(train)

    seconds, _ = C.median_time(fit, repeat=3)
    algo = fit()
    return seconds / max(epochs, 1), float(accuracy.rmse(algo.test(test), verbose=False)), algo


def _spark(spark, train_df, test, d: int, epochs: int):
    from turbosvd import accuracy
    from turbosvd import spark as tspark

    sdf = spark.createDataFrame(train_df).cache()
    sdf.count()
    profile: list = []
    t = time.perf_counter()
    model = tspark.fit(
        sdf,
        "user",
        "item",
        "rating",
        n_blocks=d,
        n_factors=K,
        n_epochs=epochs,
        random_state=0,
        rating_scale=(1, 5),
        keep_ratings=False,
        profile=profile,
    )
    total = time.perf_counter() - t
    sdf.unpersist()
    rmse = float(accuracy.rmse(model.test(test), verbose=False))
    setup = sum(p["s"] for p in profile if p["phase"] == "setup")
    per_epoch = []
    for e in range(epochs):
        subs = [p for p in profile if p["phase"] == "sub_epoch" and p["epoch"] == e]
        wall = sum(p["plan_s"] + p["job_s"] for p in subs)
        compute = sum(max(p["task_train_s"]) for p in subs)
        shipping = sum(max(p["task_io_s"]) for p in subs)
        per_epoch.append(
            {
                "wall": wall,
                "compute": compute,
                "compute_cpu": sum(sum(p["task_train_s"]) for p in subs),
                "shipping": shipping,
                "overhead": wall - compute - shipping,
                "bytes": sum(p["bytes"] for p in subs),
                "shuffle_bytes": sum(p["shuffle_bytes"] for p in subs),
                "jobs": len(subs),
            }
        )
    med = {key: statistics.median(x[key] for x in per_epoch) for key in per_epoch[0]}
    return {"blocks": d, "total_s": total, "setup_s": setup, "rmse": rmse, **med}, model


def _shipping(spark, sizes_mb: list[int]) -> list[dict]:
    """Round trip of one factor payload through the driver, by size.

    Driver -> ``createDataFrame`` -> shuffle -> cogroup with a cached one-row block ->
    Python task (returns it) -> ``toPandas``: the fixed cost and the cost per byte of
    moving factor blocks between the driver and the tasks.
    """
    from turbosvd import spark as tspark

    keys = tspark._partition_keys(spark, 2)
    blocks = spark.createDataFrame(pd.DataFrame({"part": [keys[0]], "x": [1]}))
    blocks = blocks.repartition(2, "part").cache()
    blocks.count()

    def echo(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"pu": right["pu"]})

    out = []
    for mb in sizes_mb:
        payload = np.random.default_rng(0).random(mb * (1 << 20) // 4, dtype=np.float32)
        payload = payload.tobytes()

        def trip(payload=payload):
            factors = spark.createDataFrame(
                pd.DataFrame({"part": [keys[0]], "pu": [payload]}), schema="part int, pu binary"
            )
            back = (
                blocks.groupBy("part")
                .cogroup(factors.groupBy("part"))
                .applyInPandas(echo, "pu binary")
                .toPandas()
            )
            assert back["pu"][0] == payload

        seconds, _ = C.median_time(trip, repeat=3, warmup=1)
        out.append({"mb": mb, "round_trip_s": seconds})
        print(f"shipping {mb} MB: {seconds:.3f} s round trip", flush=True)
    blocks.unpersist()
    return out


def _topn(spark, model) -> dict:
    """Distributed top-N against the local one, on the same model (medians of 3)."""
    from turbosvd import spark as tspark

    local, _ = C.median_time(lambda: model.recommend_all(10), repeat=3, warmup=1)
    recs, _ = C.median_time(
        lambda: tspark.recommend_for_all_users(model, spark, n=10).count(), repeat=3, warmup=1
    )
    sims, _ = C.median_time(
        lambda: tspark.similar_items_all(model, spark, k=10).count(), repeat=3, warmup=1
    )
    out = {
        "recommend_all_local_s": local,
        "recommend_for_all_users_s": recs,
        "similar_items_all_s": sims,
    }
    print(f"top-N: {out}", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--n-ratings", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cores", type=int, default=2, help="local[N]")
    parser.add_argument("--ship-mb", type=int, nargs="*", default=[1, 8, 32, 64])
    args = parser.parse_args(argv)

    train, test, train_df = _data(args.n_ratings)
    local_epoch, local_rmse, local_model = _local(train, test, args.epochs, None)
    local_epoch_1t, _, _ = _local(train, test, args.epochs, 1)
    print(
        f"local blocked fit: {local_epoch:.3f} s/epoch ({local_epoch_1t:.3f} with 1 thread), "
        f"test RMSE {local_rmse:.4f}"
    )

    spark = _session(args.cores)
    rows, results = [], []
    for d in args.blocks:
        res, _ = _spark(spark, train_df, test, d, args.epochs)
        res["rmse_minus_local"] = res["rmse"] - local_rmse
        results.append(res)
        rows.append(
            [
                d,
                res["setup_s"],
                res["wall"],
                res["compute"],
                res["shipping"],
                res["overhead"],
                res["bytes"] / 1e6,
                res["shuffle_bytes"] / 1e6,
                res["rmse"],
                res["rmse_minus_local"],
            ]
        )
        print(f"d={d}: {res}", flush=True)
    shipping = _shipping(spark, args.ship_mb)
    topn = _topn(spark, local_model)
    spark.stop()

    print()
    print(
        f"{args.n_ratings} ratings x 0.8 train, n_factors={K}, {args.epochs} epochs, "
        f"local[{args.cores}]; per-epoch medians (seconds). Local blocked fit: "
        f"{local_epoch:.3f} s/epoch ({local_epoch_1t:.3f} s single-threaded), "
        f"RMSE {local_rmse:.4f}."
    )
    print(
        C.markdown_table(
            [
                "d",
                "setup",
                "epoch",
                "block compute",
                "factor (de)serialisation",
                "Spark overhead",
                "MB through the driver/epoch",
                "MB shuffled/epoch",
                "test RMSE",
                "RMSE - local",
            ],
            rows,
        )
    )
    path = C.write_json(
        "bench_spark",
        {
            "machine": C.machine_info(),
            "n_ratings": args.n_ratings,
            "epochs": args.epochs,
            "n_factors": K,
            "cores": args.cores,
            "local": {
                "epoch_s": local_epoch,
                "epoch_s_1_thread": local_epoch_1t,
                "rmse": local_rmse,
            },
            "spark": results,
            "shipping": shipping,
            "topn": topn,
        },
    )
    print()
    print(
        C.markdown_table(
            ["factor payload (MB)", "round trip driver -> task -> driver (s)"],
            [[x["mb"], x["round_trip_s"]] for x in shipping],
        )
    )
    print(
        f"\ntop-N, n = k = 10: local recommend_all {topn['recommend_all_local_s']:.3f} s; "
        f"recommend_for_all_users + count {topn['recommend_for_all_users_s']:.3f} s; "
        f"similar_items_all + count {topn['similar_items_all_s']:.3f} s"
    )
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
