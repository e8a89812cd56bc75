"""``SVDpp``: SVD++ (Koren 2008), SVD with implicit feedback, Surprise-compatible.

The prediction is ``mu + bu[u] + bi[i] + qi[i] . (pu[u] + |I_u|^-1/2 sum_{j in I_u} yj[j])``.
The epoch loops live in ``turbosvd.train.svdpp``, the kernels in ``csrc/turbosvd/svdpp.hpp``:

- ``schedule="exact"`` (or ``TURBOSVD_SCHEDULE=exact``) is Surprise's epoch, operation for
  operation, in float64: the factors are scikit-surprise's bit for bit.
- ``schedule="blocked"`` (the default; the name is shared with ``SVD`` so one environment
  variable switches every model) is the user-batched schedule: each user's implicit sum is
  computed once and its y update applied once per epoch, O(|R| k) per epoch instead of
  Surprise's O(sum_u |I_u|^2 k), float32 by default. With distinct (user, item) pairs it
  is Surprise's algorithm reorganised, so the accuracy is Surprise's.
"""

from __future__ import annotations

import numpy as np

from .. import _mf, _sgd
from .._validation import check_alloc, check_int, check_rates, check_real
from ..foldin import FoldInMixin, foldin_reg
from ..persist import ModelFileMixin, register_model
from ..topn.recommend import RecommendMixin
from ..train import svdpp as _loops
from ..train.common import check_factor_arrays, check_trainset, draw
from ..train.early_stopping import DEFAULTS as _ES_DEFAULTS
from ..train.early_stopping import (
    check_early_stopping,
    epochs_trained,
    finish_fit,
    fit_monitored,
)
from ..train.monitor import TrainingMonitorMixin
from ..train.schedule import default_schedule, resolve_dtype
from ..utils import get_rng
from .algo_base import AlgoBase

__all__ = ["SVDpp"]

_RATES = (
    "lr_bu",
    "lr_bi",
    "lr_pu",
    "lr_qi",
    "lr_yj",
    "reg_bu",
    "reg_bi",
    "reg_pu",
    "reg_qi",
    "reg_yj",
)


