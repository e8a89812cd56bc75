"""``SVD``: biased matrix factorisation trained by SGD (Funk, Koren), Surprise-compatible.

``SVDpp`` and ``NMF`` (defined in ``svdpp.py`` and ``nmf.py``) are importable from here too,
as from Surprise's ``surprise.prediction_algorithms.matrix_factorization``.

The epoch loop runs here in Python (verbose output, divergence checks and Ctrl-C work
between epochs); each epoch's body is one compiled call with the GIL released.

Two training schedules share the update rule:

- ``"exact"`` visits the ratings in Surprise's order in float64 with Surprise's formulas
  (``csrc/turbosvd/sgd.hpp``; within ~1e-14 of Surprise's factors).
- ``"blocked"`` (the default) visits them block by block over a grid of user bins x item
  bins, in conflict-free waves that run in parallel, in float32 by default
  (``csrc/turbosvd/sgd_blocked.hpp``). It is much faster and reaches the same accuracy; its
  result does not depend on the number of threads, but it is not Surprise's bit pattern.

The environment variable ``TURBOSVD_SCHEDULE`` (``exact`` or ``blocked``) changes the
default, so a drop-in user can get Surprise's exact numbers without touching code.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import check_alloc, check_int, check_rates, check_real
from ..foldin import FoldInMixin, foldin_reg
from ..persist import ModelFileMixin, register_model
from ..topn.recommend import RecommendMixin
from ..train import sgd as _train
from ..train.early_stopping import DEFAULTS as _ES_DEFAULTS
from ..train.early_stopping import (
    check_early_stopping,
    epochs_trained,
    finish_fit,
    fit_monitored,
)
from ..train.monitor import TrainingMonitorMixin
from ..train.schedule import SCHEDULES as _SCHEDULES
from ..train.schedule import default_schedule
from ..trainset import Trainset
from ..utils import get_rng
from ._factor_model import FLOAT_DTYPES, BiasedFactorModelMixin
from .algo_base import AlgoBase
from .nmf import NMF
from .svdpp import SVDpp

__all__ = ["NMF", "SVD", "SVDpp"]


_RATES = ("lr_bu", "lr_bi", "lr_pu", "lr_qi", "reg_bu", "reg_bi", "reg_pu", "reg_qi")
_LR_SCHEDULES = ("constant", "adagrad")


class SVD(
    BiasedFactorModelMixin,
    ModelFileMixin,
    TrainingMonitorMixin,
    RecommendMixin,
    FoldInMixin,
    AlgoBase,
):
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
    schedule : {'blocked', 'exact'} or None, default None
        ``'exact'`` visits the ratings in Surprise's order with Surprise's update formula in
        float64. Only the summation order inside each dot product differs (SIMD lanes), so
        factors and estimates stay within ~1e-14 of Surprise's (tested to 1e-10).
        ``'blocked'`` trains over a grid of user bins x item bins in parallel waves: the
        same update rule in another order, much faster, with the same accuracy, and with
        results that do not depend on ``n_jobs``. None means ``$TURBOSVD_SCHEDULE`` if set,
        else ``'blocked'``; it is resolved when the object is built and stored in
        ``schedule``.
    dtype : {None, numpy.float32, numpy.float64}, default None
        Floating type of the model on the blocked schedule (None means float32). The
        exact schedule always computes in float64; asking it for float32 is an error.
    n_jobs : int or None
        Threads for training (blocked schedule) and prediction. None uses OpenMP's default
        (``OMP_NUM_THREADS``) capped by the CPUs; negative counts back from the CPUs.
    learning_rate_schedule : {'constant', 'adagrad'}, default 'constant'
        ``'constant'``: every step uses the rates ``lr_*`` (Surprise's SGD). ``'adagrad'``
        (blocked schedule only): LIBMF's per-vector AdaGrad, where each user vector, item
        vector and bias keeps the sum ``G`` (from 1) of its mean squared gradients and
        steps by ``lr / sqrt(G)``; the ``lr_*`` are then initial rates and want to be much
        larger than Surprise's 0.005 (LIBMF's default is 0.1; on synthetic 1M ratings
        ``lr_all=0.1`` with early stopping was best, ``bench/results/bench_adaptive_rate.md``).
        Results stay independent of ``n_jobs``.

    early_stopping : bool, default False
        Stop training when the RMSE on a hold-out of the training ratings stops improving
        (scikit-learn's names and rule). ``fit`` holds out ``validation_fraction`` of the
        ratings (drawn from ``random_state`` before the initial factors), trains on the rest,
        scores the hold-out after every epoch, stops after ``n_iter_no_change`` epochs in a
        row without an improvement of at least ``tol`` (``n_epochs`` is then the maximum) and
        keeps the best epoch. False (the default) trains exactly as before, Surprise's
        numbers included.
    validation_fraction : float, default 0.1
        Share of the training ratings held out for early stopping, in (0, 1).
    n_iter_no_change : int, default 5
        Epochs without improvement before early stopping stops.
    tol : float, default 1e-4
        Minimum decrease of the hold-out RMSE that counts as an improvement.
    refit : bool, default True
        After early stopping, train again on all the training ratings for the chosen
        number of epochs (``best_epoch_``), with the same ``random_state``: a model trained
        on 90 % of the ratings is measurably less accurate. False keeps the model of the
        best epoch trained on the rest (faster; its ``trainset`` is still the full one).

    Attributes
    ----------
    pu, qi : numpy.ndarray of shape (n_users, n_factors) and (n_items, n_factors)
        C-contiguous, writable; float32 on the blocked schedule unless ``dtype`` says
        otherwise, float64 on the exact one.
    bu, bi : numpy.ndarray of shape (n_users,) and (n_items,)
        Same dtype as the factors.
    trainset : Trainset
    history_ : dict of list
        The learning curve of the last ``fit`` that asked for one (``history=True`` or
        ``eval_set``): ``epoch`` (1-based), ``train_rmse``, ``val_rmse`` (with an
        ``eval_set``) and ``time`` (training seconds so far, evaluation excluded). With
        ``early_stopping`` it is always recorded, for the epochs run before stopping, with
        ``holdout_rmse`` (the hold-out's RMSE); ``train_rmse`` (on the ratings trained on)
        only with ``history=True``.
    n_epochs_ : int
        With ``early_stopping``: the epochs run before stopping.
    best_epoch_ : int
        With ``early_stopping``: the epoch (1-based) of the lowest hold-out RMSE, which is
        the number of epochs of the final model (refitted or kept).


    Notes
    -----
    The initial factors are always Surprise's draws (``pu`` then ``qi`` from
    ``random_state``, float64, cast to float32 on the float32 path), so a seeded global
    numpy generator advances exactly as with Surprise whatever the schedule.
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
        schedule=None,
        dtype=None,
        n_jobs=None,
        learning_rate_schedule="constant",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        refit=True,
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
        self.schedule = default_schedule() if schedule is None else schedule
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.learning_rate_schedule = learning_rate_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.refit = refit
        AlgoBase.__init__(self)

    def __setstate__(self, state):
        # Pickles from scikit-surprise (or older turbosvd) lack the newer parameters; they
        # were trained with Surprise's order.
        state.setdefault("schedule", "exact")
        state.setdefault("dtype", None)
        state.setdefault("n_jobs", None)
        state.setdefault("learning_rate_schedule", "constant")
        for name, value in _ES_DEFAULTS.items():
            state.setdefault(name, value)
        self.__dict__.update(state)

    def fit(self, trainset, *, eval_set=None, history=False, progress=None):
        """Learn the biases and factors from ``trainset``; returns ``self``.

        On error or ``KeyboardInterrupt`` the model keeps its previous state.

        Parameters
        ----------
        trainset : Trainset
        eval_set : list of (uid, iid, r_ui), optional
            Validation ratings (e.g. the testset of ``train_test_split``): their RMSE after
            each epoch is recorded in ``history_['val_rmse']``.
        history : bool, default False
            Record the training RMSE after each epoch in ``history_`` (implied by
            ``eval_set``). Each evaluation costs one batch prediction over the ratings.
        progress : bool or None, default None
            Progress bar on stderr. None shows it for fits lasting over a second when
            stderr is a terminal or ``verbose`` is set; True always; False never. Stdout
            (and so ``verbose``'s ``Processing epoch k`` lines) is not affected.
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
        """Run the SGD (Surprise's name for the training step) and set the parameters."""
        self._validate(trainset)
        self.bu, self.bi, self.pu, self.qi = self._train(trainset)

    def _rates(self):
        return check_rates(self, _RATES, shared=("bu", "bi", "pu", "qi"))

    def _validate(self, trainset, fitting: bool = True):
        check_early_stopping(self)
        if not isinstance(trainset, Trainset):
            raise TypeError(
                "fit() needs a Trainset (from Dataset.build_full_trainset(), "
                f"train_test_split or a CV iterator), got {type(trainset).__name__}"
            )
        if not isinstance(self.biased, (bool, np.bool_)):
            raise TypeError(f"biased must be True or False, got {self.biased!r}")
        check_int("n_factors", self.n_factors, min_value=0)
        check_int("n_epochs", self.n_epochs, min_value=0)
        check_real("init_mean", self.init_mean)
        check_real("init_std_dev", self.init_std_dev, min_value=0)
        self._rates()
        dtype = self._dtype()
        self._adagrad()
        if fitting and trainset.n_ratings == 0:
            raise ValueError("the trainset is empty: it has no ratings")
        check_alloc(
            f"n_factors={self.n_factors} on {trainset.n_users} users and {trainset.n_items} items",
            dtype.itemsize * self.n_factors * (trainset.n_users + trainset.n_items),
        )

    def _dtype(self) -> np.dtype:
        """The model's floating type for ``schedule`` and ``dtype`` (validates both)."""
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is not one of {_SCHEDULES}")
        if self.dtype is None:
            return np.dtype(np.float32 if self.schedule == "blocked" else np.float64)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype is None or dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"dtype={self.dtype!r} is not supported: use None, numpy.float32 or numpy.float64"
            )
        if self.schedule == "exact" and dtype != np.float64:
            raise ValueError(
                f"dtype={self.dtype!r} does not work with schedule='exact', which computes in "
                "float64 to match Surprise; use schedule='blocked' for float32"
            )
        return dtype

    def _adagrad(self) -> bool:
        """Whether ``learning_rate_schedule`` asks for AdaGrad (validates it)."""
        value = self.learning_rate_schedule
        if not isinstance(value, str) or value not in _LR_SCHEDULES:
            raise ValueError(f"learning_rate_schedule={value!r} is not one of {_LR_SCHEDULES}")
        if value == "adagrad" and self.schedule == "exact":
            raise ValueError(
                "learning_rate_schedule='adagrad' does not work with schedule='exact', which "
                "reproduces Surprise's constant-rate SGD; use schedule='blocked'"
            )
        return value == "adagrad"

    def _sgd_params(self):
        return _train.SGDParams(
            n_factors=self.n_factors,
            n_epochs=self.n_epochs,
            init_mean=self.init_mean,
            init_std_dev=self.init_std_dev,
            rates=self._rates(),
            biased=bool(self.biased),
            verbose=bool(self.verbose),
            adagrad=self._adagrad(),
        )

    def _train(self, trainset, n_epochs=None):
        """Initialise (Surprise's RNG draws, in Surprise's order) and run the epochs.

        ``n_epochs`` (default ``self.n_epochs``) is the maximum: the monitor may stop earlier.
        """
        params = self._sgd_params()
        if n_epochs is not None:
            params = dataclasses.replace(params, n_epochs=int(n_epochs))
        if self.schedule == "blocked":
            # Validates n_jobs before the RNG moves.
            dtype, n_threads = self._dtype(), self._n_threads()
            rng = get_rng(self.random_state)
            return _train.train_blocked(
                trainset, params, rng, dtype, n_threads, self._epoch_done, self._monitor_wants_model
            )
        return _train.train_exact(trainset, params, get_rng(self.random_state), self._epoch_done)

    def _foldin_reg(self):
        """Ridge penalties of fold-in consistent with this training (see turbosvd.foldin)."""
        lr_bu, _, lr_pu, _, reg_bu, _, reg_pu, _ = self._rates()
        return foldin_reg(epochs_trained(self), lr_pu, reg_pu, lr_bu, reg_bu)


SVD._batch_impl = SVD
register_model(SVD)
