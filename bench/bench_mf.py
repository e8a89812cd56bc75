"""SVD++ and NMF against Surprise, measured in the same run (issue 12's numbers).

Measures, with Surprise in the same run for every ratio (rounds interleaved, medians):
- MovieLens 100k fold u1, default parameters, ``fit`` + ``test`` of u1.test: Surprise,
  turbosvd's default (fast) schedule and its exact schedule, for ``SVDpp`` and ``NMF``;
  test RMSE of each (the exact schedule's equals Surprise's);
- synthetic 1M ratings (MovieLens-1M shape, ``make_ratings(6040, 3706, 1_000_000)``):
  ``SVDpp(n_factors=20, n_epochs=20).fit``, turbosvd fast against Surprise (Surprise takes
  minutes per fit: ``--surprise-1m-repeat`` sets how many times it runs);
- synthetic 10M ratings (``make_ratings(70_000, 10_000, 10_000_000)``): turbosvd's
  ``SVDpp`` fit alone, time and peak memory of the whole process (data included), in a
  fresh interpreter.

Writes bench/results/bench_mf.json and bench/results/bench_mf.md.

A section skipped with ``--skip-u1`` / ``--skip-1m`` / ``--skip-10m`` is carried over from the
previous result file, marked with the date and load of the run that measured it.

Usage: ``python bench/bench_mf.py [--repeat 3] [--surprise-1m-repeat 3] [--surprise-1m-epochs 20]
[--skip-u1] [--skip-1m] [--skip-10m]`` (``--surprise-1m-epochs 2``: Surprise fits 2 epochs and its
20-epoch time is extrapolated, stated so in the result file).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time

import _common as C

ALGOS = ("SVDpp", "NMF")


def _load_u1(lib):
    base = C.data_folder() / "ml-100k" / "ml-100k"
    folds = [(str(base / "u1.base"), str(base / "u1.test"))]
    data = lib.Dataset.load_from_folds(folds, lib.Reader("ml-100k"))
    ms = __import__(lib.__name__ + ".model_selection").model_selection
    return next(ms.PredefinedKFold().split(data))


def _fit_test(make, trainset, testset):
    gc.collect()
    t0 = time.perf_counter()
    algo = make().fit(trainset)
    t1 = time.perf_counter()
    predictions = algo.test(testset)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, predictions


def bench_u1(repeat: int) -> list[dict]:
    """Default parameters on ML-100k u1: fit + test, three contenders, interleaved rounds."""
    import surprise

    import turbosvd

    s_pair, t_pair = _load_u1(surprise), _load_u1(turbosvd)
    rows = []
    for name in ALGOS:
        contenders = {
            "surprise": (lambda n=name: getattr(surprise, n)(random_state=0), s_pair, surprise),
            "fast": (lambda n=name: getattr(turbosvd, n)(random_state=0), t_pair, turbosvd),
            "exact": (
                lambda n=name: getattr(turbosvd, n)(random_state=0, schedule="exact"),
                t_pair,
                turbosvd,
            ),
        }
        times = {k: [] for k in contenders}
        rmse = {}
        for _ in range(repeat):
            for key, (make, (trainset, testset), lib) in contenders.items():
                fit_s, test_s, preds = _fit_test(make, trainset, testset)
                times[key].append((fit_s, test_s))
                rmse[key] = float(lib.accuracy.rmse(preds, verbose=False))
        med = {
            k: {
                "fit_s": statistics.median(f for f, _ in v),
                "test_s": statistics.median(t for _, t in v),
                "total_s": statistics.median(f + t for f, t in v),
                "runs": v,
            }
            for k, v in times.items()
        }
        rows.append(
            {
                "algo": name,
                **{f"{k}_{m}": med[k][m] for k in med for m in ("fit_s", "test_s", "total_s")},
                "runs": {k: med[k]["runs"] for k in med},
                "rmse": rmse,
                "fast_speedup": med["surprise"]["total_s"] / med["fast"]["total_s"],
                "exact_speedup": med["surprise"]["total_s"] / med["exact"]["total_s"],
                "exact_fit_speedup": med["surprise"]["fit_s"] / med["exact"]["fit_s"],
                "fast_rmse_minus_surprise": rmse["fast"] - rmse["surprise"],
                "exact_rmse_equal": rmse["exact"] == rmse["surprise"],
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def _synthetic_df(n_ratings):
    from turbosvd.datasets import make_ratings

    n_users, n_items = (6040, 3706) if n_ratings <= 2_000_000 else (70_000, 10_000)
    return make_ratings(n_users, n_items, n_ratings, random_state=0)


def bench_1m(repeat: int, surprise_repeat: int, surprise_epochs: int = 20) -> dict:
    """SVD++ k=20, 20 epochs, fit on 1M synthetic ratings: turbosvd fast vs Surprise.

    With ``surprise_epochs < 20`` Surprise fits only that many epochs (each of its epochs
    costs the same: the same loops over the same ratings) and its 20-epoch time is
    extrapolated as ``20 / surprise_epochs`` times the measured median; the result says so.
    """
    import surprise

    import turbosvd

    df = _synthetic_df(1_000_000)
    out = {"n_ratings": len(df), "turbosvd_runs": [], "surprise_runs": []}
    tr_t = turbosvd.Dataset.load_from_df(df, turbosvd.Reader(rating_scale=(1, 5)))
    tr_t = tr_t.build_full_trainset()
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        turbosvd.SVDpp(n_factors=20, n_epochs=20, random_state=0).fit(tr_t)
        out["turbosvd_runs"].append(time.perf_counter() - t)
        print("1M turbosvd", out["turbosvd_runs"][-1], file=sys.stderr, flush=True)
    del tr_t
    if surprise_repeat:
        tr_s = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=(1, 5)))
        tr_s = tr_s.build_full_trainset()
        for _ in range(surprise_repeat):
            gc.collect()
            t = time.perf_counter()
            surprise.SVDpp(n_factors=20, n_epochs=surprise_epochs, random_state=0).fit(tr_s)
            out["surprise_runs"].append(time.perf_counter() - t)
            print("1M surprise", out["surprise_runs"][-1], file=sys.stderr, flush=True)
        out["surprise_epochs"] = surprise_epochs
        measured = statistics.median(out["surprise_runs"])
        out["surprise_measured_s"] = measured
        out["surprise_fit_s"] = measured * 20 / surprise_epochs
        out["surprise_extrapolated"] = surprise_epochs != 20
    out["turbosvd_fit_s"] = statistics.median(out["turbosvd_runs"])
    if surprise_repeat:
        out["speedup"] = out["surprise_fit_s"] / out["turbosvd_fit_s"]
    return out


def fit_10m(n_jobs: int) -> dict:
    """In a fresh process: make 10M ratings, fit SVD++ (k=20, 20 epochs); time and peak RSS."""
    from turbosvd import SVDpp
    from turbosvd.datasets import make_ratings

    t = time.perf_counter()
    trainset = make_ratings(70_000, 10_000, 10_000_000, random_state=0, as_trainset=True)
    data_s = time.perf_counter() - t
    data_rss = C.rss()
    gc.collect()
    t = time.perf_counter()
    SVDpp(n_factors=20, n_epochs=20, random_state=0, n_jobs=n_jobs).fit(trainset)
    fit_s = time.perf_counter() - t
    return {
        "n_ratings": trainset.n_ratings,
        "n_jobs": n_jobs,
        "data_s": data_s,
        "fit_s": fit_s,
        "rss_after_data_mb": data_rss / 2**20,
        "peak_rss_mb": C.peak_rss() / 2**20,  # whole process: data generation and fit
    }


def bench_10m(repeat: int) -> dict:
    runs = [C.run_isolated("bench_mf", "fit_10m", 2) for _ in range(repeat)]
    for r in runs:
        print("10M", r, file=sys.stderr, flush=True)
    return {
        "runs": runs,
        "fit_s": statistics.median(r["fit_s"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def _report(payload: dict) -> str:
    lines = ["# bench_mf", ""]
    rows = []
    u1 = payload["u1"]
    if isinstance(u1, dict):  # carried over from an earlier run
        lines += [
            f"(The ML-100k tables are carried over from the run of {u1['carried_from']}.)",
            "",
        ]
        u1 = u1["rows"]
    for r in u1:
        rows.append(
            [
                r["algo"],
                r["surprise_total_s"],
                r["fast_total_s"],
                f"{r['fast_speedup']:.1f}x",
                r["exact_total_s"],
                f"{r['exact_speedup']:.1f}x",
                f"{r['rmse']['surprise']:.4f}",
                f"{r['rmse']['fast']:.4f}",
                f"{r['rmse']['exact']:.4f}" + (" (=)" if r["exact_rmse_equal"] else ""),
            ]
        )
    lines.append(
        "MovieLens 100k u1, default parameters, fit + test of u1.test (80k / 20k ratings), "
        f"median of {len(u1[0]['runs']['surprise'])} interleaved rounds (seconds); "
        "turbosvd fast = the default schedule (SVD++: one thread; NMF: one thread per 100k "
        "ratings, so one here), exact = `schedule='exact'` (one thread). '(=)': the exact "
        "schedule's RMSE equals Surprise's bit for bit."
    )
    lines.append("")
    lines.append(
        C.markdown_table(
            [
                "algo",
                "Surprise s",
                "turbosvd fast s",
                "speed-up",
                "turbosvd exact s",
                "speed-up",
                "RMSE Surprise",
                "RMSE fast",
                "RMSE exact",
            ],
            rows,
        )
    )
    lines.append("")
    detail = [
        [r["algo"], r["surprise_fit_s"], r["surprise_test_s"], r["fast_fit_s"], r["fast_test_s"],
         r["exact_fit_s"], r["exact_test_s"]]
        for r in u1
    ]  # fmt: skip
    lines.append(
        C.markdown_table(
            [
                "algo",
                "Surprise fit",
                "Surprise test",
                "fast fit",
                "fast test",
                "exact fit",
                "exact test",
            ],
            detail,
        )  # fmt: skip
    )
    lines.append("")
    m = payload.get("synthetic_1m")
    if m and m.get("carried_from"):
        lines.append(f"(The next row is carried over from the run of {m['carried_from']}.)")
        lines.append("")
    if m:
        s = (
            f"{m['surprise_fit_s']:.1f} s (median of {len(m['surprise_runs'])} run(s))"
            if m.get("surprise_runs")
            else "not run"
        )
        if m.get("surprise_extrapolated"):
            s = (
                f"{m['surprise_fit_s']:.1f} s EXTRAPOLATED: Surprise ran "
                f"`n_epochs={m['surprise_epochs']}` {len(m['surprise_runs'])} times in this "
                f"run, median {m['surprise_measured_s']:.1f} s "
                f"({m['surprise_measured_s'] / m['surprise_epochs']:.1f} s per epoch), "
                f"times 20 / {m['surprise_epochs']}"
            )
        lines.append(
            f"Synthetic 1M ratings (6040 x 3706), `SVDpp(n_factors=20, n_epochs=20).fit`: "
            f"Surprise {s}, turbosvd {m['turbosvd_fit_s']:.3f} s (median of "
            f"{len(m['turbosvd_runs'])})" + (f": {m['speedup']:.0f}x." if "speedup" in m else ".")
        )
        lines.append("")
    t = payload.get("synthetic_10m")
    if t and t.get("carried_from"):
        lines.append(f"(The next row is carried over from the run of {t['carried_from']}.)")
        lines.append("")
    if t:
        lines.append(
            f"Synthetic 10M ratings (70,000 x 10,000), turbosvd `SVDpp(n_factors=20, "
            f"n_epochs=20, n_jobs=2).fit` in a fresh process: {t['fit_s']:.1f} s (median of "
            f"{len(t['runs'])}); peak RSS of the whole process, data generation included: "
            f"{t['peak_rss_mb']:.0f} MB."
        )
        lines.append("")
    mi = payload["machine"]
    lines.append(
        f"Machine: {mi['cpu']}, {mi['cpus']} CPUs ({mi['simd']}), load average "
        f"{'/'.join(f'{x:.1f}' for x in mi['load_average'])} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in payload['load_average_end'])} at the end (other jobs "
        f"share the machine); versions {mi['versions']}; build {mi.get('turbosvd_build')}."
    )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--surprise-1m-repeat", type=int, default=3)
    p.add_argument(
        "--surprise-1m-epochs",
        type=int,
        default=20,
        help="epochs of Surprise's 1M fits (fewer: its 20-epoch time is extrapolated)",
    )
    p.add_argument("--skip-u1", action="store_true")
    p.add_argument("--skip-1m", action="store_true")
    p.add_argument("--skip-10m", action="store_true")
    args = p.parse_args(argv)
    if C.data_folder() is None:
        sys.exit("MovieLens 100k not found: set SURPRISE_DATA_FOLDER")
    previous = {}
    if (C.RESULTS / "bench_mf.json").is_file():
        previous = json.loads((C.RESULTS / "bench_mf.json").read_text())
    payload = {"machine": C.machine_info(), "repeat": args.repeat}
    payload["started"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for key, skip, run in (
        ("u1", args.skip_u1, lambda: bench_u1(args.repeat)),
        (
            "synthetic_1m",
            args.skip_1m,
            lambda: bench_1m(args.repeat, args.surprise_1m_repeat, args.surprise_1m_epochs),
        ),
        ("synthetic_10m", args.skip_10m, lambda: bench_10m(args.repeat)),
    ):
        if not skip:
            payload[key] = run()
        elif key in previous:
            carried = previous[key]
            carried = dict(carried) if isinstance(carried, dict) else {"rows": carried}
            if not carried.get("carried_from"):
                load = previous["machine"]["load_average"]
                carried["carried_from"] = (
                    f"{previous.get('started', 'an earlier session')}, load average "
                    f"{'/'.join(f'{x:.1f}' for x in load)}, turbosvd code of that time"
                )
            payload[key] = carried
    payload["load_average_end"] = __import__("os").getloadavg()
    C.write_json("bench_mf", payload)
    text = _report(payload)
    (C.RESULTS / "bench_mf.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
