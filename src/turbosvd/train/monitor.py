"""Per-epoch monitoring of SGD training: learning curves (``history_``) and a progress bar.

``SVD.fit(trainset, eval_set=None, history=False, progress=None)`` creates a
``TrainingMonitor``; the epoch loop calls ``model._epoch_done(epoch, bu, bi, pu, qi)``
after each epoch, between two compiled calls, so monitoring costs nothing inside an epoch.

* RMSEs come from the batch prediction kernel on the current factors, with the
  semantics of ``accuracy.rmse(model.test(...))``: unknown ids handled as ``predict`` does
  and estimates clipped to the rating scale. So the last ``val_rmse`` equals
  ``accuracy.rmse(model.test(eval_set))``. They are computed only when asked for.
* The progress bar is ``turbosvd._progress`` (stderr only: stdout, where Surprise's
  ``verbose`` prints ``Processing epoch k``, is never touched).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from .. import _sgd
from .._progress import ProgressBar, make_progress

__all__ = ["TrainingMonitor", "TrainingMonitorMixin", "fitted_rmse"]


class _RmseTarget:
    """Inner ids, true ratings and clipping of one set of ratings to score each epoch."""

    def __init__(self, users, items, ratings, trainset):
        self.users = np.ascontiguousarray(users, dtype=np.int32)
        self.items = np.ascontiguousarray(items, dtype=np.int32)
        self.ratings = np.ascontiguousarray(ratings, dtype=np.float64)
        self.lo, self.hi = trainset.rating_scale
        self.global_mean = float(trainset.global_mean)

    def rmse(self, pu, qi, bu, bi, biased: bool, n_threads: int) -> float:
        est, _ = _sgd.predict(
            self.users, self.items, pu, qi, bu, bi, self.global_mean, biased, n_threads
        )
        # AlgoBase.predict's clipping: min with the top, then max with the bottom.
        est = np.maximum(np.minimum(est, self.hi), self.lo)
        return float(np.sqrt(np.mean((self.ratings - est) ** 2)))


def _eval_target(eval_set, trainset) -> _RmseTarget:
    if isinstance(eval_set, (str, bytes)) or not hasattr(eval_set, "__iter__"):
        raise TypeError(
            "eval_set must be a testset: a list of (uid, iid, r_ui) tuples, e.g. from "
            f"train_test_split; got {type(eval_set).__name__}"
        )
    triples = eval_set if isinstance(eval_set, list) else list(eval_set)
    if not triples:
        raise ValueError("eval_set is empty: it needs at least one (uid, iid, r_ui) rating")
    users, items = trainset.testset_inner_ids(triples)
    ratings = np.empty(len(triples), dtype=np.float64)
    for k, t in enumerate(triples):
        r = t[2]
        if r is None or isinstance(r, (str, bytes)):
            raise ValueError(f"eval_set[{k}] = {t!r} has no numeric rating (r_ui)")
        ratings[k] = r
    if not np.isfinite(ratings).all():
        k = int(np.flatnonzero(~np.isfinite(ratings))[0])
        raise ValueError(f"eval_set[{k}] = {triples[k]!r} has a rating that is not finite")
    return _RmseTarget(users, items, ratings, trainset)


def fitted_rmse(model, testset=None) -> float:
    """RMSE of a fitted SVD on ``testset`` (its training ratings when None), in one pass.

    Equal to ``accuracy.rmse(model.test(testset), verbose=False)`` without building the
    ``Prediction`` objects.
    """
    trainset = model.trainset
    if testset is None:
        target = _RmseTarget(*trainset.rating_arrays(), trainset)
    else:
        target = _eval_target(testset, trainset)
    c = np.ascontiguousarray
    return target.rmse(
        c(model.pu), c(model.qi), c(model.bu), c(model.bi), bool(model.biased), model._n_threads()
    )


class TrainingMonitor:
    """Collects the learning curve and drives the progress bar during one ``fit``.

    Parameters
    ----------
    model : SVD
        The model being trained (read: ``n_epochs``, ``biased``, ``verbose``, ``n_jobs``).
    trainset : Trainset
    eval_set : list of (uid, iid, r_ui), optional
        Validation ratings; their RMSE is recorded each epoch as ``val_rmse``.
    history : bool
        Record ``train_rmse`` (and ``val_rmse``) each epoch. Implied by ``eval_set``.
    holdout : (users, items, ratings) arrays, optional
        Early stopping's hold-out (inner ids): its RMSE is recorded as ``holdout_rmse`` and
        passed to ``stopper``, whose answer ``epoch_end`` returns.
    stopper : EarlyStopping, optional
    n_epochs : int, optional
        Epochs of the progress bar (``model.n_epochs`` by default).
    progress : bool or None
        None: a progress bar on stderr when stderr is a terminal or ``model.verbose`` is
        set, only for fits lasting over a second and only on the main thread. True:
        always. False: never.
    """

    def __init__(
        self,
        model,
        trainset,
        *,
        eval_set=None,
        history=False,
        progress=None,
        holdout=None,
        stopper=None,
        n_epochs=None,
    ):
        if not isinstance(history, (bool, np.bool_)):
            raise TypeError(f"history must be a bool, got {history!r}")
        self.model = model
        self.n_epochs = int(model.n_epochs if n_epochs is None else n_epochs)
        self.biased = bool(getattr(model, "biased", True))  # SVD++ has no switch: biased
        self.val = None if eval_set is None else _eval_target(eval_set, trainset)
        # Early stopping: the hold-out (users, items, ratings) scored after every epoch.
        self.holdout = None if holdout is None else _RmseTarget(*holdout, trainset)
        self.stopper = stopper
        self.record = bool(history) or self.val is not None or self.holdout is not None
        self.train = None
        if self.record:
            if history or self.val is not None:
                users, items, ratings = trainset.rating_arrays()
                self.train = _RmseTarget(users, items, ratings, trainset)
            self.n_threads = model._n_threads()
        self.history: dict[str, list] = {"epoch": []}
        if self.train is not None:
            self.history["train_rmse"] = []
        self.history["time"] = []
        if self.val is not None:
            self.history["val_rmse"] = []
        if self.holdout is not None:
            self.history["holdout_rmse"] = []
        self.bar = self._make_bar(model, progress)
        self._eval_seconds = 0.0
        self.start = time.perf_counter()

    def _make_bar(self, model, progress) -> ProgressBar | None:
        verbose = bool(getattr(model, "verbose", False))
        return make_progress(
            progress, self.n_epochs, f"{type(model).__name__} fit", verbose=verbose
        )

    def epoch_end(self, epoch: int, bu, bi, pu, qi, keep=None) -> bool:
        """Record epoch ``epoch`` (0-based), update the progress bar; True means stop.

        The RMSEs are those of ``mu + bu + bi + pu . qi`` (``pu . qi`` when not biased), so
        ``pu`` is the user vectors the estimate uses (SVD++: the effective ones). ``keep``
        is what early stopping keeps of the best epoch (default ``(bu, bi, pu, qi)``).
        """
        now = time.perf_counter()
        info = []
        stop = False
        if self.record:
            self.history["epoch"].append(epoch + 1)
            self.history["time"].append(now - self.start - self._eval_seconds)
            if self.train is not None:
                train = self.train.rmse(pu, qi, bu, bi, self.biased, self.n_threads)
                self.history["train_rmse"].append(train)
                info.append(f"train RMSE {train:.4f}")
            if self.val is not None:
                val = self.val.rmse(pu, qi, bu, bi, self.biased, self.n_threads)
                self.history["val_rmse"].append(val)
                info.append(f"val RMSE {val:.4f}")
            if self.holdout is not None:
                held = self.holdout.rmse(pu, qi, bu, bi, self.biased, self.n_threads)
                self.history["holdout_rmse"].append(held)
                info.append(f"hold-out RMSE {held:.4f}")
                stop = self.stopper.update(epoch, held, (bu, bi, pu, qi) if keep is None else keep)
            self._eval_seconds += time.perf_counter() - now
        if self.bar is not None:
            final = stop or epoch + 1 == self.n_epochs
            self.bar.update(epoch + 1, "  ".join(info), final=final)
        return stop

    def close(self, ok: bool) -> None:
        if self.bar is not None:
            self.bar.close(keep=not ok)

    def commit(self, model) -> None:
        """Set ``model.history_`` (or remove a stale one when nothing was recorded)."""
        if self.record:
            model.history_ = self.history
        else:
            model.__dict__.pop("history_", None)


class TrainingMonitorMixin:
    """The hooks ``SVD``, ``SVDpp`` and ``NMF`` use to monitor their epoch loops."""

    _monitor: TrainingMonitor | None = None

    def _monitor_wants_model(self) -> bool:
        """Whether ``_epoch_done`` will read the model (history or validation requested)."""
        monitor = self.__dict__.get("_monitor")
        return monitor is not None and monitor.record

    def _epoch_done(self, epoch, bu, bi, pu, qi, keep=None) -> bool:
        """Called by the epoch loop after each epoch; True asks it to stop (early stopping).

        A no-op returning False outside a monitored fit. ``keep``: see ``epoch_end``.
        """
        monitor = self._monitor
        if monitor is not None:
            return monitor.epoch_end(epoch, bu, bi, pu, qi, keep)
        return False

    @contextmanager
    def _monitoring(
        self,
        trainset,
        *,
        eval_set=None,
        history=False,
        progress=None,
        holdout=None,
        stopper=None,
        n_epochs=None,
    ):
        """Monitor the epochs run inside the ``with`` block; yields the monitor."""
        monitor = TrainingMonitor(
            self,
            trainset,
            eval_set=eval_set,
            history=history,
            progress=progress,
            holdout=holdout,
            stopper=stopper,
            n_epochs=n_epochs,
        )
        self._monitor = monitor
        try:
            yield monitor
        except BaseException:
            monitor.close(ok=False)
            raise
        finally:
            self.__dict__.pop("_monitor", None)
        monitor.close(ok=True)
