"""``BaselineOnly``: predict ``mu + bu + bi`` with baselines from ALS or SGD, as in Surprise.

The estimators themselves are in ``optimize_baselines`` (shared with ``AlgoBase``).
"""

from __future__ import annotations

import numpy as np

from .. import _sgd
from .algo_base import AlgoBase

__all__ = ["BaselineOnly"]


class BaselineOnly(AlgoBase):
    """Predict ``mu + bu[u] + bi[i]`` with baselines from ALS or SGD.

    Parameters
    ----------
    bsl_options : dict, default {}
        ``method`` ('als' or 'sgd'); ALS: ``n_epochs`` (10), ``reg_u`` (15), ``reg_i`` (10);
        SGD: ``n_epochs`` (20), ``reg`` (0.02), ``learning_rate`` (0.005).
    verbose : bool, default True
        Print ``Estimating biases using als...`` (Surprise's default, kept).
    """

    def __init__(self, bsl_options={}, verbose=True):  # noqa: B006 - Surprise's signature
        AlgoBase.__init__(self, bsl_options=bsl_options)
        self.verbose = verbose

    def fit(self, trainset):
        """Compute the baselines; returns ``self``."""
        AlgoBase.fit(self, trainset)
        self.bu, self.bi = self.compute_baselines()
        return self

    def estimate(self, u, i):
        """``mu``, plus the bias of each known id."""
        est = self.trainset.global_mean
        if self.trainset.knows_user(u):
            est += self.bu[u]
        if self.trainset.knows_item(i):
            est += self.bi[i]
        return est

    def _estimate_batch(self, users, items):
        empty_u = np.zeros((self.trainset.n_users, 0))
        empty_i = np.zeros((self.trainset.n_items, 0))
        return _sgd.predict(
            users,
            items,
            empty_u,
            empty_i,
            np.ascontiguousarray(self.bu, dtype=np.float64),
            np.ascontiguousarray(self.bi, dtype=np.float64),
            float(self.trainset.global_mean),
            True,
            self._n_threads(),
        )


BaselineOnly._batch_impl = BaselineOnly
