"""Prediction algorithms: ``SVD``, ``SVDpp``, ``NMF`` (the compiled core), ``BaselineOnly``,
``NormalPredictor``, the k-NN family (``knns``), ``SlopeOne``, ``CoClustering``."""

from .algo_base import AlgoBase
from .baseline_only import BaselineOnly
from .co_clustering import CoClustering
from .knns import KNNBaseline, KNNBasic, KNNWithMeans, KNNWithZScore
from .matrix_factorization import NMF, SVD, SVDpp
from .predictions import Prediction, PredictionImpossible
from .random_pred import NormalPredictor
from .slope_one import SlopeOne

__all__ = [
    "NMF",
    "AlgoBase",
    "BaselineOnly",
    "CoClustering",
    "KNNBaseline",
    "KNNBasic",
    "KNNWithMeans",
    "KNNWithZScore",
    "NormalPredictor",
    "Prediction",
    "PredictionImpossible",
    "SVD",
    "SVDpp",
    "SlopeOne",
]
