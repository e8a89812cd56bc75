"""``SVD``: biased matrix factorisation trained by SGD (Funk, Koren), Surprise-compatible.

The epoch loop runs here in Python (verbose output, divergence checks and Ctrl-C work
between epochs); each epoch's body is one compiled call with the GIL released.
"""

from __future__ import annotations

import numpy as np

from .. import _sgd
from .._validation import check_alloc, check_int, check_real
from ..exceptions import ModelFitError
from ..recommend import RecommendMixin
from ..utils import get_rng
from .algo_base import AlgoBase
from .predictions import PredictionImpossible

__all__ = ["SVD"]

_SCHEDULES = ("exact",)


class SVD(RecommendMixin, AlgoBase):
    """The famous *SVD* algorithm, as popularised by Simon Funk during the Netflix Prize.

    The prediction is ``mu + bu[u] + bi[i] + qi[i] . pu[u]`` (only the dot product when
    ``biased=False``). Unknown users or items contribute zero, as in Surprise.

    Parameters
    ----------
    n_factors : int, default 100
        Number of latent factors.
    n_epochs : int, default 20
        Number of SGD passes over the training ratings.
    biased : bool, default True
        Whether to learn biases (and use the global mean).
    init_mean, init_std_dev : float, default 0 and 0.1
        Mean and standard deviation of the normal initialisation of the factors.
    lr_all, reg_all : float, default 0.005 and 0.02
        Learning rate and regularisation of every parameter.
    lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi : float, optional
        Per-parameter overrides of ``lr_all`` / ``reg_all``.
    random_state : None, int or numpy.random.RandomState
        Seed of the factor initialisation. None uses numpy's global generator, so
        ``np.random.seed(s)`` makes a program reproducible, exactly as with Surprise.
    verbose : bool, default False
        Print ``Processing epoch k`` for every epoch.
    schedule : {'exact'}, default 'exact'
        ``'exact'`` visits the ratings in Surprise's order in float64 and reproduces
        Surprise's factors to the last bit.
    n_jobs : int or None
        Threads for prediction (None = OpenMP default, negative counts back from the CPUs).

    Attributes
    ----------
    pu, qi : numpy.ndarray of shape (n_users, n_factors) and (n_items, n_factors)
    bu, bi : numpy.ndarray of shape (n_users,) and (n_items,)
    trainset : Trainset
    """

    def __init__(
        self,
        n_factors=100,
        n_epochs=20,
        biased=True,
        init_mean=0,
        init_std_dev=0.1,
        lr_all=0.005,
        reg_all=0.02,
        lr_bu=None,
        lr_bi=None,
        lr_pu=None,
        lr_qi=None,
        reg_bu=None,
        reg_bi=None,
        reg_pu=None,
        reg_qi=None,
        random_state=None,
        verbose=False,
        *,
        schedule="exact",
        n_jobs=None,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.biased = biased
        self.init_mean = init_mean
        self.init_std_dev = init_std_dev
        self.lr_bu = lr_bu if lr_bu is not None else lr_all
        self.lr_bi = lr_bi if lr_bi is not None else lr_all
        self.lr_pu = lr_pu if lr_pu is not None else lr_all
        self.lr_qi = lr_qi if lr_qi is not None else lr_all
        self.reg_bu = reg_bu if reg_bu is not None else reg_all
        self.reg_bi = reg_bi if reg_bi is not None else reg_all
        self.reg_pu = reg_pu if reg_pu is not None else reg_all
        self.reg_qi = reg_qi if reg_qi is not None else reg_all
        self.random_state = random_state
        self.verbose = verbose
        self.schedule = schedule
        self.n_jobs = n_jobs
        AlgoBase.__init__(self)

    def __setstate__(self, state):
        # Pickles from scikit-surprise (or older turbosvd) lack the newer parameters.
        state.setdefault("schedule", "exact")
        state.setdefault("n_jobs", None)
        self.__dict__.update(state)

    def fit(self, trainset):
        """Learn the biases and factors from ``trainset``; returns ``self``.

        On error or ``KeyboardInterrupt`` the model keeps its previous state.
        """
        self._validate(trainset)
        params = self._train(trainset)
        AlgoBase.fit(self, trainset)
        self.bu, self.bi, self.pu, self.qi = params
        return self

    def sgd(self, trainset):
        """Run the SGD (Surprise's name for the training step) and set the parameters."""
        self._validate(trainset)
        self.bu, self.bi, self.pu, self.qi = self._train(trainset)

    def _rates(self):
        return tuple(
            check_real(name, getattr(self, name))
            for name in ("lr_bu", "lr_bi", "lr_pu", "lr_qi", "reg_bu", "reg_bi", "reg_pu", "reg_qi")
        )

    def _validate(self, trainset):
        check_int("n_factors", self.n_factors, min_value=0)
        check_int("n_epochs", self.n_epochs, min_value=0)
        check_real("init_mean", self.init_mean)
        check_real("init_std_dev", self.init_std_dev, min_value=0)
        self._rates()
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is not one of {_SCHEDULES}")
        if trainset.n_ratings == 0:
            raise ValueError("the trainset is empty: it has no ratings")
        check_alloc(
            f"n_factors={self.n_factors} on {trainset.n_users} users and {trainset.n_items} items",
            8 * self.n_factors * (trainset.n_users + trainset.n_items),
        )

    def _train(self, trainset):
        """Initialise (Surprise's RNG draws, in Surprise's order) and run the epochs."""
        rng = get_rng(self.random_state)
        shape_u = (trainset.n_users, self.n_factors)
        shape_i = (trainset.n_items, self.n_factors)
        pu = rng.normal(self.init_mean, self.init_std_dev, size=shape_u)
        qi = rng.normal(self.init_mean, self.init_std_dev, size=shape_i)
        bu = np.zeros(trainset.n_users, dtype=np.double)
        bi = np.zeros(trainset.n_items, dtype=np.double)
        users, items, ratings = trainset._by_user()
        global_mean = trainset.global_mean
        rates = self._rates()
        biased = bool(self.biased)
        for current_epoch in range(self.n_epochs):
            if self.verbose:
                print(f"Processing epoch {current_epoch}")
            _sgd.sgd_epoch_exact_f64(
                users, items, ratings, pu, qi, bu, bi, global_mean, biased, rates
            )
            _check_finite(current_epoch, bu, bi, pu, qi)
        return bu, bi, pu, qi

    def estimate(self, u, i):
        """Estimate for inner ids ``u`` and ``i`` (or unknown-id strings), unclipped."""
        known_user = self.trainset.knows_user(u)
        known_item = self.trainset.knows_item(i)
        users = np.array([u if known_user else -1], dtype=np.int32)
        items = np.array([i if known_item else -1], dtype=np.int32)
        est, impossible = self._estimate_batch(users, items)
        if impossible[0]:
            raise PredictionImpossible("User and item are unknown.")
        return est[0]

    def _estimate_batch(self, users, items):
        c = np.ascontiguousarray
        return _sgd.predict(
            users,
            items,
            c(self.pu),
            c(self.qi),
            c(self.bu),
            c(self.bi),
            float(self.trainset.global_mean),
            bool(self.biased),
            self._n_threads(),
        )


SVD._batch_impl = SVD


def _check_finite(epoch: int, *arrays) -> None:
    for a in arrays:
        if not np.isfinite(a).all():
            raise ModelFitError(
                f"training diverged at epoch {epoch}: NaN or infinite values in the model; "
                "lower the learning rates (lr_all) or raise the regularisation (reg_all)"
            )
