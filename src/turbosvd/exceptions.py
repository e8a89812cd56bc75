"""Exceptions raised by turbosvd (in addition to Surprise's ``PredictionImpossible``)."""

from __future__ import annotations

__all__ = ["ModelFitError", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit``.

    Subclasses ``AttributeError`` (what Surprise raises in that case) and ``ValueError``
    (what scikit-learn raises), so existing ``except`` clauses keep working.
    """


class ModelFitError(ValueError):
    """Training diverged: factors or biases became NaN or infinite."""
