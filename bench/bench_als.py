"""turbosvd's ALS against cmfrec and Spark MLlib's ALS, measured in the same run.

The peers are not dependencies of turbosvd: install them in a venv outside the
repository and pass its interpreter::

    python -m venv /work/venv-als-peers
    /work/venv-als-peers/bin/pip install cmfrec "pyspark>=3.5" pandas
    python bench/bench_als.py --peers-python /work/venv-als-peers/bin/python
    python bench/bench_als.py --peers spark   # its own run: bench_als_spark.md

Measured (each peer run in a fresh interpreter of the peers' venv, turbosvd in this one;
the rounds alternate turbosvd, cmfrec, Spark; medians of ``--repeat`` rounds):

- synthetic 1M ratings (``make_ratings``, 6,040 x 3,706, the 80/20 split of
  ``bench_fast``), k=50, 15 iterations, reg 0.1 scaled by each row's rating count, 2
  threads. turbosvd: ``ALS(n_factors=50, n_epochs=15, reg=0.1, n_jobs=2)`` from the
  pandas DataFrame (``load_from_df`` + ``build_full_trainset`` + ``fit``). cmfrec:
  ``CMF(k=50, lambda_=0.1, scale_lam=True, niter=15, method='als', use_cg=True,
  user_bias=True, item_bias=True, center=True, nthreads=2).fit(df)``. Spark:
  ``pyspark.ml.recommendation.ALS(rank=50, maxIter=15, regParam=0.1)`` in ``local[2]``
  on a cached DataFrame of the same ratings (session start-up and caching not timed).
  The test RMSE of each on the 20% (predictions clipped to [1, 5] for every library) is
  reported beside its time.
- turbosvd's own solvers at the same settings: CG with 1, 2, 3 steps and Cholesky (time
  and test RMSE), to choose the default.
- MovieLens 100k, official split u1: ``SVD()`` and ``ALS()`` with their defaults, and
  ``ALS`` at SVD's k=100 with 20 sweeps: test RMSE and fit time (for the README).

Writes ``bench/results/bench_als.md`` (committed) and ``bench_als.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, data_folder, machine_info, markdown_table, write_json  # noqa: E402
from bench_fast import CACHE, _frames  # noqa: E402

SIZE = (6040, 3706, 1_000_000)
K, ITERS, REG, THREADS = 50, 15, 0.1, 2

# Runs in the peers' interpreter: argv = library, train parquet path, test parquet path.
PEER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, pandas as pd
    lib, train_path, test_path, k, iters, reg, threads = sys.argv[1:8]
    k, iters, reg, threads = int(k), int(iters), float(reg), int(threads)
    train = pd.read_pickle(train_path)
    test = pd.read_pickle(test_path)
    out = {}
    if lib == "cmfrec":
        import cmfrec
        df = train.rename(columns={"user": "UserId", "item": "ItemId", "rating": "Rating"})
        model = cmfrec.CMF(k=k, lambda_=reg, scale_lam=True, niter=iters, method="als",
                           use_cg=True, user_bias=True, item_bias=True, center=True,
                           nthreads=threads, verbose=False)
        t = time.perf_counter()
        model.fit(df)
        out["fit_s"] = time.perf_counter() - t
        est = model.predict(test["user"].to_numpy(), test["item"].to_numpy())
        out["version"] = getattr(cmfrec, "__version__", None)
    else:
        from pyspark.sql import SparkSession
        from pyspark.ml.recommendation import ALS
        spark = (SparkSession.builder.master(f"local[{threads}]")
                 .config("spark.driver.memory", "2g")
                 .config("spark.sql.shuffle.partitions", str(threads))
                 .config("spark.ui.enabled", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        df = spark.createDataFrame(train).repartition(threads).cache()
        df.count()
        als = ALS(rank=k, maxIter=iters, regParam=reg, userCol="user", itemCol="item",
                  ratingCol="rating", coldStartStrategy="nan", seed=0)
        t = time.perf_counter()
        model = als.fit(df)
        model.userFactors.count()
        out["fit_s"] = time.perf_counter() - t
        tdf = spark.createDataFrame(test.reset_index(drop=True).reset_index())
        pred = model.transform(tdf).select("index", "prediction").toPandas()
        est = pred.sort_values("index")["prediction"].to_numpy()
        out["version"] = spark.version
        spark.stop()
    est = np.nan_to_num(np.asarray(est, dtype=np.float64), nan=float(train["rating"].mean()))
    est = np.clip(est, 1.0, 5.0)
    out["rmse"] = float(np.sqrt(np.mean((test["rating"].to_numpy() - est) ** 2)))
    print("@@RESULT@@" + json.dumps(out))
    """
)


