"""A small benchmark against Surprise that ships with the package (``turbosvd bench``).

It is the core comparison of ``bench/bench_svd.py`` in a form that works from an
installed wheel (the ``bench/`` scripts are not installed): on one train/test split, time
``SVD.fit`` and ``test()`` of scikit-surprise and of every turbosvd training schedule, in
the same process and the same run (machines are noisy: only ratios are meaningful), and
report RMSEs and speed-ups. The full harness (peak memory, data loading, large synthetic
sets, JSON history) stays in ``bench/``.

Needs scikit-surprise (``pip install "turbosvd[bench]"``).
"""

from __future__ import annotations

import inspect
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = [
    "MissingSurpriseError",
    "format_table",
    "run_benchmark",
    "synthetic_ratings",
    "turbosvd_variants",
]

INSTALL_HINT = 'pip install "turbosvd[bench]"'


class MissingSurpriseError(ImportError):
    """The benchmark needs scikit-surprise, which is not installed."""


def _import_surprise():
    try:
        import surprise
    except ImportError:
        raise MissingSurpriseError(
            f"the benchmark compares against scikit-surprise, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None
    return surprise


def synthetic_ratings(
    n_users: int = 943, n_items: int = 1682, n_ratings: int = 100_000, random_state: int = 0
) -> pd.DataFrame:
    """Ratings 1..5 from a noisy low-rank model, each (user, item) pair at most once.

    The default shape is MovieLens 100k's. Ids are ints; columns ``user, item, rating``.
    """
    for name, v in (("n_users", n_users), ("n_items", n_items), ("n_ratings", n_ratings)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r} is not valid: must be an integer >= 1")
    if n_ratings > n_users * n_items:
        raise ValueError(
            f"n_ratings={n_ratings} is more than n_users * n_items = {n_users * n_items}"
        )
    rng = np.random.RandomState(random_state)
    cells = rng.choice(n_users * n_items, size=n_ratings, replace=False)
    u, i = np.divmod(cells, n_items)
    k = 8
    pu = rng.normal(0, 0.5, (n_users, k))
    qi = rng.normal(0, 0.5, (n_items, k))
    bu = rng.normal(0, 0.4, n_users)
    bi = rng.normal(0, 0.6, n_items)
    r = 3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", pu[u], qi[i]) + rng.normal(0, 0.8, n_ratings)
    r = np.clip(np.rint(r), 1, 5)
    return pd.DataFrame({"user": u.astype(np.int64), "item": i.astype(np.int64), "rating": r})


def turbosvd_variants() -> list[tuple[str, dict]]:
    """``(name, SVD kwargs)`` for every training schedule this build of SVD offers."""
    from ..prediction_algorithms import matrix_factorization as mf

    if "schedule" not in inspect.signature(mf.SVD.__init__).parameters:
        return [("turbosvd", {})]
    schedules = getattr(mf, "_SCHEDULES", ("exact",))
    return [(f"turbosvd {s}", {"schedule": s}) for s in schedules]


def _median_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run_benchmark(
    df: pd.DataFrame | None = None,
    *,
    rating_scale: tuple = (1, 5),
    dataset: str = "synthetic",
    n_factors: int = 100,
    n_epochs: int = 20,
    repeat: int = 3,
    test_size: float = 0.2,
    random_state: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Time Surprise and turbosvd on the same split; return the results.

    Parameters
    ----------
    df : pandas.DataFrame, optional
        Ratings with columns user, item, rating (in that order). ``synthetic_ratings()``
        when None.
    rating_scale : tuple
    dataset : str
        Name shown in the results.
    n_factors, n_epochs : int
        SVD size (the same for every library).
    repeat : int
        Each fit and test is timed ``repeat`` times; the median is reported.
    test_size : float
        Share of the ratings in the test split (``train_test_split``).
    random_state : int
        Seed of the split and of every model.
    log : callable, optional
        Receives one-line progress messages.

    Returns
    -------
    dict
        ``dataset``, ``n_train``, ``n_test``, ``n_factors``, ``n_epochs``, ``repeat``,
        ``machine`` and ``rows``: one dict per library/variant with ``library``, ``name``,
        ``params``, ``fit_s``, ``test_s``, ``rmse``, ``fit_speedup``, ``test_speedup``.
    """
    for name, v, lo in (
        ("n_factors", n_factors, 0),
        ("n_epochs", n_epochs, 1),
        ("repeat", repeat, 1),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}={v!r} is not valid: must be an integer >= {lo}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size={test_size!r} is not valid: must be in (0, 1)")
    surprise = _import_surprise()
    import turbosvd

    log = log or (lambda msg: None)
    if df is None:
        df = synthetic_ratings(random_state=random_state)
    df = df.iloc[:, :3]
    libraries = [("surprise", "Surprise", surprise, {})]
    libraries += [("turbosvd", name, turbosvd, params) for name, params in turbosvd_variants()]
    rows, sizes = [], set()
    for library, name, lib, params in libraries:
        data = lib.Dataset.load_from_df(df, lib.Reader(rating_scale=rating_scale))
        trainset, testset = lib.model_selection.train_test_split(
            data, test_size=test_size, random_state=random_state
        )
        sizes.add((trainset.n_ratings, len(testset)))

        def fit(lib=lib, params=params, trainset=trainset):
            algo = lib.SVD(
                n_factors=n_factors, n_epochs=n_epochs, random_state=random_state, **params
            )
            return algo.fit(trainset)

        log(f"{name}: fitting {repeat} time(s) on {trainset.n_ratings:,} ratings")
        fit_s, algo = _median_time(fit, repeat)
        log(f"{name}: testing on {len(testset):,} ratings")
        test_s, predictions = _median_time(lambda algo=algo, t=testset: algo.test(t), repeat)
        rmse = float(lib.accuracy.rmse(predictions, verbose=False))
        rows.append(
            {
                "library": library,
                "name": name,
                "params": params,
                "fit_s": fit_s,
                "test_s": test_s,
                "rmse": rmse,
            }
        )
    if len(sizes) != 1:  # pragma: no cover - the libraries' splits are tested to agree
        raise RuntimeError(f"the libraries split the data differently: {sizes}")
    ref = rows[0]
    for r in rows:
        r["fit_speedup"] = ref["fit_s"] / r["fit_s"]
        r["test_speedup"] = ref["test_s"] / r["test_s"]
    n_train, n_test = sizes.pop()
    return {
        "dataset": dataset,
        "n_train": n_train,
        "n_test": n_test,
        "n_factors": n_factors,
        "n_epochs": n_epochs,
        "repeat": repeat,
        "machine": _machine(),
        "rows": rows,
    }


def _machine() -> dict:
    from importlib import metadata

    from .. import _sgd
    from .._version import __version__

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count()
    return {
        "cpu": cpu,
        "cpus": cpus,
        "python": platform.python_version(),
        "turbosvd": __version__,
        "scikit-surprise": version("scikit-surprise"),
        "numpy": np.__version__,
        "openmp": _sgd.build_info()["openmp"],
    }


def format_table(result: dict) -> str:
    """The results as a markdown table, with a one-line heading."""
    m = result["machine"]
    lines = [
        f"SVD k={result['n_factors']}, {result['n_epochs']} epochs on {result['dataset']} "
        f"({result['n_train']:,} train / {result['n_test']:,} test ratings), median of "
        f"{result['repeat']}; {m['cpu']}, {m['cpus']} CPUs",
        "",
        "| library | fit s | fit speed-up | test s | test speed-up | RMSE |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['name']} | {r['fit_s']:.3f} | {r['fit_speedup']:.1f}x | {r['test_s']:.3f} | "
            f"{r['test_speedup']:.1f}x | {r['rmse']:.4f} |"
        )
    return "\n".join(lines)
