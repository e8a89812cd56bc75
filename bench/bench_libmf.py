"""turbosvd against LIBMF, the C++ reference for parallel SGD factorization, in the same run.

LIBMF is not part of this repository (nor a dependency): build it from its public source
outside the project and pass the folder that holds ``libmf.so.2``::

    git clone https://github.com/cjlin1/libmf /work/peers/libmf
    make -C /work/peers/libmf mf.o DFLAG="-DUSEAVX -DUSEOMP" \\
        CXXFLAGS="-O3 -pthread -std=c++0x -march=native -mavx -fopenmp -fPIC"
    g++ -shared -fopenmp -pthread -o /work/peers/libmf/libmf.so.2 /work/peers/libmf/mf.o
    python bench/bench_libmf.py --libmf /work/peers/libmf   # or LIBMF_DIR=/work/peers/libmf

That is LIBMF at its fastest (AVX kernel, native code); turbosvd is the portable build.

Both libraries train on the same 80/20 split of ``bench_fast``'s synthetic ratings (1M:
6,040 x 3,706, 10M: 70,000 x 10,000), in this process, from arrays already in memory:
LIBMF through its C API (``mf_train`` via ctypes, so neither side parses a text file),
turbosvd through ``SVD.fit`` on a prebuilt ``Trainset``. k=100, 20 epochs, on each of
``--threads`` (2 and 1 by default), both libraries with the same thread count. Each
library keeps its own defaults for what the other does not have: LIBMF learns no biases
and adapts its step sizes per row (AdaGrad, eta=0.1, l2=0.1, its defaults); turbosvd is
Surprise's biased SVD (lr 0.005, reg 0.02). The test RMSE of each is reported next to its
time, so the speed is read at the accuracy each reaches.

Times are medians of ``--repeat`` runs, the two libraries alternating. Prints a markdown
table and writes ``bench/results/bench_libmf.json`` (every time, the load average around
every run, LIBMF's commit) and ``bench/results/bench_libmf.md``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, load_str, machine_info, markdown_table, write_json  # noqa: E402
from bench_fast import EPOCHS, SIZES, K, _frames  # noqa: E402


class _Node(ctypes.Structure):
    _fields_ = [("u", ctypes.c_int), ("v", ctypes.c_int), ("r", ctypes.c_float)]


class _Problem(ctypes.Structure):
    _fields_ = [
        ("m", ctypes.c_int),
        ("n", ctypes.c_int),
        ("nnz", ctypes.c_longlong),
        ("R", ctypes.POINTER(_Node)),
    ]


class _Parameter(ctypes.Structure):
    _fields_ = [
        ("fun", ctypes.c_int),
        ("k", ctypes.c_int),
        ("nr_threads", ctypes.c_int),
        ("nr_bins", ctypes.c_int),
        ("nr_iters", ctypes.c_int),
        ("lambda_p1", ctypes.c_float),
        ("lambda_p2", ctypes.c_float),
        ("lambda_q1", ctypes.c_float),
        ("lambda_q2", ctypes.c_float),
        ("eta", ctypes.c_float),
        ("alpha", ctypes.c_float),
        ("c", ctypes.c_float),
        ("do_nmf", ctypes.c_bool),
        ("quiet", ctypes.c_bool),
        ("copy_data", ctypes.c_bool),
    ]


class _Model(ctypes.Structure):
    _fields_ = [
        ("fun", ctypes.c_int),
        ("m", ctypes.c_int),
        ("n", ctypes.c_int),
        ("k", ctypes.c_int),
        ("b", ctypes.c_float),
        ("P", ctypes.POINTER(ctypes.c_float)),
        ("Q", ctypes.POINTER(ctypes.c_float)),
    ]


_NODE = np.dtype([("u", np.int32), ("v", np.int32), ("r", np.float32)])


class LibMF:
    """The few LIBMF C entry points this benchmark needs."""

    def __init__(self, folder: Path):
        candidates = sorted(folder.glob("libmf.so*"))
        if not candidates:
            raise SystemExit(f"no libmf.so* in {folder}: build it as --help says")
        self.lib = ctypes.CDLL(str(candidates[0]))
        self.lib.mf_get_default_param.restype = _Parameter
        self.lib.mf_train.restype = ctypes.POINTER(_Model)
        self.lib.mf_train.argtypes = [ctypes.POINTER(_Problem), _Parameter]
        self.lib.calc_rmse.restype = ctypes.c_double
        self.lib.calc_rmse.argtypes = [ctypes.POINTER(_Problem), ctypes.POINTER(_Model)]
        self.lib.mf_destroy_model.argtypes = [ctypes.POINTER(ctypes.POINTER(_Model))]
        self.path = candidates[0]

    @staticmethod
    def problem(users, items, ratings, m: int, n: int):
        """An ``mf_problem`` over a structured array that the caller keeps alive."""
        nodes = np.empty(len(users), dtype=_NODE)
        nodes["u"], nodes["v"], nodes["r"] = users, items, ratings
        prob = _Problem(m, n, len(nodes), nodes.ctypes.data_as(ctypes.POINTER(_Node)))
        return prob, nodes

    def train(self, prob, n_jobs: int):
        param = self.lib.mf_get_default_param()
        param.k, param.nr_iters, param.nr_threads = K, EPOCHS, n_jobs
        param.quiet, param.copy_data = True, True
        return self.lib.mf_train(ctypes.byref(prob), param)

    def rmse(self, prob, model) -> float:
        return float(self.lib.calc_rmse(ctypes.byref(prob), model))

    def destroy(self, model) -> None:
        self.lib.mf_destroy_model(ctypes.byref(model))


def compare(libmf: LibMF, size: str, repeat: int, n_jobs: int) -> dict:
    import turbosvd

    n_users, n_items, n = SIZES[size]
    _, train, test = _frames(n_users, n_items, n)
    # LIBMF wants 0-based contiguous indices: the synthetic ids already are.
    tr = libmf.problem(train["user"], train["item"], train["rating"], n_users, n_items)
    te = libmf.problem(test["user"], test["item"], test["rating"], n_users, n_items)
    trainset = turbosvd.Dataset.load_from_df(
        train, turbosvd.Reader(rating_scale=(1, 5))
    ).build_full_trainset()
    testset = list(zip(test["user"].tolist(), test["item"].tolist(), test["rating"].tolist()))

    times = {"libmf": [], "turbosvd": []}
    rmse = {}
    loads = []
    for _ in range(repeat):
        loads.append(os.getloadavg())
        t = time.perf_counter()
        model = libmf.train(tr[0], n_jobs)
        times["libmf"].append(time.perf_counter() - t)
        rmse["libmf"] = libmf.rmse(te[0], model)
        libmf.destroy(model)

        t = time.perf_counter()
        algo = turbosvd.SVD(n_factors=K, n_epochs=EPOCHS, random_state=0, n_jobs=n_jobs)
        algo.fit(trainset)
        times["turbosvd"].append(time.perf_counter() - t)
        rmse["turbosvd"] = turbosvd.accuracy.rmse(algo.test(testset), verbose=False)
    loads.append(os.getloadavg())
    med = {name: float(np.median(ts)) for name, ts in times.items()}
    return {
        "size": size,
        "threads": n_jobs,
        "load_average_per_round": loads,
        "n_train": len(train),
        "libmf_fit_s": med["libmf"],
        "turbosvd_fit_s": med["turbosvd"],
        "speedup": med["libmf"] / med["turbosvd"],
        "libmf_rmse": rmse["libmf"],
        "turbosvd_rmse": rmse["turbosvd"],
        "times": times,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--libmf", type=Path, default=os.environ.get("LIBMF_DIR"))
    p.add_argument("--sizes", default="1M,10M")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    args = p.parse_args(argv)
    if args.libmf is None:
        p.error("LIBMF's folder is needed: --libmf DIR or LIBMF_DIR (see --help to build it)")
    libmf = LibMF(args.libmf)
    info = machine_info()
    rows = [
        compare(libmf, s, args.repeat, nt) for s in args.sizes.split(",") for nt in args.threads
    ]
    info["load_average_end"] = os.getloadavg()
    table = markdown_table(
        [
            "data",
            "threads",
            "LIBMF fit (s)",
            "turbosvd fit (s)",
            "LIBMF / turbosvd",
            "LIBMF RMSE",
            "turbosvd RMSE",
        ],
        [
            [
                f"{r['size']} ({r['n_train']:,} train)",
                r["threads"],
                f"{r['libmf_fit_s']:.2f}",
                f"{r['turbosvd_fit_s']:.2f}",
                f"{r['speedup']:.2f}x",
                f"{r['libmf_rmse']:.4f}",
                f"{r['turbosvd_rmse']:.4f}",
            ]
            for r in rows
        ],
    )
    print(f"k={K}, {EPOCHS} epochs, medians of {args.repeat}\n")
    print(table)
    info["libmf"] = str(libmf.path)
    info["libmf_commit"] = _git_head(args.libmf)
    path = write_json(
        "bench_libmf",
        {"machine": info, "args": vars(args) | {"libmf": str(args.libmf)}, "rows": rows},
    )
    runs = "; ".join(
        f"{r['size']} {r['threads']}t: LIBMF "
        + ", ".join(f"{x:.3g}" for x in r["times"]["libmf"])
        + " / turbosvd "
        + ", ".join(f"{x:.3g}" for x in r["times"]["turbosvd"])
        for r in rows
    )
    md = [
        "# bench_libmf",
        "",
        f"`python bench/bench_libmf.py {' '.join(sys.argv[1:] if argv is None else argv)}`. "
        f"k={K}, {EPOCHS} epochs, the two libraries alternating, medians of {args.repeat} runs; "
        "LIBMF (commit "
        f"{info['libmf_commit']}, AVX + OpenMP build, -march=native) through its C API, "
        "turbosvd blocked float32 (portable build). Each keeps its own defaults (LIBMF: "
        "no biases, AdaGrad; turbosvd: Surprise's biased SVD), so read the time with the RMSE.",
        "",
        table,
        "",
        f"Every run (seconds): {runs}.",
        "",
        f"Machine: {info['cpu']}, {info['cpus']} CPUs ({info['simd']}), load average "
        f"{load_str(info['load_average'])} at the start, {load_str(info['load_average_end'])} "
        f"at the end (shared machine; per-round load in the JSON file); versions "
        f"{info['versions']}; build {info.get('turbosvd_build')}.",
        "",
    ]
    (RESULTS / "bench_libmf.md").write_text("\n".join(md))
    print(f"\nwrote {path}")
    return 0


def _git_head(folder: Path) -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
