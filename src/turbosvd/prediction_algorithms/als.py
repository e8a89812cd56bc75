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

from .._validation import check_alloc, check_int, check_real
from ..als import solver as als
from ..foldin import FoldInMixin
from ..persist import ModelFileMixin, register_model
from ..topn.recommend import RecommendMixin
from ..train.monitor import TrainingMonitorMixin
from ..trainset import Trainset
from ..utils import get_rng
from ._factor_model import FLOAT_DTYPES, BiasedFactorModelMixin
from .algo_base import AlgoBase

__all__ = ["ALS"]


class ALS(
    BiasedFactorModelMixin,
    ModelFileMixin,
    TrainingMonitorMixin,
    RecommendMixin,
    FoldInMixin,
    AlgoBase,
):
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
        if dtype is None or dtype not in FLOAT_DTYPES:
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

    # ------------------------------------------------------------------ fold-in
    def partial_fit_users(self, ratings):
        """Fold users in: one ALS user solve on the fixed items; returns ``self``.

        Each user of ``ratings`` gets ``[pu[u], bu[u]]`` from the exact solve of its
        normal equations with the item factors, item biases and global mean fixed, the
        regularisation of training (``reg`` times the user's number of ratings): the user
        half of a sweep, by Cholesky (whatever ``solver`` trained the model). With
        ``reg=0`` and fewer ratings than unknowns, the minimum-norm least-squares
        solution. New users join the model: ``predict``, ``test``, ``recommend`` (their
        rated items are excluded), ``similar_users``, ``save`` and ``dump`` treat them like
        the users of the training set; a known user's row is recomputed from the given
        ratings only, which replace its ratings in ``trainset``. Users are solved in
        parallel (``n_jobs``); the result does not depend on the number of threads.

        Parameters
        ----------
        ratings : pandas.DataFrame or iterable of (raw_uid, raw_iid, rating)
            A DataFrame's first three columns are user, item and rating, as in
            ``Dataset.load_from_df``. Ids are raw ids, as in the training data.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``ratings`` is empty, a rating is not a number or lies outside the model's
            rating scale, or a user has no rating on an item the model knows (then nothing
            is changed).

        Warns
        -----
        UserWarning
            Once, with the count, when ratings on items unknown to the model are skipped.

        Notes
        -----
        ``self.trainset`` is copied on the first fold-in, so the trainset given to ``fit``
        is never modified. ``pu`` and ``bu`` gain one row per new user.
        """
        return super().partial_fit_users(ratings)

    def _foldin_rotation_task(self, items) -> None:
        """None: ALS folds users in by its own exact solve (no conjugate gradients)."""

    def _foldin_solve(self, indptr, items, ratings, rotation=None) -> tuple[np.ndarray, np.ndarray]:
        qi = np.ascontiguousarray(self.qi)
        bi = np.ascontiguousarray(self.bi, dtype=qi.dtype)
        return als.fold_in(
            indptr, items, ratings, qi, bi, float(self.trainset.global_mean),
            biased=bool(self.biased), reg=float(self.reg), n_threads=self._n_threads(),
        )  # fmt: skip


ALS._batch_impl = ALS
register_model(ALS)
