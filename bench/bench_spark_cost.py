"""A per-sub-epoch cost model of DSGD on Spark, fitted to local runs (bench/SPARK.md).

Runs ``turbosvd.spark.fit_distributed`` in ``local[2]`` on ``make_ratings(n_users, 2000,
n_ratings, random_state=0)`` for a grid of user counts (so of user-row sizes: ``n_users /
d`` users of ``k`` float32 factors per row) and block counts ``d``, with ``profile`` on,
and records per sub-epoch the job's wall time (``job_s``: build, schedule, shuffle of the
factor rows, Arrow to and from the Python workers, kernel, checkpoint), the kernel time
and the tasks' decode/encode time (medians over the sub-epochs after the first epoch, then
the median over ``--repeats`` fits). Then fits, by least squares over those medians,

    job_s = fixed + per_mb * (MB of factor rows per task) + per_rating * (ratings per block)

(one task per block runs in parallel with the others: the critical path is one task's
rows and one block's ratings), and times the local ``SVD(schedule="blocked", n_jobs=1)``
epoch on the same data for the single-node comparison.

``--ablation`` (default on) also fits one configuration with each of issue 18's changes
switched back to the previous path, the fits of all variants interleaved in the same run:
the sub-epoch cogroup through pandas instead of Arrow (``ARROW_COGROUP``), the item map
joined by a shuffle instead of a broadcast (``BROADCAST_MAX_BYTES``), the packed blocks
cached one batch per partition instead of one per block (``CACHE_BATCH_PER_BLOCK``).
Writes ``bench/results/bench_spark_cost.json`` and ``.md`` with the
machine, load averages and versions. Usage::

    flock /tmp/turbosvd-bench.lock python bench/bench_spark_cost.py [--users 20000 80000 160000]
        [--blocks 2 4] [--ratings 400000] [--epochs 2] [--repeats 3] [--no-ablation]
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

# name -> module settings of turbosvd.spark._dsgd_jobs (the previous paths of issue 18)
_VARIANTS = {
    "now": {},
    "pandas cogroup": {"ARROW_COGROUP": False},
    "shuffled item map": {"BROADCAST_MAX_BYTES": -1},
    "one cache batch per partition": {"CACHE_BATCH_PER_BLOCK": False},
}
_PREVIOUS = ("ARROW_COGROUP", "BROADCAST_MAX_BYTES", "CACHE_BATCH_PER_BLOCK")


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


def _run(spark, df, d, epochs, variant=None):
    from turbosvd import spark as tspark
    from turbosvd.spark import _dsgd_jobs as jobs

    saved = {name: getattr(jobs, name) for name in _PREVIOUS}
    for name, value in _VARIANTS[variant or "now"].items():
        setattr(jobs, name, value)
    profile = []
    try:
        t = time.perf_counter()
        model = tspark.fit_distributed(
            df, "user", "item", "rating", n_blocks=d, n_factors=K, n_epochs=epochs,
            random_state=0, profile=profile,
        )  # fmt: skip
        total = time.perf_counter() - t
        model.unpersist()
    finally:
        for name, value in saved.items():
            setattr(jobs, name, value)
    subs = [p for p in profile if p["phase"] == "sub_epoch" and p["epoch"] > 0]
    setup = {p["step"]: p["s"] for p in profile if p["phase"] == "setup"}
    if not subs:  # a warm-up fit of one epoch
        return {"total_s": total, "setup": setup}
    return {
        "total_s": total,
        "setup": setup,
        "setup_s": sum(setup.values()),
        "job_s": statistics.median(p["job_s"] for p in subs),
        "plan_s": statistics.median(p["plan_s"] for p in subs),
        "train_s": statistics.median(max(p["task_train_s"] or [0]) for p in subs),
        "io_s": statistics.median(max(p["task_io_s"] or [0]) for p in subs),
        "shuffle_mb": subs[0]["shuffle_bytes"] / 2**20,
    }


def _median_of(runs, key):
    return statistics.median(r[key] for r in runs)


SLOTS = 2  # local[2]: with d > 2 tasks, each core runs ceil(d / 2) of them in turn


def _fit_model(rows):
    """Two least-squares fits of the sub-epoch's job time.

    ``three_terms``: fixed + per_mb x MB per task + per_rating x ratings per block (the
    model first planned). With a fixed number of ratings the ratings per block depend on
    ``d`` only, and ``d = 4`` runs two tasks per core in turn, so that fit trades the two
    terms against each other. ``per_core``: fixed + per_mb x MB of factor rows per core
    (MB per task x tasks per core), the kernel left out (measured directly: under 3 % of
    the job here); this is the one SPARK.md uses.
    """
    y = np.array([r["job_s"] for r in rows])
    out = {}
    designs = {
        "three_terms": [[1.0, r["row_mb"], r["block_ratings"] / 1e6] for r in rows],
        "per_core": [[1.0, r["row_mb"] * -(-r["d"] // SLOTS)] for r in rows],
    }
    for name, design in designs.items():
        x = np.array(design)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        fitted = x @ coef
        out[name] = {
            "coef": [float(c) for c in coef],
            "residuals_s": [float(v) for v in y - fitted],
            "max_abs_residual_s": float(np.max(np.abs(fitted - y))),
            "fitted": [float(v) for v in fitted],
        }
    three = out["three_terms"]["coef"]
    out.update(fixed_s=three[0], per_mb_s=three[1], per_million_ratings_s=three[2])
    return out


def _write(rows, local, ablation, loads, args, measured=None) -> None:
    """The result files so far (the model is fitted once there are 3 configurations);
    ``measured``: the machine and versions of a run being rewritten."""
    if len(rows) < 3:
        return
    model = _fit_model(rows)
    measured = measured or {
        "machine": C.machine_info(),
        "versions": C.versions("turbosvd", "numpy", "pandas", "pyspark", "pyarrow"),
    }
    out = {
        **measured,
        "loadavg": loads,
        "args": vars(args),
        "k": K,
        "rows": rows,
        "local": local,
        "model": model,
        "ablation": ablation,
    }
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    base = os.path.join(os.path.dirname(__file__), "results", "bench_spark_cost")
    with open(base + ".json", "w") as f:
        json.dump(out, f, indent=1, default=str)
    lo = min(x for load in loads for x in load)
    hi = max(x for load in loads for x in load)
    lines = [
        "# DSGD on Spark: per-sub-epoch cost (bench/bench_spark_cost.py)",
        "",
        f"`local[2]`, k = {K} float32, {args.ratings:,} ratings over {args.items:,} items, "
        f"{args.epochs} epochs per fit, medians over the sub-epochs after the first epoch, "
        f"then the median of {args.repeats} fits. Load averages {lo:.1f}-{hi:.1f} during the "
        "run (all samples in the JSON).",
        f"Machine: {out['machine']}",
        f"Versions: {out['versions']}",
        "",
        "| users | d | MB of factor rows per task | per core | ratings per block | job (s) | "
        "kernel (s) | task decode/encode (s) | driver plan (s) | per-core model (s) | "
        "residual (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    core = model["per_core"]
    for r, f, e in zip(rows, core["fitted"], core["residuals_s"], strict=True):
        lines.append(
            f"| {r['n_users']:,} | {r['d']} | {r['row_mb']:.1f} | "
            f"{r['row_mb'] * -(-r['d'] // SLOTS):.1f} | {r['block_ratings']:,.0f} | "
            f"{r['job_s']:.2f} | {r['train_s']:.3f} | {r['io_s']:.3f} | {r['plan_s']:.3f} | "
            f"{f:.2f} | {e:+.2f} |"
        )
    three = model["three_terms"]
    lines += [
        "",
        f"Fit per core: job_s = {core['coef'][0]:.3f} + {core['coef'][1]:.4f} x MB of factor "
        f"rows per core (largest residual {core['max_abs_residual_s']:.2f} s).",
        f"Fit with three terms: job_s = {three['coef'][0]:.3f} + {three['coef'][1]:.4f} x MB "
        f"per task + {three['coef'][2]:.3f} x M ratings per block (largest residual "
        f"{three['max_abs_residual_s']:.2f} s; the ratings term is confounded with d, see "
        "the script).",
        "",
        "Local SVD(schedule='blocked', n_jobs=1), one epoch on the same data (median of 3): "
        + ", ".join(f"{x['n_users']:,} users {x['epoch_s']:.3f} s" for x in local),
    ]
    if ablation:
        now = ablation["variants"]["now"]
        lines += [
            "",
            f"## Issue 18's changes, one at a time ({ablation['n_users']:,} users, "
            f"d = {ablation['d']}, {args.repeats} fits per variant, interleaved)",
            "",
            "| variant | setup (s) | sub-epoch job (s) | whole fit (s) | fit / now |",
            "|---|---|---|---|---|",
        ]
        for name, v in ablation["variants"].items():
            lines.append(
                f"| {name} | {v['setup_s']:.2f} | {v['job_s']:.2f} | {v['total_s']:.2f} | "
                f"{v['total_s'] / now['total_s']:.2f} |"
            )
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[20_000, 80_000, 160_000])
    parser.add_argument("--blocks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--ratings", type=int, default=400_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-ablation", dest="ablation", action="store_false")
    parser.add_argument(
        "--rewrite", action="store_true", help="refit and rewrite the results of the last run"
    )
    args = parser.parse_args(argv)
    if args.rewrite:
        base = os.path.join(os.path.dirname(__file__), "results", "bench_spark_cost.json")
        with open(base) as f:
            old = json.load(f)
        run_args = argparse.Namespace(**old["args"])
        measured = {"machine": old["machine"], "versions": old["versions"]}
        _write(old["rows"], old["local"], old["ablation"], old["loadavg"], run_args, measured)
        return 0

    from turbosvd import SVD, Dataset, Reader
    from turbosvd.datasets import make_ratings

    spark = _session()
    loads = [os.getloadavg()]
    rows, local, ablation = [], [], None
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
            if not rows:
                _run(spark, df, args.blocks[0], 1)  # warm-up: Python workers, JIT
            for d in args.blocks:
                runs = [_run(spark, df, d, args.epochs) for _ in range(args.repeats)]
                row_mb = (n_users / d + args.items / d) * (K + 1) * 4 / 2**20
                rows.append(
                    {
                        "n_users": n_users,
                        "d": d,
                        "row_mb": row_mb,
                        "block_ratings": args.ratings / d / d,
                        **{
                            key: _median_of(runs, key)
                            for key in ("job_s", "train_s", "io_s", "plan_s", "setup_s", "total_s")
                        },
                        "runs": runs,
                    }  # fmt: skip
                )
                loads.append(os.getloadavg())
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "runs"}), flush=True)
                _write(rows, local, ablation, loads, args)  # after every configuration
            if args.ablation and n_users == args.users[len(args.users) // 2]:
                d = args.blocks[-1]
                runs = {name: [] for name in _VARIANTS}
                for _ in range(args.repeats):
                    for name in _VARIANTS:
                        runs[name].append(_run(spark, df, d, args.epochs, name))
                ablation = {
                    "n_users": n_users,
                    "d": d,
                    "variants": {
                        name: {
                            **{key: _median_of(rs, key) for key in ("setup_s", "job_s", "total_s")},
                            "runs": rs,
                        }
                        for name, rs in runs.items()
                    },
                }
                loads.append(os.getloadavg())
                print(json.dumps({n: v["total_s"] for n, v in ablation["variants"].items()}))
                _write(rows, local, ablation, loads, args)
            df.unpersist()
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
