"""``BaselineOnly``: predict ``mu + bu + bi`` with baselines from ALS or SGD, as in Surprise.

The estimators themselves are in ``optimize_baselines`` (shared with ``AlgoBase``).
"""

from __future__ import annotations

import numpy as np

from .. import _sgd
from .._validation import check_int, check_real
from ..foldin import FoldInMixin, foldin_reg
from .algo_base import AlgoBase

__all__ = ["BaselineOnly"]


class BaselineOnly(FoldInMixin, AlgoBase):
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

    biased = True  # what fold-in reads: the model has a user bias

    def _foldin_reg(self):
        """Fold-in penalty on the user bias, consistent with the baseline method.

        ALS's user step is ``bu = sum(r - mu - bi) / (reg_u + n)``: exactly the solve with
        ``lam_b = reg_u``. SGD's is the SVD rule without factors (see turbosvd.foldin).
        """
        opts = self.bsl_options
        if opts.get("method", "als") == "als":
            reg_u = check_real("bsl_options['reg_u']", opts.get("reg_u", 15), min_value=0)
            return 1.0, 0.0, float(reg_u), 0.0
        n_epochs = check_int("bsl_options['n_epochs']", opts.get("n_epochs", 20), min_value=0)
        reg = check_real("bsl_options['reg']", opts.get("reg", 0.02), min_value=0)
        lr = check_real("bsl_options['learning_rate']", opts.get("learning_rate", 0.005))
        return foldin_reg(n_epochs, lr, reg, lr, reg)

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
