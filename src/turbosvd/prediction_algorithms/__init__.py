"""Prediction algorithms: ``SVD`` (the compiled core), ``BaselineOnly``, ``NormalPredictor``."""

from .algo_base import AlgoBase
from .baseline_only import BaselineOnly
from .matrix_factorization import SVD
from .predictions import Prediction, PredictionImpossible
from .random_pred import NormalPredictor

__all__ = [
    "AlgoBase",
    "BaselineOnly",
    "NormalPredictor",
    "Prediction",
    "PredictionImpossible",
    "SVD",
]
