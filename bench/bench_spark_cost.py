"""A per-sub-epoch cost model of DSGD on Spark, fitted to local runs (bench/SPARK.md).

Runs ``turbosvd.spark.fit_distributed`` in ``local[2]`` on ``make_ratings(n_users, 2000,
n_ratings, random_state=0)`` for a grid of user counts (so of user-row sizes: ``n_users /
d`` users of ``k`` float32 factors per row) and block counts ``d``, with ``profile`` on,
and records per sub-epoch the job's wall time (``job_s``: build, schedule, shuffle of the
factor rows, Arrow to and from the Python workers, kernel, checkpoint), the kernel time
and the tasks' decode/encode time. Then fits, by least squares over the medians,

    job_s = fixed + per_mb * (MB of factor rows per task) + per_rating * (ratings per block)

(one task per block runs in parallel with the others: the critical path is one task's
rows and one block's ratings), and the local ``SVD(schedule="blocked")`` epoch time on the
same data for the single-node comparison. Writes ``bench/results/bench_spark_cost.json``
and ``.md`` with the machine, load averages and versions. Usage::

    flock /tmp/turbosvd-bench.lock python bench/bench_spark_cost.py [--users 20000 80000 160000]
        [--blocks 1 2 4] [--ratings 400000] [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np

import _common as C

K = 100


def _session():
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    warnings.filterwarnings("ignore")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("turbosvd-bench-cost")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "3g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _run(spark, df, n_users, d, epochs):
    from turbosvd import spark as tspark

    profile = []
    t = time.perf_counter()
    model = tspark.fit_distributed(
        df, "user", "item", "rating", n_blocks=d, n_factors=K, n_epochs=epochs,
        random_state=0, profile=profile,
    )  # fmt: skip
    total = time.perf_counter() - t
    subs = [p for p in profile if p["phase"] == "sub_epoch" and p["epoch"] > 0]
    setup = {p["step"]: p["s"] for p in profile if p["phase"] == "setup"}
    model.unpersist()
    return {
        "total_s": total,
        "setup": setup,
        "job_s": statistics.median(p["job_s"] for p in subs),
        "plan_s": statistics.median(p["plan_s"] for p in subs),
        "train_s": statistics.median(max(p["task_train_s"] or [0]) for p in subs),
        "io_s": statistics.median(max(p["task_io_s"] or [0]) for p in subs),
        "shuffle_mb": subs[0]["shuffle_bytes"] / 2**20,
    }


def _write(rows, local, loads, args) -> None:
    """The result files so far (the model is fitted once there are 3 configurations)."""
    if len(rows) < 3:
        return
    x = np.array([[1.0, r["row_mb"], r["block_ratings"] / 1e6] for r in rows])
    y = np.array([r["job_s"] for r in rows])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    fitted = x @ coef
    model = {
        "fixed_s": float(coef[0]),
        "per_mb_s": float(coef[1]),
        "per_million_ratings_s": float(coef[2]),
        "max_abs_residual_s": float(np.max(np.abs(fitted - y))),
    }
    out = {
        "machine": C.machine_info(),
        "versions": C.versions("turbosvd", "numpy", "pandas", "pyspark", "pyarrow"),
        "loadavg": loads,
        "args": vars(args),
        "k": K,
        "rows": rows,
        "local": local,
        "model": model,
    }
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    base = os.path.join(os.path.dirname(__file__), "results", "bench_spark_cost")
    with open(base + ".json", "w") as f:
        json.dump(out, f, indent=1, default=str)
    lines = [
        "# DSGD on Spark: per-sub-epoch cost (bench/bench_spark_cost.py)",
        "",
        f"load averages: {loads}",
        f"machine/versions: {out['machine']} {out['versions']}",
        "",
        "| users | d | MB of factor rows per task | ratings per block | job (s) | kernel (s) | "
        "task decode/encode (s) | driver plan (s) | model (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r, f in zip(rows, fitted, strict=True):
        lines.append(
            f"| {r['n_users']:,} | {r['d']} | {r['row_mb']:.1f} | {r['block_ratings']:,.0f} | "
            f"{r['job_s']:.2f} | {r['train_s']:.3f} | {r['io_s']:.3f} | {r['plan_s']:.3f} | "
            f"{f:.2f} |"
        )
    lines += [
        "",
        f"Fit: job_s = {model['fixed_s']:.3f} + {model['per_mb_s']:.4f} x MB per task + "
        f"{model['per_million_ratings_s']:.3f} x M ratings per block "
        f"(largest residual {model['max_abs_residual_s']:.2f} s).",
        "",
        "Local SVD(schedule='blocked', n_jobs=1) epoch on the same data: "
        + ", ".join(f"{x['n_users']:,} users {x['epoch_s']:.3f} s" for x in local),
    ]
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[20_000, 80_000, 160_000])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--ratings", type=int, default=400_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)

    from turbosvd import SVD, Dataset, Reader
    from turbosvd.datasets import make_ratings

    spark = _session()
    loads = [os.getloadavg()]
    rows, local = [], []
    try:
        for n_users in args.users:
            pdf = make_ratings(n_users, args.items, args.ratings, random_state=0)
            df = spark.createDataFrame(pdf).persist()
            df.count()
            ts = Dataset.load_from_df(pdf, Reader(rating_scale=(1, 5))).build_full_trainset()
            times = []
            for _ in range(3):
                t = time.perf_counter()
                SVD(n_factors=K, n_epochs=args.epochs, random_state=0, n_jobs=1).fit(ts)
                times.append((time.perf_counter() - t) / args.epochs)
            local.append({"n_users": n_users, "epoch_s": statistics.median(times)})
            for d in args.blocks:
                runs = [_run(spark, df, n_users, d, args.epochs) for _ in range(args.repeats)]
                row_mb = (n_users / d + args.items / d) * (K + 1) * 4 / 2**20
                rows.append(
                    {
                        "n_users": n_users,
                        "d": d,
                        "row_mb": row_mb,
                        "block_ratings": args.ratings / d / d,
                        "job_s": statistics.median(r["job_s"] for r in runs),
                        "train_s": statistics.median(r["train_s"] for r in runs),
                        "io_s": statistics.median(r["io_s"] for r in runs),
                        "plan_s": statistics.median(r["plan_s"] for r in runs),
                        "runs": runs,
                    }
                )
                loads.append(os.getloadavg())
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "runs"}), flush=True)
                _write(rows, local, loads, args)  # after every configuration
            df.unpersist()
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
