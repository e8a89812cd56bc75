"""``dump`` / ``load``: pickle predictions and algorithms, as ``surprise.dump``.

``load`` also reads pickles written by scikit-surprise: Surprise's ``SVD``, ``SVDpp``,
``NMF``, ``BaselineOnly``, ``NormalPredictor``, the four k-NN classes, ``Trainset`` and
``Prediction`` are mapped to turbosvd's classes, so a model trained with Surprise can be
served by turbosvd. For a format that does not execute code on load, see ``SVD.save``.
"""

from __future__ import annotations

import pickle

__all__ = ["dump", "load"]

_LEGACY = {
    ("surprise.prediction_algorithms.matrix_factorization", "SVD"): (
        "turbosvd.prediction_algorithms.matrix_factorization",
        "SVD",
    ),
    ("surprise.prediction_algorithms.matrix_factorization", "SVDpp"): (
        "turbosvd.prediction_algorithms.svdpp",
        "SVDpp",
    ),
    ("surprise.prediction_algorithms.matrix_factorization", "NMF"): (
        "turbosvd.prediction_algorithms.nmf",
        "NMF",
    ),
    ("surprise.prediction_algorithms.baseline_only", "BaselineOnly"): (
        "turbosvd.prediction_algorithms.baseline_only",
        "BaselineOnly",
    ),
    ("surprise.prediction_algorithms.random_pred", "NormalPredictor"): (
        "turbosvd.prediction_algorithms.random_pred",
        "NormalPredictor",
    ),
    ("surprise.prediction_algorithms.predictions", "Prediction"): (
        "turbosvd.prediction_algorithms.predictions",
        "Prediction",
    ),
    ("surprise.trainset", "Trainset"): ("turbosvd.trainset", "Trainset"),
}
_LEGACY.update(
    {
        ("surprise.prediction_algorithms.knns", name): (
            "turbosvd.prediction_algorithms.knns",
            name,
        )
        for name in ("KNNBasic", "KNNWithMeans", "KNNWithZScore", "KNNBaseline")
    }
)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        module, name = _LEGACY.get((module, name), (module, name))
        return super().find_class(module, name)


def dump(file_name, predictions=None, algo=None, verbose=0):
    """Pickle ``{'predictions': predictions, 'algo': algo}`` into ``file_name``."""
    dump_obj = {"predictions": predictions, "algo": algo}
    with open(file_name, "wb") as f:
        pickle.dump(dump_obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    if verbose:
        print("The dump has been saved as file", file_name)


def load(file_name):
    """Load a dump; returns the tuple ``(predictions, algo)``.

    Only load files you trust: unpickling can execute arbitrary code.
    """
    with open(file_name, "rb") as f:
        dump_obj = _Unpickler(f).load()
    return dump_obj["predictions"], dump_obj["algo"]
