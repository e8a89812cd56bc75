"""The training schedules of the factor models and their default.

``"exact"`` reproduces Surprise (its visiting order, float64, one thread); ``"blocked"``
(the default) is each model's fast parallel schedule. ``$TURBOSVD_SCHEDULE`` changes the
default for every model, so a drop-in user gets Surprise's numbers without touching code.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["SCHEDULES", "SCHEDULE_ENV", "default_schedule", "resolve_dtype"]

SCHEDULES = ("exact", "blocked")
SCHEDULE_ENV = "TURBOSVD_SCHEDULE"


def default_schedule() -> str:
    """A model's schedule when given ``schedule=None``: ``$TURBOSVD_SCHEDULE`` or ``"blocked"``."""
    value = os.environ.get(SCHEDULE_ENV, "").strip()
    if not value:
        return "blocked"
    if value not in SCHEDULES:
        raise ValueError(
            f"{SCHEDULE_ENV}={value!r} is not a valid schedule: use one of {SCHEDULES} "
            "(or leave it unset for 'blocked')"
        )
    return value


_DTYPES = ("float32", "float64")


def resolve_dtype(schedule, dtype):
    """The model's floating type for ``schedule`` and ``dtype`` (validates both).

    ``dtype=None`` means float32 on the fast schedule and float64 on the exact one, which
    always computes in float64 (asking it for float32 is an error).

    Returns
    -------
    numpy.dtype
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r} is not one of {SCHEDULES}")
    if dtype is None:
        return np.dtype(np.float32 if schedule == "blocked" else np.float64)
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in _DTYPES:
        raise ValueError(
            f"dtype={dtype!r} is not supported: use None, numpy.float32 or numpy.float64"
        )
    if schedule == "exact" and resolved != np.float64:
        raise ValueError(
            f"dtype={dtype!r} does not work with schedule='exact', which computes in "
            "float64 to match Surprise; use schedule='blocked' for float32"
        )
    return resolved
