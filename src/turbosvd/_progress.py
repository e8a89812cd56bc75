"""The package's one progress indicator for long fits and top-N searches.

``make_progress`` is the policy (when to show a bar, which kind); ``TqdmBar`` and
``ProgressBar`` draw it. Used by ``turbosvd.train.monitor`` (epochs of ``fit``) and
``turbosvd.topn.search`` (slabs of a top-k search).

- With ``tqdm`` installed, on a terminal or in a Jupyter notebook, the bar is
  ``tqdm.auto``'s (a widget in a notebook, as implicit does; its text bar when ipywidgets
  is missing), redrawn at most every 0.5 s in a notebook.
- Otherwise the dependency-free ``ProgressBar``: on a terminal or in a notebook one line
  redrawn with ``\\r`` (at most every 0.1 s, 0.5 s in a notebook) and erased at the end;
  elsewhere (logs, or when ``verbose`` also prints lines) whole lines, at most one per
  second. Neither floods a notebook: one redrawn line, never a line per update.

Text bars write to stderr only.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

__all__ = ["AUTO_DELAY", "ProgressBar", "TqdmBar", "in_notebook", "make_progress"]

# Automatic progress bars appear only for fits still running after this many seconds.
AUTO_DELAY = 1.0
_LINE_INTERVAL = 1.0  # seconds between two progress lines in line mode
_BAR_INTERVAL = 0.1  # seconds between two redraws in bar mode
_NOTEBOOK_INTERVAL = 0.5  # seconds between two redraws in a notebook


def _now() -> float:
    """The clock of bars made without one (tests replace this function)."""
    return time.perf_counter()


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
    clock : callable, optional
        Returns the time in seconds (the module's ``_now``, ``time.perf_counter``, when
        None); tests inject one.
    interval : float, optional
        Minimum seconds between two writes (1 in ``'lines'`` mode, 0.1 in ``'bar'`` mode).
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
        clock: Callable[[], float] | None = None,
        interval: float | None = None,
    ):
        if mode not in ("bar", "lines"):
            raise ValueError(f"mode={mode!r} is not one of ('bar', 'lines')")
        self.total = int(total)
        self.label = label
        self.unit = unit
        self.mode = mode
        self.delay = float(delay)
        self._stream = stream
        self._clock = _now if clock is None else clock
        default = _LINE_INTERVAL if mode == "lines" else _BAR_INTERVAL
        self.interval = default if interval is None else float(interval)
        self.start = self._clock()
        self._last_write = -float("inf")
        self._drawn = 0  # width of the bar line currently on screen
        self._wrote = False

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def update(self, done: int, info: str = "", *, final: bool = False) -> None:
        """Show that ``done`` of ``total`` steps are finished, with extra ``info``."""
        now = self._clock()
        elapsed = now - self.start
        if elapsed < self.delay and not (final and self._wrote):
            return
        if not final and now - self._last_write < self.interval:
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


class TqdmBar:
    """The same interface as ``ProgressBar``, drawn by ``tqdm.auto`` (see the module notes).

    Parameters
    ----------
    tqdm : class
        ``tqdm.auto.tqdm`` (or a class with its interface).
    total, label, unit, delay
        As for ``ProgressBar``.
    interval : float
        tqdm's ``mininterval``.
    """

    def __init__(self, tqdm, total: int, label: str, *, unit: str, delay: float, interval: float):
        kwargs = dict(total=int(total), desc=label, unit=unit.rstrip("s") or unit,
                      delay=float(delay), mininterval=float(interval), leave=True,
                      file=sys.stderr)  # fmt: skip
        try:
            self._bar = tqdm(**kwargs)
        except ImportError:  # tqdm.auto in a notebook without ipywidgets: the text bar
            from tqdm.std import tqdm as text_tqdm

            kwargs["file"] = sys.stderr
            self._bar = text_tqdm(**kwargs)
        self._done = 0

    def update(self, done: int, info: str = "", *, final: bool = False) -> None:
        """Show that ``done`` of ``total`` steps are finished, with extra ``info``."""
        if info:
            self._bar.set_postfix_str(info, refresh=False)
        step, self._done = done - self._done, done
        self._bar.update(step)
        if final:
            self._bar.refresh()

    def close(self, *, keep: bool = False) -> None:
        """End the bar (kept on screen after a failure or an interruption, or in a
        notebook, where a finished bar is the record of the run)."""
        self._bar.leave = keep or in_notebook()
        self._bar.close()


def _tqdm_class():
    """``tqdm.auto.tqdm`` when tqdm is installed (its text bar in a notebook without
    ipywidgets, where ``tqdm.auto`` would warn and fall back to it anyway), else None."""
    try:
        if in_notebook() and importlib.util.find_spec("ipywidgets") is None:
            from tqdm.std import tqdm
        else:
            from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (output goes to a notebook)."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = ipython.get_ipython()
    except (AttributeError, NameError):
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


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

    ``progress=None`` (automatic): a bar when stderr is a terminal, in a Jupyter notebook,
    or when ``verbose`` is set, shown only once the work has lasted over ``AUTO_DELAY``
    seconds, and only on the main thread (a server's worker threads stay silent). True:
    always, at once. False: never. On a terminal without ``verbose``, and in a notebook,
    the bar is one redrawn line (tqdm's when installed); otherwise it prints whole lines
    (``verbose`` output on stdout would tear a redrawn line apart, and logs want lines).
    """
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be None or a bool, got {progress!r}")
    tty = _stderr_is_tty()
    notebook = in_notebook()
    if progress is None:
        if not (tty or notebook or verbose):
            return None
        if threading.current_thread() is not threading.main_thread():
            return None
        delay = AUTO_DELAY
    elif progress:
        delay = 0.0
    else:
        return None
    if not (notebook or (tty and not verbose)):
        return ProgressBar(total, label, mode="lines", delay=delay, unit=unit)
    interval = _NOTEBOOK_INTERVAL if notebook else _BAR_INTERVAL
    tqdm = _tqdm_class()
    if tqdm is not None:
        return TqdmBar(tqdm, total, label, unit=unit, delay=delay, interval=interval)
    return ProgressBar(total, label, mode="bar", delay=delay, unit=unit, interval=interval)
