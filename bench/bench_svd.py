"""The drop-in path against Surprise, measured in the same run (issue 2's numbers).

Measures, with Surprise running in the same run for every ratio:
- exact-schedule ``SVD.fit`` (Surprise's order, single-threaded) vs ``surprise.SVD.fit``;
- ``test()`` on the test split;
- ``Dataset.load_from_df`` + ``build_full_trainset``: time and peak memory, each in a
  fresh process so the peak belongs to that step alone.
on MovieLens 100k fold u1 and on synthetic ratings (1M, MovieLens-1M shape).

Usage: ``python bench/bench_svd.py [--repeat 3] [--n-ratings 1000000] [--skip-synthetic]``
"""

from __future__ import annotations

import argparse
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

    fit_t, _ = C.median_time(fit, repeat=repeat)
    algo = fit()
    test_t, _ = C.median_time(lambda: algo.test(testset), repeat=repeat)
    rmse = float(lib.accuracy.rmse(algo.test(testset), verbose=False))
    return fit_t, test_t, rmse


def compare(name, pair_loader, repeat):
    """Fit and test times of both libraries on the same split."""
    import surprise

    import turbosvd

    rows = {}
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
            results["load"].append({"library": lib, "seconds": secs, "peak_mb": peak})

    print(
        f"\n## SVD drop-in path, k={K}, {EPOCHS} epochs, single thread for fit "
        f"({results['machine']['cpu']}, load {results['machine']['load_average'][0]:.1f})\n"
    )
    print(
        C.markdown_table(
            [
                "dataset",
                "train/test",
                "Surprise fit s",
                "exact fit s",
                "fit x",
                "Surprise test s",
                "test s",
                "test x",
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
                    r["surprise_rmse"],
                    r["turbosvd_rmse"],
                ]
                for r in results["compare"]
            ],
        )
    )
    if results["load"]:
        s, t = results["load"]
        print(
            f"\n## load_from_df + build_full_trainset, {args.n_ratings:,} ratings (fresh process "
            "each, median)\n"
        )
        print(
            C.markdown_table(
                ["library", "seconds", "peak MB over the DataFrame"],
                [[x["library"], x["seconds"], x["peak_mb"]] for x in results["load"]]
                + [["ratio", s["seconds"] / t["seconds"], s["peak_mb"] / max(t["peak_mb"], 1e-9)]],
            )
        )
    path = C.write_json("bench_svd", results)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
