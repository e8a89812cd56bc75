"""``NormalPredictor``: random ratings from a normal fitted to the training set (Surprise)."""

from __future__ import annotations

import numpy as np

from .algo_base import AlgoBase

__all__ = ["NormalPredictor"]


class NormalPredictor(AlgoBase):
    """Predict a rating drawn from ``N(mu, sigma)`` estimated by maximum likelihood.

    Estimates come from numpy's global generator, as in Surprise (no ``random_state``).
    """

    def __init__(self):
        AlgoBase.__init__(self)

    def fit(self, trainset):
        """Estimate ``sigma``; returns ``self``."""
        AlgoBase.fit(self, trainset)
        squared = (trainset.ratings_by_user()[2] - trainset.global_mean) ** 2
        # Sequential sum, in all_ratings order, as Surprise's built-in sum().
        num = float(np.cumsum(squared)[-1]) if len(squared) else 0
        self.sigma = np.sqrt(num / trainset.n_ratings)
        return self

    def estimate(self, *_):
        """A draw from ``N(global_mean, sigma)``."""
        return np.random.normal(self.trainset.global_mean, self.sigma)
