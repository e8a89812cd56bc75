"""Early stopping (issue 14) on synthetic 1M ratings (``make_ratings(6040, 3706, 1_000_000,
random_state=0)``, 80/20 ``train_test_split(random_state=0)``), k=100, SVD's default rates,
2 threads.

Peers, in the same run: fixed-epoch fits of 10, 20, 40, 80 and 160 epochs (time and test
RMSE). Measured: ``SVD(n_epochs=400, early_stopping=True)`` (default ``refit=True``) and
with ``refit=False``: time, test RMSE, the chosen epoch. The issue's target: the early-stopped
fit's test RMSE within 0.002 of the best fixed fit's, in no more time than the 80-epoch fit.

Also a bold-driver experiment (the learning rate multiplied by 1.05 after an epoch that
lowered the training loss, halved after one that raised it; run from the epoch loop, so no
kernel change): its test RMSE against time next to the constant rate, to decide whether an
adaptive rate is worth offering.

Usage: ``python bench/bench_early_stopping.py [--repeat 3]``
Writes bench/results/bench_early_stopping.json and .md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import _common as C

FIXED = (10, 20, 40, 80, 160)


def _split():
    from turbosvd import Dataset, Reader
    from turbosvd.datasets import make_ratings
    from turbosvd.model_selection import train_test_split

    df = make_ratings(6040, 3706, 1_000_000, random_state=0)
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    return train_test_split(data, test_size=0.2, random_state=0)


def _timed_fit(trainset, testset, repeat, **params):
    from turbosvd import SVD, accuracy

    times, model = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        model = SVD(random_state=0, n_jobs=2, **params).fit(trainset)
        times.append(time.perf_counter() - t)
    rmse = float(accuracy.rmse(model.test(testset), verbose=False))
    return statistics.median(times), times, rmse, model


def bold_driver(trainset, testset, n_epochs=60):
    """Constant rate vs bold driver: (seconds, test RMSE) after every epoch, same init."""
    from turbosvd import SVD
    from turbosvd.train.monitor import fitted_rmse

    curves = {}
    for name in ("constant", "bold driver"):
        algo = SVD(random_state=0, n_jobs=2, n_epochs=1)
        algo.fit(trainset)  # the first epoch, as any fit
        curve = []
        elapsed = 0.0
        lr = 0.005
        prev = fitted_rmse(algo)
        state = [np.array(getattr(algo, k), copy=True) for k in ("bu", "bi", "pu", "qi")]
        for _ in range(n_epochs - 1):
            algo.lr_bu = algo.lr_bi = algo.lr_pu = algo.lr_qi = lr
            t = time.perf_counter()
            _continue_one_epoch(algo)
            elapsed += time.perf_counter() - t
            loss = fitted_rmse(algo)
            if name == "bold driver":
                if loss < prev:
                    lr *= 1.05
                    state = [
                        np.array(getattr(algo, k), copy=True) for k in ("bu", "bi", "pu", "qi")
                    ]
                    prev = loss
                else:  # undo the epoch, halve the rate
                    algo.bu, algo.bi, algo.pu, algo.qi = (a.copy() for a in state)
                    lr *= 0.5
            curve.append((elapsed, fitted_rmse(algo, testset)))
        curves[name] = curve
    return curves


def _continue_one_epoch(algo):
    """One more blocked epoch from the model's current parameters (the same kernel)."""
    from turbosvd.train import blocked as _blocked

    ts = algo.trainset
    layout = algo.__dict__.get("_bench_layout")
    if layout is None:
        layout = _blocked.build_layout(ts, algo.pu.dtype, algo.n_factors, items_by_bin=True)
        algo.__dict__["_bench_layout"] = layout
    position = np.empty_like(layout.item_order)
    position[layout.item_order] = np.arange(len(position), dtype=position.dtype)
    qi = np.ascontiguousarray(algo.qi[layout.item_order])
    bi = np.ascontiguousarray(algo.bi[layout.item_order])
    layout.epoch(
        algo.pu, qi, algo.bu, bi, float(ts.global_mean), True, algo._rates(), 2, 0, layout.n_bins
    )
    algo.qi, algo.bi = qi[position], bi[position]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-bold-driver", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    trainset, testset = _split()
    machine = C.machine_info()
    fixed = []
    for n in FIXED:
        sec, times, rmse, _ = _timed_fit(trainset, testset, args.repeat, n_epochs=n)
        fixed.append({"n_epochs": n, "seconds": sec, "times": times, "test_rmse": rmse})
        print(fixed[-1], flush=True)
    early = []
    for refit in (True, False):
        sec, times, rmse, model = _timed_fit(
            trainset, testset, args.repeat, n_epochs=400, early_stopping=True, refit=refit
        )
        early.append(
            {
                "refit": refit,
                "seconds": sec,
                "times": times,
                "test_rmse": rmse,
                "best_epoch": model.best_epoch_,
                "epochs_run": model.n_epochs_,
            }
        )
        print(early[-1], flush=True)
    best = min(fixed, key=lambda f: f["test_rmse"])
    t80 = next(f["seconds"] for f in fixed if f["n_epochs"] == 80)
    payload = {
        "machine": machine,
        "load_average_after": os.getloadavg(),
        "fixed": fixed,
        "early_stopping": early,
        "best_fixed": best,
        "target": {
            "rmse_within_0.002_of_best_fixed": early[0]["test_rmse"] <= best["test_rmse"] + 0.002,
            "time_within_80_epoch_fit": early[0]["seconds"] <= t80,
            "time_ratio_to_80_epoch_fit": early[0]["seconds"] / t80,
        },
    }
    if not args.skip_bold_driver:
        payload["bold_driver"] = bold_driver(trainset, testset)
    C.write_json("bench_early_stopping", payload)
    rows = [[f"fixed {f['n_epochs']} epochs", f["seconds"], f["test_rmse"], "", ""] for f in fixed]
    for e in early:
        rows.append(
            [
                f"early_stopping, n_epochs=400, refit={e['refit']}",
                e["seconds"],
                e["test_rmse"],
                e["best_epoch"],
                e["epochs_run"],
            ]
        )
    lines = [
        "# Early stopping, synthetic 1M (80/20), k=100, default rates, 2 threads",
        "",
        f"Machine: {machine['cpu']} ({machine['simd']}), {machine['cpus']} CPUs, load average "
        f"{machine['load_average']} before, {payload['load_average_after']} after; versions "
        f"{machine['versions']}. Median of {args.repeat} fits each.",
        "",
        C.markdown_table(
            ["fit", "seconds", "test RMSE", "best epoch", "epochs run (on 90 %)"], rows
        ),
        "",
        f"Best fixed fit: {best['n_epochs']} epochs, RMSE {best['test_rmse']:.4f}. Early "
        f"stopping (refit): RMSE {early[0]['test_rmse']:.4f} "
        f"({early[0]['test_rmse'] - best['test_rmse']:+.4f}), "
        f"{payload['target']['time_ratio_to_80_epoch_fit']:.2f} x the time of the 80-epoch fit.",
        "",
    ]
    if "bold_driver" in payload:
        lines += ["## Adaptive rate: bold driver against the constant rate", ""]
        table = []
        for name, curve in payload["bold_driver"].items():
            for budget in (2.0, 5.0, 10.0):
                inside = [r for s, r in curve if s <= budget]
                table.append([name, budget, min(inside) if inside else float("nan")])
        lines += [C.markdown_table(["schedule", "seconds of training", "best test RMSE"], table)]
        lines += [""]
    text = "\n".join(lines)
    (C.RESULTS / "bench_early_stopping.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
