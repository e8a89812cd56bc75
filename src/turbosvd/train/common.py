"""Pieces shared by the epoch loops of SVD++ and NMF.

- ``draw``: Surprise's initial factors from a legacy ``RandomState``, stored as the model's
  dtype without an n-sized float64 temporary (row chunks of one stream are the same draws).
- ``DivergenceCheck``: the divergence check run after every epoch (``ModelFitError`` naming
  the epoch and what to change; a warning on the exact schedules, as Surprise trains on).
- ``user_chunks`` / ``ratings_per_call``: how long one compiled call may run, so Ctrl-C
  (handled by Python between calls) is prompt.
- ``training_threads``: threads worth using for a data size (results never depend on it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..exceptions import ModelFitError, ModelFitWarning
from ..trainset import Trainset

__all__ = [
    "DivergenceCheck",
    "EpochHook",
    "check_factor_arrays",
    "check_trainset",
    "draw",
    "never",
    "ratings_per_call",
    "training_threads",
    "user_chunks",
]

# Rows of factors drawn per numpy call (bounds the float64 temporary).
_DRAW_CHUNK = 1 << 20
# About 0.1 s of kernel work per compiled call (multiply-adds).
_WORK_PER_CALL = 1 << 27
# Below this many ratings per thread, synchronisation costs more than a thread saves.
RATINGS_PER_THREAD = 100_000


# Called by an epoch loop after every epoch with (epoch, bu, bi, pu, qi); a true answer
# stops the loop (early stopping, turbosvd.train.early_stopping).
EpochHook = Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], bool]


def never(*_args, **_kwargs) -> bool:
    """The default epoch hook (and ``wants_model``): never stop, never read the model."""
    return False


def draw(rng, method: str, a: float, b: float, n_rows: int, n_cols: int, dtype) -> np.ndarray:
    """``getattr(rng, method)(a, b, size=(n_rows, n_cols))`` stored as ``dtype``.

    ``method`` is ``'normal'`` (mean, std) or ``'uniform'`` (low, high). Consecutive calls
    continue one stream (the legacy generator keeps its spare Gaussian in its state), so
    drawing row chunks gives exactly the numbers of one big draw.
    """
    out = np.empty((n_rows, n_cols), dtype=dtype)
    fn = getattr(rng, method)
    step = max(1, _DRAW_CHUNK // max(n_cols, 1))
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        out[start:stop] = fn(a, b, size=(stop - start, n_cols))
    return out


class DivergenceCheck:
    """The divergence check run after every epoch.

    Parameters
    ----------
    hint : str
        What to change, appended to the message.
    strict : bool
        True: ``ModelFitError`` naming the first epoch whose model holds NaN or infinity.
        False (the exact schedules, which reproduce Surprise: Surprise trains on silently
        and keeps a NaN model): one ``ModelFitWarning`` naming that epoch, then the epochs
        go on as Surprise's do.
    """

    def __init__(self, hint: str, *, strict: bool):
        self.hint = hint
        self.strict = strict
        self.warned = False

    def __call__(self, epoch: int, *arrays) -> None:
        """Check the arrays after the epoch of 0-based index ``epoch`` (named 1-based)."""
        if self.warned:
            return
        for a in arrays:
            if np.isfinite(a).all():
                continue
            message = (
                f"training diverged at epoch {epoch + 1} (the first is 1): NaN or infinite "
                "values in the model; "
                f"{self.hint}"
            )
            if self.strict:
                raise ModelFitError(message)
            warnings.warn(message, ModelFitWarning, stacklevel=4)
            self.warned = True
            return


def user_chunks(cost: np.ndarray, budget: int = _WORK_PER_CALL) -> list[tuple[int, int]]:
    """Consecutive user ranges ``[(begin, end), ...]`` each costing about ``budget``.

    ``cost[u]`` is user ``u``'s work; a user costing more than the budget is a range alone.
    """
    n = len(cost)
    if n == 0:
        return []
    total = np.cumsum(cost, dtype=np.float64)
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        base = total[start - 1] if start else 0.0
        end = int(np.searchsorted(total, base + budget, side="right"))
        bounds.append(min(n, max(end, start + 1)))
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def ratings_per_call(n_factors: int) -> int:
    """Ratings one compiled call may visit (per thread) at O(n_factors) work each."""
    return max(1 << 14, _WORK_PER_CALL // max(n_factors, 1) // 2)


def training_threads(n_threads: int, n_ratings: int) -> int:
    """``n_threads`` capped so that each thread gets ``RATINGS_PER_THREAD`` ratings."""
    return max(1, min(n_threads, n_ratings // RATINGS_PER_THREAD))


def check_trainset(trainset) -> None:
    """``TypeError`` unless ``trainset`` is a non-empty ``Trainset`` (``ValueError`` if empty)."""
    if not isinstance(trainset, Trainset):
        raise TypeError(
            "fit() needs a Trainset (from Dataset.build_full_trainset(), "
            f"train_test_split or a CV iterator), got {type(trainset).__name__}"
        )
    if trainset.n_ratings == 0:
        raise ValueError("the trainset is empty: it has no ratings")


_USER_SIDE = ("pu", "bu")
_VECTORS = ("bu", "bi")


def check_factor_arrays(trainset, arrays: dict) -> None:
    """Shapes, dtypes and finiteness of a fitted factor model's arrays against a trainset.

    ``arrays`` maps names to arrays: ``pu`` (n_users x k), ``bu`` (n_users), ``bi``
    (n_items) and any other item matrix (``qi``, ``yj``: n_items x k). All must share a
    float32 or float64 dtype and be finite. ``ValueError`` naming the array otherwise (model
    files are untrusted input).
    """
    dtypes = [a.dtype for a in arrays.values()]
    if dtypes[0] not in (np.float32, np.float64) or set(dtypes) != {dtypes[0]}:
        raise ValueError(
            f"{', '.join(arrays)} must share a float32 or float64 dtype, got "
            f"{[str(d) for d in dtypes]}"
        )
    matrices = {n: a for n, a in arrays.items() if n not in _VECTORS}
    if (
        any(a.ndim != 2 for a in matrices.values())
        or len({a.shape[1] for a in matrices.values()}) > 1
    ):
        shapes = ", ".join(f"{n} {a.shape}" for n, a in matrices.items())
        raise ValueError(f"{shapes} must be matrices with the same number of columns")
    for name, a in arrays.items():
        user_side = name in _USER_SIDE
        rows = trainset.n_users if user_side else trainset.n_items
        if a.shape[0:1] != (rows,) or (name in _VECTORS and a.ndim != 1):
            what = f"n_users={rows}" if user_side else f"n_items={rows}"
            raise ValueError(f"{name} {a.shape} does not match {what}")
    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or infinite values")
