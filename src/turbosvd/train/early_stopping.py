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
from ..utils import get_rng

__all__ = [
    "DEFAULTS",
    "EarlyStopping",
    "check_early_stopping",
    "epochs_trained",
    "finish_fit",
    "fit_monitored",
    "holdout_split",
]

# Constructor defaults of the early-stopping parameters (also for pickles that predate them).
DEFAULTS = {
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 5,
    "tol": 1e-4,
    "refit": True,
}


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

        ``params`` (a tuple of arrays: the model's parameters as its training loop returns
        them) are copied when the epoch is the best so far.
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


def fit_monitored(model, trainset, train, *, eval_set=None, history=False, progress=None):
    """One monitored ``fit`` of a factor model, with early stopping when it is asked for.

    The one implementation behind ``SVD``, ``SVDpp`` and ``NMF``. ``model`` has the
    early-stopping parameters (already validated), ``random_state`` and the monitor hooks
    of ``turbosvd.train.monitor.TrainingMonitorMixin``; ``train(trainset, n_epochs=None)``
    draws the initial parameters, runs at most ``n_epochs`` (default: the model's) epochs
    reporting each to ``model._epoch_done`` and returns the parameters as a tuple.

    Without early stopping: ``train(trainset)`` under the monitor (``eval_set``, ``history``,
    ``progress`` as in ``SVD.fit``). With it: the hold-out split (drawn from
    ``random_state`` before the initial parameters), training on the rest until the rule
    stops it, the best epoch's parameters kept, then with ``refit`` ``train(trainset,
    best_epoch)`` on all the ratings.

    Returns ``(params, monitor, stopped)``; ``stopped`` is ``(n_epochs_, best_epoch_)`` or
    None without early stopping. Hand them to ``finish_fit`` after ``AlgoBase.fit``.
    """
    if not model.early_stopping:
        with model._monitoring(
            trainset, eval_set=eval_set, history=history, progress=progress
        ) as monitor:
            params = train(trainset)
        return params, monitor, None
    rng = get_rng(model.random_state)
    train_rows, holdout_rows = holdout_split(trainset.n_ratings, model.validation_fraction, rng)
    users, items, ratings = trainset.rating_arrays()
    holdout = (users[holdout_rows], items[holdout_rows], ratings[holdout_rows])
    part = trainset.subset(train_rows)
    stopper = EarlyStopping(model.n_iter_no_change, model.tol)
    with model._monitoring(
        part,
        eval_set=eval_set,
        history=history,
        progress=progress,
        holdout=holdout,
        stopper=stopper,
    ) as monitor:
        params = train(part)
    n_run = len(monitor.history["epoch"])
    if stopper.best_params is not None:
        params = stopper.best_params
    if model.refit:
        with model._monitoring(trainset, progress=progress, n_epochs=stopper.best_epoch):
            params = train(trainset, stopper.best_epoch)
    return params, monitor, (n_run, stopper.best_epoch)


def finish_fit(model, monitor, stopped) -> None:
    """Set ``history_`` (or drop a stale one), and ``n_epochs_``/``best_epoch_`` if stopped."""
    monitor.commit(model)
    if stopped is None:
        for name in ("n_epochs_", "best_epoch_"):
            model.__dict__.pop(name, None)
    else:
        model.n_epochs_, model.best_epoch_ = stopped


def epochs_trained(model) -> int:
    """The epochs a fitted model's parameters went through: early stopping's, else ``n_epochs``.

    A model file keeps ``history_`` but not ``best_epoch_``: the hold-out curve gives it.
    """
    if "best_epoch_" in model.__dict__:
        return int(model.best_epoch_)
    curve = (getattr(model, "history_", None) or {}).get("holdout_rmse")
    if getattr(model, "early_stopping", False) and curve:
        return int(np.argmin(curve)) + 1
    return int(model.n_epochs)
