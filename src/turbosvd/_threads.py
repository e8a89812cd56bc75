"""The package's one thread-count policy.

``None`` means OpenMP's default (``omp_get_max_threads()``, which honours
``OMP_NUM_THREADS``), capped by the CPUs this process may use; a positive count is used as
is; a negative count backs off from the number of CPUs (-1 = all, -2 = all but one);
0 is an error. Fold-level parallelism (``cross_validate(n_jobs=...)``) divides the CPUs
between workers through ``thread_budget`` so the two levels do not oversubscribe.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
import os

from . import _sgd

__all__ = [
    "cpu_count",
    "effective_n_threads",
    "openmp_enabled",
    "refresh_cpu_count",
    "thread_budget",
]

_budget: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "turbosvd_budget", default=None
)


# The CPU affinity, read once per process: asking the OS costs more than a whole single
# predict() (a system call and a set per call). A forked child reads it again; a process that
# changes its own affinity later calls ``refresh_cpu_count()``. OpenMP's default is read at
# each call (cheap; threadpoolctl may change it).
_cpus: int | None = None


def refresh_cpu_count() -> None:
    """Forget the cached CPU affinity (read again on next use)."""
    global _cpus
    _cpus = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=refresh_cpu_count)


def cpu_count() -> int:
    """CPUs this process may run on (the affinity, read once; see ``refresh_cpu_count``)."""
    global _cpus
    if _cpus is None:
        try:
            _cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            _cpus = os.cpu_count() or 1
    return _cpus


def openmp_enabled() -> bool:
    """Whether the compiled core was built with OpenMP."""
    return _sgd.build_info()["openmp"]


def effective_n_threads(n_threads=None, name: str = "n_jobs") -> int:
    """Resolve a user thread count to a positive number of threads.

    Parameters
    ----------
    n_threads : int or None
        See the module docstring.
    name : str
        Parameter name used in error messages.
    """
    if n_threads is None:
        n = min(_sgd.omp_max_threads(), cpu_count())
    elif isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"{name} must be an int or None, got {n_threads!r}")
    elif n_threads == 0:
        raise ValueError(f"{name}=0 is not valid: use None, a positive count, or -1 for all CPUs")
    elif n_threads < 0:
        n = max(1, cpu_count() + 1 + int(n_threads))
    else:
        n = int(n_threads)
        limit = max(256, 16 * cpu_count())
        if n > limit:
            raise ValueError(
                f"{name}={n_threads} is absurd for {cpu_count()} CPUs (the limit is {limit}); "
                "use None for OpenMP's default"
            )
    budget = _budget.get()
    if budget is not None:
        n = min(n, budget)
    return max(1, n)


@contextlib.contextmanager
def thread_budget(n: int):
    """Cap the threads of every kernel started in this context (and this thread)."""
    token = _budget.set(max(1, int(n)))
    try:
        yield
    finally:
        _budget.reset(token)
