"""The k-NN algorithms of Surprise: ``KNNBasic``, ``KNNWithMeans``, ``KNNWithZScore``,
``KNNBaseline``, with Surprise's constructors, options, estimates and details.

Estimates, ``details['actual_k']``, impossibility flags and ``get_neighbors`` are
Surprise's, bit for bit (the similarities and the neighbour sums are computed in Surprise's
order in float64; see ``csrc/turbosvd/knn_predict.hpp``), on every thread count: there is
one mode, parallel and exact, and ``TURBOSVD_SCHEDULE`` changes nothing here.

What differs is the cost. The n x n similarity matrix is computed at ``fit`` only when it
is small (``SIM_MATRIX_BYTES``); otherwise ``fit`` only prepares the rating groupings and
``test``/``predict`` compute the similarity rows of the users (or items) they need, one
block at a time. ``algo.sim`` is then built the first time someone reads it (refused with
a ``ValueError`` when it cannot fit in memory).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int
from ..neighbors import engine as _nb
from ..neighbors.options import parse_sim_options
from ..persist import ModelFileMixin, register_model
from .algo_base import AlgoBase, _gc_paused
from .optimize_baselines import check_bsl_options
from .predictions import Prediction, PredictionImpossible, _ReadOnlyDetails

__all__ = ["KNNBaseline", "KNNBasic", "KNNWithMeans", "KNNWithZScore", "SymmetricAlgo"]

# Similarity matrices up to this size are computed at fit (ML-100k: 7 MB user-based,
# 22 MB item-based); larger ones only when ``sim`` is read.
SIM_MATRIX_BYTES = 512 * 2**20

_UNKNOWN = "User and/or item is unknown."
_NOT_ENOUGH = "Not enough neighbors."
# Fitted attributes (removed when a fit is interrupted on a fresh model).
_ENGINE_CACHE = "_nb_groups"


class SymmetricAlgo(ModelFileMixin, AlgoBase):
    """Base of the algorithms that work on users or items alike (Surprise's class).

    When ``sim_options['user_based']`` is true, x is a user and y an item; otherwise the
    reverse.
    """

    _knn_kind = "basic"

    def __init__(self, sim_options={}, verbose=True, **kwargs):  # noqa: B006 - Surprise's
        AlgoBase.__init__(self, sim_options=sim_options, **kwargs)
        self.verbose = verbose
        if "n_jobs" in kwargs:
            self.n_jobs = kwargs["n_jobs"]

    # ------------------------------------------------------------------ fitting
    def fit(self, trainset):
        """Train on ``trainset`` and return ``self``.

        On error or ``KeyboardInterrupt`` the model keeps its previous state (a fresh
        model stays unfitted).
        """
        before = dict(self.__dict__)
        try:
            self._fit(trainset)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        return self

    def _check_knn_params(self):
        k = check_int("k", self.k, min_value=1)
        min_k = check_int("min_k", self.min_k, min_value=0)
        if min_k > k:
            raise ValueError(f"min_k={min_k} is larger than k={k}: no prediction could use it")
        opts = parse_sim_options(self.sim_options)
        if not isinstance(self.bsl_options, dict):
            raise TypeError(f"bsl_options must be a dict, got {self.bsl_options!r}")
        return opts

    def _fit(self, trainset, baselines=None):
        opts = self._check_knn_params()
        if trainset.n_ratings == 0:
            raise ValueError("the trainset is empty: k-NN needs at least one rating")
        AlgoBase.fit(self, trainset)
        if baselines is not None:  # from a model file: compute_baselines() returns them
            self.bu, self.bi = baselines
        # A refit (cross_validate reuses the object) must not reuse the previous
        # trainset's groups.
        self.__dict__.pop(_ENGINE_CACHE, None)
        ub = opts.user_based
        self.n_x = trainset.n_users if ub else trainset.n_items
        self.n_y = trainset.n_items if ub else trainset.n_users
        self._prepare(trainset, ub)
        spec = self._sim_spec(opts)
        if self.verbose:
            print(f"Computing the {opts.name} similarity matrix...")
        groups = self._groups()
        self._nb_spec = spec
        self._sim = None
        if 8 * self.n_x * self.n_x <= SIM_MATRIX_BYTES:
            self._sim = _nb.full_matrix(groups, spec, self._n_threads())
        if self.verbose:
            print("Done computing similarity matrix.")

    def _prepare(self, trainset, user_based):
        """Per-algorithm statistics computed before the similarities (means, baselines)."""

    def _groups(self) -> _nb.Groups:
        groups = self.__dict__.get(_ENGINE_CACHE)
        if groups is None:
            groups = _nb.Groups.from_trainset(self.trainset, self.sim_options["user_based"])
            self.__dict__[_ENGINE_CACHE] = groups
        return groups

    def _xr_csr(self):
        """x's ratings in Surprise's ``xr`` order: ``(indptr, ratings)``."""
        if self.sim_options["user_based"]:
            indptr, _, ratings = self.trainset.user_csr()
        else:
            indptr, _, ratings = self.trainset.item_csr()
        return indptr, ratings

    # --------------------------------------------------------------- attributes
    @property
    def sim(self) -> np.ndarray:
        """The n x n similarity matrix (computed on first read when ``fit`` did not)."""
        self._check_fitted("sim")
        if self.__dict__.get("_sim") is None:
            self._sim = _nb.full_matrix(self._groups(), self._nb_spec, self._n_threads())
        return self._sim

    @sim.setter
    def sim(self, value):
        self._sim = value

    @property
    def xr(self):
        """Surprise's ``xr``: the trainset's ``ur`` (user-based) or ``ir``."""
        return self.trainset.ur if self.sim_options["user_based"] else self.trainset.ir

    @property
    def yr(self):
        """Surprise's ``yr``: the trainset's ``ir`` (user-based) or ``ur``."""
        return self.trainset.ir if self.sim_options["user_based"] else self.trainset.ur

    def switch(self, u_stuff, i_stuff):
        """``(x_stuff, y_stuff)`` according to ``user_based``."""
        if self.sim_options["user_based"]:
            return u_stuff, i_stuff
        return i_stuff, u_stuff

    def get_neighbors(self, iid, k):
        """The ``k`` nearest neighbours (inner ids) of the user or item ``iid``.

        Same neighbours and order as Surprise (ties: smaller inner id first); the row is
        computed on its own when the full matrix was not built.
        """
        self._check_fitted("get_neighbors")
        sim = self.__dict__.get("_sim")
        n = self.n_x
        if not (isinstance(iid, (int, np.integer)) and not isinstance(iid, bool) and 0 <= iid < n):
            raise ValueError(f"iid={iid!r} is not an inner id (0 <= iid < {n})")
        if sim is not None:
            row = np.asarray(sim[iid], dtype=np.float64)
        else:
            row = _nb.sim_row(self._groups(), self._nb_spec, int(iid), self._n_threads())
        return _nb.top_neighbors(row, int(iid), k)

    # ------------------------------------------------------------- model files
    # A k-NN model file (turbosvd.save / turbosvd.load) holds the training ratings (written
    # by persist), the constructor parameters and the baselines ``bu``/``bi`` when the model
    # has them (KNNBaseline, or a pearson_baseline similarity; empty arrays otherwise). The
    # similarities, means and standard deviations are not stored: they are exact functions
    # of the ratings and baselines, recomputed at load as ``fit`` computes them (the matrix
    # only when it is small, otherwise rows on demand), so a loaded model predicts bit for
    # bit what the saved one did and a file never grows as n^2. Loading costs about a fit
    # without the baseline estimation.
    _file_arrays = ("bu", "bi")
    _file_required = ()

    def _model_arrays(self) -> dict[str, np.ndarray]:
        if self.bu is None or self.bi is None:
            empty = np.zeros(0, dtype=np.float64)
            return {"bu": empty, "bi": empty}
        return {
            "bu": np.ascontiguousarray(self.bu, dtype=np.float64),
            "bi": np.ascontiguousarray(self.bi, dtype=np.float64),
        }

    @classmethod
    def _from_arrays(cls, trainset, arrays: dict, params: dict):
        for name in ("sim_options", "bsl_options"):
            if not isinstance(params.get(name, {}), dict):
                raise TypeError(f"{name} must be a dict, got {params[name]!r}")
        model = cls(**params)
        try:
            opts = model._check_knn_params()
        except NameError as e:  # Surprise's exception type for an unknown similarity
            raise ValueError(str(e)) from None
        check_bsl_options(model.bsl_options)
        bu, bi = arrays["bu"], arrays["bi"]
        baselines = None
        if bu.size or bi.size:
            if bu.dtype != np.float64 or bi.dtype != np.float64:
                raise ValueError(f"bu and bi must be float64, got {bu.dtype} and {bi.dtype}")
            if bu.shape != (trainset.n_users,) or bi.shape != (trainset.n_items,):
                raise ValueError(
                    f"bu has shape {bu.shape} and bi {bi.shape}, expected "
                    f"({trainset.n_users},) and ({trainset.n_items},)"
                )
            baselines = (bu.copy(), bi.copy())
        needs = cls._knn_kind == "baseline" or opts.name == "pearson_baseline"
        if needs != (baselines is not None):
            raise ValueError(
                f"a {cls.__name__} with the {opts.name} similarity "
                + ("needs baselines bu and bi" if needs else "has no baselines")
                + (", but the file has none" if needs else ", but the file holds some")
            )
        verbose = model.verbose
        model.verbose = False
        try:
            model._fit(trainset, baselines)
        finally:
            model.verbose = verbose
        return model

    # --------------------------------------------------------------- pickling
    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop(_ENGINE_CACHE, None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "sim" in state:  # a scikit-surprise pickle
            state["_sim"] = state.pop("sim")
            state.pop("xr", None)
            state.pop("yr", None)
        self.__dict__.update(state)
        if "trainset" in state and "_nb_spec" not in state:
            self._nb_spec = self._sim_spec()

    # --------------------------------------------------------------- estimates
    def _knn_arrays(self, xs, ys):
        """Compiled estimates of known pairs: ``(est, actual_k, code)``."""
        ub = self.sim_options["user_based"]
        sim = self.__dict__.get("_sim")
        if sim is not None:
            sim = np.ascontiguousarray(sim, dtype=np.float64)
            if sim.shape != (self.n_x, self.n_x):
                raise ValueError(f"sim has shape {sim.shape}, expected {(self.n_x, self.n_x)}")
        kind = self._knn_kind
        return _nb.knn_estimates(
            self._groups(),
            self._nb_spec,
            sim,
            kind=kind,
            k=check_int("k", self.k, min_value=1),
            min_k=check_int("min_k", self.min_k, min_value=0),
            user_based=bool(ub),
            means=getattr(self, "means", None) if kind in ("means", "zscore") else None,
            sigmas=getattr(self, "sigmas", None) if kind == "zscore" else None,
            global_mean=float(self.trainset.global_mean),
            bx=self.bx if kind == "baseline" else None,
            by=self.by if kind == "baseline" else None,
            xs=xs,
            ys=ys,
            n_threads=self._n_threads(),
        )

    def _unknown_estimate(self, u, i):
        """Estimate for an unknown user or item: impossible, except for KNNBaseline."""
        raise PredictionImpossible(_UNKNOWN)

    def estimate(self, u, i):
        """Surprise's estimate for inner ids ``u``, ``i``: ``(est, {'actual_k': k})``."""
        self._check_fitted("estimate")
        if not (self.trainset.knows_user(u) and self.trainset.knows_item(i)):
            return self._unknown_estimate(u, i)
        x, y = self.switch(int(u), int(i))
        est, actual_k, code = self._knn_arrays([x], [y])
        if code[0] == 2:
            raise PredictionImpossible(_NOT_ENOUGH)
        return est[0], {"actual_k": int(actual_k[0])}

    # ----------------------------------------------------------------- batched
    def _test_batch(self, testset, verbose):
        """``test()`` with one compiled call per block of users (or items)."""
        from .. import _objects

        triples = testset if isinstance(testset, list) else list(testset)
        if not triples:
            return []
        trainset = self.trainset
        with _gc_paused():
            users, items = trainset.testset_inner_ids(triples)
            est, codes, table = self._batch_details(users, items)
            lo, hi = trainset.rating_scale
            preds = _objects.predictions_table(Prediction, triples, est, lo, hi, table, codes)
        if verbose:
            for p in preds:
                print(p)
        return preds

    def _batch_details(self, users, items):
        """Estimates, an index per pair into a table of shared ``details`` dicts, the table."""
        known = (users >= 0) & (items >= 0)
        xs, ys = self.switch(users[known], items[known])
        k_est, k_actual, k_code = self._knn_arrays(xs, ys)
        n = len(users)
        est = np.empty(n)
        codes = np.empty(n, dtype=np.int32)
        values, inverse = np.unique(k_actual, return_inverse=True)
        table = [_ReadOnlyDetails(actual_k=int(a), was_impossible=False) for a in values]
        unknown_row, not_enough_row = len(table), len(table) + 1
        table.append(_ReadOnlyDetails(was_impossible=True, reason=_UNKNOWN))
        table.append(_ReadOnlyDetails(was_impossible=True, reason=_NOT_ENOUGH))
        default = float(self.default_prediction())
        k_codes = inverse.astype(np.int32).reshape(-1)
        failed = k_code == 2
        k_codes[failed] = not_enough_row
        k_est = np.where(failed, default, k_est)
        est[known] = k_est
        codes[known] = k_codes
        u_est, u_code = self._unknown_batch(users[~known], items[~known], default)
        est[~known] = u_est
        codes[~known] = np.where(u_code == 1, unknown_row, len(table))
        table.append(_ReadOnlyDetails(was_impossible=False))
        return est, codes, tuple(table)

    def _unknown_batch(self, users, items, default):
        """Unknown pairs: ``(est, code)`` with code 1 = impossible, 0 = possible."""
        return np.full(len(users), default), np.ones(len(users), dtype=np.int8)


class KNNBasic(SymmetricAlgo):
    """Basic collaborative filtering: the similarity-weighted mean of the neighbours' ratings.

    Parameters
    ----------
    k : int, default 40
        The (max) number of neighbours aggregated.
    min_k : int, default 1
        Below this many neighbours (with a positive similarity) the prediction is
        impossible (``details['reason']`` is ``'Not enough neighbors.'``) and the
        estimate is the global mean.
    sim_options : dict, default {}
        ``name`` ('cosine', 'msd' (default), 'pearson', 'pearson_baseline'),
        ``user_based`` (True), ``min_support`` (1), ``shrinkage`` (100,
        pearson_baseline only).
    verbose : bool, default True
        Print the similarity messages.
    **kwargs
        ``bsl_options`` (for pearson_baseline), ``n_jobs`` (threads; None = OpenMP's
        default). Other keywords are ignored, as in Surprise.
    """

    _knn_kind = "basic"

    def __init__(self, k=40, min_k=1, sim_options={}, verbose=True, **kwargs):  # noqa: B006
        SymmetricAlgo.__init__(self, sim_options=sim_options, verbose=verbose, **kwargs)
        self.k = k
        self.min_k = min_k


class KNNWithMeans(SymmetricAlgo):
    """k-NN on the deviations from each user's (or item's) mean rating.

    Parameters as :class:`KNNBasic`; below ``min_k`` neighbours the estimate is the mean.
    Attribute ``means``: the mean rating of every x.
    """

    _knn_kind = "means"

    def __init__(self, k=40, min_k=1, sim_options={}, verbose=True, **kwargs):  # noqa: B006
        SymmetricAlgo.__init__(self, sim_options=sim_options, verbose=verbose, **kwargs)
        self.k = k
        self.min_k = min_k

    def _prepare(self, trainset, user_based):
        indptr, ratings = self._xr_csr()
        self.means = _nb.group_means(indptr, ratings)


class KNNWithZScore(SymmetricAlgo):
    """k-NN on z-scores: deviations from the mean divided by the standard deviation.

    Parameters as :class:`KNNBasic`. Attributes ``means``, ``sigmas`` (a zero standard
    deviation is replaced by ``overall_sigma``, that of all ratings).
    """

    _knn_kind = "zscore"

    def __init__(self, k=40, min_k=1, sim_options={}, verbose=True, **kwargs):  # noqa: B006
        SymmetricAlgo.__init__(self, sim_options=sim_options, verbose=verbose, **kwargs)
        self.k = k
        self.min_k = min_k

    def _prepare(self, trainset, user_based):
        self.overall_sigma = np.std(trainset.user_csr()[2])
        indptr, ratings = self._xr_csr()
        self.means = _nb.group_means(indptr, ratings)
        sigmas = _nb.group_stds(indptr, ratings, self.means)
        self.sigmas = np.where(sigmas == 0.0, self.overall_sigma, sigmas)


class KNNBaseline(SymmetricAlgo):
    """k-NN on the deviations from the baselines ``b_ui = mu + bu + bi``.

    Parameters as :class:`KNNBasic`, plus ``bsl_options`` (see ``BaselineOnly``). Below
    ``min_k`` neighbours, and for unknown users or items, the estimate is the baseline
    (never impossible). Best with ``sim_options={'name': 'pearson_baseline'}``.
    """

    _knn_kind = "baseline"

    def __init__(
        self,
        k=40,
        min_k=1,
        sim_options={},  # noqa: B006 - Surprise's signature
        bsl_options={},  # noqa: B006
        verbose=True,
        **kwargs,
    ):
        SymmetricAlgo.__init__(
            self, sim_options=sim_options, bsl_options=bsl_options, verbose=verbose, **kwargs
        )
        self.k = k
        self.min_k = min_k

    def _prepare(self, trainset, user_based):
        self.bu, self.bi = self.compute_baselines()
        self.bx, self.by = self.switch(self.bu, self.bi)

    def _unknown_estimate(self, u, i):
        est = self.trainset.global_mean
        if self.trainset.knows_user(u):
            est += self.bu[u]
        if self.trainset.knows_item(i):
            est += self.bi[i]
        return est

    def _unknown_batch(self, users, items, default):
        est = np.full(len(users), float(self.trainset.global_mean))
        ku, ki = users >= 0, items >= 0
        est[ku] += self.bu[users[ku]]
        est[ki] += self.bi[items[ki]]
        return est, np.zeros(len(users), dtype=np.int8)


for _cls in (KNNBasic, KNNWithMeans, KNNWithZScore, KNNBaseline):
    _cls._batch_impl = _cls
    register_model(_cls)
