"""Atomic file replacement: write to a temporary file beside the target, fsync, rename.

Used by model files (``turbosvd.persist``); a failure at any point leaves the target untouched.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from typing import IO

__all__ = ["atomic_write"]


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write(f)`` to a temporary file, fsync, then rename over ``path``."""
    target = os.path.realpath(path)  # saving through a symlink updates its target
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise IsADirectoryError(f"cannot save the model to {path!r}: it is a directory")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no portable way to read it without setting it
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
