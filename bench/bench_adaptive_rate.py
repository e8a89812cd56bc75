"""Adaptive learning rates (issue 14): does per-vector AdaGrad (as in LIBMF) reach a better
test RMSE per second of training than SVD's constant rate, on synthetic 1M (80/20)?

Prototype run: ``bench/adaptive_rate_proto.cpp`` (compiled here with the system's g++ into a
temporary library; not part of the package) implements both schedules in the same loop
(Surprise's SGD update, float64, one thread, ratings in storage order, the same initial
draws), so the comparison is of the schedules, not of two implementations. Seconds are
the training thread's CPU time (the machine is shared), evaluation excluded. Data: the split
of ``bench_early_stopping.py`` (``make_ratings(6040, 3706, 1_000_000, random_state=0)``,
``train_test_split(test_size=0.2, random_state=0)``), k=100, reg 0.02; test ratings of users
or items unknown to the trainset are left out. The constant rate runs at SVD's default 0.005
and AdaGrad at several base rates ``eta`` (picked on the test set: optimistic for AdaGrad).
The bold driver was measured in ``bench_early_stopping.py``.

Usage: ``python bench/bench_adaptive_rate.py [--epochs 60] [--repeat 3]``
Writes bench/results/bench_adaptive_rate.json and .md.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import _common as C

HERE = Path(__file__).resolve().parent
SCHEDULES = [("constant", 0, 0.005), ("AdaGrad", 1, 0.01), ("AdaGrad", 1, 0.03)]
SCHEDULES += [("AdaGrad", 1, 0.1)]
BUDGETS = (2.0, 5.0, 10.0, 20.0)  # seconds of training


def _library(tmp: Path):
    out = tmp / "adaptive_rate_proto.so"
    cmd = ["g++", "-O3", "-std=c++17", "-fPIC", "-shared", str(HERE / "adaptive_rate_proto.cpp")]
    subprocess.run([*cmd, "-o", str(out)], check=True)
    lib = ctypes.CDLL(str(out))
    lib.train_curve.restype = ctypes.c_int
    return lib


def _data():
    from turbosvd import Dataset, Reader
    from turbosvd.datasets import make_ratings
    from turbosvd.model_selection import train_test_split

    df = make_ratings(6040, 3706, 1_000_000, random_state=0)
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    trainset, testset = train_test_split(data, test_size=0.2, random_state=0)
    u, i, r = (np.ascontiguousarray(a) for a in trainset.rating_arrays())
    tu, ti = trainset.testset_inner_ids(testset)
    tr = np.array([x for _, _, x in testset], dtype=np.float64)
    known = (tu >= 0) & (ti >= 0)
    test = tuple(np.ascontiguousarray(a[known]) for a in (tu, ti, tr))
    return trainset, (u, i, r), test


def _curve(lib, trainset, train, test, adagrad, lr, epochs):
    u, i, r = train
    tu, ti, tr = test
    rmse, secs = np.zeros(epochs), np.zeros(epochs)
    p = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    done = lib.train_curve(
        len(r), p(u.astype(np.int32)), p(i.astype(np.int32)), p(r), trainset.n_users,
        trainset.n_items, 100, ctypes.c_double(trainset.global_mean), len(tr),
        p(tu.astype(np.int32)), p(ti.astype(np.int32)), p(tr), ctypes.c_double(1.0),
        ctypes.c_double(5.0), adagrad, ctypes.c_double(lr), ctypes.c_double(0.02), epochs, 0,
        p(rmse), p(secs),
    )  # fmt: skip
    return rmse[:done], secs[:done]


def _best_within(rmse, secs, budget):
    ok = secs <= budget
    return float(rmse[ok].min()) if ok.any() else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    machine = C.machine_info()
    trainset, train, test = _data()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lib = _library(Path(tmp))
        for name, adagrad, lr in SCHEDULES:
            runs = [
                _curve(lib, trainset, train, test, adagrad, lr, args.epochs)
                for _ in range(args.repeat)
            ]
            rmse = runs[0][0]  # deterministic: every run gives the same curve
            assert all(np.array_equal(rmse, x) for x, _ in runs)
            n = min(len(s) for _, s in runs)
            secs = np.array([statistics.median(s[e] for _, s in runs) for e in range(n)])
            rows.append(
                {
                    "schedule": name,
                    "rate": lr,
                    "epochs": int(n),
                    "seconds_per_epoch": float(secs[-1] / n),
                    "best_rmse": float(rmse.min()),
                    "best_epoch": int(rmse.argmin()) + 1,
                    "best_within": {str(b): _best_within(rmse[:n], secs, b) for b in BUDGETS},
                    "curve_rmse": rmse.tolist(),
                    "curve_seconds": secs.tolist(),
                }
            )
    payload = {"machine": machine, "load_average_after": os.getloadavg(), "rows": rows}
    C.write_json("bench_adaptive_rate", payload)
    const = rows[0]
    lines = [
        "# Adaptive learning rate: per-vector AdaGrad (LIBMF) against SVD's constant rate",
        "",
        "Synthetic 1M (80/20 as bench_early_stopping.py), k=100, reg 0.02, one thread, a",
        "prototype loop implementing both schedules (bench/adaptive_rate_proto.cpp, float64,",
        f"ratings in storage order), {args.epochs} epochs, seconds = median of "
        f"{args.repeat} runs (CPU time of the training thread, evaluation excluded).",
        "",
        f"Machine: {machine['cpu']} ({machine['simd']}), {machine['cpus']} CPUs, load average "
        f"{machine['load_average']} before, {payload['load_average_after']} after; versions "
        f"{machine['versions']}.",
        "",
        C.markdown_table(
            ["schedule", "rate", "s/epoch", "best test RMSE", "at epoch"]
            + [f"best RMSE within {b:g} s" for b in BUDGETS],
            [
                [
                    r["schedule"],
                    r["rate"],
                    r["seconds_per_epoch"],
                    r["best_rmse"],
                    r["best_epoch"],
                    *r["best_within"].values(),
                ]
                for r in rows
            ],
        ),
        "",
    ]
    best_ada = min(rows[1:], key=lambda r: r["best_rmse"])
    gain = {b: const["best_within"][str(b)] - best_ada["best_within"][str(b)] for b in BUDGETS}
    lines.append(
        f"Best AdaGrad (eta {best_ada['rate']}) minus constant rate, per budget: "
        + ", ".join(f"{b:g} s: {g:+.4f}" for b, g in gain.items())
        + " (positive: AdaGrad is better)."
    )
    text = "\n".join(lines) + "\n"
    (C.RESULTS / "bench_adaptive_rate.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
