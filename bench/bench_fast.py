"""The fast (blocked) SVD schedule against Surprise, measured in the same run.

Usage::

    python bench/bench_fast.py                    # everything below except --netflix
    python bench/bench_fast.py --sizes 1M --skip-movielens   # a quick look
    python bench/bench_fast.py --netflix          # adds 100M ratings (480k x 17,770)

Measured, each in a fresh interpreter (``run_isolated``), k=100 factors, 20 epochs,
``n_jobs`` threads (2 by default) and 1 thread for turbosvd, Surprise (single-threaded)
``--surprise-repeat`` times (3 by default) in the same run, same hyperparameters:

- synthetic 1M ratings (6,040 x 3,706) and 10M (70,000 x 10,000) from
  ``turbosvd.datasets.make_ratings``: fit time on the full data, the whole pipeline
  (``load_from_df`` + ``build_full_trainset`` + ``fit`` + ``test``) on an 80/20 split, and
  the test RMSE of both on that split;
- peak RSS of the process through ``fit`` at 10M (the data included);
- the kernel's update rate (rating updates per second per core, float32, k=100) on the
  10M layout, 1 thread and ``n_jobs`` threads;
- MovieLens 100k official folds u1..u5 and ml-latest-small (80/20, ``random_state=42``):
  mean test RMSE of both.

Prints a markdown table and writes ``bench/results/bench_fast.json`` (every time, the load
average around every measurement) and ``bench/results/bench_fast.md``. Times are medians;
the machine is shared, so read the ratios, which compare runs made minutes apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    RESULTS,
    data_folder,
    load_str,
    machine_info,
    markdown_table,
    measure_peak,
    median_time,
    run_isolated,
    write_json,
)

K = 100
EPOCHS = 20
SIZES = {"1M": (6040, 3706, 1_000_000), "10M": (70_000, 10_000, 10_000_000)}
NETFLIX = (480_000, 17_770, 100_000_000)
CACHE = Path(tempfile.gettempdir()) / "turbosvd_bench_fast"


# ------------------------------------------------------------------ data (cached)


def _arrays(n_users: int, n_items: int, n: int):
    """The synthetic data as (users, items, ratings) arrays, generated once per machine."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"ratings_{n_users}_{n_items}_{n}_seed0.npz"
    if not path.exists():
        from turbosvd.datasets import make_ratings

        df = make_ratings(n_users, n_items, n, random_state=0)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            user=df["user"].to_numpy(),
            item=df["item"].to_numpy(),
            rating=df["rating"].to_numpy(),
        )
        tmp.rename(path)
    z = np.load(path)
    return z["user"], z["item"], z["rating"]


def _frames(n_users: int, n_items: int, n: int):
    """(full, train, test) DataFrames; the split is a fixed 80/20 permutation."""
    import pandas as pd

    u, i, r = _arrays(n_users, n_items, n)
    full = pd.DataFrame({"user": u, "item": i, "rating": r})
    perm = np.random.default_rng(0).permutation(n)
    cut = int(0.8 * n)
    train = full.iloc[np.sort(perm[:cut])].reset_index(drop=True)
    test = full.iloc[np.sort(perm[cut:])].reset_index(drop=True)
    return full, train, test


def _lib(name: str):
    if name == "surprise":
        import surprise

        return surprise
    import turbosvd

    return turbosvd


def _svd(lib, name: str, n_jobs: int, random_state=0):
    if name == "surprise":
        return lib.SVD(n_factors=K, n_epochs=EPOCHS, random_state=random_state)
    return lib.SVD(n_factors=K, n_epochs=EPOCHS, random_state=random_state, n_jobs=n_jobs)


# ------------------------------------------------ measurements (run in a fresh process)


def fit_time(name: str, size: str, repeat: int, n_jobs: int) -> dict:
    """Median fit time on the full synthetic data set."""
    lib = _lib(name)
    full, _, _ = _frames(*SIZES[size])
    trainset = lib.Dataset.load_from_df(full, lib.Reader(rating_scale=(1, 5))).build_full_trainset()
    del full
    med, times = median_time(lambda: _svd(lib, name, n_jobs).fit(trainset), repeat=repeat)
    return {"fit_s": med, "fit_times": times}


