"""Exceptions raised by turbosvd (in addition to Surprise's ``PredictionImpossible``)."""

from __future__ import annotations

__all__ = ["ModelFitError", "ModelFitWarning", "NotFittedError"]


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
