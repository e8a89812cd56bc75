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

__all__ = ["cpu_count", "effective_n_threads", "openmp_enabled", "thread_budget"]

_budget: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "turbosvd_budget", default=None
)


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


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
        n = min(_sgd.build_info()["openmp_max_threads"], cpu_count())
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
