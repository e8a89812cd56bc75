"""Epoch loops of SVD++ (``csrc/turbosvd/svdpp.hpp``): the exact and the user-batched schedule.

Both run in place on the model arrays drawn by the caller (``pu``, ``qi``, ``yj`` and zero
biases), print Surprise's verbose line before each epoch, check for divergence after each
one (``ModelFitError`` naming the epoch; on the exact schedule a ``ModelFitWarning`` and the
epochs go on, as Surprise's do) and split long epochs into several compiled calls
so that Ctrl-C (a ``KeyboardInterrupt`` between two calls) is handled within a fraction of
a second; the caller assigns the arrays to the model only when the loop returns.

- ``fit_exact``: Surprise's epoch, operation for operation, in float64 on one thread.
  O(sum_u |I_u|^2 k) per epoch, like Surprise's, several times faster.
- ``fit_blocked``: the user-batched schedule (each user's implicit sum once, its y update
  applied once), in the model's dtype. O(|R| k) per epoch; no thread count enters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import _mf
from .common import DivergenceCheck, EpochHook, never, user_chunks

__all__ = ["DIVERGED_HINT", "fit_blocked", "fit_exact", "verbose_line"]

DIVERGED_HINT = "lower the learning rates (lr_all) or raise the regularisation (reg_all)"


def verbose_line(epoch: int) -> str:
    """Surprise's SVD++ verbose line (a leading space, lower case)."""
    return f" processing epoch {epoch}"


def fit_exact(
    trainset,
    pu,
    qi,
    yj,
    bu,
    bi,
    rates,
    n_epochs: int,
    verbose: bool,
    epoch_done: EpochHook = never,
    wants_model: Callable[[], bool] = never,
) -> None:
    """Surprise's SVD++ epochs, in place on float64 arrays.

    Parameters
    ----------
    trainset : Trainset
    pu, qi, yj : numpy.ndarray of float64
        Initial factors (n_users x k, n_items x k, n_items x k), updated in place.
    bu, bi : numpy.ndarray of float64
        Initial biases, updated in place.
    rates : tuple of 10 floats
        ``(lr_bu, lr_bi, lr_pu, lr_qi, lr_yj, reg_bu, reg_bi, reg_pu, reg_qi, reg_yj)``.
    n_epochs : int
    verbose : bool
        Print Surprise's ``" processing epoch k"`` before each epoch.
    epoch_done : callable, optional
        ``epoch_done(epoch, bu, bi, x, qi, keep=(bu, bi, pu, qi, yj))`` after every epoch,
        with ``x`` the effective user vectors when ``wants_model()`` (else ``pu``); True
        stops the loop (early stopping keeps ``keep`` of its best epoch).
    wants_model : callable, optional
        Whether ``epoch_done`` reads the model (the effective vectors cost O(|R| k)).
    """
    indptr, items, ratings = trainset.user_csr()
    counts = np.diff(indptr).astype(np.float64)
    k = pu.shape[1]
    # Each rating rebuilds the implicit sum and updates every y row of its user.
    chunks = user_chunks(counts * counts * (2 * k + 1))
    global_mean = float(trainset.global_mean)
    check = DivergenceCheck(DIVERGED_HINT, strict=False)
    for epoch in range(n_epochs):
        if verbose:
            print(verbose_line(epoch))
        for begin, end in chunks:
            _mf.svdpp_epoch_exact_f64(
                indptr, items, ratings, pu, qi, yj, bu, bi, global_mean, rates, begin, end
            )
        check(epoch, bu, bi, pu, qi, yj)
        if _report(epoch_done, wants_model, epoch, indptr, items, pu, qi, yj, bu, bi):
            break


def _report(epoch_done, wants_model, epoch, indptr, items, pu, qi, yj, bu, bi) -> bool:
    """Hand the epoch to ``epoch_done`` (effective user vectors if it reads the model)."""
    x = pu
    if wants_model():
        x = _mf.user_vectors(indptr, items, pu, yj, 1).astype(pu.dtype, copy=False)
    return bool(epoch_done(epoch, bu, bi, x, qi, keep=(bu, bi, pu, qi, yj)))


def fit_blocked(
    trainset,
    pu,
    qi,
    yj,
    bu,
    bi,
    rates,
    n_epochs: int,
    verbose: bool,
    epoch_done: EpochHook = never,
    wants_model: Callable[[], bool] = never,
) -> None:
    """The user-batched schedule (see ``svdpp.hpp``), in place, in the arrays' dtype.

    Arguments as ``fit_exact`` (any one floating dtype for all arrays). The users run in
    Surprise's order on one thread (each reads the y rows its predecessors updated), so the
    result does not depend on any thread count.
    """
    indptr, items, ratings = trainset.user_csr()
    ratings = ratings.astype(pu.dtype)
    k = pu.shape[1]
    chunks = user_chunks(np.diff(indptr) * (6 * k + 1.0))
    global_mean = float(trainset.global_mean)
    check = DivergenceCheck(DIVERGED_HINT, strict=True)
    for epoch in range(n_epochs):
        if verbose:
            print(verbose_line(epoch))
        for begin, end in chunks:
            _mf.svdpp_epoch_fast(
                indptr, items, ratings, pu, qi, yj, bu, bi, global_mean, rates, begin, end
            )
        check(epoch, bu, bi, pu, qi, yj)
        if _report(epoch_done, wants_model, epoch, indptr, items, pu, qi, yj, bu, bi):
            break
