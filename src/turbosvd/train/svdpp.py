"""Epoch loops of SVD++ (``csrc/turbosvd/svdpp.hpp``): the exact and the user-batched schedule.

Both run in place on the model arrays drawn by the caller (``pu``, ``qi``, ``yj`` and zero
biases), print Surprise's verbose line before each epoch, check for divergence after each
one (``ModelFitError`` naming the epoch; on the exact schedule a ``ModelFitWarning`` and the
epochs go on, as Surprise's do) and split long epochs into several compiled calls
so that Ctrl-C (a ``KeyboardInterrupt`` between two calls) is handled within a fraction of
a second; the caller assigns the arrays to the model only when the loop returns.

- ``fit_exact``: Surprise's epoch, operation for operation, in float64 on one thread.
  O(sum_u |I_u|^2 k) per epoch, like Surprise's, several times faster.
- ``fit_blocked``: the user-batched schedule on the blocked layout, in parallel, in the
  model's dtype. O(|R| k) per epoch; results do not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np

from .. import _blocked, _mf
from .common import DivergenceCheck, ratings_per_call, user_chunks

__all__ = ["DIVERGED_HINT", "fit_blocked", "fit_exact", "verbose_line"]

DIVERGED_HINT = "lower the learning rates (lr_all) or raise the regularisation (reg_all)"


def verbose_line(epoch: int) -> str:
    """Surprise's SVD++ verbose line (a leading space, lower case)."""
    return f" processing epoch {epoch}"


def fit_exact(trainset, pu, qi, yj, bu, bi, rates, n_epochs: int, verbose: bool) -> None:
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


def fit_blocked(
    trainset, pu, qi, yj, bu, bi, rates, n_epochs: int, verbose: bool, n_threads: int
) -> tuple[np.ndarray, ...]:
    """The user-batched schedule (see ``svdpp.hpp``) on the blocked layout.

    Arguments as ``fit_exact`` (any one floating dtype for all arrays) plus ``n_threads``.
    ``pu`` and ``bu`` are updated in place; returns the trained ``(pu, qi, yj, bu, bi)``.
    """
    dtype = pu.dtype
    n_users, k = pu.shape
    layout = _blocked.build_layout(trainset, dtype, k, items_by_bin=True)
    n_bins = layout.n_bins
    order = layout.item_order
    position = np.empty_like(order)
    position[order] = np.arange(len(order), dtype=order.dtype)
    qi, yj, bi = qi[order], yj[order], bi[order]
    user_ptr = np.searchsorted(layout.user_bin, np.arange(n_bins + 1)).astype(np.int64)
    counts = np.bincount(layout.run_user, weights=np.diff(layout.run_ptr), minlength=n_users)
    inv_sqrt = np.zeros(n_users, dtype=dtype)
    rated = counts > 0
    inv_sqrt[rated] = 1.0 / np.sqrt(counts[rated])
    z = np.empty_like(pu)
    beta = np.empty_like(pu)
    alpha = np.empty(n_users, dtype=dtype)
    lay = (layout.block_ptr, layout.run_user, layout.run_ptr, layout.items)
    global_mean = float(trainset.global_mean)
    per_call = max(1, ratings_per_call(k) * n_threads * n_bins // max(1, trainset.n_ratings))
    check = DivergenceCheck(DIVERGED_HINT, strict=True)
    for epoch in range(n_epochs):
        if verbose:
            print(verbose_line(epoch))
        _mf.implicit_sums(*lay, user_ptr, yj, inv_sqrt, z, n_threads)
        beta.fill(0)
        alpha.fill(1)
        for first in range(0, n_bins, per_call):
            last = min(n_bins, first + per_call)
            _mf.svdpp_epoch_fast(
                *lay, layout.ratings, user_ptr, pu, qi, bu, bi, z, beta, alpha, inv_sqrt,
                global_mean, rates, n_threads, first, last,
            )  # fmt: skip
        _mf.apply_y(*lay, user_ptr, yj, alpha, beta, n_threads)
        check(epoch, bu, bi, pu, qi, yj)
    return pu, qi[position], yj[position], bu, bi[position]
