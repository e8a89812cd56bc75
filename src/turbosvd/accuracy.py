"""Accuracy measures over predictions (``rmse``, ``mse``, ``mae``, ``fcp``), as in Surprise.

Each prediction is any 5-sequence ``(uid, iid, r_ui, est, details)``. The values equal
Surprise's to the last bit: the per-prediction errors are computed in float64 and averaged
with ``np.mean`` in the same order.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

__all__ = ["fcp", "mae", "mse", "rmse"]


def _errors(predictions) -> np.ndarray:
    if not predictions:
        raise ValueError("Prediction list is empty.")
    true_list = [p[2] for p in predictions]
    true = np.array(true_list, dtype=np.float64)
    est = np.array([p[3] for p in predictions], dtype=np.float64)
    if np.isnan(true).any():
        k = next((k for k, t in enumerate(true_list) if t is None), None)
        if k is not None:
            raise TypeError(
                f"prediction {k} has no true rating (r_ui is None): accuracy needs predictions "
                "made with r_ui, e.g. from algo.test(testset)"
            )
    return true - est


def rmse(predictions, verbose=True):
    """Root mean squared error; prints ``RMSE: x.xxxx`` when verbose."""
    mse_ = np.mean(_errors(predictions) ** 2)
    rmse_ = np.sqrt(mse_)
    if verbose:
        print(f"RMSE: {rmse_:1.4f}")
    return rmse_


def mse(predictions, verbose=True):
    """Mean squared error; prints ``MSE: x.xxxx`` when verbose."""
    mse_ = np.mean(_errors(predictions) ** 2)
    if verbose:
        print(f"MSE: {mse_:1.4f}")
    return mse_


def mae(predictions, verbose=True):
    """Mean absolute error; prints ``MAE:  x.xxxx`` when verbose."""
    mae_ = np.mean(np.abs(_errors(predictions)))
    if verbose:
        print(f"MAE:  {mae_:1.4f}")
    return mae_


def fcp(predictions, verbose=True):
    """Fraction of concordant pairs, with Surprise's exact definition.

    For each user, every ordered pair of that user's predictions is concordant if
    ``est_i > est_j and r_i > r_j`` and discordant if ``est_i >= est_j and r_i < r_j``.
    ``nc`` (``nd``) is the mean count over the users having at least one concordant
    (discordant) pair, and the result is ``nc / (nc + nd)``.
    """
    if not predictions:
        raise ValueError("Prediction list is empty.")
    by_user = defaultdict(list)
    for u0, _, r0, est, _ in predictions:
        by_user[u0].append((r0, est))
    nc_u, nd_u = [], []
    for preds in by_user.values():
        r, e = np.array(preds, dtype=np.float64).T
        nc = nd = 0
        step = max(1, (1 << 22) // max(len(r), 1))
        for s in range(0, len(r), step):
            rr, ee = r[s : s + step, None], e[s : s + step, None]
            nc += int(np.count_nonzero((ee > e) & (rr > r)))
            nd += int(np.count_nonzero((ee >= e) & (rr < r)))
        if nc:
            nc_u.append(nc)
        if nd:
            nd_u.append(nd)
    nc = np.mean(nc_u) if nc_u else 0
    nd = np.mean(nd_u) if nd_u else 0
    try:
        fcp_ = nc / (nc + nd)
    except ZeroDivisionError:
        raise ValueError(
            "cannot compute fcp on this list of prediction. "
            + "Does every user have at least two predictions?"
        ) from None
    if verbose:
        print(f"FCP:  {fcp_:1.4f}")
    return fcp_
