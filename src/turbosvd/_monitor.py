"""Per-epoch monitoring of SGD training: learning curves (``history_``) and a progress bar.

``SVD.fit(trainset, eval_set=None, history=False, progress=None)`` creates a
``TrainingMonitor``; the epoch loop calls ``model._epoch_done(epoch, bu, bi, pu, qi)``
after each epoch, between two compiled calls, so monitoring costs nothing inside an epoch.

* RMSEs come from the batch prediction kernel on the current factors, with the
  semantics of ``accuracy.rmse(model.test(...))``: unknown ids handled as ``predict`` does
  and estimates clipped to the rating scale. So the last ``val_rmse`` equals
  ``accuracy.rmse(model.test(eval_set))``. They are computed only when asked for.
* The progress bar writes to stderr only (stdout, where Surprise's ``verbose`` prints
  ``Processing epoch k``, is never touched). On a terminal it is one line redrawn with
  ``\\r`` and erased at the end; elsewhere (logs, or when ``verbose`` also prints epoch
  lines) it prints whole lines, at most one per second.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

from . import _objects, _sgd

__all__ = [
    "ProgressBar",
    "TrainingMonitor",
    "TrainingMonitorMixin",
    "fitted_rmse",
    "make_progress",
]

# Automatic progress bars appear only for fits still running after this many seconds.
AUTO_DELAY = 1.0
_LINE_INTERVAL = 1.0  # seconds between two progress lines in line mode
_BAR_INTERVAL = 0.1  # seconds between two redraws in bar mode


class ProgressBar:
    """A dependency-free progress indicator on a text stream (stderr by default).

    Parameters
    ----------
    total : int
        Number of steps.
    label : str
        Printed before the bar.
    mode : {'bar', 'lines'}
        ``'bar'`` redraws one line with carriage returns (for terminals); ``'lines'``
        prints a full line per update, rate-limited (for logs).
    delay : float
        Stay silent until this many seconds have passed since creation.
    stream : file-like, optional
        Where to write (``sys.stderr`` when None, looked up at each write).
    unit : str
        What the steps are, in ``'lines'`` mode (``"3/20 epochs"``).
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        mode: str = "bar",
        delay: float = 0.0,
        stream=None,
        unit: str = "epochs",
    ):
        if mode not in ("bar", "lines"):
            raise ValueError(f"mode={mode!r} is not one of ('bar', 'lines')")
        self.total = int(total)
        self.label = label
        self.unit = unit
        self.mode = mode
        self.delay = float(delay)
        self._stream = stream
        self.start = time.perf_counter()
        self._last_write = -np.inf
        self._drawn = 0  # width of the bar line currently on screen
        self._wrote = False

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def update(self, done: int, info: str = "", *, final: bool = False) -> None:
        """Show that ``done`` of ``total`` steps are finished, with extra ``info``."""
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < self.delay and not (final and self._wrote):
            return
        interval = _LINE_INTERVAL if self.mode == "lines" else _BAR_INTERVAL
        if not final and now - self._last_write < interval:
            return
        self._last_write = now
        eta = elapsed / done * (self.total - done) if done else float("nan")
        timing = f"{_fmt_seconds(elapsed)}"
        if done < self.total and done:
            timing += f", ETA {_fmt_seconds(eta)}"
        info = f"  {info}" if info else ""
        if self.mode == "lines":
            self._write(f"{self.label}: {done}/{self.total} {self.unit}, {timing}{info}\n")
            return
        width = max(20, shutil.get_terminal_size(fallback=(80, 24)).columns - 1)
        head = f"{self.label} "
        tail = f" {done}/{self.total} {timing}{info}"
        bar_width = max(10, min(30, width - len(head) - len(tail) - 2))
        filled = int(bar_width * done / self.total) if self.total else bar_width
        line = f"{head}[{'#' * filled}{'-' * (bar_width - filled)}]{tail}"[:width]
        pad = " " * max(0, self._drawn - len(line))
        self._write("\r" + line + pad)
        self._drawn = len(line)

    def close(self, *, keep: bool = False) -> None:
        """End the bar: erase it (or keep it, on its own line) in bar mode."""
        if self.mode != "bar" or not self._drawn:
            return
        if keep:
            self._write("\n")
        else:
            self._write("\r" + " " * self._drawn + "\r")
        self._drawn = 0

    def _write(self, text: str) -> None:
        stream = self.stream
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # closed or broken stderr: progress is optional
            pass
        self._wrote = True


def _fmt_seconds(s: float) -> str:
    if s != s:
        return "?"
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def make_progress(
    progress, total: int, label: str, *, verbose: bool = False, unit: str = "epochs"
) -> ProgressBar | None:
    """The progress bar of a long computation, or None; the package's one policy.

    ``progress=None`` (automatic): a bar on stderr when stderr is a terminal or ``verbose``
    is set, shown only once the work has lasted over ``AUTO_DELAY`` seconds, and only on
    the main thread (a server's worker threads stay silent). True: always, at once.
    False: never. On a terminal without ``verbose`` the bar is one redrawn line;
    otherwise it prints whole lines (``verbose`` output on stdout would tear a redrawn
    line apart, and logs want lines).
    """
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be None or a bool, got {progress!r}")
    tty = _stderr_is_tty()
    if progress is None:
        if not (tty or verbose) or threading.current_thread() is not threading.main_thread():
            return None
        delay = AUTO_DELAY
    elif progress:
        delay = 0.0
    else:
        return None
    mode = "bar" if tty and not verbose else "lines"
    return ProgressBar(total, label, mode=mode, delay=delay, unit=unit)


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
    users, items = _objects.inner_ids(
        triples, trainset._raw2inner_id_users, trainset._raw2inner_id_items
    )
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
        target = _RmseTarget(trainset._users, trainset._items, trainset._ratings, trainset)
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
        self.biased = bool(model.biased)
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

    def epoch_end(self, epoch: int, bu, bi, pu, qi) -> bool:
        """Record epoch ``epoch`` (0-based), update the progress bar; True means stop."""
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
                stop = self.stopper.update(epoch, held, (bu, bi, pu, qi))
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
    """The hooks ``SVD`` uses to monitor its epoch loop."""

    _monitor: TrainingMonitor | None = None

    def _monitor_wants_model(self) -> bool:
        """Whether ``_epoch_done`` will read the model (history or validation requested)."""
        monitor = self.__dict__.get("_monitor")
        return monitor is not None and monitor.record

    def _epoch_done(self, epoch, bu, bi, pu, qi) -> bool:
        """Called by the epoch loop after each epoch; True asks it to stop (early stopping).

        A no-op returning False outside a monitored fit.
        """
        monitor = self._monitor
        if monitor is not None:
            return monitor.epoch_end(epoch, bu, bi, pu, qi)
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