def pipeline(name: str, size: str, repeat: int, n_jobs: int) -> dict:
    """load_from_df + build_full_trainset + fit + test on the 80/20 split; RMSE."""
    lib = _lib(name)
    _, train, test = _frames(*SIZES[size])
    testset = list(
        zip(test["user"].tolist(), test["item"].tolist(), test["rating"].tolist(), strict=True)
    )
    out = {}

    def run():
        data = lib.Dataset.load_from_df(train, lib.Reader(rating_scale=(1, 5)))
        trainset = data.build_full_trainset()
        t = time.perf_counter()
        algo = _svd(lib, name, n_jobs).fit(trainset)
        out["fit_split_s"] = time.perf_counter() - t
        preds = algo.test(testset)
        out["rmse"] = lib.accuracy.rmse(preds, verbose=False)

    med, times = median_time(run, repeat=repeat)
    return {"pipeline_s": med, "pipeline_times": times, **out}


def peak_fit(size_key: str, n_jobs: int) -> dict:
    """Peak RSS through turbosvd's fit (data loaded through load_from_df, as a user would)."""
    import turbosvd
    from _common import rss
    from turbosvd.train.blocked import choose_n_bins

    if size_key == "netflix":
        from turbosvd.datasets import make_ratings

        t = time.perf_counter()
        trainset = make_ratings(*NETFLIX, random_state=0, as_trainset=True)
        gen_s = time.perf_counter() - t
    else:
        full, _, _ = _frames(*SIZES[size_key])
        data = turbosvd.Dataset.load_from_df(full, turbosvd.Reader(rating_scale=(1, 5)))
        trainset = data.build_full_trainset()
        del data, full
        gen_s = None
    t = time.perf_counter()
    algo, peak, before = measure_peak(
        lambda: turbosvd.SVD(n_factors=K, n_epochs=EPOCHS, random_state=0, n_jobs=n_jobs).fit(
            trainset
        )
    )
    fit_s = time.perf_counter() - t
    return {
        "peak_rss_mb": peak / 2**20,
        "rss_before_fit_mb": before / 2**20,
        "rss_after_fit_mb": rss() / 2**20,
        "fit_s": fit_s,
        "generate_s": gen_s,
        "n_bins": choose_n_bins(trainset.n_ratings, trainset.n_users, trainset.n_items, K, 4),
    }


def kernel_rate(size: str, n_jobs: int, epochs: int = 5) -> dict:
    """Rating updates per second per core of the float32 k=100 blocked kernel."""
    import turbosvd
    from turbosvd import _sgd
    from turbosvd.train import blocked as _blocked

    full, _, _ = _frames(*SIZES[size])
    trainset = turbosvd.Dataset.load_from_df(
        full, turbosvd.Reader(rating_scale=(1, 5))
    ).build_full_trainset()
    lay = _blocked.build_layout(trainset, np.float32, K, items_by_bin=True)  # as SVD does
    rng = np.random.RandomState(0)
    rates = (0.005,) * 4 + (0.02,) * 4
    out = {"n_bins": lay.n_bins, "n_runs": len(lay.run_user)}
    for nt in sorted({1, n_jobs}):
        pu = rng.normal(0, 0.1, (trainset.n_users, K)).astype(np.float32)
        qi = rng.normal(0, 0.1, (trainset.n_items, K)).astype(np.float32)
        bu = np.zeros(trainset.n_users, np.float32)
        bi = np.zeros(trainset.n_items, np.float32)
        args = (lay.block_ptr, lay.run_user, lay.run_ptr, lay.items, lay.ratings, pu, qi, bu, bi)
        args += (float(trainset.global_mean), True, rates, nt)
        med, _ = median_time(lambda a=args: _sgd.sgd_epoch_blocked(*a), epochs, 1)
        out[f"threads_{nt}"] = {
            "epoch_s": med,
            "ns_per_update": med / trainset.n_ratings * 1e9,
            "updates_per_s_per_core": trainset.n_ratings / med / nt,
        }
    return out


