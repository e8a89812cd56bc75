"""Argument checks with uniform messages: each names the parameter and the value."""

from __future__ import annotations

import math
import numbers
import os

__all__ = ["check_alloc", "check_int", "check_rates", "check_real"]


def check_int(name: str, value, *, min_value: int | None = None) -> int:
    """An integer (numpy integers accepted, bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name}={value!r} is out of range: must be >= {min_value}")
    return int(value)


def check_real(name: str, value, *, min_value: float | None = None) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not a finite number")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name}={value!r} is out of range: must be >= {min_value}")
    return float(value)


def check_rates(model, names, *, shared=()) -> tuple[float, ...]:
    """The learning rates and regularisations ``names`` of ``model``, each a finite real.

    ``shared``: the suffixes (``"bu"``, ``"bi"``, ...) that ``lr_all`` / ``reg_all`` set at
    construction. Surprise resolves those into the per-parameter rates and keeps no trace
    of them, so when a bad value is the same object in every member of its group the
    message says ``lr_all=...`` (or ``reg_all=...``) most likely set it.
    """
    rates = []
    for name in names:
        value = getattr(model, name)
        try:
            rates.append(check_real(name, value))
        except (TypeError, ValueError) as e:
            group = name[: name.index("_")]
            siblings = [getattr(model, f"{group}_{p}", None) for p in shared]
            if siblings and all(v is value for v in siblings):
                raise type(e)(f"{e} ({group}_all={value!r} sets it)") from None
            raise
    return tuple(rates)


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_alloc(what: str, n_bytes: int) -> None:
    """Refuse, before allocating, an allocation larger than the machine's memory."""
    total = _memory_bytes()
    if total is not None and n_bytes > total:
        raise ValueError(
            f"{what} needs {n_bytes / 2**30:.1f} GiB, more than this machine's "
            f"{total / 2**30:.1f} GiB of memory"
        )
