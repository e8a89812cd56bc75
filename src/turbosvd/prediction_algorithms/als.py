"""``ALS``: explicit-feedback matrix factorisation with biases, by alternating least squares.

The model is SVD's: ``r_ui ~ mu + bu[u] + bi[i] + qi[i] . pu[u]`` (only the dot product
when ``biased=False``), so predictions, top-N, model files and Spark converters treat
both alike. Training alternates exact (or conjugate-gradient) least-squares solves of
every user row ``[pu[u], bu[u]]`` with the items fixed, then of every item row
``[qi[i], bi[i]]`` with the users fixed, minimising

    sum over ratings (r_ui - mu - bu - bi - qi . pu)^2
      + reg * (sum_u n_u (|pu|^2 + bu^2) + sum_i n_i (|qi|^2 + bi^2))

where ``n_u`` and ``n_i`` count the ratings of the row (ALS-WR, Zhou et al. 2008; Spark's
``regParam`` and cmfrec's ``scale_lam=True``). ``mu`` is the training mean, fixed. The
sweep loop lives in :mod:`turbosvd.als`, the per-row solver in ``csrc/turbosvd/als.hpp``.
"""

from __future__ import annotations

import numpy as np

from .. import _sgd
from .._validation import check_alloc, check_int, check_real
from ..als import solver as als
from ..persist import ModelFileMixin, register_model
from ..topn.recommend import RecommendMixin
from ..train.monitor import TrainingMonitorMixin
from ..trainset import Trainset
from ..utils import get_rng
from .algo_base import AlgoBase
from .predictions import PredictionImpossible

