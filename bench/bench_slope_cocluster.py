"""SlopeOne, CoClustering and BaselineOnly: turbosvd against Surprise on ML-100k u1.

Fit + test of u1.test (20,000 ratings) with default parameters, both libraries in the same
run, interleaved, ``--repeat`` times (median reported), turbosvd with all CPUs and with one
thread (threadpoolctl). Writes bench/results/bench_slope_cocluster.{json,md} with the
machine, load average and versions.

    python bench/bench_slope_cocluster.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, data_folder, machine_info, markdown_table, write_json  # noqa: E402

ALGOS = [
    ("SlopeOne", {}),
    ("CoClustering", {}),
    ("BaselineOnly", {"verbose": False}),
]


def _u1(mod, folder: Path):
    d = folder / "ml-100k" / "ml-100k"
    data = mod.Dataset.load_from_folds(
        [(str(d / "u1.base"), str(d / "u1.test"))], mod.Reader("ml-100k")
    )
    return next(mod.model_selection.PredefinedKFold().split(data))


def _run(mod, name, kwargs, trainset, testset):
    t0 = time.perf_counter()
    algo = getattr(mod, name)(**kwargs).fit(trainset)
    t1 = time.perf_counter()
    preds = algo.test(testset)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, mod.accuracy.rmse(preds, verbose=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    folder = data_folder()
    if folder is None:
        print("ML-100k not found: set SURPRISE_DATA_FOLDER", file=sys.stderr)
        return 2
    import surprise
    from threadpoolctl import threadpool_limits

    import turbosvd

    load_before = __import__("os").getloadavg()
    data = {"surprise": _u1(surprise, folder), "turbosvd": _u1(turbosvd, folder)}
    runs = {}  # (algo, peer) -> list of (fit, test, rmse)
    for _ in range(args.repeat):
        for name, kwargs in ALGOS:
            runs.setdefault((name, "surprise"), []).append(
                _run(surprise, name, kwargs, *data["surprise"])
            )
            runs.setdefault((name, "turbosvd"), []).append(
                _run(turbosvd, name, kwargs, *data["turbosvd"])
            )
            with threadpool_limits(1, user_api="openmp"):
                runs.setdefault((name, "turbosvd 1 thread"), []).append(
                    _run(turbosvd, name, kwargs, *data["turbosvd"])
                )
    rows, results = [], []
    for name, _ in ALGOS:
        med = {}
        for peer in ("surprise", "turbosvd", "turbosvd 1 thread"):
            r = runs[(name, peer)]
            fit = statistics.median(x[0] for x in r)
            test = statistics.median(x[1] for x in r)
            total = statistics.median(x[0] + x[1] for x in r)
            totals = [x[0] + x[1] for x in r]
            med[peer] = dict(fit_s=fit, test_s=test, total_s=total, rmse=r[0][2], all=totals)
        for peer in ("turbosvd", "turbosvd 1 thread"):
            med[peer]["speedup_vs_surprise"] = med["surprise"]["total_s"] / med[peer]["total_s"]
        results.append({"algo": name, **med})
        for peer in ("surprise", "turbosvd", "turbosvd 1 thread"):
            m = med[peer]
            rows.append(
                [
                    name,
                    peer,
                    m["fit_s"],
                    m["test_s"],
                    m["total_s"],
                    m.get("speedup_vs_surprise", 1.0),
                    f"{m['rmse']:.6f}",
                ]
            )
    info = machine_info()
    info["load_average_before"] = load_before
    payload = {
        "benchmark": "ML-100k u1 (80,000 train / 20,000 test ratings), fit + test, defaults",
        "repeat": args.repeat,
        "machine": info,
        "results": results,
    }
    write_json("bench_slope_cocluster", payload)
    table = markdown_table(
        ["algorithm", "library", "fit s", "test s", "fit+test s", "speed-up", "test RMSE"], rows
    )
    md = (
        "# SlopeOne, CoClustering, BaselineOnly vs Surprise (ML-100k u1, fit + test)\n\n"
        f"Medians of {args.repeat} interleaved runs in one process. Load average before/after: "
        f"{load_before} / {info['load_average']}; CPUs: {info['cpus']} ({info['cpu']}); "
        f"versions: {info['versions']}.\n\n{table}\n"
    )
    (RESULTS / "bench_slope_cocluster.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