class SVDpp(ModelFileMixin, TrainingMonitorMixin, RecommendMixin, FoldInMixin, AlgoBase):
    """The *SVD++* algorithm, an extension of ``SVD`` taking implicit ratings into account.

    An implicit rating is the fact that a user rated an item, whatever the value. Unknown
    users or items contribute zero (bias and factors), as in Surprise, so a prediction is
    never impossible.

    Parameters
    ----------
    n_factors : int, default 20
        Number of latent factors.
    n_epochs : int, default 20
        Number of SGD passes over the training ratings.
    init_mean, init_std_dev : float, default 0 and 0.1
        Mean and standard deviation of the normal initialisation of ``pu``, ``qi``, ``yj``.
    lr_all, reg_all : float, default 0.007 and 0.02
        Learning rate and regularisation of every parameter (Surprise's code defaults; its
        documentation says 0.005 for the rate, the code uses 0.007).
    lr_bu, lr_bi, lr_pu, lr_qi, lr_yj, reg_bu, reg_bi, reg_pu, reg_qi, reg_yj : float, optional
        Per-parameter overrides of ``lr_all`` / ``reg_all``.
    random_state : None, int or numpy.random.RandomState
        Seed of the initialisation (``pu``, then ``qi``, then ``yj``, as Surprise draws
        them). None uses numpy's global generator.
    verbose : bool, default False
        Print ``" processing epoch k"`` before every epoch (Surprise's line).
    cache_ratings : bool, default False
        Surprise's switch between rebuilding a user's item list at every rating and
        caching it. turbosvd always reads the ratings grouped by user, so it changes
        neither the result nor the speed; it is kept for compatibility.
    schedule : {'blocked', 'exact'} or None, default None
        ``'exact'``: Surprise's epoch in float64, bit-identical factors. ``'blocked'``: the
        user-batched schedule (each user's implicit sum computed once, its y update
        applied once: Surprise's algorithm reorganised), tens to hundreds of times faster,
        the same accuracy, not the same bits. Both train on one thread (every user reads
        the y rows its predecessors updated), so ``n_jobs`` never changes the result. None
        means ``$TURBOSVD_SCHEDULE`` if set, else ``'blocked'``; resolved at construction
        and stored in ``schedule``.
    dtype : {None, numpy.float32, numpy.float64}, default None
        Floating type on the blocked schedule (None means float32). The exact schedule
        always computes in float64.
    n_jobs : int or None
        Threads for prediction (``test``, top-N). None uses OpenMP's default capped by the
        CPUs; negative counts back from the CPUs.
    early_stopping, validation_fraction, n_iter_no_change, tol, refit
        Early stopping on a hold-out of the training ratings, exactly as ``SVD``'s (see
        there): off by default, which trains Surprise's ``n_epochs``. While validating, a
        user's implicit set is the items of its training part; with ``refit=False`` the
        kept model predicts with the whole trainset's implicit sets (the held-out items
        were rated, which is implicit feedback).

    Attributes
    ----------
    pu : numpy.ndarray of shape (n_users, n_factors)
    qi, yj : numpy.ndarray of shape (n_items, n_factors)
        Explicit and implicit item factors.
    bu, bi : numpy.ndarray of shape (n_users,) and (n_items,)
    trainset : Trainset
    history_ : dict of lists
        The learning curve, as ``SVD.history_`` (with ``history=True``, ``eval_set`` or
        early stopping).
    n_epochs_, best_epoch_ : int
        With ``early_stopping``: epochs run, and the epoch kept (as ``SVD``'s).

    Notes
    -----
    Top-N (``recommend``, ``recommend_all``, ``similar_users``, ``similar_items``): a
    user's vector is its effective factor ``pu[u] + |I_u|^-1/2 sum_{j in I_u} yj[j]``
    (``user_vectors()``), an item's is ``qi[i]``, the item term ``bi``; similar items are
    cosines of ``qi``, similar users cosines of the effective user vectors.
    """

    def __init__(
        self,
        n_factors=20,
        n_epochs=20,
        init_mean=0,
        init_std_dev=0.1,
        lr_all=0.007,
        reg_all=0.02,
        lr_bu=None,
        lr_bi=None,
        lr_pu=None,
        lr_qi=None,
        lr_yj=None,
        reg_bu=None,
        reg_bi=None,
        reg_pu=None,
        reg_qi=None,
        reg_yj=None,
        random_state=None,
        verbose=False,
        cache_ratings=False,
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
        self.init_mean = init_mean
        self.init_std_dev = init_std_dev
        self.lr_bu = lr_bu if lr_bu is not None else lr_all
        self.lr_bi = lr_bi if lr_bi is not None else lr_all
        self.lr_pu = lr_pu if lr_pu is not None else lr_all
        self.lr_qi = lr_qi if lr_qi is not None else lr_all
        self.lr_yj = lr_yj if lr_yj is not None else lr_all
        self.reg_bu = reg_bu if reg_bu is not None else reg_all
        self.reg_bi = reg_bi if reg_bi is not None else reg_all
        self.reg_pu = reg_pu if reg_pu is not None else reg_all
        self.reg_qi = reg_qi if reg_qi is not None else reg_all
        self.reg_yj = reg_yj if reg_yj is not None else reg_all
        self.random_state = random_state
        self.verbose = verbose
        self.cache_ratings = cache_ratings
        self.schedule = default_schedule() if schedule is None else schedule
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.refit = refit
        AlgoBase.__init__(self)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_user_items", None)  # a cache, rebuilt from the trainset on demand
        return state

    def __setstate__(self, state):
        # Pickles from scikit-surprise lack the newer parameters; they were trained with
        # Surprise's order.
        state.setdefault("schedule", "exact")
        state.setdefault("dtype", None)
        state.setdefault("n_jobs", None)
        for name, value in _ES_DEFAULTS.items():
            state.setdefault(name, value)
        self.__dict__.update(state)

    # --------------------------------------------------------------------- training
    def fit(self, trainset, *, eval_set=None, history=False, progress=None):
        """Learn the biases and factors from ``trainset``; returns ``self``.

        On error or ``KeyboardInterrupt`` the model keeps its previous state. ``eval_set``,
        ``history`` and ``progress`` are ``SVD.fit``'s (learning curve, progress bar).
        """
        self._validate(trainset)
        params, monitor, stopped = fit_monitored(
            self, trainset, self._train, eval_set=eval_set, history=history, progress=progress
        )
        AlgoBase.fit(self, trainset)
        self.bu, self.bi, self.pu, self.qi, self.yj = params
        self.__dict__.pop("_user_items", None)
        finish_fit(self, monitor, stopped)
        return self

    def sgd(self, trainset):
        """Run the SGD (Surprise's name for the training step) and set the parameters."""
        self._validate(trainset)
        self.bu, self.bi, self.pu, self.qi, self.yj = self._train(trainset)
        self.__dict__.pop("_user_items", None)

    def _rates(self) -> tuple[float, ...]:
        return check_rates(self, _RATES, shared=("bu", "bi", "pu", "qi", "yj"))

    def _validate(self, trainset, fitting: bool = True) -> np.dtype:
        check_early_stopping(self)
        if fitting:
            check_trainset(trainset)
        check_int("n_factors", self.n_factors, min_value=0)
        check_int("n_epochs", self.n_epochs, min_value=0)
        check_real("init_mean", self.init_mean)
        check_real("init_std_dev", self.init_std_dev, min_value=0)
        if not isinstance(self.cache_ratings, (bool, np.bool_)):
            raise TypeError(f"cache_ratings must be True or False, got {self.cache_ratings!r}")
        self._rates()
        dtype = resolve_dtype(self.schedule, self.dtype)
        check_alloc(
            f"n_factors={self.n_factors} on {trainset.n_users} users and {trainset.n_items} items",
            dtype.itemsize * self.n_factors * (trainset.n_users + 2 * trainset.n_items),
        )
        return dtype

    def _train(self, trainset, n_epochs=None):
        """Initialise (Surprise's draws, in Surprise's order) and run the epochs.

        ``n_epochs`` (default ``self.n_epochs``) is the maximum: the monitor may stop earlier.
        """
        dtype = self._validate(trainset)
        n_epochs = self.n_epochs if n_epochs is None else int(n_epochs)
        self._n_threads()  # validates n_jobs before the RNG moves
        rng = get_rng(self.random_state)
        k, mean, std = self.n_factors, self.init_mean, self.init_std_dev
        pu = draw(rng, "normal", mean, std, trainset.n_users, k, dtype)
        qi = draw(rng, "normal", mean, std, trainset.n_items, k, dtype)
        yj = draw(rng, "normal", mean, std, trainset.n_items, k, dtype)
        bu = np.zeros(trainset.n_users, dtype=dtype)
        bi = np.zeros(trainset.n_items, dtype=dtype)
        rates, verbose = self._rates(), bool(self.verbose)
        fit = _loops.fit_exact if self.schedule == "exact" else _loops.fit_blocked
        fit(trainset, pu, qi, yj, bu, bi, rates, n_epochs, verbose, *self._hooks())
        return bu, bi, pu, qi, yj

    def _hooks(self):
        return self._epoch_done, self._monitor_wants_model

    # ------------------------------------------------------- assembling from arrays
    @classmethod
    def _from_factors(cls, trainset, pu, qi, yj, bu, bi, **params) -> SVDpp:
        """A fitted ``SVDpp`` from its arrays, without training (model files).

        Arrays as ``SVD._from_factors``'s plus ``yj`` (n_items x k): shapes against the
        trainset, one float dtype, finite. ``ValueError`` otherwise, or when a parameter is
        invalid.
        """
        arrays = {"pu": pu, "qi": qi, "yj": yj, "bu": bu, "bi": bi}
        arrays = {k: np.ascontiguousarray(a) for k, a in arrays.items()}
        check_factor_arrays(trainset, arrays)
        params.setdefault("n_factors", arrays["pu"].shape[1])
        try:
            model = cls(**params)
            model._validate(trainset, fitting=False)
            if model.n_factors != arrays["pu"].shape[1]:
                raise ValueError(
                    f"n_factors={model.n_factors!r} but the factors have "
                    f"{arrays['pu'].shape[1]} columns"
                )
        except (TypeError, ValueError) as e:
            raise ValueError(f"invalid parameters ({e})") from None
        AlgoBase.fit(model, trainset)
        for name, a in arrays.items():
            setattr(model, name, a)
        return model

    # Model files (turbosvd.persist).
    _file_arrays = ("pu", "qi", "yj", "bu", "bi")

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(getattr(self, name)) for name in self._file_arrays}

    @classmethod
    def _from_arrays(cls, trainset, arrays: dict, params: dict) -> SVDpp:
        return cls._from_factors(trainset, *(arrays[k] for k in cls._file_arrays), **params)

    # Top-N (turbosvd.topn.recommend): estimate = mu + bu[u] + bi[i] + x[u] . qi[i] with x
    # the effective user vectors.
    def _user_vectors(self) -> np.ndarray:
        return self.user_vectors()

    def _item_vectors(self) -> np.ndarray:
        return self.qi

    def _item_biases(self) -> np.ndarray | None:
        return self.bi

    # ---------------------------------------------------------------------- fold-in
    def _foldin_reg(self):
        """Ridge penalties of fold-in consistent with this training (see turbosvd.foldin)."""
        rates = dict(zip(_RATES, self._rates(), strict=True))
        return foldin_reg(
            epochs_trained(self), rates["lr_pu"], rates["reg_pu"], rates["lr_bu"], rates["reg_bu"]
        )

    def _foldin_offsets(self, indptr, items):
        """``qi[i] . |I_u|^-1/2 sum_{j in I_u} yj[j]``: the implicit term, fixed by the items
        the user rated (those given to ``partial_fit_users``), is not refitted."""
        yj = np.ascontiguousarray(self.yj)
        z = _mf.user_vectors(
            indptr, items, np.zeros((len(indptr) - 1, yj.shape[1]), yj.dtype), yj, self._n_threads()
        ).astype(np.float64, copy=False)
        rows = np.repeat(z, np.diff(indptr), axis=0)
        return np.einsum("ij,ij->i", np.asarray(self.qi, dtype=np.float64)[items], rows)

    # ------------------------------------------------------------------- prediction
    def _user_csr(self):
        """``(indptr, items)`` of the trainset grouped by user (cached per trainset revision)."""
        cached = self.__dict__.get("_user_items")
        revision = self.trainset.revision
        if cached is None or cached[0] is not self.trainset or cached[1] != revision:
            indptr, items, _ = self.trainset.user_csr()
            cached = (self.trainset, revision, indptr, items)
            self.__dict__["_user_items"] = cached
        return cached[2], cached[3]

    def user_vectors(self, users=None) -> np.ndarray:
        """The users' effective factors ``pu[u] + |I_u|^-1/2 sum_{j in I_u} yj[j]``.

        Parameters
        ----------
        users : array-like of int, optional
            Inner user ids (all users when None).

        Returns
        -------
        numpy.ndarray of shape (len(users), n_factors)
            In the model's dtype. The implicit sum is Surprise's (rows added in the user's
            rating order, then one division), so in float64 its bits are Surprise's.
        """
        self._check_fitted("user_vectors")
        indptr, items = self._user_csr()
        pu, yj = np.ascontiguousarray(self.pu), np.ascontiguousarray(self.yj)
        if yj.dtype != pu.dtype:
            yj = yj.astype(pu.dtype)
        if users is None:
            out = _mf.user_vectors(indptr, items, pu, yj, self._n_threads())
        else:
            users = np.asarray(users, dtype=np.int64).reshape(-1)
            if len(users) and (users.min() < 0 or users.max() >= len(indptr) - 1):
                raise ValueError("users must be inner user ids of the trainset")
            starts, ends = indptr[users], indptr[users + 1]
            lengths = ends - starts
            sub_ptr = np.zeros(len(users) + 1, dtype=np.int64)
            np.cumsum(lengths, out=sub_ptr[1:])
            offsets = np.arange(sub_ptr[-1], dtype=np.int64) - np.repeat(sub_ptr[:-1], lengths)
            sub_items = items[np.repeat(starts, lengths) + offsets]
            out = _mf.user_vectors(sub_ptr, sub_items, pu[users], yj, self._n_threads())
        return out.astype(pu.dtype, copy=False)

    def estimate(self, u, i):
        """Estimate for inner ids ``u`` and ``i`` (or unknown-id strings), unclipped."""
        known_user = self.trainset.knows_user(u)
        known_item = self.trainset.knows_item(i)
        users = np.array([u if known_user else -1], dtype=np.int32)
        items = np.array([i if known_item else -1], dtype=np.int32)
        est, _ = self._estimate_batch(users, items)
        return est[0]

    def _estimate_batch(self, users, items):
        # Effective vectors of the users asked for only (a single predict costs O(|I_u| k)).
        known = users >= 0
        uniq, inverse = np.unique(users[known], return_inverse=True)
        local = np.full(len(users), -1, dtype=np.int32)
        local[known] = inverse
        vectors = self.user_vectors(uniq)
        c = np.ascontiguousarray
        qi = c(self.qi, dtype=vectors.dtype)
        return _sgd.predict(
            local,
            c(items, dtype=np.int32),
            vectors,
            qi,
            c(np.asarray(self.bu)[uniq], dtype=vectors.dtype),
            c(self.bi, dtype=vectors.dtype),
            float(self.trainset.global_mean),
            True,
            self._n_threads(),
        )


SVDpp._batch_impl = SVDpp
register_model(SVDpp)
