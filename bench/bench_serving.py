"""Serving benchmark: one ``predict(uid, iid)`` call, ``recommend_all`` on ML-100k, and the
memory of ``load_from_df`` + ``build_full_trainset`` + ``fit`` on 10M ratings.

1. Single predictions: SVD() on full ML-100k (turbosvd's default blocked float32, its exact
   schedule, and scikit-surprise's SVD, all trained in this process), then the same 2,000
   known (user, item) pairs, drawn with a fixed seed, predicted one call at a time
   (``algo.predict(uid, iid)``, the Prediction built and clipped as a user gets it). The
   three contenders are interleaved round by round; the figure is the median per-call time
   over rounds, and the ratio Surprise's over turbosvd's in the same run.
2. ``recommend_all(n=10)`` on full ML-100k against Surprise's FAQ route
   (``build_anti_testset`` + ``test`` + ``get_top_n``): ``bench_topn.recommend_all_bench``
   (interleaved rounds), with the ratio of every round reported, not only the medians.
3. Memory at 10M ratings, in a fresh interpreter: ``make_ratings`` in MovieLens 10M's
   shape (70,000 users, 10,700 items; int32 user and item columns, float64 ratings), then
   the resident set (RSS) just before ``load_from_df`` and the peak RSS through
   ``load_from_df`` + ``build_full_trainset`` +
   ``SVD(n_factors=100, n_epochs=1).fit`` (memory does not grow with epochs: every epoch
   reuses the same layout and factors). The figure is the peak minus the RSS before.

Usage: python bench/bench_serving.py [--rounds 5] [--skip-recommend] [--skip-memory]
Writes bench/results/bench_serving.json and bench/results/bench_serving.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

N_PAIRS = 2000


def predict_bench(rounds: int) -> dict | None:
    if _common.data_folder() is None:
        print("ML-100k not found: predict benchmark skipped")
        return None
    import surprise

    import turbosvd

    t_train = turbosvd.Dataset.load_builtin("ml-100k", prompt=False).build_full_trainset()
    s_train = surprise.Dataset.load_builtin("ml-100k", prompt=False).build_full_trainset()
    algos = {
        "turbosvd": turbosvd.SVD(random_state=0).fit(t_train),
        "turbosvd_exact": turbosvd.SVD(random_state=0, schedule="exact").fit(t_train),
        "surprise": surprise.SVD(random_state=0).fit(s_train),
    }
    rng = np.random.default_rng(0)
    rows = rng.integers(0, t_train.n_ratings, N_PAIRS)
    users, items, _ = t_train.rating_arrays()
    pairs = list(
        zip(
            t_train.raw_user_ids[users[rows]].tolist(),
            t_train.raw_item_ids[items[rows]].tolist(),
            strict=True,
        )
    )
    # The exact schedule reproduces Surprise: the same estimates, a check that both did work.
    t_est = [algos["turbosvd_exact"].predict(u, i).est for u, i in pairs]
    s_est = [algos["surprise"].predict(u, i).est for u, i in pairs]
    max_diff = float(np.max(np.abs(np.subtract(t_est, s_est))))
    # One untimed pass for the default model too, so that every contender starts the
    # rounds warm (the two above just made theirs).
    for u, i in pairs:
        algos["turbosvd"].predict(u, i)

    times: dict[str, list[float]] = {name: [] for name in algos}
    loads = []
    for _ in range(rounds):
        loads.append(os.getloadavg())
        for name, algo in algos.items():
            predict = algo.predict
            start = time.perf_counter()
            for u, i in pairs:
                predict(u, i)
            times[name].append((time.perf_counter() - start) / N_PAIRS)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "pairs": N_PAIRS,
        "per_call_s": times,
        "median_per_call_s": med,
        "ratio_surprise_over_turbosvd": med["surprise"] / med["turbosvd"],
        "ratio_surprise_over_turbosvd_exact": med["surprise"] / med["turbosvd_exact"],
        "ratio_per_round": [
            s / t for s, t in zip(times["surprise"], times["turbosvd"], strict=True)
        ],
        "max_abs_estimate_difference_exact_vs_surprise": max_diff,
        "load_averages": loads,
    }


def memory_worker(n_ratings: int) -> dict:
    """Runs in a fresh interpreter (see ``_common.run_isolated``)."""
    import gc

    import turbosvd

    scale = n_ratings / 10_000_000  # MovieLens 10M's shape: 69,878 users, 10,677 items
    df = turbosvd.datasets.make_ratings(
        max(1000, int(70_000 * scale)), max(1000, int(10_700 * scale)), n_ratings, random_state=0
    )
    df = df[["user", "item", "rating"]].astype({"rating": np.float64})
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    df_bytes = int(df.memory_usage(index=False, deep=True).sum())
    gc.collect()

    def job():
        data = turbosvd.Dataset.load_from_df(df, turbosvd.Reader(rating_scale=(1, 5)))
        trainset = data.build_full_trainset()
        return turbosvd.SVD(n_factors=100, n_epochs=1, random_state=0).fit(trainset)

    start = time.perf_counter()
    algo, peak, before = _common.measure_peak(job)
    seconds = time.perf_counter() - start
    return {
        "n_ratings": n_ratings,
        "dtypes": dtypes,
        "dataframe_mb": df_bytes / 2**20,
        "rss_before_mb": before / 2**20,
        "peak_rss_mb": peak / 2**20,
        "added_mb": (peak - before) / 2**20,
        "model_arrays_mb": sum(getattr(algo, a).nbytes for a in ("pu", "qi", "bu", "bi")) / 2**20,
        "seconds": seconds,
        "load_average": os.getloadavg(),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory-ratings", type=int, default=10_000_000)
    parser.add_argument("--skip-recommend", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    info = _common.machine_info()
    pred = predict_bench(args.rounds)
    rec = None
    if not args.skip_recommend:
        import bench_topn

        rec = bench_topn.recommend_all_bench(max(3, min(args.rounds, 5)))
        if rec is not None:
            rec["ratio_per_round"] = [
                s / t for s, t in zip(rec["surprise_route_s"], rec["turbosvd_s"], strict=True)
            ]
            rec["ratio_per_round_1_thread"] = [
                s / t
                for s, t in zip(rec["surprise_route_s"], rec["turbosvd_1_thread_s"], strict=True)
            ]
    mem = None
    if not args.skip_memory:
        mem = _common.run_isolated("bench_serving", "memory_worker", args.memory_ratings)
    info["load_average_end"] = os.getloadavg()
    payload = {"machine": info, "predict": pred, "recommend_all": rec, "memory": mem}
    _common.write_json("bench_serving", payload)

    lines = [
        "# Serving benchmark (`bench/bench_serving.py`)",
        "",
        f"Machine: {info['cpu']} ({info['simd']}), {info['cpus']} CPUs; load average "
        f"{_common.load_str(info['load_average'])} at start, "
        f"{_common.load_str(info['load_average_end'])} at the end. Versions: "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "",
    ]
    if pred:
        m = pred["median_per_call_s"]
        lines += [
            f"## One `predict(uid, iid)` call, ML-100k, {pred['pairs']:,} known pairs, "
            f"{args.rounds} interleaved rounds",
            "",
            _common.markdown_table(
                ["contender", "median per call", "Surprise / contender"],
                [
                    ["scikit-surprise SVD()", f"{m['surprise'] * 1e6:.2f} us", "1.00x"],
                    [
                        "turbosvd SVD() (blocked, float32)",
                        f"{m['turbosvd'] * 1e6:.2f} us",
                        f"{pred['ratio_surprise_over_turbosvd']:.2f}x",
                    ],
                    [
                        'turbosvd SVD(schedule="exact")',
                        f"{m['turbosvd_exact'] * 1e6:.2f} us",
                        f"{pred['ratio_surprise_over_turbosvd_exact']:.2f}x",
                    ],
                ],
            ),
            "",
            "Ratio per round (Surprise / turbosvd default): "
            + ", ".join(f"{r:.2f}x" for r in pred["ratio_per_round"])
            + f". Exact schedule vs Surprise, largest estimate difference: "
            f"{pred['max_abs_estimate_difference_exact_vs_surprise']:.1e}. Load averages: "
            + ", ".join(_common.load_str(x) for x in pred["load_averages"])
            + ".",
            "",
        ]
    if rec:
        lines += [
            "## `recommend_all(n=10)`, full ML-100k, vs Surprise's FAQ route",
            "",
            _common.markdown_table(
                ["", "Surprise FAQ route", "turbosvd (all CPUs)", "turbosvd (1 thread)"],
                [
                    [
                        "median",
                        f"{rec['median_surprise_s']:.2f} s",
                        f"{rec['median_turbosvd_s']:.3f} s ({rec['speedup']:.0f}x)",
                        f"{rec['median_turbosvd_1_thread_s']:.3f} s "
                        f"({rec['speedup_1_thread']:.0f}x)",
                    ],
                    [
                        "ratio in each round",
                        "",
                        ", ".join(f"{r:.0f}x" for r in rec["ratio_per_round"]),
                        ", ".join(f"{r:.0f}x" for r in rec["ratio_per_round_1_thread"]),
                    ],
                ],
            ),
            "",
            f"Rounds are warm; the first call on the fitted model (cold: it builds the "
            f"seen-items cache, and the process's first pandas string column imports "
            f"pyarrow) took {rec['turbosvd_first_call_s']:.3f} s "
            f"({rec['median_surprise_s'] / rec['turbosvd_first_call_s']:.0f}x the median "
            f"Surprise route).",
            "",
        ]
    if mem:
        lines += [
            f"## Memory, {mem['n_ratings']:,} ratings (fresh interpreter)",
            "",
            f"DataFrame {mem['dataframe_mb']:.0f} MB ({mem['dtypes']}); RSS before "
            f"`load_from_df` {mem['rss_before_mb']:.0f} MB; peak through `load_from_df` + "
            f"`build_full_trainset` + `SVD(n_factors=100, n_epochs=1).fit` "
            f"{mem['peak_rss_mb']:.0f} MB: **{mem['added_mb']:.0f} MB added** over the "
            f"DataFrame (the model's factors and biases are {mem['model_arrays_mb']:.0f} MB "
            f"of it); {mem['seconds']:.1f} s, load average "
            f"{_common.load_str(mem['load_average'])}.",
            "",
        ]
    out = _common.RESULTS / "bench_serving.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
