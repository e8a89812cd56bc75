"""The drop-in path against Surprise, measured in the same run (issue 2's numbers).

Measures, with Surprise running in the same run for every ratio:
- exact-schedule ``SVD.fit`` (Surprise's order, single-threaded) vs ``surprise.SVD.fit``;
- ``test()`` on the test split;
- ``Dataset.load_from_df`` + ``build_full_trainset``: time and peak memory, each in a
  fresh process so the peak belongs to that step alone.
on MovieLens 100k fold u1 and on synthetic ratings (1M, MovieLens-1M shape).

Every timing is the median of ``--repeat`` runs (3 by default), Surprise's included. turbosvd's
``test()`` is timed on all CPUs (its default) and on one thread (``n_jobs=1``).

Usage: ``python bench/bench_svd.py [--repeat 3] [--n-ratings 1000000] [--skip-synthetic]``
Writes ``bench/results/bench_svd.json`` (every time, load averages) and ``bench_svd.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import _common as C

K, EPOCHS = 100, 20


def _load_u1(lib):
    folder = C.data_folder()
    base = folder / "ml-100k" / "ml-100k"
    folds = [(str(base / "u1.base"), str(base / "u1.test"))]
    data = lib.Dataset.load_from_folds(folds, lib.Reader("ml-100k"))
    return next(
        __import__(lib.__name__ + ".model_selection").model_selection.PredefinedKFold().split(data)
    )


def _synthetic_df(n_ratings):
    from turbosvd.datasets import make_ratings

    n_users, n_items = (6040, 3706) if n_ratings <= 2_000_000 else (70_000, 10_000)
    return make_ratings(n_users, n_items, n_ratings, random_state=0)


def _split(lib, df):
    data = lib.Dataset.load_from_df(df, lib.Reader(rating_scale=(1, 5)))
    ms = __import__(lib.__name__ + ".model_selection").model_selection
    return ms.train_test_split(data, test_size=0.2, random_state=0)


def _fit_test(lib, trainset, testset, repeat, **extra):
    def fit():
        return lib.SVD(n_factors=K, n_epochs=EPOCHS, random_state=0, **extra).fit(trainset)

    fit_t, fit_all = C.median_time(fit, repeat=repeat)
    algo = fit()
    test_t, test_all = C.median_time(lambda: algo.test(testset), repeat=repeat)
    rmse = float(lib.accuracy.rmse(algo.test(testset), verbose=False))
    test1_t = test1_all = None
    if "n_jobs" in vars(algo):
        algo.n_jobs = 1
        test1_t, test1_all = C.median_time(lambda: algo.test(testset), repeat=repeat)
    return fit_t, test_t, rmse, test1_t, {"fit": fit_all, "test": test_all, "test_1": test1_all}


def compare(name, pair_loader, repeat):
    """Fit and test times of both libraries on the same split."""
    import surprise

    import turbosvd

    rows = {}
    load = os.getloadavg()
    for lib, extra in ((surprise, {}), (turbosvd, {"schedule": "exact"})):
        trainset, testset = pair_loader(lib)
        rows[lib.__name__] = _fit_test(lib, trainset, testset, repeat, **extra)
        n_train, n_test = trainset.n_ratings, len(testset)
    s, t = rows["surprise"], rows["turbosvd"]
    return {
        "dataset": name,
        "n_train": n_train,
        "n_test": n_test,
        "surprise_fit_s": s[0],
        "turbosvd_exact_fit_s": t[0],
        "fit_speedup": s[0] / t[0],
        "surprise_test_s": s[1],
        "turbosvd_test_s": t[1],
        "test_speedup": s[1] / t[1],
        "turbosvd_test_1_thread_s": t[3],
        "test_speedup_1_thread": s[1] / t[3],
        "times": {"surprise": s[4], "turbosvd": t[4]},
        "load_average_before_after": [load, os.getloadavg()],
        "surprise_rmse": s[2],
        "turbosvd_rmse": t[2],
        "rmse_diff": abs(s[2] - t[2]),
    }


def load_step(lib_name: str, n_ratings: int):
    """In a fresh process: time and peak RSS of load_from_df + build_full_trainset."""
    lib = __import__(lib_name)
    df = _synthetic_df(n_ratings)

    def step():
        t = time.perf_counter()
        data = lib.Dataset.load_from_df(df, lib.Reader(rating_scale=(1, 5)))
        trainset = data.build_full_trainset()
        return time.perf_counter() - t, data, trainset

    (seconds, data, trainset), peak, before = C.measure_peak(step)
    assert trainset.n_ratings == n_ratings
    return {"seconds": seconds, "peak_mb": (peak - before) / 2**20}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-ratings", type=int, default=1_000_000)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args(argv)

    results = {"machine": C.machine_info(), "k": K, "epochs": EPOCHS, "compare": [], "load": []}
    if C.data_folder() is not None:
        results["compare"].append(compare("ml-100k u1", _load_u1, args.repeat))
    else:
        print("MovieLens 100k not found (set SURPRISE_DATA_FOLDER): skipping u1", file=sys.stderr)
    if not args.skip_synthetic:
        df = _synthetic_df(args.n_ratings)
        results["compare"].append(
            compare(f"synthetic {args.n_ratings:,}", lambda lib: _split(lib, df), args.repeat)
        )
        for lib in ("surprise", "turbosvd"):
            res = [
                C.run_isolated("bench_svd", "load_step", lib, args.n_ratings)
                for _ in range(args.repeat)
            ]
            secs = sorted(r["seconds"] for r in res)[len(res) // 2]
            peak = sorted(r["peak_mb"] for r in res)[len(res) // 2]
            results["load"].append({"library": lib, "seconds": secs, "peak_mb": peak, "runs": res})
    results["machine"]["load_average_end"] = os.getloadavg()
    md = [
        "# bench_svd",
        "",
        f"`python bench/bench_svd.py {' '.join(sys.argv[1:] if argv is None else argv)}`, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}. k={K}, {EPOCHS} epochs; turbosvd "
        '`schedule="exact"` (Surprise\'s order, one thread) against Surprise 1.1.5; medians of '
        f"{args.repeat} runs each, in this run; x = Surprise / turbosvd.",
        "",
    ]

    table = C.markdown_table(
        [
            "dataset",
            "train/test",
            "Surprise fit s",
            "exact fit s",
            "fit x",
            "Surprise test s",
            "test s",
            "test x",
            "test s, 1 thread",
            "test x, 1 thread",
            "RMSE Surprise",
            "RMSE ours",
        ],
        [
            [
                r["dataset"],
                f"{r['n_train']}/{r['n_test']}",
                r["surprise_fit_s"],
                r["turbosvd_exact_fit_s"],
                r["fit_speedup"],
                r["surprise_test_s"],
                r["turbosvd_test_s"],
                r["test_speedup"],
                r["turbosvd_test_1_thread_s"],
                r["test_speedup_1_thread"],
                r["surprise_rmse"],
                r["turbosvd_rmse"],
            ]
            for r in results["compare"]
        ],
    )
    md += [table, ""]
    if results["load"]:
        s, t = results["load"]
        md += [
            f"`load_from_df` + `build_full_trainset`, {args.n_ratings:,} synthetic ratings (a "
            "fresh process each time, median; peak = resident memory added over the DataFrame):",
            "",
            C.markdown_table(
                ["library", "seconds", "peak MB over the DataFrame"],
                [[x["library"], x["seconds"], x["peak_mb"]] for x in results["load"]]
                + [["ratio", s["seconds"] / t["seconds"], s["peak_mb"] / max(t["peak_mb"], 1e-9)]],
            ),
            "",
        ]
    m = results["machine"]
    md += [
        f"Machine: {m['cpu']}, {m['cpus']} CPUs ({m['simd']}), load average "
        f"{C.load_str(m['load_average'])} at the start, {C.load_str(m['load_average_end'])} at "
        f"the end (shared machine); versions {m['versions']}; build {m.get('turbosvd_build')}.",
        "",
    ]
    text = "\n".join(md)
    print(text)
    path = C.write_json("bench_svd", results)
    (C.RESULTS / "bench_svd.md").write_text(text)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