def movielens(name: str) -> dict:
    """Mean test RMSE on ML-100k u1..u5 and on ml-latest-small 80/20 (random_state=42)."""
    lib = _lib(name)
    folder = data_folder()
    out = {}
    if folder is None:
        return out
    ml100k = folder / "ml-100k" / "ml-100k"
    folds = [(str(ml100k / f"u{k}.base"), str(ml100k / f"u{k}.test")) for k in range(1, 6)]
    data = lib.Dataset.load_from_folds(folds, lib.Reader("ml-100k"))
    rmses, fits = [], []
    for trainset, testset in lib.model_selection.PredefinedKFold().split(data):
        t = time.perf_counter()
        algo = lib.SVD(random_state=0).fit(trainset)
        fits.append(time.perf_counter() - t)
        rmses.append(lib.accuracy.rmse(algo.test(testset), verbose=False))
    out["ml100k_folds_rmse"] = rmses
    out["ml100k_mean_rmse"] = float(np.mean(rmses))
    out["ml100k_fit_s"] = float(np.median(fits))
    csv = folder / "ml-latest-small" / "ml-latest-small" / "ratings.csv"
    if csv.is_file():
        reader = lib.Reader(
            line_format="user item rating timestamp", sep=",", skip_lines=1, rating_scale=(0.5, 5)
        )
        data = lib.Dataset.load_from_file(str(csv), reader)
        trainset, testset = lib.model_selection.train_test_split(
            data, test_size=0.2, random_state=42
        )
        algo = lib.SVD(random_state=42).fit(trainset)
        out["ml_latest_small_rmse"] = lib.accuracy.rmse(algo.test(testset), verbose=False)
    return out


