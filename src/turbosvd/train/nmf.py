"""Epoch loops of NMF (``csrc/turbosvd/nmf.hpp``): Surprise's exact epoch and the parallel one.

Both work on the model arrays drawn by the caller, print Surprise's verbose line before
each epoch, check for divergence after each one (``ModelFitError`` naming the epoch; on the
exact schedule a ``ModelFitWarning`` and the epochs go on, as Surprise's do) and
keep every compiled call short so Ctrl-C is handled promptly between calls; the caller
assigns the arrays to the model only when the loop returns.

- ``fit_exact``: Surprise's epoch operation for operation, float64, one thread.
- ``fit_parallel``: the same multiplicative updates with every sum gathered per row
  (users, then items) in parallel, SIMD over the factors (rows padded to whole vectors),
  in the model's dtype, one compiled call per epoch. Results do not depend on the number
  of threads.

Both report every epoch to ``epoch_done(epoch, bu, bi, pu, qi)`` (the training monitor and
early stopping, ``turbosvd.train.early_stopping``); a true answer stops the loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import _mf
from .common import DivergenceCheck, EpochHook, never, user_chunks

__all__ = ["DIVERGED_HINT", "fit_exact", "fit_parallel", "verbose_line"]

DIVERGED_HINT = (
    "check the ratings (a user or item whose ratings sum to zero can zero a denominator) "
    "or raise reg_pu / reg_qi"
)


def verbose_line(epoch: int) -> str:
    """Surprise's NMF verbose line."""
    return f"Processing epoch {epoch}"


def fit_exact(
    trainset,
    pu,
    qi,
    bu,
    bi,
    biased: bool,
    rates,
    n_epochs: int,
    verbose: bool,
    epoch_done: EpochHook = never,
    wants_model: Callable[[], bool] = never,
) -> None:
    """Surprise's NMF epochs, in place on float64 arrays.

    Parameters
    ----------
    trainset : Trainset
    pu, qi : numpy.ndarray of float64
        Initial factors (n_users x k, n_items x k), updated in place.
    bu, bi : numpy.ndarray of float64
        Zero biases, updated in place when ``biased``.
    biased : bool
    rates : tuple of 6 floats
        ``(lr_bu, lr_bi, reg_bu, reg_bi, reg_pu, reg_qi)``.
    n_epochs : int
    verbose : bool
        Print Surprise's ``"Processing epoch k"`` before each epoch.
    epoch_done : callable, optional
        ``epoch_done(epoch, bu, bi, pu, qi)`` after every epoch; True stops the loop.
    wants_model : callable, optional
        Unused here (the arrays are always the model's); the same signature as
        ``fit_parallel``.
    """
    indptr, items, ratings = trainset.user_csr()
    user_counts = np.diff(indptr)
    item_counts = np.bincount(items, minlength=trainset.n_items).astype(np.int64)
    k = pu.shape[1]
    user_num, user_den = np.zeros_like(pu), np.zeros_like(pu)
    item_num, item_den = np.zeros_like(qi), np.zeros_like(qi)
    chunks = user_chunks(user_counts * (4 * k + 1))
    global_mean = float(trainset.global_mean)
    reg_pu, reg_qi = rates[4], rates[5]
    check = DivergenceCheck(DIVERGED_HINT, strict=False)
    for epoch in range(n_epochs):
        if verbose:
            print(verbose_line(epoch))
        for a in (user_num, user_den, item_num, item_den):
            a.fill(0)
        for begin, end in chunks:
            _mf.nmf_accumulate_exact_f64(
                indptr, items, ratings, pu, qi, bu, bi, global_mean, biased, rates, begin, end,
                user_num, user_den, item_num, item_den,
            )  # fmt: skip
        _mf.nmf_update_exact_f64(user_counts, reg_pu, pu, user_num, user_den)
        _mf.nmf_update_exact_f64(item_counts, reg_qi, qi, item_num, item_den)
        check(epoch, bu, bi, pu, qi)
        if epoch_done(epoch, bu, bi, pu, qi):
            break


def fit_parallel(
    trainset,
    pu,
    qi,
    bu,
    bi,
    biased: bool,
    rates,
    n_epochs: int,
    verbose: bool,
    n_threads: int,
    epoch_done: EpochHook = never,
    wants_model: Callable[[], bool] = never,
) -> tuple[np.ndarray, ...]:
    """The parallel schedule (see ``nmf.hpp``); arguments as ``fit_exact`` plus ``n_threads``.

    All arrays share one floating dtype. One compiled call per epoch; the factors live in
    arrays whose rows are padded to whole SIMD vectors. ``epoch_done(epoch, bu, bi, pu, qi)``
    runs after every epoch (True stops the loop); it gets the factors unpadded when
    ``wants_model()`` says it reads them. Returns the trained ``(pu, qi, bu, bi)``.
    """
    dtype = pu.dtype
    indptr, items, ratings = trainset.user_csr()
    layout = _mf.NmfLayout(indptr, items, ratings, trainset.n_items, dtype)
    k = pu.shape[1]
    width = 32 // dtype.itemsize
    kp = -(-k // width) * width
    pu_w, qi_w = _padded(pu, kp), _padded(qi, kp)
    pu_next = np.empty_like(pu_w)
    est = np.empty(layout.n_ratings, dtype=dtype)
    global_mean = float(trainset.global_mean)
    check = DivergenceCheck(DIVERGED_HINT, strict=True)
    for epoch in range(n_epochs):
        if verbose:
            print(verbose_line(epoch))
        _mf.nmf_epoch_fast(
            layout, pu_w, pu_next, qi_w, bu, bi, est, global_mean, biased, rates, n_threads
        )
        pu_w, pu_next = pu_next, pu_w
        check(epoch, bu, bi, pu_w, qi_w)
        if wants_model():
            stop = epoch_done(epoch, bu, bi, _unpadded(pu_w, k), _unpadded(qi_w, k))
        else:
            stop = epoch_done(epoch, bu, bi, pu_w, qi_w)
        if stop:
            break
    return _unpadded(pu_w, k), _unpadded(qi_w, k), bu, bi


def _padded(a: np.ndarray, kp: int) -> np.ndarray:
    out = np.zeros((a.shape[0], kp), dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


def _unpadded(a: np.ndarray, k: int) -> np.ndarray:
    return a if a.shape[1] == k else np.ascontiguousarray(a[:, :k])
