"""Early stopping of SGD training on a hold-out of the training ratings (scikit-learn's rule).

``SVD(early_stopping=True)`` holds out ``validation_fraction`` of the training ratings
(drawn from ``random_state`` before the initial factors), trains on the rest and scores the
hold-out after every epoch. As in scikit-learn's ``MLPRegressor``/``SGDRegressor``, an epoch
whose hold-out RMSE is not at least ``tol`` below the best so far counts as "no change";
training stops after ``n_iter_no_change`` of them in a row (or at ``n_epochs``), and the
parameters of the best epoch (lowest hold-out RMSE) are kept. With ``refit=True`` the model
is then trained again on all the training ratings for that many epochs.

The hold-out is a random subset of rating rows of the trainset; users and items keep their
inner ids (a user whose ratings all went to the hold-out keeps its initial factors until the
refit), and the training part keeps the full trainset's global mean, so a model validated
this way (``refit=False``) predicts with the trainset it is attached to.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import check_int, check_real

__all__ = ["EarlyStopping", "check_early_stopping", "holdout_split"]


def check_early_stopping(model) -> None:
    """Validate the early-stopping parameters of ``model`` (names as scikit-learn's)."""
    for name in ("early_stopping", "refit"):
        value = getattr(model, name)
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    fraction = model.validation_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise ValueError(
            f"validation_fraction={fraction!r} is out of range: must be a number in (0, 1)"
        )
    check_int("n_iter_no_change", model.n_iter_no_change, min_value=1)
    check_real("tol", model.tol, min_value=0)


def holdout_split(n_ratings: int, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(train_rows, holdout_rows)``: ``ceil(fraction * n)`` rows drawn without replacement.

    One ``rng.permutation(n_ratings)`` (so the draw is reproducible from ``random_state``);
    both parts are returned in increasing row order.
    """
    n_holdout = math.ceil(fraction * n_ratings)
    if n_holdout < 1 or n_holdout >= n_ratings:
        raise ValueError(
            f"validation_fraction={fraction!r} of {n_ratings} ratings leaves "
            f"{n_ratings - n_holdout} to train on and {n_holdout} to validate: both need at "
            "least one rating"
        )
    perm = rng.permutation(n_ratings)
    holdout = np.sort(perm[:n_holdout])
    train = np.sort(perm[n_holdout:])
    return train, holdout


class EarlyStopping:
    """The stopping rule and the best epoch's parameters during one fit.

    Parameters
    ----------
    n_iter_no_change : int
        Epochs in a row without an improvement of at least ``tol`` before stopping.
    tol : float
        Minimum decrease of the hold-out RMSE that counts as an improvement.
    """

    def __init__(self, n_iter_no_change: int, tol: float):
        self.n_iter_no_change = int(n_iter_no_change)
        self.tol = float(tol)
        self.best_rmse = math.inf
        self.best_epoch = 0  # 1-based; 0 = no epoch yet (the initial parameters)
        self.best_params: tuple | None = None
        self._no_change = 0
        self.stopped = False

    def update(self, epoch: int, rmse: float, params: tuple) -> bool:
        """Record epoch ``epoch`` (0-based) with hold-out RMSE ``rmse``; True means stop.

        ``params`` (arrays) are copied when the epoch is the best so far.
        """
        if rmse < self.best_rmse - self.tol:
            self._no_change = 0
        else:
            self._no_change += 1
        if rmse < self.best_rmse:
            self.best_rmse = rmse
            self.best_epoch = epoch + 1
            self.best_params = tuple(np.array(a, copy=True) for a in params)
        self.stopped = self._no_change >= self.n_iter_no_change
        return self.stopped
