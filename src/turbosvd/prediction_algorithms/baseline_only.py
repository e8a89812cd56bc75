"""``BaselineOnly`` and the baseline estimators (ALS and SGD), as in Surprise.

ALS is vectorised with ``np.bincount``, which adds each group's terms in array order; the
trainset arrays are in insertion order, so every sum is taken in Surprise's order and the
biases match Surprise's bit for bit. SGD reuses the exact SVD kernel with zero factors.
"""

from __future__ import annotations

import numpy as np

from .. import _sgd
from .._validation import check_int, check_real
from ..foldin import FoldInMixin, foldin_reg
from .algo_base import AlgoBase

__all__ = ["BaselineOnly", "baseline_als", "baseline_sgd"]


def baseline_als(self):
    """Alternating least squares on the biases; returns ``(bu, bi)``."""
    trainset = self.trainset
    n_epochs = check_int(
        "bsl_options['n_epochs']", self.bsl_options.get("n_epochs", 10), min_value=0
    )
    reg_u = check_real("bsl_options['reg_u']", self.bsl_options.get("reg_u", 15))
    reg_i = check_real("bsl_options['reg_i']", self.bsl_options.get("reg_i", 10))
    global_mean = trainset.global_mean
    users, items, ratings = trainset._users, trainset._items, trainset._ratings
    n_u, n_i = trainset.n_users, trainset.n_items
    bu = np.zeros(n_u)
    bi = np.zeros(n_i)
    count_u = np.bincount(users, minlength=n_u)
    count_i = np.bincount(items, minlength=n_i)
    centred = ratings - global_mean
    for _ in range(n_epochs):
        dev_i = np.bincount(items, weights=centred - bu[users], minlength=n_i)
        bi = dev_i / (reg_i + count_i)
        dev_u = np.bincount(users, weights=centred - bi[items], minlength=n_u)
        bu = dev_u / (reg_u + count_u)
    return bu, bi


def baseline_sgd(self):
    """Stochastic gradient descent on the biases; returns ``(bu, bi)``."""
    trainset = self.trainset
    n_epochs = check_int(
        "bsl_options['n_epochs']", self.bsl_options.get("n_epochs", 20), min_value=0
    )
    reg = check_real("bsl_options['reg']", self.bsl_options.get("reg", 0.02))
    lr = check_real("bsl_options['learning_rate']", self.bsl_options.get("learning_rate", 0.005))
    bu = np.zeros(trainset.n_users)
    bi = np.zeros(trainset.n_items)
    empty_u = np.zeros((trainset.n_users, 0))
    empty_i = np.zeros((trainset.n_items, 0))
    users, items, ratings = trainset._by_user()
    rates = (lr, lr, 0.0, 0.0, reg, reg, 0.0, 0.0)
    for _ in range(n_epochs):
        _sgd.sgd_epoch_exact_f64(
            users, items, ratings, empty_u, empty_i, bu, bi, trainset.global_mean, True, rates
        )
    return bu, bi


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
