"""Epoch loops of NMF (``csrc/turbosvd/nmf.hpp``): Surprise's exact epoch and the parallel one.

Both work on the model arrays drawn by the caller, print Surprise's verbose line before
each epoch, check for divergence after each one (``ModelFitError`` naming the epoch; on the
exact schedule a ``ModelFitWarning`` and the epochs go on, as Surprise's do) and
keep every compiled call short so Ctrl-C is handled promptly between calls; the caller
assigns the arrays to the model only when the loop returns.

- ``fit_exact``: Surprise's epoch operation for operation, float64, one thread.
- ``fit_parallel``: the same multiplicative updates with every sum gathered per row
  (users, then items) in parallel, SIMD over the factors, in the model's dtype. Results
  do not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np

from .. import _mf, _sgd
from .common import DivergenceCheck, user_chunks

__all__ = ["DIVERGED_HINT", "fit_exact", "fit_parallel", "verbose_line"]

DIVERGED_HINT = (
    "check the ratings (a user or item whose ratings sum to zero can zero a denominator) "
    "or raise reg_pu / reg_qi"
)


def verbose_line(epoch: int) -> str:
    """Surprise's NMF verbose line."""
    return f"Processing epoch {epoch}"


def fit_exact(trainset, pu, qi, bu, bi, biased: bool, rates, n_epochs: int, verbose: bool) -> None:
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


def fit_parallel(
    trainset, pu, qi, bu, bi, biased: bool, rates, n_epochs: int, verbose: bool, n_threads: int
) -> tuple[np.ndarray, ...]:
    """The parallel schedule (see ``nmf.hpp``); arguments as ``fit_exact`` plus ``n_threads``.

    All arrays share one floating dtype. Returns the trained ``(pu, qi, bu, bi)``.
    """
    dtype = pu.dtype
    indptr, items, ratings = trainset.user_csr()
    ratings = ratings.astype(dtype)
    n_users = trainset.n_users
    # The ratings grouped by item, as indices into the user-grouped arrays (stable: each
    # item's ratings in user order, as Surprise accumulates them).
    item_pos, item_ptr = _sgd.group_rows(items, trainset.n_items)
    users = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(indptr))
    est = np.empty(len(ratings), dtype=dtype)
    pu_new = np.empty_like(pu)
    global_mean = float(trainset.global_mean)
    reg_pu, reg_qi = rates[4], rates[5]
    check = DivergenceCheck(DIVERGED_HINT, strict=True)
    for epoch in range(n_epochs):
        if verbose:
            print(verbose_line(epoch))
        _mf.nmf_estimates(
            indptr, items, ratings, pu, qi, bu, bi, global_mean, biased, rates, est, n_threads
        )
        _mf.nmf_users(indptr, items, ratings, est, pu, qi, reg_pu, pu_new, n_threads)
        _mf.nmf_items(item_ptr, item_pos, users, ratings, est, pu, qi, reg_qi, n_threads)
        pu, pu_new = pu_new, pu
        check(epoch, bu, bi, pu, qi)
    return pu, qi, bu, bi
