"""The baseline estimators (ALS and SGD) of ``AlgoBase.compute_baselines``, as in Surprise.

Below every algorithm that uses baselines (``BaselineOnly``, and the KNN-with-baseline
family): this module imports no algorithm class.

ALS is vectorised with ``np.bincount``, which adds each group's terms in array order; the
trainset arrays are in insertion order, so every sum is taken in Surprise's order and the
biases match Surprise's bit for bit. SGD reuses the exact SVD kernel with zero factors.
"""

from __future__ import annotations

import numpy as np

from .. import _sgd
from .._validation import check_int, check_real

__all__ = ["baseline_als", "baseline_sgd", "check_bsl_options"]

# Every option a baseline method reads, with its check: Surprise ignores the options of
# the other method (a grid over both methods passes both sets), so those are accepted.
_BSL_OPTIONS = {
    "n_epochs": lambda name, v: check_int(name, v, min_value=0),
    "reg_u": lambda name, v: check_real(name, v, min_value=0),
    "reg_i": lambda name, v: check_real(name, v, min_value=0),
    "reg": lambda name, v: check_real(name, v, min_value=0),
    "learning_rate": lambda name, v: check_real(name, v, min_value=0),
}


def check_bsl_options(bsl_options) -> str:
    """Validate ``bsl_options`` as SVD's parameters are; returns the method name.

    Shared by every algorithm that estimates baselines (``AlgoBase.compute_baselines``).
    Negative regularisation (the ALS denominators ``reg + count`` can reach zero) and
    non-finite numbers would train NaN biases silently; unknown keys are most likely typos.

    Raises
    ------
    TypeError
        If ``bsl_options`` is not a dict or a value has the wrong type.
    ValueError
        If the method is unknown, a key is unknown, or a value is out of range.
    """
    if not isinstance(bsl_options, dict):
        raise TypeError(f"bsl_options must be a dict, got {type(bsl_options).__name__}")
    method = bsl_options.get("method", "als")
    if method not in ("als", "sgd"):
        raise ValueError(
            f"Invalid method {method} for baseline computation. Available methods are als and sgd."
        )
    unknown = sorted(str(k) for k in bsl_options if k != "method" and k not in _BSL_OPTIONS)
    if unknown:
        raise ValueError(
            f"bsl_options has unknown keys {unknown}: use method, n_epochs and reg_u, reg_i "
            "(als) or reg, learning_rate (sgd)"
        )
    for key, check in _BSL_OPTIONS.items():
        if key in bsl_options:
            check(f"bsl_options['{key}']", bsl_options[key])
    return method


def baseline_als(self):
    """Alternating least squares on the biases of ``self.trainset`` with ``self.bsl_options``.

    Returns ``(bu, bi)`` (float64 arrays).
    """
    trainset = self.trainset
    n_epochs = check_int(
        "bsl_options['n_epochs']", self.bsl_options.get("n_epochs", 10), min_value=0
    )
    reg_u = check_real("bsl_options['reg_u']", self.bsl_options.get("reg_u", 15), min_value=0)
    reg_i = check_real("bsl_options['reg_i']", self.bsl_options.get("reg_i", 10), min_value=0)
    global_mean = trainset.global_mean
    users, items, ratings = trainset.rating_arrays()
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
    """Stochastic gradient descent on the biases of ``self.trainset`` with ``self.bsl_options``.

    Returns ``(bu, bi)`` (float64 arrays).
    """
    trainset = self.trainset
    n_epochs = check_int(
        "bsl_options['n_epochs']", self.bsl_options.get("n_epochs", 20), min_value=0
    )
    reg = check_real("bsl_options['reg']", self.bsl_options.get("reg", 0.02), min_value=0)
    lr = check_real(
        "bsl_options['learning_rate']", self.bsl_options.get("learning_rate", 0.005), min_value=0
    )
    bu = np.zeros(trainset.n_users)
    bi = np.zeros(trainset.n_items)
    empty_u = np.zeros((trainset.n_users, 0))
    empty_i = np.zeros((trainset.n_items, 0))
    users, items, ratings = trainset.ratings_by_user()
    rates = (lr, lr, 0.0, 0.0, reg, reg, 0.0, 0.0)
    for _ in range(n_epochs):
        _sgd.sgd_epoch_exact_f64(
            users, items, ratings, empty_u, empty_i, bu, bi, trainset.global_mean, True, rates
        )
    return bu, bi
