"""Shared helpers for the benchmarks: timing, peak memory, machine facts, tables.

Benchmarks always run the peer (Surprise, LIBMF, ...) in the same run and report ratios,
because the machines are shared and noisy: absolute times drift, ratios much less.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def data_folder() -> Path | None:
    """The folder holding ``ml-100k/ml-100k/u.data``, or None."""
    for var in ("TURBOSVD_DATA_FOLDER", "SURPRISE_DATA_FOLDER"):
        value = os.environ.get(var)
        if value and (Path(value) / "ml-100k" / "ml-100k" / "u.data").is_file():
            return Path(value)
    guess = Path(__file__).resolve().parents[2] / "shared" / "data"
    if (guess / "ml-100k" / "ml-100k" / "u.data").is_file():
        os.environ.setdefault("SURPRISE_DATA_FOLDER", str(guess))
        return guess
    return None


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 0) -> tuple[float, list]:
    """Median wall time of ``fn()`` over ``repeat`` runs (and all the times)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process to the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def rss() -> int:
    """Current resident set size in bytes."""
    return _vm("VmRSS")


def peak_rss() -> int:
    """Peak resident set size since the last ``reset_peak_rss`` (bytes)."""
    return _vm("VmHWM")


def measure_peak(fn: Callable[[], object]) -> tuple[object, int, int]:
    """Run ``fn``; return (result, peak RSS during it, RSS before it), in bytes."""
    import gc

    gc.collect()
    before = rss()
    reset_peak_rss()
    out = fn()
    return out, peak_rss(), before


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return ",".join(x for x in ("avx512f", "avx2", "fma") if x in flags)
    except OSError:
        pass
    return ""


def versions(*packages: str) -> dict:
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def machine_info() -> dict:
    info = {
        "cpu": cpu_model(),
        "simd": cpu_flags(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
        "versions": versions("turbosvd", "scikit-surprise", "numpy", "pandas"),
    }
    try:
        from turbosvd import _sgd

        info["turbosvd_build"] = _sgd.build_info()
    except ImportError:
        pass
    return info


# Variables read by BLAS and OpenMP runtimes when they load. OPENBLAS_CORETYPE forces a kernel
# family (a wrong one can cost 4x in sgemm) and OPENBLAS_L2_SIZE changes the blocking; a peer's
# subprocess starts without any of these, and gets its thread counts set explicitly.
_RUNTIME_ENV_PREFIXES = ("OPENBLAS_", "GOTOBLAS", "GOTO_", "OMP_", "GOMP_", "KMP_", "MKL_", "BLIS_")


def runtime_env() -> dict:
    """The BLAS / OpenMP variables set in this process (what a peer would inherit)."""
    return {k: v for k, v in os.environ.items() if k.startswith(_RUNTIME_ENV_PREFIXES)}


def peer_env(threads: int, blas_threads: int) -> dict:
    """A clean environment for a peer: this one without BLAS/OpenMP variables, plus explicit
    thread counts (OpenMP ``threads``, BLAS ``blas_threads``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_RUNTIME_ENV_PREFIXES)}
    env.update(
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(blas_threads),
        MKL_NUM_THREADS=str(blas_threads),
    )
    return env


def blas_report() -> list[dict]:
    """What threadpoolctl sees in this process: library, version, kernel family, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    keys = ("internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{k: d.get(k) for k in keys} for d in threadpool_info()]


def load_str(avg) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def fmt(x):
        if isinstance(x, float):
            return f"{x:.4g}"
        return str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def run_isolated(module: str, func: str, *args, env: dict | None = None, timeout: float = 3600):
    """Run ``module.func(*args)`` in a fresh interpreter; returns its JSON-decoded result.

    Each measurement gets its own process so peak-memory numbers do not include
    what an earlier measurement left behind.
    """
    here = str(Path(__file__).resolve().parent)
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import {module}; "
        f"print('@@RESULT@@' + json.dumps({module}.{func}(*json.loads(sys.argv[1])), default=str))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(args))],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module}.{func}{args} failed:\n{proc.stderr[-4000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@") :])
    raise RuntimeError(f"no result from {module}.{func}: {proc.stdout[-2000:]}")