__all__ = ["ALS"]

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class ALS(ModelFileMixin, TrainingMonitorMixin, RecommendMixin, AlgoBase):
    """Biased matrix factorisation trained by alternating least squares (ALS-WR).

    Same prediction as :class:`SVD`: ``mu + bu[u] + bi[i] + qi[i] . pu[u]``; unknown users
    or items contribute zero. Each sweep solves all user rows, then all item rows, in
    parallel; the result does not depend on ``n_jobs``.

    Parameters
    ----------
    n_factors : int, default 100
        Number of latent factors.
    n_epochs : int, default 15
        Number of sweeps (each solves every user row, then every item row).
    reg : float, default 0.1
        Regularisation, multiplied for each row by its number of ratings (ALS-WR, like
        Spark's ``regParam``); it applies to the factors and to the biases. ``reg=0`` is
        allowed: rows whose system is then singular get the least-squares solution
        nearest their previous value.
    biased : bool, default True
        Learn a bias per user and per item (solved jointly with the factors) and use the
        global mean. False fits ``qi . pu`` to the raw ratings.
    init_std_dev : float, default 0.1
        Standard deviation of the normal initialisation of ``pu`` and ``qi`` (mean 0).
    random_state : None, int or numpy.random.RandomState
        Seed of the initialisation (``pu`` drawn first, then ``qi``, as Surprise's SVD).
        None uses numpy's global generator.
    verbose : bool, default False
        Print ``Processing epoch k`` for every sweep.
    solver : {'cg', 'cholesky'}, default 'cg'
        ``'cg'``: ``cg_steps`` conjugate-gradient steps per row, warm-started from the
        previous sweep (never forms the normal equations; fastest, measured in
        ``bench/bench_als.py``). ``'cholesky'``: the exact solution of each row's normal
        equations.
    cg_steps : int, default 3
        Conjugate-gradient steps per row and sweep (``solver='cg'``).
    dtype : {None, numpy.float32, numpy.float64}, default None
        Floating type of the model and of the computation (None means float32).
    n_jobs : int or None
        Threads for training and prediction. None uses OpenMP's default
        (``OMP_NUM_THREADS``) capped by the CPUs; negative counts back from the CPUs.

    Attributes
    ----------
    pu, qi : numpy.ndarray of shape (n_users, n_factors) and (n_items, n_factors)
    bu, bi : numpy.ndarray of shape (n_users,) and (n_items,)
        Zero when ``biased=False``. All four share ``dtype``.
    trainset : Trainset
    history_ : dict of list
        Learning curve of the last ``fit`` that asked for one (see :meth:`fit`).
    """

    def __init__(
        self,
        n_factors=100,
        n_epochs=15,
        reg=0.1,
        biased=True,
        init_std_dev=0.1,
        random_state=None,
        verbose=False,
        *,
        solver="cg",
        cg_steps=3,
        dtype=None,
        n_jobs=None,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.reg = reg
        self.biased = biased
        self.init_std_dev = init_std_dev
        self.random_state = random_state
        self.verbose = verbose
        self.solver = solver
        self.cg_steps = cg_steps
        self.dtype = dtype
        self.n_jobs = n_jobs
        AlgoBase.__init__(self)

    def fit(self, trainset, *, eval_set=None, history=False, progress=None):
        """Learn the biases and factors from ``trainset``; returns ``self``.

        On error or ``KeyboardInterrupt`` the model keeps its previous state.

        Parameters
        ----------
        trainset : Trainset
        eval_set : list of (uid, iid, r_ui), optional
            Validation ratings whose RMSE is recorded after each sweep in
            ``history_['val_rmse']``.
        history : bool, default False
            Record the training RMSE after each sweep in ``history_``.
        progress : bool or None, default None
            Progress bar on stderr (see :meth:`SVD.fit`).
        """
        self._validate(trainset)
        with self._monitoring(
            trainset, eval_set=eval_set, history=history, progress=progress
        ) as monitor:
            params = self._train(trainset)
        AlgoBase.fit(self, trainset)
        self.bu, self.bi, self.pu, self.qi = params
        monitor.commit(self)
        return self

    # ------------------------------------------------------------------ validation
    def _validate(self, trainset, fitting: bool = True) -> None:
        if not isinstance(trainset, Trainset):
            raise TypeError(
                "fit() needs a Trainset (from Dataset.build_full_trainset(), "
                f"train_test_split or a CV iterator), got {type(trainset).__name__}"
            )
        self._check_params()
        if fitting and trainset.n_ratings == 0:
            raise ValueError("the trainset is empty: it has no ratings")
        # The padded working copy and the returned factors.
        width = 2 * self.n_factors + 36
        check_alloc(
            f"n_factors={self.n_factors} on {trainset.n_users} users and {trainset.n_items} items",
            self._dtype().itemsize * width * (trainset.n_users + trainset.n_items),
        )

    def _check_params(self) -> None:
        if not isinstance(self.biased, (bool, np.bool_)):
            raise TypeError(f"biased must be True or False, got {self.biased!r}")
        check_int("n_factors", self.n_factors, min_value=1)
        check_int("n_epochs", self.n_epochs, min_value=0)
        check_real("reg", self.reg, min_value=0)
        check_real("init_std_dev", self.init_std_dev, min_value=0)
        if not isinstance(self.solver, str) or self.solver not in als.SOLVERS:
            raise ValueError(f"solver={self.solver!r} is not one of {als.SOLVERS}")
        check_int("cg_steps", self.cg_steps, min_value=1)
        if self.cg_steps > 1000:
            raise ValueError(f"cg_steps={self.cg_steps!r} is out of range: must be <= 1000")
        self._dtype()
        self._n_threads()

    def _dtype(self) -> np.dtype:
        if self.dtype is None:
            return np.dtype(np.float32)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype is None or dtype not in _DTYPES:
            raise ValueError(
                f"dtype={self.dtype!r} is not supported: use None, numpy.float32 or numpy.float64"
            )
        return dtype

    # ------------------------------------------------------------------ training
    def _train(self, trainset):
        dtype = self._dtype()
        k = int(self.n_factors)
        biased = bool(self.biased)
        n_threads = self._n_threads()
        mean = float(trainset.global_mean) if biased else 0.0
        users = als.row_ratings(*trainset.user_csr(), mean, dtype)
        items = als.row_ratings(*trainset.item_csr(), mean, dtype)
        rng = get_rng(self.random_state)
        std = float(self.init_std_dev)
        U = als.init_side(rng, trainset.n_users, k, std, biased, dtype)
        V = als.init_side(rng, trainset.n_items, k, std, biased, dtype)

        def on_sweep(sweep, U, V):
            if self._monitor_wants_model():
                pu, bu = als.unpack(U, k)
                qi, bi = als.unpack(V, k)
                self._epoch_done(sweep, bu, bi, pu, qi)
            else:
                self._epoch_done(sweep, None, None, None, None)

        als.train(
            users, items, U, V, k=k, n_epochs=int(self.n_epochs), biased=biased,
            reg=float(self.reg), solver=self.solver, cg_steps=int(self.cg_steps),
            n_threads=n_threads, verbose=bool(self.verbose), on_sweep=on_sweep,
        )  # fmt: skip
        pu, bu = als.unpack(U, k)
        qi, bi = als.unpack(V, k)
        return bu, bi, pu, qi

    # ------------------------------------------------------------------ from arrays
    @classmethod
    def _from_factors(cls, trainset, pu, qi, bu, bi, **params) -> ALS:
        """A fitted ``ALS`` from its factors and biases, without training.

        The one place a fitted ALS is assembled from arrays: model files
        (``turbosvd.load``) and Spark (``turbosvd.spark.fit_als``).

        Parameters
        ----------
        trainset : Trainset
            What the model was trained on (ids, ratings, ``global_mean``).
        pu, qi, bu, bi : numpy.ndarray
            Factors ``(n_users, k)``, ``(n_items, k)`` and biases, all float32 or all
            float64, finite. Used as given when already C-contiguous.
        **params
            Constructor parameters; ``n_factors`` defaults to ``k``.

        Raises
        ------
        ValueError
            If the arrays do not fit the trainset or each other, or a parameter is
            invalid (message ``invalid parameters (...)``).
        """
        pu, qi, bu, bi = (np.ascontiguousarray(a) for a in (pu, qi, bu, bi))
        _check_factors(trainset, pu, qi, bu, bi)
        params.setdefault("n_factors", pu.shape[1])
        try:
            model = cls(**params)
            model._validate(trainset, fitting=False)
            if model.n_factors != pu.shape[1]:
                raise ValueError(
                    f"n_factors={model.n_factors!r} but the factors have {pu.shape[1]} columns"
                )
        except (TypeError, ValueError) as e:
            raise ValueError(f"invalid parameters ({e})") from None
        AlgoBase.fit(model, trainset)
        model.bu, model.bi, model.pu, model.qi = bu, bi, pu, qi
        return model

    # Model files (turbosvd.persist).
    _file_arrays = ("pu", "qi", "bu", "bi")

    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in self._file_arrays}
        dtypes = {a.dtype for a in arrays.values()}
        if len(dtypes) != 1 or not dtypes <= set(_DTYPES):
            raise ValueError(
                f"cannot save: pu, qi, bu and bi must share a float32 or float64 dtype, got "
                f"{[str(a.dtype) for a in arrays.values()]}"
            )
        return arrays

    @classmethod
    def _from_arrays(cls, trainset, arrays: dict, params: dict) -> ALS:
        return cls._from_factors(trainset, *(arrays[k] for k in cls._file_arrays), **params)

    # Top-N (turbosvd.topn.recommend): estimate = mu + bu[u] + bi[i] + pu[u] . qi[i].
    def _user_vectors(self) -> np.ndarray:
        return self.pu

    def _item_vectors(self) -> np.ndarray:
        return self.qi

    def _item_biases(self) -> np.ndarray | None:
        return self.bi if self.biased else None

    # ------------------------------------------------------------------ prediction
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


