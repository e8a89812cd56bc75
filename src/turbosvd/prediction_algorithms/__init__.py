"""Prediction algorithms: ``SVD``, ``SVDpp``, ``NMF``, ``BaselineOnly``, ``NormalPredictor``."""

from .algo_base import AlgoBase
from .baseline_only import BaselineOnly
from .matrix_factorization import NMF, SVD, SVDpp
from .predictions import Prediction, PredictionImpossible
from .random_pred import NormalPredictor

__all__ = [
    "NMF",
    "AlgoBase",
    "BaselineOnly",
    "NormalPredictor",
    "Prediction",
    "PredictionImpossible",
    "SVD",
    "SVDpp",
]
