"""Fold-level parallelism for cross-validation and searches, on threads.

The compiled kernels release the GIL, so threads give real parallelism without pickling
the data to worker processes. Each task runs with an OpenMP thread budget of
``cpus // workers`` so the two levels never oversubscribe the machine. Like joblib with
``n_jobs != 1``, every task gets its own copy of the algorithm.
"""

from __future__ import annotations

import copy
import numbers
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ._threads import cpu_count, thread_budget

__all__ = ["n_workers", "run_tasks"]


def n_workers(n_jobs) -> int:
    """joblib's ``n_jobs`` semantics: None is 1, -1 is all CPUs, 0 is an error."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"n_jobs must be an int or None, got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not valid: use None, a positive count, or -1 for all CPUs")
    if n_jobs < 0:
        return max(1, cpu_count() + 1 + int(n_jobs))
    return int(n_jobs)


def _n_pending(pre_dispatch, workers: int) -> int:
    if isinstance(pre_dispatch, str):
        if pre_dispatch == "all":
            return 1 << 62
        expr = pre_dispatch.replace(" ", "")
        try:
            return max(1, int(eval(expr, {"__builtins__": {}}, {"n_jobs": workers})))
        except Exception:
            raise ValueError(
                f"pre_dispatch={pre_dispatch!r} is not valid: use an int, 'all' or an "
                "expression of n_jobs such as '2*n_jobs'"
            ) from None
    return max(1, int(pre_dispatch))


def run_tasks(fn, tasks, n_jobs=1, pre_dispatch="2*n_jobs"):
    """``[fn(*args) for args in tasks]``, possibly in parallel; order is preserved.

    ``tasks`` is consumed lazily: at most ``pre_dispatch`` tasks exist at once.
    With one worker every task runs here, in order, on the caller's objects.
    """
    workers = n_workers(n_jobs)
    if workers == 1:
        return [fn(*args) for args in tasks]
    budget = max(1, cpu_count() // workers)

    def call(args):
        args = copy.deepcopy(args[0]), *args[1:]
        with thread_budget(budget):
            return fn(*args)

    results = []
    pending = deque()
    limit = _n_pending(pre_dispatch, workers)
    it = iter(tasks)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for args in it:
            pending.append(pool.submit(call, args))
            while len(pending) >= limit:
                results.append(pending.popleft().result())
        while pending:
            results.append(pending.popleft().result())
    return results
