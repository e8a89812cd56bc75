"""``SlopeOne``: Surprise's SlopeOne, with a sparse co-rating table built in C++.

Estimates are Surprise's to the last bit: like Surprise's Cython (which declares the
ratings ``int``), the deviations use ratings truncated toward zero (3.5 counts as 3), while
the user means use the real ratings. Unlike Surprise, no dense ``n_items x n_items`` array is
needed: ``freq`` and ``dev`` are built from the sparse table the first time they are read.
"""

from __future__ import annotations

import numpy as np

from .._cluster import row_means
from ..neighbors import slope_one as _engine
from ..persist import ModelFileMixin, register_model
from .algo_base import AlgoBase
from .predictions import PredictionImpossible

__all__ = ["SlopeOne"]


class SlopeOne(ModelFileMixin, AlgoBase):
    """A simple yet accurate collaborative filtering algorithm (Lemire & Maclachlan, 2005).

    The estimate is ``mu_u + mean(dev(i, j) for j in R_i(u))``, where ``R_i(u)`` holds the
    items ``j`` rated by ``u`` that share at least one user with ``i`` and ``dev(i, j)`` is
    the mean difference of (integer-truncated) ratings of ``i`` and ``j`` over their common
    users. Unknown users or items raise ``PredictionImpossible`` ("User and/or item is
    unknown."), so the prediction falls back to the global mean.

    Attributes
    ----------
    user_mean : numpy.ndarray
        ``mu_u`` of every inner user id.
    freq, dev : numpy.ndarray
        Surprise's dense ``n_items x n_items`` arrays (count of common users, mean
        deviation), built on first access; a ``ValueError`` says so when they would not fit
        in memory. Fitting and predicting never need them.
    """

    _impossible_reason = "User and/or item is unknown."

    def __init__(self):
        AlgoBase.__init__(self)

    def fit(self, trainset):
        """Build the co-rating table and the user means; returns ``self``."""
        if trainset.n_ratings == 0:
            raise ValueError("the trainset is empty: it has no ratings")
        n_threads = self._n_threads()
        table = _engine.build_table(trainset, n_threads)
        u_indptr, u_items, u_ratings = trainset.user_csr()
        user_mean = row_means(u_indptr, u_ratings, n_threads)
        AlgoBase.fit(self, trainset)
        self._table = table
        self._ur = (u_indptr, u_items)
        self.user_mean = user_mean
        self.__dict__.pop("_dense", None)
        return self

    # Model files (turbosvd.persist): SlopeOne has no parameters and its model is an exact
    # function of the training ratings, which the file holds; the co-rating table and the
    # user means are rebuilt at load (one fit's cost), so the file stays linear in the
    # ratings (the table can be far larger: every co-rated pair of items).
    _file_arrays = ()

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def _from_arrays(cls, trainset, arrays: dict, params: dict) -> SlopeOne:
        return cls(**params).fit(trainset)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_dense", None)  # rebuilt from the table on demand
        return state

    def _dense_arrays(self):
        self._check_fitted("freq")
        if "_dense" not in self.__dict__:
            self._dense = _engine.dense_arrays(self._table, self._n_threads())
        return self._dense

    @property
    def freq(self) -> np.ndarray:
        """Number of users who rated both items, ``n_items x n_items`` (built on access)."""
        return self._dense_arrays()[0]

    @property
    def dev(self) -> np.ndarray:
        """Mean rating deviation between items, ``n_items x n_items`` (built on access)."""
        return self._dense_arrays()[1]

    def estimate(self, u, i):
        """``mu_u`` plus the mean deviation of ``i`` from the items ``u`` rated."""
        if not (self.trainset.knows_user(u) and self.trainset.knows_item(i)):
            raise PredictionImpossible("User and/or item is unknown.")
        est, _ = self._estimate_batch(np.array([u], np.int32), np.array([i], np.int32))
        return est[0]

    def _estimate_batch(self, users, items):
        u_indptr, u_items = self._ur
        return _engine.predict(
            self._table,
            u_indptr,
            u_items,
            self.user_mean,
            users,
            items,
            self.trainset.global_mean,
            self._n_threads(),
        )


SlopeOne._batch_impl = SlopeOne
register_model(SlopeOne)
