"""Exceptions raised by turbosvd (in addition to Surprise's ``PredictionImpossible``)."""

from __future__ import annotations

__all__ = [
    "IdTypeWarning",
    "ModelFitError",
    "ModelFitWarning",
    "NotFittedError",
]


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit``.

    Subclasses ``AttributeError`` (what Surprise raises in that case) and ``ValueError``
    (what scikit-learn raises), so existing ``except`` clauses keep working.
    """


class ModelFitError(ValueError):
    """Training diverged: factors or biases became NaN or infinite."""


class ModelFitWarning(RuntimeWarning):
    """Training diverged on the exact schedule, which (like Surprise) keeps the model anyway.

    The exact schedule reproduces Surprise, which trains on silently when its parameters
    become NaN or infinite; turbosvd warns once, naming the epoch, and the default
    schedule raises ``ModelFitError`` instead.
    """


class IdTypeWarning(UserWarning):
    """An unknown raw id whose ``str()``/``int()`` twin is known (``196`` vs ``'196'``).

    Ids are matched exactly, as in Surprise, so the prediction falls back as for an
    unknown id; this warning (once per model and kind) says which id type the model holds.
    """
