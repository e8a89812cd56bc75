"""The package's one progress indicator: a text bar on stderr for long fits and top-N searches.

``make_progress`` is the policy (when to show a bar, in which mode); ``ProgressBar`` draws it.
Used by ``turbosvd.train.monitor`` (epochs of ``fit``) and ``turbosvd.topn.search`` (slabs of
a top-k search). On a terminal it is one line redrawn with ``\\r`` and erased at the end;
elsewhere (logs, or when ``verbose`` also prints lines) it prints whole lines, at most one per
second. It writes to stderr only.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

__all__ = ["AUTO_DELAY", "ProgressBar", "make_progress"]

# Automatic progress bars appear only for fits still running after this many seconds.
AUTO_DELAY = 1.0
_LINE_INTERVAL = 1.0  # seconds between two progress lines in line mode
_BAR_INTERVAL = 0.1  # seconds between two redraws in bar mode


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
