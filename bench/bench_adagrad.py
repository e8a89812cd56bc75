"""AdaGrad in SVD's blocked kernel (issue 14): ``learning_rate_schedule="adagrad"`` against
the constant rate, with the real kernel, on synthetic 1M (80/20), k=100, 2 threads.

Data: the split of ``bench_early_stopping.py`` (``make_ratings(6040, 3706, 1_000_000,
random_state=0)``, ``train_test_split(test_size=0.2, random_state=0)``). Two views, peers in
the same run:

- the fair one: ``SVD(n_epochs=200, early_stopping=True)`` (defaults: 10 % validation split
  of the training ratings, ``n_iter_no_change=5``, ``tol=1e-4``, refit on everything) for the
  constant rate at SVD's default 0.005 and for AdaGrad at several base rates ``lr_all``;
  the AdaGrad rate quoted as "chosen" is the one with the lowest *validation* RMSE, so
  nothing is picked on the test set. Seconds are the whole fit's wall time (median of
  ``--repeat`` fits); the test RMSE is of the final model;
- the curve: fixed-epoch fits with the test set as ``eval_set`` (``history_``: test RMSE
  and training seconds after every epoch, evaluation excluded): the best test RMSE reached
  within a training-time budget (this one reads the test set; it shows the shape).

Usage: ``python bench/bench_adagrad.py [--repeat 3]``
Writes bench/results/bench_adagrad.json and bench/results/bench_adagrad.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import _common as C

RATES = {"constant": [0.005], "adagrad": [0.03, 0.1, 0.2]}
CURVE_EPOCHS = {"constant": 60, "adagrad": 15}
BUDGETS = (1.0, 2.0, 5.0, 10.0)


def _data():
    from turbosvd import Dataset, Reader
    from turbosvd.datasets import make_ratings
    from turbosvd.model_selection import train_test_split

    df = make_ratings(6040, 3706, 1_000_000, random_state=0)
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    return train_test_split(data, test_size=0.2, random_state=0)


def _svd(schedule, lr, **kw):
    from turbosvd import SVD

    return SVD(random_state=0, n_jobs=2, lr_all=lr, learning_rate_schedule=schedule, **kw)


def early_stopped(trainset, testset, repeat):
    from turbosvd import accuracy

    rows = []
    for schedule, rates in RATES.items():
        for lr in rates:
            times, algo = [], None
            for _ in range(repeat):
                t = time.perf_counter()
                algo = _svd(schedule, lr, n_epochs=200, early_stopping=True).fit(trainset)
                times.append(time.perf_counter() - t)
            rows.append(
                {
                    "schedule": schedule,
                    "lr_all": lr,
                    "seconds": statistics.median(times),
                    "seconds_all": times,
                    "test_rmse": accuracy.rmse(algo.test(testset), verbose=False),
                    "validation_rmse": float(min(algo.history_["holdout_rmse"])),
                    "best_epoch": int(algo.best_epoch_),
                    "epochs_run": int(algo.n_epochs_),
                }
            )
    return rows


def curves(trainset, testset):
    rows = []
    for schedule, rates in RATES.items():
        for lr in rates:
            algo = _svd(schedule, lr, n_epochs=CURVE_EPOCHS[schedule])
            algo.fit(trainset, eval_set=testset)
            h = algo.history_
            rmse, secs = np.array(h["val_rmse"]), np.array(h["time"])
            rows.append(
                {
                    "schedule": schedule,
                    "lr_all": lr,
                    "seconds_per_epoch": float(secs[-1] / len(secs)),
                    "best_test_rmse": float(rmse.min()),
                    "best_epoch": int(rmse.argmin()) + 1,
                    "best_within": {
                        str(b): (float(rmse[secs <= b].min()) if (secs <= b).any() else None)
                        for b in BUDGETS
                    },
                    "curve_test_rmse": rmse.tolist(),
                    "curve_seconds": secs.tolist(),
                }
            )
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    machine = C.machine_info()
    trainset, testset = _data()
    stopped = early_stopped(trainset, testset, args.repeat)
    curve = curves(trainset, testset)
    payload = {
        "machine": machine,
        "load_average_after": os.getloadavg(),
        "early_stopping": stopped,
        "curves": curve,
    }
    C.write_json("bench_adagrad", payload)
    const = stopped[0]
    chosen = min(
        (r for r in stopped if r["schedule"] == "adagrad"), key=lambda r: r["validation_rmse"]
    )
    fmt = lambda x: "" if x is None else x  # noqa: E731
    lines = [
        '# AdaGrad (`learning_rate_schedule="adagrad"`) against the constant rate, real kernel',
        "",
        "Synthetic 1M (80/20 as bench_early_stopping.py), k=100, reg 0.02, float32 blocked",
        "schedule, 2 threads.",
        "",
        f"Machine: {machine['cpu']} ({machine['simd']}), {machine['cpus']} CPUs, load average "
        f"{machine['load_average']} before, {payload['load_average_after']} after; versions "
        f"{machine['versions']}.",
        "",
        "## Early stopping on a validation split (no choice made on the test set)",
        "",
        f"`SVD(n_epochs=200, early_stopping=True)` with its defaults (10 % validation split, "
        f"refit on all the training ratings); seconds: the whole fit, median of {args.repeat}.",
        "",
        C.markdown_table(
            [
                "schedule",
                "lr_all",
                "seconds",
                "test RMSE",
                "validation RMSE",
                "best epoch",
                "epochs run",
            ],
            [
                [
                    r["schedule"],
                    r["lr_all"],
                    r["seconds"],
                    r["test_rmse"],
                    r["validation_rmse"],
                    r["best_epoch"],
                    r["epochs_run"],
                ]
                for r in stopped
            ],
        ),
        "",
        f"AdaGrad's rate chosen on the validation split: lr_all={chosen['lr_all']}: test RMSE "
        f"{chosen['test_rmse']:.4f} in {chosen['seconds']:.2f} s against the constant rate's "
        f"{const['test_rmse']:.4f} in {const['seconds']:.2f} s "
        f"({chosen['test_rmse'] - const['test_rmse']:+.4f} RMSE, "
        f"{chosen['seconds'] / const['seconds']:.2f} x the time).",
        "",
        "## Learning curves (test RMSE after every epoch; reads the test set)",
        "",
        C.markdown_table(
            ["schedule", "lr_all", "s/epoch", "best test RMSE", "at epoch"]
            + [f"best within {b:g} s" for b in BUDGETS],
            [
                [
                    r["schedule"],
                    r["lr_all"],
                    r["seconds_per_epoch"],
                    r["best_test_rmse"],
                    r["best_epoch"],
                    *(fmt(v) for v in r["best_within"].values()),
                ]
                for r in curve
            ],
        ),
        "",
    ]
    text = "\n".join(lines)
    (C.RESULTS / "bench_adagrad.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