ALS._batch_impl = ALS
register_model(ALS)


def _check_factors(trainset, pu, qi, bu, bi) -> None:
    """Shapes, dtypes and finiteness of factors and biases against a trainset."""
    n_users, n_items = trainset.n_users, trainset.n_items
    if pu.dtype not in _DTYPES or {qi.dtype, bu.dtype, bi.dtype} != {pu.dtype}:
        raise ValueError(
            f"pu, qi, bu, bi must share a float32 or float64 dtype, got "
            f"{[str(a.dtype) for a in (pu, qi, bu, bi)]}"
        )
    if pu.ndim != 2 or qi.ndim != 2 or pu.shape[1] != qi.shape[1]:
        raise ValueError(
            f"pu {pu.shape} and qi {qi.shape} must be matrices with the same number of columns"
        )
    if pu.shape[0] != n_users or bu.shape != (n_users,):
        raise ValueError(f"pu {pu.shape} and bu {bu.shape} do not match n_users={n_users}")
    if qi.shape[0] != n_items or bi.shape != (n_items,):
        raise ValueError(f"qi {qi.shape} and bi {bi.shape} do not match n_items={n_items}")
    for name, a in zip(("pu", "qi", "bu", "bi"), (pu, qi, bu, bi), strict=True):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or infinite values")
