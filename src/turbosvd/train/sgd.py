"""The SGD epoch loops of ``SVD``: the exact schedule and the blocked schedule.

Each loop draws the initial factors (Surprise's draws, in Surprise's order), then runs the
epochs in Python; every epoch body is one or a few compiled calls with the GIL released, so
``verbose`` output, the divergence check (``ModelFitError`` naming the epoch; on the exact
schedule a ``ModelFitWarning``, as Surprise trains on), the training monitor and Ctrl-C all
happen between calls.

- ``train_exact``: Surprise's order, float64, one thread (``csrc/turbosvd/sgd.hpp``).
- ``train_blocked``: a grid of user bins x item bins in conflict-free parallel waves
  (``csrc/turbosvd/sgd_blocked.hpp``, layout in ``turbosvd.train.blocked``); the result does
  not depend on the number of threads. Constant rates (Surprise's) or, with
  ``SGDParams.adagrad``, LIBMF's per-vector AdaGrad rates.

The loops know nothing of the model class: they take the hyper-parameters as a
``SGDParams`` and report each epoch through ``epoch_done(epoch, bu, bi, pu, qi)``, which
returns True to stop (early stopping, ``turbosvd.train.early_stopping``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import _sgd
from . import blocked as _blocked
from .common import DivergenceCheck, EpochHook, draw

__all__ = ["SGDParams", "draw_normal", "train_blocked", "train_exact"]

# Small data runs on fewer threads: below ~200k ratings per thread the synchronisation
# costs more than it saves (measured on ML-100k: 0.17 s with 2 threads against 0.06 s with
# 1 on a busy 2-core box). The result does not depend on the thread count, only the time.
RATINGS_PER_THREAD = 200_000


@dataclass(frozen=True)
class SGDParams:
    """Hyper-parameters of one SGD run (validated by the model before the loop starts)."""

    n_factors: int
    n_epochs: int
    init_mean: float
    init_std_dev: float
    rates: tuple  # lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi
    biased: bool
    verbose: bool
    # LIBMF's per-vector AdaGrad rates instead of constant ones (blocked schedule only).
    adagrad: bool = False


def train_exact(trainset, p: SGDParams, rng, epoch_done: EpochHook):
    """Surprise's schedule in float64; returns ``(bu, bi, pu, qi)``."""
    shape_u = (trainset.n_users, p.n_factors)
    shape_i = (trainset.n_items, p.n_factors)
    pu = rng.normal(p.init_mean, p.init_std_dev, size=shape_u)
    qi = rng.normal(p.init_mean, p.init_std_dev, size=shape_i)
    bu = np.zeros(trainset.n_users, dtype=np.double)
    bi = np.zeros(trainset.n_items, dtype=np.double)
    users, items, ratings = trainset.ratings_by_user()
    global_mean = trainset.global_mean
    # Long epochs run as several calls (contiguous slices of the same order, so the result
    # is identical); Python handles Ctrl-C between them.
    step = chunk_ratings(p.n_factors)
    # Surprise trains on when the model diverges (its own test_SVD.py relies on it): the
    # exact schedule keeps the NaN model too, with a ModelFitWarning naming the epoch.
    check = DivergenceCheck(DIVERGED_HINT, strict=False)
    for epoch in range(p.n_epochs):
        if p.verbose:
            print(f"Processing epoch {epoch}")
        for s in range(0, len(ratings), step):
            _sgd.sgd_epoch_exact_f64(
                users[s : s + step],
                items[s : s + step],
                ratings[s : s + step],
                pu,
                qi,
                bu,
                bi,
                global_mean,
                p.biased,
                p.rates,
                simd_dot=True,
            )
        check(epoch, bu, bi, pu, qi)
        if epoch_done(epoch, bu, bi, pu, qi):
            break
    return bu, bi, pu, qi


def train_blocked(
    trainset,
    p: SGDParams,
    rng,
    dtype,
    n_threads: int,
    epoch_done: EpochHook,
    wants_model: Callable[[], bool] = lambda: True,
):
    """The blocked schedule: same draws, a blocked layout, one parallel call per epoch.

    ``n_threads`` is the model's thread count (already validated); small data runs on fewer.
    ``wants_model()`` says whether ``epoch_done`` reads the factors (they are then passed in
    inner-id order, which costs a gather per epoch); otherwise it gets the working arrays.
    Returns ``(bu, bi, pu, qi)``.
    """
    n_threads = min(n_threads, max(1, trainset.n_ratings // RATINGS_PER_THREAD))
    k = p.n_factors
    pu = draw_normal(rng, p.init_mean, p.init_std_dev, trainset.n_users, k, dtype)
    qi = draw_normal(rng, p.init_mean, p.init_std_dev, trainset.n_items, k, dtype)
    bu = np.zeros(trainset.n_users, dtype=dtype)
    bi = np.zeros(trainset.n_items, dtype=dtype)
    global_mean = float(trainset.global_mean)
    layout = _blocked.build_layout(trainset, dtype, k, items_by_bin=True)
    # The kernel works on the item rows stored bin by bin (see build_layout); `position`
    # maps an inner item id to its working row.
    position = np.empty_like(layout.item_order)
    position[layout.item_order] = np.arange(len(position), dtype=position.dtype)
    qi = qi[layout.item_order]
    # Long epochs run a few waves per call (same result as one call); Python handles
    # Ctrl-C between calls.
    n_bins = layout.n_bins
    per_call = max(1, chunk_ratings(k) * n_threads * n_bins // max(1, trainset.n_ratings))
    check = DivergenceCheck(DIVERGED_HINT, strict=True)
    # AdaGrad's accumulators (one per row of pu, qi, bu, bi; qi's in its working order),
    # starting at 1 as LIBMF's: the first step of every vector is the rate itself.
    adagrad = tuple(np.ones(len(a), dtype=dtype) for a in (pu, qi, bu, bi)) if p.adagrad else None
    for epoch in range(p.n_epochs):
        if p.verbose:
            print(f"Processing epoch {epoch}")
        for first in range(0, n_bins, per_call):
            last = min(n_bins, first + per_call)
            layout.epoch(
                pu, qi, bu, bi, global_mean, p.biased, p.rates, n_threads, first, last, adagrad
            )
        check(epoch, bu, bi, pu, qi)
        if wants_model():
            stop = epoch_done(epoch, bu, bi[position], pu, qi[position])
        else:
            stop = epoch_done(epoch, bu, bi, pu, qi)
        if stop:
            break
    return bu, bi[position], pu, qi[position]


def draw_normal(rng, mean, std, n_rows: int, n_cols: int, dtype) -> np.ndarray:
    """``rng.normal(mean, std, size=(n_rows, n_cols)).astype(dtype)`` without the float64 copy."""
    return draw(rng, "normal", mean, std, n_rows, n_cols, dtype)


def chunk_ratings(n_factors: int) -> int:
    """Ratings per compiled call and thread: about 0.1 s of work, so Ctrl-C is prompt."""
    return max(1 << 14, (1 << 26) // max(n_factors, 1))


DIVERGED_HINT = "lower the learning rates (lr_all) or raise the regularisation (reg_all)"
