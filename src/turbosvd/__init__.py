"""turbosvd: a fast, exact drop-in replacement for Surprise's SVD recommender.

Change ``from surprise import ...`` to ``from turbosvd import ...``::

    from turbosvd import SVD, Dataset, accuracy
    from turbosvd.model_selection import train_test_split

    data = Dataset.load_builtin("ml-100k")
    trainset, testset = train_test_split(data, test_size=0.25, random_state=0)
    algo = SVD(random_state=0).fit(trainset)
    accuracy.rmse(algo.test(testset))

Models can be saved without pickle (``algo.save("model.tsvd")``, then
``turbosvd.load("model.tsvd")``), and the ``turbosvd`` command trains, evaluates and
serves models from rating files (``turbosvd --help``).
"""

from . import accuracy, datasets, dump, metrics, model_selection, similarities, topn
from ._threads import openmp_enabled
from ._version import __version__ as __version__
from .builtin_datasets import get_dataset_dir
from .dataset import Dataset
from .exceptions import IdTypeWarning, ModelFitError, ModelFitWarning, NotFittedError
from .persist import load
from .prediction_algorithms import (
    ALS,
    NMF,
    SVD,
    AlgoBase,
    BaselineOnly,
    CoClustering,
    KNNBaseline,
    KNNBasic,
    KNNWithMeans,
    KNNWithZScore,
    NormalPredictor,
    Prediction,
    PredictionImpossible,
    SlopeOne,
    SVDpp,
)
from .reader import Reader
from .trainset import Trainset

__all__ = [
    "ALS",
    "NMF",
    "SVD",
    "AlgoBase",
    "BaselineOnly",
    "CoClustering",
    "Dataset",
    "KNNBaseline",
    "KNNBasic",
    "KNNWithMeans",
    "KNNWithZScore",
    "ModelFitError",
    "ModelFitWarning",
    "IdTypeWarning",
    "NormalPredictor",
    "NotFittedError",
    "Prediction",
    "PredictionImpossible",
    "Reader",
    "SlopeOne",
    "SVDpp",
    "Trainset",
    "accuracy",
    "datasets",
    "dump",
    "get_dataset_dir",
    "load",
    "metrics",
    "model_selection",
    "openmp_enabled",
    "similarities",
    "topn",
]