# ---------------------------------------------------------------------------- driver


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-jobs", type=int, default=2, help="threads for turbosvd (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per turbosvd timing (median)")
    ap.add_argument("--surprise-repeat", type=int, default=3, help="runs per Surprise timing")
    ap.add_argument("--skip-surprise-10m", action="store_true", help="do not run Surprise at 10M")
    ap.add_argument("--skip-movielens", action="store_true", help="no MovieLens accuracy runs")
    ap.add_argument("--netflix", action="store_true", help="add 100M ratings, 480k x 17,770")
    ap.add_argument("--sizes", default="1M,10M", help="synthetic sizes to run (default 1M,10M)")
    args = ap.parse_args(argv)
    iso = {"OMP_NUM_THREADS": str(max(args.n_jobs, 1))}
    raw = {}

    info = machine_info()

    def measure(key, func, *a, threads=None):
        print(f"... {key}", file=sys.stderr, flush=True)
        env = iso if threads is None else {"OMP_NUM_THREADS": str(threads)}
        load = os.getloadavg()
        raw[key] = run_isolated("bench_fast", func, *a, env=env, timeout=7200)
        raw[key]["load_average_before_after"] = [load, os.getloadavg()]

    sizes = [x for x in args.sizes.split(",") if x]
    for size in sizes:
        peer = not (size == "10M" and args.skip_surprise_10m)
        measure(f"turbosvd_fit_{size}", "fit_time", "turbosvd", size, args.repeat, args.n_jobs)
        if args.n_jobs != 1:
            measure(
                f"turbosvd_fit1_{size}", "fit_time", "turbosvd", size, args.repeat, 1, threads=1
            )
        if peer:
            measure(f"surprise_fit_{size}", "fit_time", "surprise", size, args.surprise_repeat, 1)
        measure(f"turbosvd_pipe_{size}", "pipeline", "turbosvd", size, args.repeat, args.n_jobs)
        if peer:
            measure(f"surprise_pipe_{size}", "pipeline", "surprise", size, args.surprise_repeat, 1)
    big = sizes[-1]
    measure(f"turbosvd_peak_{big}", "peak_fit", big, args.n_jobs)
    measure(f"turbosvd_kernel_{big}", "kernel_rate", big, args.n_jobs)
    if not args.skip_movielens:
        measure("turbosvd_movielens", "movielens", "turbosvd")
        measure("surprise_movielens", "movielens", "surprise")
    if args.netflix:
        measure("turbosvd_peak_netflix", "peak_fit", "netflix", args.n_jobs)

    rows = []

    def ratio(a, b):
        return a / b if a and b else None

    for size in sizes:
        t, s = raw.get(f"turbosvd_fit_{size}"), raw.get(f"surprise_fit_{size}")
        tp, sp = raw.get(f"turbosvd_pipe_{size}"), raw.get(f"surprise_pipe_{size}")
        rows.append(
            [
                f"{size} fit (s), {args.n_jobs} threads",
                s and s["fit_s"],
                t["fit_s"],
                ratio(s and s["fit_s"], t["fit_s"]),
            ]
        )
        t1 = raw.get(f"turbosvd_fit1_{size}")
        if t1:
            rows.append(
                [
                    f"{size} fit (s), 1 thread",
                    s and s["fit_s"],
                    t1["fit_s"],
                    ratio(s and s["fit_s"], t1["fit_s"]),
                ]
            )
        rows.append(
            [
                f"{size} pipeline (s), {args.n_jobs} threads",
                sp and sp["pipeline_s"],
                tp["pipeline_s"],
                ratio(sp and sp["pipeline_s"], tp["pipeline_s"]),
            ]
        )
        rows.append(
            [
                f"{size} test RMSE (80/20)",
                sp and sp["rmse"],
                tp["rmse"],
                f"diff {tp['rmse'] - sp['rmse']:+.4f}" if sp else "",
            ]
        )
    pk = raw[f"turbosvd_peak_{big}"]
    rows.append(
        [
            f"{big} peak RSS through fit (MB)",
            "",
            pk["peak_rss_mb"],
            f"before fit {pk['rss_before_fit_mb']:.0f}",
        ]
    )
    kr = raw[f"turbosvd_kernel_{big}"]
    for key, v in kr.items():
        if key.startswith("threads_"):
            rows.append(
                [
                    f"{big} kernel {key.replace('_', ' ')}: M updates/s/core",
                    "",
                    v["updates_per_s_per_core"] / 1e6,
                    f"{v['ns_per_update']:.1f} ns/update",
                ]
            )
    tm, sm = raw.get("turbosvd_movielens", {}), raw.get("surprise_movielens", {})
    for key, label in (
        ("ml100k_mean_rmse", "ML-100k u1..u5 mean RMSE"),
        ("ml_latest_small_rmse", "ml-latest-small RMSE"),
    ):
        if key in tm and key in sm:
            rows.append([label, sm[key], tm[key], f"diff {tm[key] - sm[key]:+.4f}"])
    if "turbosvd_peak_netflix" in raw:
        nf = raw["turbosvd_peak_netflix"]
        rows.append(["100M fit (s)", "", nf["fit_s"], ""])
        rows.append(
            [
                "100M peak RSS through fit (MB)",
                "",
                nf["peak_rss_mb"],
                f"before fit {nf['rss_before_fit_mb']:.0f}",
            ]
        )
    table = markdown_table(["metric", "Surprise 1.1.5", "turbosvd blocked", "ratio / note"], rows)
    print(table)
    info["load_average_end"] = os.getloadavg()
    payload = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "args": vars(args),
        "k": K,
        "epochs": EPOCHS,
        "machine": info,
        "raw": raw,
        "table": table,
    }
    path = write_json("bench_fast", payload)
    spread = [
        f"{key}: " + ", ".join(f"{x:.3g}" for x in v.get("fit_times") or v.get("pipeline_times"))
        for key, v in raw.items()
        if v.get("fit_times") or v.get("pipeline_times")
    ]
    md = [
        "# bench_fast",
        "",
        f"`python bench/bench_fast.py {' '.join(sys.argv[1:] if argv is None else argv)}`, "
        f"{payload['date']}. k={K}, {EPOCHS} epochs; turbosvd blocked float32 on "
        f"{args.n_jobs} threads and on 1 thread, Surprise 1.1.5 (one thread); medians of "
        f"{args.repeat} (turbosvd) and {args.surprise_repeat} (Surprise) runs in this run; "
        "ratio = Surprise / turbosvd.",
        "",
        table,
        "",
        "Every run (seconds): " + "; ".join(spread) + ".",
        "",
        f"Machine: {info['cpu']}, {info['cpus']} CPUs ({info['simd']}), load average "
        f"{load_str(info['load_average'])} at the start, {load_str(info['load_average_end'])} "
        f"at the end (shared machine; per-measurement load in the JSON file); versions "
        f"{info['versions']}; build {info.get('turbosvd_build')}.",
        "",
    ]
    (RESULTS / "bench_fast.md").write_text("\n".join(md))
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
