"""``NMF``: non-negative matrix factorisation by multiplicative updates, Surprise-compatible.

The prediction is ``qi[i] . pu[u]`` (``mu + bu[u] + bi[i] + qi[i] . pu[u]`` when
``biased``). The epoch loops live in ``turbosvd.train.nmf``, the kernels in
``csrc/turbosvd/nmf.hpp``:

- ``schedule="exact"`` (or ``TURBOSVD_SCHEDULE=exact``) is Surprise's epoch, operation for
  operation, in float64: the factors are scikit-surprise's bit for bit.
- ``schedule="blocked"`` (the default; the name is shared with the other models so one
  environment variable switches them all) gathers the same sums per user and per item in
  parallel, SIMD over the factors, float32 by default: the same algorithm and accuracy,
  results independent of ``n_jobs``, not the same bits.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_alloc, check_int, check_rates, check_real
from ..persist import ModelFileMixin, register_model
from ..topn.recommend import RecommendMixin
from ..train import nmf as _loops
from ..train.common import check_trainset, draw, training_threads
from ..train.early_stopping import DEFAULTS as _ES_DEFAULTS
from ..train.early_stopping import check_early_stopping, finish_fit, fit_monitored
from ..train.monitor import TrainingMonitorMixin
from ..train.schedule import default_schedule, resolve_dtype
from ..utils import get_rng
from ._factor_model import BiasedFactorModelMixin
from .algo_base import AlgoBase

__all__ = ["NMF"]

_RATES = ("lr_bu", "lr_bi", "reg_bu", "reg_bi", "reg_pu", "reg_qi")


class NMF(BiasedFactorModelMixin, ModelFileMixin, TrainingMonitorMixin, RecommendMixin, AlgoBase):
    """A collaborative filtering algorithm based on Non-negative Matrix Factorization.

    User and item factors stay non-negative (provided their initial values are): each
    epoch multiplies every factor by the ratio of two sums over the factor's ratings,
    ``sum(other * r) / (sum(other * est) + reg * count * factor)``. With ``biased=True``
    the biases are learned by SGD during the epoch, as in ``SVD``. Without biases, a
    prediction for an unknown user or item is impossible (``PredictionImpossible``; the
    estimate falls back to the global mean).

    Parameters
    ----------
    n_factors : int, default 15
    n_epochs : int, default 50
    biased : bool, default False
        Whether to use baselines (``mu + bu + bi``).
    reg_pu, reg_qi : float, default 0.06
        Regularisation of the user and item factors.
    reg_bu, reg_bi : float, default 0.02
        Regularisation of the biases (biased only).
    lr_bu, lr_bi : float, default 0.005
        Learning rates of the biases (biased only).
    init_low, init_high : float, default 0 and 1
        Bounds of the uniform initialisation of the factors. ``init_low < 0`` raises
        ``ValueError`` at construction, as in Surprise.
    random_state : None, int or numpy.random.RandomState
        Seed of the initialisation (``pu`` then ``qi``, as Surprise draws them). None uses
        numpy's global generator.
    verbose : bool, default False
        Print ``"Processing epoch k"`` before every epoch.
    schedule : {'blocked', 'exact'} or None, default None
        ``'exact'``: Surprise's epoch in float64, bit-identical factors. ``'blocked'``: the
        parallel schedule. None means ``$TURBOSVD_SCHEDULE`` if set, else ``'blocked'``.
    dtype : {None, numpy.float32, numpy.float64}, default None
        Floating type on the parallel schedule (None means float32).
    n_jobs : int or None
        Threads for training (parallel schedule) and prediction.
    early_stopping, validation_fraction, n_iter_no_change, tol, refit
        Early stopping on a hold-out of the training ratings, exactly as ``SVD``'s (see
        there): off by default, which trains Surprise's ``n_epochs``.

    Attributes
    ----------
    pu, qi : numpy.ndarray of shape (n_users, n_factors) and (n_items, n_factors)
    bu, bi : numpy.ndarray of shape (n_users,) and (n_items,) (zeros unless ``biased``)
    trainset : Trainset
    history_ : dict of lists
        The learning curve, as ``SVD.history_`` (with ``history=True``, ``eval_set`` or
        early stopping).
    n_epochs_, best_epoch_ : int
        With ``early_stopping``: epochs run, and the epoch kept (as ``SVD``'s).

    Notes
    -----
    Top-N (``recommend``, ``recommend_all``, ``similar_users``, ``similar_items``): the
    user vectors are ``pu``, the item vectors ``qi`` (similarities are their cosines), the
    item term ``bi`` when ``biased``. Without biases an unknown user has no estimate, so
    ``recommend`` refuses ``cold_start="bias"`` for it, as ``predict`` is impossible.
    """

    def __init__(
        self,
        n_factors=15,
        n_epochs=50,
        biased=False,
        reg_pu=0.06,
        reg_qi=0.06,
        reg_bu=0.02,
        reg_bi=0.02,
        lr_bu=0.005,
        lr_bi=0.005,
        init_low=0,
        init_high=1,
        random_state=None,
        verbose=False,
        *,
        schedule=None,
        dtype=None,
        n_jobs=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        refit=True,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.biased = biased
        self.reg_pu = reg_pu
        self.reg_qi = reg_qi
        self.lr_bu = lr_bu
        self.lr_bi = lr_bi
        self.reg_bu = reg_bu
        self.reg_bi = reg_bi
        self.init_low = init_low
        self.init_high = init_high
        self.random_state = random_state
        self.verbose = verbose
        self.schedule = default_schedule() if schedule is None else schedule
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.refit = refit
        if self.init_low < 0:
            raise ValueError("init_low should be greater than zero")
        AlgoBase.__init__(self)

    def __setstate__(self, state):
        state.setdefault("schedule", "exact")
        state.setdefault("dtype", None)
        state.setdefault("n_jobs", None)
        for name, value in _ES_DEFAULTS.items():
            state.setdefault(name, value)
        self.__dict__.update(state)

    # --------------------------------------------------------------------- training
    def fit(self, trainset, *, eval_set=None, history=False, progress=None):
        """Learn the factors (and biases) from ``trainset``; returns ``self``.

        On error or ``KeyboardInterrupt`` the model keeps its previous state. ``eval_set``,
        ``history`` and ``progress`` are ``SVD.fit``'s (learning curve, progress bar).
        """
        self._validate(trainset)
        params, monitor, stopped = fit_monitored(
            self, trainset, self._train, eval_set=eval_set, history=history, progress=progress
        )
        AlgoBase.fit(self, trainset)
        self.bu, self.bi, self.pu, self.qi = params
        finish_fit(self, monitor, stopped)
        return self

    def sgd(self, trainset):
        """Run the optimisation (Surprise's name for the training step) and set the parameters."""
        self._validate(trainset)
        self.bu, self.bi, self.pu, self.qi = self._train(trainset)

    def _validate(self, trainset, fitting: bool = True) -> np.dtype:
        check_early_stopping(self)
        if fitting:
            check_trainset(trainset)
        if not isinstance(self.biased, (bool, np.bool_)):
            raise TypeError(f"biased must be True or False, got {self.biased!r}")
        check_int("n_factors", self.n_factors, min_value=0)
        check_int("n_epochs", self.n_epochs, min_value=0)
        check_real("init_low", self.init_low, min_value=0)
        check_real("init_high", self.init_high)
        check_rates(self, _RATES)
        dtype = resolve_dtype(self.schedule, self.dtype)
        check_alloc(
            f"n_factors={self.n_factors} on {trainset.n_users} users and {trainset.n_items} items",
            3 * dtype.itemsize * self.n_factors * (trainset.n_users + trainset.n_items),
        )
        return dtype

    def _train(self, trainset, n_epochs=None):
        """Initialise (Surprise's draws, in Surprise's order) and run the epochs.

        ``n_epochs`` (default ``self.n_epochs``) is the maximum: the monitor may stop earlier.
        """
        dtype = self._validate(trainset)
        n_epochs = self.n_epochs if n_epochs is None else int(n_epochs)
        n_threads = self._n_threads()  # validates n_jobs before the RNG moves
        rng = get_rng(self.random_state)
        k, low, high = self.n_factors, self.init_low, self.init_high
        pu = draw(rng, "uniform", low, high, trainset.n_users, k, dtype)
        qi = draw(rng, "uniform", low, high, trainset.n_items, k, dtype)
        bu = np.zeros(trainset.n_users, dtype=dtype)
        bi = np.zeros(trainset.n_items, dtype=dtype)
        rates = tuple(float(getattr(self, name)) for name in _RATES)
        biased, verbose = bool(self.biased), bool(self.verbose)
        hooks = (self._epoch_done, self._monitor_wants_model)
        if self.schedule == "exact":
            _loops.fit_exact(trainset, pu, qi, bu, bi, biased, rates, n_epochs, verbose, *hooks)
        else:
            n_threads = training_threads(n_threads, trainset.n_ratings)
            pu, qi, bu, bi = _loops.fit_parallel(
                trainset, pu, qi, bu, bi, biased, rates, n_epochs, verbose, n_threads, *hooks
            )
        return bu, bi, pu, qi

    # ------------------------------------------------------- assembling from arrays
    @classmethod
    def _from_factors(cls, trainset, pu, qi, bu, bi, **params) -> NMF:
        """A fitted ``NMF`` from its arrays, without training (model files).

        ``BiasedFactorModelMixin._from_factors``'s checks, and non-negative factors.
        """
        for name, a in (("pu", pu), ("qi", qi)):
            a = np.asarray(a)
            if a.size and a.dtype.kind == "f" and np.nanmin(a) < 0:
                raise ValueError(f"{name} holds negative values: NMF's factors are non-negative")
        return super()._from_factors(trainset, pu, qi, bu, bi, **params)


NMF._batch_impl = NMF
register_model(NMF)
