"""Prediction algorithms: ``SVD`` and ``ALS`` (the compiled core), ``BaselineOnly``,
``NormalPredictor``."""

from .algo_base import AlgoBase
from .als import ALS
from .baseline_only import BaselineOnly
from .matrix_factorization import SVD
from .predictions import Prediction, PredictionImpossible
from .random_pred import NormalPredictor

__all__ = [
    "ALS",
    "AlgoBase",
    "BaselineOnly",
    "NormalPredictor",
    "Prediction",
    "PredictionImpossible",
    "SVD",
]
