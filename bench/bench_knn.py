"""The k-NN family against Surprise, in the same run (issue 13's numbers).

1. MovieLens 100k fold u1, default parameters, ``fit`` + ``test`` of u1.test: KNNBasic,
   KNNWithMeans, KNNWithZScore, KNNBaseline (user-based msd, the defaults) and KNNBaseline
   item-based pearson_baseline; medians over ``--repeat`` runs of each library, ratios of
   the medians, test RMSE of both.
2. Scale (turbosvd only; Surprise would need five 100,000 x 100,000 float64/int64
   matrices, 400 GB): user-based KNNBaseline (pearson_baseline) on 100,000 users x 5,000
   items, 3M synthetic ratings (``make_ratings``, random_state=0), 20,000 held out:
   fit + test time, peak RSS of the whole process (data included), RMSE against
   BaselineOnly's on the same split. Runs in a fresh process so the peak is its own.

Usage: ``python bench/bench_knn.py [--repeat 3] [--skip-scale]``
Writes ``bench/results/bench_knn.json`` and ``bench/results/bench_knn.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import _common as C

CASES = [
    ("KNNBasic", {}),
    ("KNNWithMeans", {}),
    ("KNNWithZScore", {}),
    ("KNNBaseline", {}),
    ("KNNBaseline", {"sim_options": {"name": "pearson_baseline", "user_based": False}}),
]


def _label(cls, kwargs):
    opts = kwargs.get("sim_options", {})
    name = opts.get("name", "msd")
    based = "item" if opts.get("user_based", True) is False else "user"
    return f"{cls} ({based}-based {name})"


def _load_u1(lib):
    base = C.data_folder() / "ml-100k" / "ml-100k"
    folds = [(str(base / "u1.base"), str(base / "u1.test"))]
    data = lib.Dataset.load_from_folds(folds, lib.Reader("ml-100k"))
    ms = __import__(lib.__name__ + ".model_selection").model_selection
    return next(ms.PredefinedKFold().split(data))


def _run(lib, cls, kwargs, trainset, testset):
    import copy

    algo = getattr(lib, cls)(verbose=False, **copy.deepcopy(kwargs))
    t0 = time.perf_counter()
    algo.fit(trainset)
    t1 = time.perf_counter()
    preds = algo.test(testset)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, float(lib.accuracy.rmse(preds, verbose=False))


def ml100k(repeat):
    import surprise

    import turbosvd

    splits = {lib: _load_u1(lib) for lib in (surprise, turbosvd)}
    rows = []
    for cls, kwargs in CASES:
        res = {}
        # interleave the libraries so that load drifts hit both
        runs = {surprise: [], turbosvd: []}
        for _ in range(repeat):
            for lib in (surprise, turbosvd):
                runs[lib].append(_run(lib, cls, kwargs, *splits[lib]))
        for lib, name in ((surprise, "surprise"), (turbosvd, "turbosvd")):
            fit = statistics.median(r[0] for r in runs[lib])
            test = statistics.median(r[1] for r in runs[lib])
            total = statistics.median(r[0] + r[1] for r in runs[lib])
            res[name] = {"fit": fit, "test": test, "total": total, "rmse": runs[lib][0][2]}
        res["speedup"] = res["surprise"]["total"] / res["turbosvd"]["total"]
        res["case"] = _label(cls, kwargs)
        rows.append(res)
        print(
            f"{res['case']}: Surprise {res['surprise']['total']:.3f} s, turbosvd "
            f"{res['turbosvd']['total']:.4f} s, {res['speedup']:.1f}x; RMSE "
            f"{res['surprise']['rmse']:.4f} / {res['turbosvd']['rmse']:.4f}",
            flush=True,
        )
    return rows


def scale_run(n_users=100_000, n_items=5_000, n_ratings=3_000_000, n_test=20_000):
    """Executed in a fresh process by ``run_isolated``."""
    import turbosvd
    from turbosvd.datasets import make_ratings
    from turbosvd.model_selection import train_test_split

    C.reset_peak_rss()
    t0 = time.perf_counter()
    df = make_ratings(n_users, n_items, n_ratings, random_state=0)
    data = turbosvd.Dataset.load_from_df(df, turbosvd.Reader(rating_scale=(1, 5)))
    trainset, testset = train_test_split(data, test_size=n_test, random_state=0)
    del df, data
    t_data = time.perf_counter() - t0
    rss_data = C.peak_rss()
    algo = turbosvd.KNNBaseline(
        sim_options={"name": "pearson_baseline", "user_based": True}, verbose=False
    )
    t0 = time.perf_counter()
    algo.fit(trainset)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = algo.test(testset)
    t_test = time.perf_counter() - t0
    peak = C.peak_rss()
    rmse = float(turbosvd.accuracy.rmse(preds, verbose=False))
    bsl = turbosvd.BaselineOnly(verbose=False).fit(trainset)
    rmse_bsl = float(turbosvd.accuracy.rmse(bsl.test(testset), verbose=False))
    return {
        "n_users": trainset.n_users,
        "n_items": trainset.n_items,
        "n_train": trainset.n_ratings,
        "n_test": len(testset),
        "data_s": t_data,
        "fit_s": t_fit,
        "test_s": t_test,
        "peak_rss_after_data_mb": rss_data / 2**20,
        "peak_rss_mb": peak / 2**20,
        "rmse": rmse,
        "rmse_baseline_only": rmse_bsl,
        "impossible": sum(p.details["was_impossible"] for p in preds),
        "surprise_matrix_gb": 5 * 8 * trainset.n_users**2 / 1e9,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-scale", action="store_true")
    args = ap.parse_args(argv)
    if C.data_folder() is None:
        sys.exit("MovieLens 100k not found: set SURPRISE_DATA_FOLDER")
    info = C.machine_info()
    rows = ml100k(args.repeat)
    scale = None if args.skip_scale else C.run_isolated("bench_knn", "scale_run")
    info["load_average_end"] = __import__("os").getloadavg()
    payload = {"machine": info, "repeat": args.repeat, "ml100k_u1": rows, "scale": scale}
    C.write_json("bench_knn", payload)
    table = C.markdown_table(
        ["ML-100k u1, fit + test", "Surprise (s)", "turbosvd (s)", "speed-up", "RMSE S / T"],
        [
            [
                r["case"],
                round(r["surprise"]["total"], 3),
                round(r["turbosvd"]["total"], 4),
                f"{r['speedup']:.1f}x",
                f"{r['surprise']['rmse']:.4f} / {r['turbosvd']['rmse']:.4f}",
            ]
            for r in rows
        ],
    )
    lines = [
        "# bench_knn",
        "",
        f"Machine: {info['cpu']} ({info['cpus']} CPUs), load average at start "
        f"{tuple(round(x, 2) for x in info['load_average'])}, at end "
        f"{tuple(round(x, 2) for x in info['load_average_end'])}; versions "
        f"{info['versions']}. Medians of {args.repeat} runs per library, interleaved.",
        "",
        table,
    ]
    if scale:
        lines += [
            "",
            f"Scale: user-based KNNBaseline (pearson_baseline), {scale['n_users']:,} users x "
            f"{scale['n_items']:,} items, {scale['n_train']:,} training ratings, "
            f"{scale['n_test']:,} predictions: fit {scale['fit_s']:.2f} s, test "
            f"{scale['test_s']:.2f} s, peak RSS {scale['peak_rss_mb']:.0f} MB (data alone "
            f"{scale['peak_rss_after_data_mb']:.0f} MB); RMSE {scale['rmse']:.4f} vs "
            f"BaselineOnly {scale['rmse_baseline_only']:.4f}. Surprise would allocate "
            f"{scale['surprise_matrix_gb']:.0f} GB of similarity matrices.",
        ]
    text = "\n".join(lines) + "\n"
    (C.RESULTS / "bench_knn.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