def run_peer(python: str, lib: str, train_path: Path, test_path: Path) -> dict:
    proc = subprocess.run(
        [python, "-c", PEER, lib, str(train_path), str(test_path), str(K), str(ITERS), str(REG),
         str(THREADS)],
        capture_output=True, text=True, timeout=3600,
        env={**os.environ, "OMP_NUM_THREADS": str(THREADS), "PYSPARK_PYTHON": python},
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@") :])
    raise RuntimeError(f"{lib} failed:\n{proc.stderr[-4000:]}")


def turbosvd_fit(train, test, **params) -> dict:
    from turbosvd import ALS, Dataset, Reader

    t = time.perf_counter()
    trainset = Dataset.load_from_df(train, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = ALS(n_factors=K, n_epochs=ITERS, reg=REG, n_jobs=THREADS, random_state=0, **params)
    algo.fit(trainset)
    fit_s = time.perf_counter() - t
    est, _ = algo._estimate_batch(
        trainset.inner_uids(test["user"].to_numpy()), trainset.inner_iids(test["item"].to_numpy())
    )
    est = np.clip(est, 1.0, 5.0)
    rmse = float(np.sqrt(np.mean((test["rating"].to_numpy() - est) ** 2)))
    return {"fit_s": fit_s, "rmse": rmse}


def movielens() -> list[dict]:
    from turbosvd import ALS, SVD, Dataset, Reader, accuracy
    from turbosvd.model_selection import PredefinedKFold

    folder = data_folder()
    if folder is None:
        return []
    base = folder / "ml-100k" / "ml-100k"
    reader = Reader("ml-100k")
    data = Dataset.load_from_folds([(str(base / "u1.base"), str(base / "u1.test"))], reader)
    trainset, testset = next(PredefinedKFold().split(data))
    rows = []
    for name, make in [
        ("SVD() (k=100, 20 epochs, SGD)", lambda: SVD(random_state=0)),
        ("ALS() (k=100, 15 sweeps, reg 0.1)", lambda: ALS(random_state=0)),
        ("ALS(n_factors=20) (15 sweeps, reg 0.1)", lambda: ALS(n_factors=20, random_state=0)),
    ]:
        times, rmse = [], None
        for _ in range(3):
            algo = make()
            t = time.perf_counter()
            algo.fit(trainset)
            times.append(time.perf_counter() - t)
            rmse = accuracy.rmse(algo.test(testset), verbose=False)
        rows.append({"model": name, "rmse": rmse, "fit_s": statistics.median(times)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peers-python", default="/work/venv-als-peers/bin/python")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--peers", default="cmfrec",
        help="comma-separated peers among cmfrec, spark. Spark MLlib takes minutes per fit on "
        "a loaded machine, so it has its own run (result file bench_als_spark.md, without "
        "the solver table and MovieLens), keeping each run under ~10 min",
    )  # fmt: skip
    args = ap.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    if not peers or set(peers) - {"cmfrec", "spark"}:
        ap.error(f"--peers={args.peers!r}: choose among cmfrec, spark")
    full = "cmfrec" in peers
    name = "bench_als" if full else "bench_als_spark"

    info_start = machine_info()
    _, train, test = _frames(*SIZE)
    CACHE.mkdir(exist_ok=True)
    train_path, test_path = CACHE / "als_train.pkl", CACHE / "als_test.pkl"
    train.to_pickle(train_path)
    test.to_pickle(test_path)

    runs: dict[str, list[dict]] = {"turbosvd": [], **{p: [] for p in peers}}
    variants = {"cg, 1 step": dict(cg_steps=1), "cg, 2 steps": dict(cg_steps=2),
                "cg, 3 steps": dict(cg_steps=3), "cholesky": dict(solver="cholesky")}  # fmt: skip
    if not full:
        variants = {}
    solver_runs: dict[str, list[dict]] = {v: [] for v in variants}

    def record(where: list, label: str, result: dict) -> None:
        where.append(result)
        print(f"  {label}: {result['fit_s']:.2f} s, RMSE {result['rmse']:.5f}, load "
              f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip

    for r in range(args.repeat):
        print(f"round {r + 1}", flush=True)
        record(runs["turbosvd"], "turbosvd", turbosvd_fit(train, test))
        for peer in peers:
            record(runs[peer], peer, run_peer(args.peers_python, peer, train_path, test_path))
        for variant, params in variants.items():
            record(solver_runs[variant], variant, turbosvd_fit(train, test, **params))

    def med(rs, key):
        return statistics.median(x[key] for x in rs)

    ours = med(runs["turbosvd"], "fit_s")
    table = []
    for lib, rs in runs.items():
        if not rs:
            continue
        t = med(rs, "fit_s")
        table.append([lib, f"{t:.3f}", f"{rs[0]['rmse']:.4f}", f"{t / ours:.2f}x",
                      ", ".join(f"{x['fit_s']:.2f}" for x in rs)])  # fmt: skip
    solvers = [[name, f"{med(rs, 'fit_s'):.3f}", f"{rs[0]['rmse']:.5f}"]
               for name, rs in solver_runs.items()]  # fmt: skip
    ml = movielens() if full else []
    info_end = machine_info()
    peer_versions = {lib: rs[0].get("version") for lib, rs in runs.items() if rs}

    lines = [
        f"# {name}",
        "",
        f"Synthetic 1M ratings ({SIZE[0]:,} x {SIZE[1]:,}, 80/20 split), k={K}, {ITERS} "
        f"iterations, reg {REG} (ALS-WR), {THREADS} threads; fit seconds, median of "
        f"{args.repeat} interleaved rounds; 'turbosvd is' = peer time / turbosvd time. "
        "turbosvd: `ALS(n_factors=50, n_epochs=15, reg=0.1, n_jobs=2)` from the DataFrame "
        "(trainset build included). cmfrec: `CMF(k=50, lambda_=0.1, scale_lam=True, niter=15, "
        "method='als', use_cg=True, user_bias=True, item_bias=True, center=True, nthreads=2)`"
        ". Spark: MLlib `ALS(rank=50, maxIter=15, regParam=0.1)` in local[2] (no biases).",
        "",
        markdown_table(["library", "fit s", "test RMSE", "turbosvd is", "all runs s"], table),
        "",
    ]
    if solvers:
        lines += [
            "turbosvd's solvers at the same settings (median fit s, test RMSE):",
            "",
            markdown_table(["solver", "fit s", "test RMSE"], solvers),
            "",
        ]
    if ml:
        lines += [
            "MovieLens 100k, official split u1 (80,000 / 20,000), fit seconds (median of 3, "
            "default threads), test RMSE:",
            "",
            markdown_table(
                ["model", "test RMSE", "fit s"],
                [[x["model"], f"{x['rmse']:.4f}", f"{x['fit_s']:.3f}"] for x in ml],
            ),
            "",
        ]
    la0, la1 = info_start["load_average"], info_end["load_average"]
    lines.append(
        f"Machine: {info_start['cpu']}, {info_start['cpus']} CPUs ({info_start['simd']}), load "
        f"average {'/'.join(f'{x:.1f}' for x in la0)} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in la1)} at the end (other jobs share the machine); "
        f"turbosvd {info_start['versions'].get('turbosvd')} build "
        f"{info_start.get('turbosvd_build')}; numpy {info_start['versions'].get('numpy')}; "
        f"peers {peer_versions}."
    )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    write_json(name, {"machine_start": info_start, "machine_end": info_end,
                             "runs": runs, "solvers": solver_runs, "movielens": ml,
                             "peer_versions": peer_versions})  # fmt: skip
    print(text)


if __name__ == "__main__":
    main()
