"""``CoClustering``: Surprise's co-clustering model, its epochs in C++.

With the same ``random_state`` the clusters, averages and estimates are Surprise's to the
last bit: the initial clusters are drawn from numpy in Surprise's order, and the epoch body
repeats Surprise's arithmetic (ratings truncated to integers where Surprise's Cython declares
them ``int``, its user and item means included) in its order. See
``turbosvd/train/co_clustering.py``.
"""

from __future__ import annotations

import numpy as np

from .._cluster import co_clustering_predict
from .._validation import check_int
from ..persist import ModelFileMixin, register_model
from ..train import co_clustering as _engine
from ..utils import get_rng
from .algo_base import AlgoBase

__all__ = ["CoClustering"]


class CoClustering(ModelFileMixin, AlgoBase):
    """A collaborative filtering algorithm based on co-clustering (George & Merugu, 2005).

    Users and items are assigned clusters ``C_u``, ``C_i`` and co-clusters ``C_ui``; the
    estimate is ``avg(C_ui) + (mu_u - avg(C_u)) + (mu_i - avg(C_i))``, or the global mean
    when the user or the item is unknown. Clusters are found by a k-means-like loop.

    Parameters
    ----------
    n_cltr_u : int, default 3
        Number of user clusters (>= 1).
    n_cltr_i : int, default 3
        Number of item clusters (>= 1).
    n_epochs : int, default 20
        Iterations of the optimisation loop (>= 0).
    random_state : None, int or numpy.random.RandomState, default None
        The initial clusters' RNG (see ``turbosvd.utils.get_rng``).
    verbose : bool, default False
        Print ``Processing epoch k`` at each epoch.

    Attributes
    ----------
    cltr_u, cltr_i : numpy.ndarray of int64
        Cluster of every inner user / item id.
    user_mean, item_mean : numpy.ndarray
    avg_cltr_u, avg_cltr_i, avg_cocltr : numpy.ndarray
        Average rating of each user cluster, item cluster and co-cluster.
    """

    def __init__(self, n_cltr_u=3, n_cltr_i=3, n_epochs=20, random_state=None, verbose=False):
        AlgoBase.__init__(self)
        self.n_cltr_u = n_cltr_u
        self.n_cltr_i = n_cltr_i
        self.n_epochs = n_epochs
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, trainset):
        """Find the clusters; returns ``self``. On error or Ctrl-C the model is unchanged."""
        n_cltr_u = check_int("n_cltr_u", self.n_cltr_u, min_value=1)
        n_cltr_i = check_int("n_cltr_i", self.n_cltr_i, min_value=1)
        n_epochs = check_int("n_epochs", self.n_epochs, min_value=0)
        if trainset.n_ratings == 0:
            raise ValueError("the trainset is empty: it has no ratings")
        rng = get_rng(self.random_state)
        state = _engine.train(
            trainset, n_cltr_u, n_cltr_i, n_epochs, rng, self.verbose, self._n_threads()
        )
        AlgoBase.fit(self, trainset)
        self.__dict__.update(vars(state))
        return self

    # Model files (turbosvd.persist): the clusters and the averages the estimates read.
    _file_arrays = (
        "cltr_u",
        "cltr_i",
        "user_mean",
        "item_mean",
        "avg_cltr_u",
        "avg_cltr_i",
        "avg_cocltr",
    )

    def _model_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for name in self._file_arrays:
            kind = np.int64 if name.startswith("cltr") else np.float64
            out[name] = np.ascontiguousarray(getattr(self, name), dtype=kind)
        return out

    @classmethod
    def _from_arrays(cls, trainset, arrays: dict, params: dict) -> CoClustering:
        model = cls(**params)
        n_u = check_int("n_cltr_u", model.n_cltr_u, min_value=1)
        n_i = check_int("n_cltr_i", model.n_cltr_i, min_value=1)
        check_int("n_epochs", model.n_epochs, min_value=0)
        shapes = {
            "cltr_u": (trainset.n_users,),
            "cltr_i": (trainset.n_items,),
            "user_mean": (trainset.n_users,),
            "item_mean": (trainset.n_items,),
            "avg_cltr_u": (n_u,),
            "avg_cltr_i": (n_i,),
            "avg_cocltr": (n_u, n_i),
        }
        for name, shape in shapes.items():
            a = arrays[name]
            kind = np.int64 if name.startswith("cltr") else np.float64
            if a.dtype != kind or a.shape != shape:
                raise ValueError(
                    f"{name} is {a.dtype} of shape {a.shape}, expected {np.dtype(kind)} {shape}"
                )
        for name, n in (("cltr_u", n_u), ("cltr_i", n_i)):
            a = arrays[name]
            if a.size and (a.min() < 0 or a.max() >= n):
                raise ValueError(f"{name} holds clusters outside 0 .. {n - 1}")
        AlgoBase.fit(model, trainset)
        for name in shapes:
            setattr(model, name, arrays[name].copy())
        return model

    def compute_averages(self, cltr_u, cltr_i):
        """Averages of the user clusters, item clusters and co-clusters for the given
        assignment (Surprise's method, on the fitted trainset).

        Returns
        -------
        avg_cltr_u, avg_cltr_i, avg_cocltr : numpy.ndarray
        """
        self._check_fitted("compute_averages")
        return _engine.averages(self.trainset, cltr_u, cltr_i, self.n_cltr_u, self.n_cltr_i)

    def estimate(self, u, i):
        """The co-cluster estimate, or the global mean for an unknown user or item."""
        if not (self.trainset.knows_user(u) and self.trainset.knows_item(i)):
            return self.trainset.global_mean
        return self._estimate_batch(np.array([u], np.int32), np.array([i], np.int32))[0][0]

    def _estimate_batch(self, users, items):
        est = co_clustering_predict(
            np.ascontiguousarray(users, dtype=np.int32),
            np.ascontiguousarray(items, dtype=np.int32),
            self.cltr_u,
            self.cltr_i,
            self.user_mean,
            self.item_mean,
            self.avg_cltr_u,
            self.avg_cltr_i,
            self.avg_cocltr,
            float(self.trainset.global_mean),
            self._n_threads(),
        )
        return est, np.zeros(len(est), dtype=bool)


CoClustering._batch_impl = CoClustering
register_model(CoClustering)
