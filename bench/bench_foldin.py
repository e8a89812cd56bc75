"""Fold-in (``partial_fit_users``, issue 14): quality against retraining, batch speed and
one-user latency, on synthetic 1M ratings (``make_ratings(6040, 3706, 1_000_000,
random_state=0)``, the MovieLens-1M shape), k=100, SVD's default rates.

Scenario: every 10th user (user id % 10 == 0, 604 users) is held out of training; 80 % of
each held-out user's ratings (drawn with ``default_rng(0)``) are folded in, the other 20 %
are the test set. Peers, in the same run:

- quality: a full retrain on the training users plus those 80 % (same seed and
  parameters), and the cold start (the held-out users unknown: bias-only estimates);
  the regularisation scan shows where the derived penalty lies among multiples of its
  early-stopping term ``c / (lr * n_epochs)``;
- batch speed: the same ridge solves in NumPy (``numpy.linalg.solve`` on the stacked
  systems, BLAS/LAPACK), the retrain, and the largest batch solved without the batch's
  rotation (plain conjugate gradients);
- the public call: ``partial_fit_users`` on DataFrames of the held-out batch and of
  every training user under a new raw id (5,436 new users), against the kernel alone;
- latency: ``partial_fit_users`` with one new user per call (its 80 %), given as a list
  of triples and as a DataFrame, p50 / p99 over many calls, on the model trained without
  the held-out users.

Usage: ``python bench/bench_foldin.py [--repeat 5] [--calls 600]``
Writes bench/results/bench_foldin.json and bench/results/bench_foldin.md.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
import warnings

import numpy as np

import _common as C


def _scenario():
    from turbosvd import Dataset, Reader
    from turbosvd.datasets import make_ratings

    df = make_ratings(6040, 3706, 1_000_000, random_state=0)
    held = (df.user.to_numpy() % 10) == 0
    draw = np.random.default_rng(0).random(len(df))
    reader = Reader(rating_scale=(1, 5))
    build = lambda d: Dataset.load_from_df(d, reader).build_full_trainset()  # noqa: E731
    return {
        "train_df": df[~held],
        "train": build(df[~held]),
        "retrain": build(df[~held | (draw < 0.8)]),
        "fold": df[held & (draw < 0.8)],
        "test": list(df[held & (draw >= 0.8)].itertuples(index=False, name=None)),
    }


def _grouped(model, fold):
    """(indptr, inner items, ratings) of the fold-in users, as partial_fit_users groups them."""
    ts = model.trainset
    items = ts.inner_iids(fold.item.tolist())
    keep = items >= 0
    users = fold.user.to_numpy()[keep]
    order = np.argsort(users, kind="stable")
    _, counts = np.unique(users[order], return_counts=True)
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return indptr, items[keep][order].astype(np.int32), fold.rating.to_numpy(float)[keep][order]


def _numpy_solves(model, indptr, items, ratings, reg):
    """The peer: the same systems built and solved with NumPy (stacked, LAPACK)."""
    qi = np.asarray(model.qi, dtype=np.float64)
    bi = np.asarray(model.bi, dtype=np.float64)
    mu = float(model.trainset.global_mean)
    k = qi.shape[1]
    n_users = len(indptr) - 1
    A = np.empty((n_users, k + 1, k + 1))
    b = np.empty((n_users, k + 1))
    for u in range(n_users):
        s, e = indptr[u], indptr[u + 1]
        X = np.hstack([qi[items[s:e]], np.ones((e - s, 1))])
        y = ratings[s:e] - mu - bi[items[s:e]]
        n = e - s
        A[u] = X.T @ X
        A[u, np.arange(k), np.arange(k)] += reg[0] + reg[1] * n
        A[u, k, k] += reg[2] + reg[3] * n
        b[u] = X.T @ y
    return np.linalg.solve(A, b[..., None])[..., 0]


def quality(sc, repeat):
    from turbosvd import SVD, _foldin, accuracy
    from turbosvd.foldin import foldin_reg

    def base():
        return SVD(random_state=0, n_jobs=2).fit(sc["train"])

    model = base()
    cold = accuracy.rmse(model.test(sc["test"]), verbose=False)
    folded_model = base()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        folded_model.partial_fit_users(sc["fold"])
        foldin_s = time.perf_counter() - t
    folded = accuracy.rmse(folded_model.test(sc["test"]), verbose=False)
    retrain_s, _ = C.median_time(
        lambda: SVD(random_state=0, n_jobs=2).fit(sc["retrain"]), repeat=max(1, repeat // 2)
    )
    retrained = accuracy.rmse(
        SVD(random_state=0, n_jobs=2).fit(sc["retrain"]).test(sc["test"]), verbose=False
    )
    # Where the derived penalty sits: multiples c of the early-stopping term.
    indptr, items, ratings = _grouped(model, sc["fold"])
    lp0, lp1, lb0, lb1 = foldin_reg(20, 0.005, 0.02, 0.005, 0.02)
    ts = model.trainset
    pos = {u: k for k, u in enumerate(np.unique(sc["fold"].user.to_numpy()))}
    tu = np.array([pos[u] for u, _, _ in sc["test"]])
    ti = ts.inner_iids([i for _, i, _ in sc["test"]])
    truth = np.array([r for _, _, r in sc["test"]])
    scan = []
    for c in (0.25, 0.5, 1.0, 2.0, 4.0):
        reg = (c * lp0, lp1, c * lb0, lb1)
        pu, bu, _ = _foldin.foldin_users(
            indptr, items, ratings, model.qi, model.bi, float(ts.global_mean), True, reg, 2
        )
        est = float(ts.global_mean) + bu[tu].astype(float)
        ok = ti >= 0
        est[ok] += model.bi[ti[ok]] + np.einsum("ij,ij->i", model.qi[ti[ok]], pu[tu[ok]])
        scan.append({"c": c, "rmse": float(np.sqrt(np.mean((np.clip(est, 1, 5) - truth) ** 2)))})
    return {
        "n_users_folded": len(indptr) - 1,
        "n_ratings_folded": int(indptr[-1]),
        "median_ratings_per_user": float(np.median(np.diff(indptr))),
        "rmse_foldin": folded,
        "rmse_retrain": retrained,
        "rmse_cold_start": cold,
        "foldin_minus_retrain": folded - retrained,
        "foldin_seconds": foldin_s,
        "retrain_seconds": retrain_s,
        "regularisation_scan": scan,
        "adagrad": _adagrad_quality(sc),
    }


def _adagrad_quality(sc):
    """The same scenario with a model trained with AdaGrad rates, as recommended (lr_all
    0.1, early stopping): the penalty is derived from its rate and chosen epoch count."""
    from turbosvd import SVD, accuracy

    def svd():
        return SVD(
            random_state=0, n_jobs=2, learning_rate_schedule="adagrad", lr_all=0.1,
            n_epochs=200, early_stopping=True,
        )  # fmt: skip

    model = svd().fit(sc["train"])
    cold = accuracy.rmse(model.test(sc["test"]), verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit_users(sc["fold"])
    retrained = svd().fit(sc["retrain"])
    folded = accuracy.rmse(model.test(sc["test"]), verbose=False)
    return {
        "rmse_foldin": folded,
        "rmse_retrain": accuracy.rmse(retrained.test(sc["test"]), verbose=False),
        "rmse_cold_start": cold,
        "best_epoch": int(model.best_epoch_),
        "best_epoch_retrain": int(retrained.best_epoch_),
    }


def speed(sc, repeat):
    from turbosvd import SVD, _foldin
    from turbosvd.foldin import rotation_pays

    model = SVD(random_state=0, n_jobs=2).fit(sc["train"])
    ts = model.trainset
    mu = float(ts.global_mean)
    reg = model._foldin_reg()
    indptr, items, ratings = _grouped(model, sc["fold"])
    # Also a batch of "new" users with 20 ratings each (the first 20 of each held-out user).
    n20 = np.minimum(np.diff(indptr), 20)
    take = np.concatenate([np.arange(s, s + m) for s, m in zip(indptr[:-1], n20)])
    small = (np.concatenate(([0], np.cumsum(n20))).astype(np.int64), items[take], ratings[take])
    # A batch large enough to time: every training user folded in again from all of its
    # ratings (the known users' recomputation, as partial_fit_users would do it).
    everyone = tuple(np.ascontiguousarray(a) for a in ts.user_csr())
    rows = []
    # The kernel as partial_fit_users runs it: large batches in the batch's rotation; the
    # last row is the same batch without it (the peer).
    for name, (ip, it, rt), numpy_peer, allow_rotation in (
        ("held-out users, 80 %", (indptr, items, ratings), True, True),
        ("20 ratings each", small, True, True),
        ("every training user, all ratings", everyone, False, True),
        ("every training user, all ratings, no rotation (peer)", everyone, False, False),
    ):
        n_users = len(ip) - 1
        rotated = allow_rotation and rotation_pays(len(it), *model.qi.shape)
        entry = {
            "batch": name,
            "users": n_users,
            "mean_ratings": float(np.diff(ip).mean()),
            "rotation": rotated,
        }
        for threads in (1, 2):
            walls, cpus = [], []
            for k in range(repeat + 1):  # the first run warms up
                t, c = time.perf_counter(), time.process_time()
                rotation = _foldin.batch_rotation(it, model.qi, threads) if rotated else None
                _foldin.foldin_users(
                    ip, it, rt, model.qi, model.bi, mu, True, reg, threads, rotation
                )
                if k:
                    walls.append(time.perf_counter() - t)
                    cpus.append(time.process_time() - c)
            entry[f"kernel_{threads}t_users_per_s"] = n_users / statistics.median(walls)
            # CPU time of all threads per user: what the kernel costs where it gets the cores.
            entry[f"kernel_{threads}t_cpu_us_per_user"] = statistics.median(cpus) / n_users * 1e6
        if numpy_peer:  # the stacked systems of 5,000 users would not fit in memory
            entry["numpy_users_per_s"] = (
                n_users
                / C.median_time(
                    lambda ip=ip, it=it, rt=rt: _numpy_solves(model, ip, it, rt, reg),
                    repeat=repeat,
                )[0]
            )
        rows.append(entry)
    # The public call (reading, grouping, id maps, trainset update included) on two
    # DataFrames: the held-out batch, and every training user under a new raw id with all
    # of its ratings (thousands of new users). Each run folds into a shallow copy of the
    # trained model, so it pays the first fold-in's one-time costs (the model's own user
    # map, the factor arrays' first growth).
    indptr_all = everyone[0]
    relabelled = sc["train_df"].assign(user=lambda d: "new" + d.user.astype(str))

    def api(frame):
        m = copy.copy(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, c = time.perf_counter(), time.process_time()
            m.partial_fit_users(frame)
            return time.perf_counter() - t, time.process_time() - c

    api_rows = []
    for name, frame, n_users in (
        ("held-out users, 80 %", sc["fold"], len(indptr) - 1),
        ("every training user as a new user, all ratings", relabelled, len(indptr_all) - 1),
    ):
        runs = [api(frame) for _ in range(repeat + 1)][1:]  # the first run warms up
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        api_rows.append(
            {
                "batch": name,
                "users": n_users,
                "ratings": len(frame),
                "seconds": wall,
                "users_per_s": n_users / wall,
                "cpu_us_per_user": cpu / n_users * 1e6,
                "cpu_users_per_s_2_threads": 2 * n_users / cpu,
            }
        )
    return {"batches": rows, "api": api_rows}


def latency(sc, calls):
    """partial_fit_users with one new user per call, on the trained model: the user's
    ratings as a list of triples, and as a DataFrame."""
    import pandas as pd

    from turbosvd import SVD

    model = SVD(random_state=0, n_jobs=2).fit(sc["train"])
    users = [g for _, g in sc["fold"].groupby("user", sort=False)]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in ("triples", "DataFrame"):
            times, cpu = [], []
            for k in range(calls):
                g = users[k % len(users)]
                uid = f"{kind}{k}"
                if kind == "triples":
                    arg = [(uid, i, r) for i, r in zip(g.item.tolist(), g.rating.tolist())]
                else:
                    arg = pd.DataFrame(
                        {"user": uid, "item": g.item.to_numpy(), "rating": g.rating.to_numpy()}
                    )
                t, c = time.perf_counter(), time.thread_time()
                model.partial_fit_users(arg)
                cpu.append(time.thread_time() - c)
                times.append(time.perf_counter() - t)
            times = np.array(times) * 1e3
            cpu = np.array(cpu) * 1e3  # one user runs on the calling thread: its CPU time
            out[kind] = {
                "calls": calls,
                "mean_ratings": float(np.mean([len(g) for g in users])),
                "p50_ms": float(np.percentile(times, 50)),
                "p99_ms": float(np.percentile(times, 99)),
                "max_ms": float(times.max()),
                "first_call_ms": float(times[0]),
                "cpu_p50_ms": float(np.percentile(cpu, 50)),
                "cpu_p99_ms": float(np.percentile(cpu, 99)),
                "load_average": os.getloadavg(),
            }
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--calls", type=int, default=600)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sc = _scenario()
    machine_before = C.machine_info()
    q = quality(sc, args.repeat)
    s = speed(sc, args.repeat)
    lat = latency(sc, args.calls)
    payload = {
        "machine": machine_before,
        "load_average_after": os.getloadavg(),
        "quality": q,
        "speed": s,
        "latency": lat,
    }
    C.write_json("bench_foldin", payload)
    lines = [
        "# Fold-in (`partial_fit_users`), synthetic 1M ratings, k=100, 2 threads",
        "",
        f"Machine: {machine_before['cpu']} ({machine_before['simd']}), "
        f"{machine_before['cpus']} CPUs, load average {machine_before['load_average']} before, "
        f"{payload['load_average_after']} after; versions {machine_before['versions']}.",
        "",
        "## Quality: every 10th user folded in from 80 % of its ratings, RMSE on the other 20 %",
        "",
        C.markdown_table(
            ["fold-in", "retrain (peer)", "fold-in - retrain", "cold start (bias only)"],
            [
                [
                    q["rmse_foldin"],
                    q["rmse_retrain"],
                    q["foldin_minus_retrain"],
                    q["rmse_cold_start"],
                ]
            ],
        ),
        "",
        f"{q['n_users_folded']} users, {q['n_ratings_folded']} ratings folded in (median "
        f"{q['median_ratings_per_user']:.0f} per user) in {q['foldin_seconds']:.3f} s; the "
        f"retrain takes {q['retrain_seconds']:.2f} s.",
        "",
        "Regularisation: lam = c / (lr * n_epochs) + reg * n; c = 1 is the derived value.",
        "",
        C.markdown_table(["c", "RMSE"], [[e["c"], e["rmse"]] for e in q["regularisation_scan"]]),
        "",
        "A model trained with AdaGrad rates (`learning_rate_schedule='adagrad'`, `lr_all=0.1`, "
        "early stopping; the penalty from its rate and chosen epochs):",
        "",
        C.markdown_table(
            [
                "fold-in",
                "retrain (peer)",
                "fold-in - retrain",
                "cold start",
                "epochs (model, retrain)",
            ],
            [
                [
                    q["adagrad"]["rmse_foldin"],
                    q["adagrad"]["rmse_retrain"],
                    q["adagrad"]["rmse_foldin"] - q["adagrad"]["rmse_retrain"],
                    q["adagrad"]["rmse_cold_start"],
                    f"{q['adagrad']['best_epoch']}, {q['adagrad']['best_epoch_retrain']}",
                ]
            ],
        ),
        "",
        "## Batch speed (users per second, median of repeats)",
        "",
        C.markdown_table(
            [
                "batch",
                "users",
                "mean ratings",
                "rotation",
                "1 thread (users/s)",
                "2 threads (users/s)",
                "CPU us/user, 1 thread",
                "CPU us/user, 2 threads",
                "NumPy (peer, users/s)",
            ],
            [
                [
                    r["batch"],
                    r["users"],
                    r["mean_ratings"],
                    "yes" if r["rotation"] else "no",
                    r["kernel_1t_users_per_s"],
                    r["kernel_2t_users_per_s"],
                    r["kernel_1t_cpu_us_per_user"],
                    r["kernel_2t_cpu_us_per_user"],
                    r.get("numpy_users_per_s", ""),
                ]
                for r in s["batches"]
            ],
        ),
        "",
        "Users per second are wall time (median of the repeats); CPU us/user is the process's",
        "CPU time over all threads per user, what the batch costs where it gets the cores (on",
        "this shared machine the wall rate is set by the load average above). Rotation: solved",
        "in the batch's rotation with the per-user preconditioner (`foldin.rotation_pays`, its",
        "setup included), as `partial_fit_users` does; the last row is the same batch without.",
        "",
        "## The public call on a batch (`partial_fit_users(DataFrame)`, 2 threads)",
        "",
        "Reading, grouping, id maps and the trainset update included; CPU us/user is the",
        "process's CPU time over all threads, and 2 / that the rate with both cores free.",
        "",
        C.markdown_table(
            [
                "batch",
                "users",
                "ratings",
                "seconds",
                "users/s (wall)",
                "CPU us/user",
                "users/s, 2 free cores (from CPU)",
            ],
            [
                [
                    r["batch"],
                    r["users"],
                    r["ratings"],
                    r["seconds"],
                    r["users_per_s"],
                    r["cpu_us_per_user"],
                    r["cpu_users_per_s_2_threads"],
                ]
                for r in s["api"]
            ],
        ),
        "",
        "## One user per call (the Python call included)",
        "",
        "Wall time, and the CPU time of the calling thread (a single user is solved on it):",
        "on a shared, overloaded machine the wall-time tail is the scheduler's.",
        "",
        C.markdown_table(
            [
                "ratings given as",
                "calls",
                "mean ratings",
                "p50 ms",
                "p99 ms",
                "max ms",
                "first call ms",
                "CPU p50 ms",
                "CPU p99 ms",
                "load average after",
            ],
            [
                [kind]
                + [
                    lat[kind][k]
                    for k in (
                        "calls",
                        "mean_ratings",
                        "p50_ms",
                        "p99_ms",
                        "max_ms",
                        "first_call_ms",
                        "cpu_p50_ms",
                        "cpu_p99_ms",
                    )
                ]
                + [" / ".join(f"{x:.1f}" for x in lat[kind]["load_average"])]
                for kind in lat
            ],
        ),
        "",
    ]
    text = "\n".join(lines)
    (C.RESULTS / "bench_foldin.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
