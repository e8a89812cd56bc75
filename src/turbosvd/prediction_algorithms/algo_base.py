"""``AlgoBase``: the interface shared by all prediction algorithms (Surprise's contract).

``predict`` follows Surprise step by step. ``test`` is batched: when an algorithm provides
``_estimate_batch`` (and the user's subclass has not overridden ``estimate`` or
``predict``), the estimates of the whole testset come from one compiled call and only the
``Prediction`` tuples are built in Python. Results are identical to calling ``predict``
on each pair.
"""

from __future__ import annotations

import gc
import warnings
import weakref
from contextlib import contextmanager

import numpy as np

from .. import _objects
from .._threads import effective_n_threads
from ..exceptions import IdTypeWarning, ModelFitError, NotFittedError
from ..neighbors import engine as _nb
from ..neighbors.options import parse_sim_options
from .optimize_baselines import baseline_als, baseline_sgd, check_bsl_options
from .predictions import POSSIBLE, Prediction, PredictionImpossible, impossible_details

__all__ = ["AlgoBase"]

# Per class: whether predict() may take the direct path (the class keeps the batch
# estimator and has ``_estimate_one``). Per model: the id kinds already warned about.
_SCALAR: dict[type, bool] = {}
_TWIN_WARNED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextmanager
def _gc_paused():
    """Pause the cyclic GC while building millions of acyclic tuples.

    Without this, allocation-triggered collections dominate the cost of ``test()``.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class AlgoBase:
    """Abstract base class of the prediction algorithms.

    Parameters
    ----------
    bsl_options : dict, optional
        Baseline options (``method`` 'als' or 'sgd', and the method's settings).
    sim_options : dict, optional
        Kept for compatibility; ``user_based`` is set to True when missing.
    """

    #: The reason of an impossible batch estimate (what ``estimate`` would raise).
    _impossible_reason = "User and item are unknown."

    def __init__(self, **kwargs):
        self.bsl_options = kwargs.get("bsl_options", {})
        self.sim_options = kwargs.get("sim_options", {})
        if "user_based" not in self.sim_options:
            self.sim_options["user_based"] = True

    def fit(self, trainset):
        """Train on ``trainset`` and return ``self``."""
        self.trainset = trainset
        self.bu = self.bi = None
        return self

    def _check_fitted(self, method: str):
        if "trainset" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: call fit(trainset) "
                f"before {method}()."
            )

    def predict(self, uid, iid, r_ui=None, clip=True, verbose=False):
        """Predict the rating of raw user ``uid`` for raw item ``iid``.

        Ids are matched exactly as dictionary keys, as in Surprise: ``196`` (an int) and
        ``'196'`` (a string) are different ids. Ratings read from a file (``Dataset.load_*``,
        the command line) have string ids; a DataFrame keeps its column's type (often
        integers). An unknown user or item is not an error: the estimate falls back as in
        Surprise (for SVD, ``mu + bi`` for an unknown user, ``mu + bu`` for an unknown item,
        ``details['was_impossible']`` False; the global mean when the model cannot estimate
        at all). When an unknown id's ``str()``/``int()`` twin is known (``196`` given, ``'196'``
        trained), turbosvd warns once per model with :class:`turbosvd.IdTypeWarning` naming
        the twin; the result is still Surprise's.

        Parameters
        ----------
        uid, iid : hashable
            Raw ids, as in the data (strings when read from a file).
        r_ui : float, optional
            The true rating, copied into the prediction.
        clip : bool, default True
            Clip the estimate to the trainset's rating scale.
        verbose : bool, default False
            Print the prediction.

        Returns
        -------
        Prediction
        """
        trainset = self.__dict__.get("trainset")
        if trainset is None:
            self._check_fitted("predict")
        one = _SCALAR.get(type(self))
        if one is None:
            one = _SCALAR[type(self)] = self._batch_capable() and hasattr(self, "_estimate_one")
        if one:  # the direct path: same estimate as estimate()/test(), no exceptions
            u, i = trainset.inner_pair(uid, iid)
            if u < 0 or i < 0:
                self._warn_id_twins(uid if u < 0 else None, iid if i < 0 else None)
            est, impossible = self._estimate_one(u, i)
            if impossible:
                est = self.default_prediction()
                details = {"was_impossible": True, "reason": self._impossible_reason}
            else:
                details = {"was_impossible": False}
        else:
            est, details = self._predict_generic(trainset, uid, iid)

        if clip:
            # Surprise's min(higher, est) then max(lower, est), with their exact results
            # (the bound itself when est equals it or is NaN), without two builtin calls.
            lower_bound, higher_bound = trainset.rating_scale
            if not est < higher_bound:
                est = higher_bound
            if not est > lower_bound:
                est = lower_bound

        pred = Prediction(uid, iid, r_ui, est, details)
        if verbose:
            print(pred)
        return pred

    def _predict_generic(self, trainset, uid, iid):
        """Surprise's predict route: raw -> inner ids (or 'UKN__' names), then estimate()."""
        try:
            iuid = trainset.to_inner_uid(uid)
        except ValueError:
            iuid = "UKN__" + str(uid)
            self._warn_id_twins(uid, None)
        try:
            iiid = trainset.to_inner_iid(iid)
        except ValueError:
            iiid = "UKN__" + str(iid)
            self._warn_id_twins(None, iid)

        details = {}
        try:
            est = self.estimate(iuid, iiid)
            if isinstance(est, tuple):
                est, details = est
            details["was_impossible"] = False
        except PredictionImpossible as e:
            est = self.default_prediction()
            details["was_impossible"] = True
            details["reason"] = str(e)
        return est, details

    def _warn_id_twins(self, uid, iid) -> None:
        """Warn (once per model and kind) when an unknown id's str/int twin is known."""
        try:
            warned = _TWIN_WARNED.setdefault(self, set())
        except TypeError:  # a model class without weak references
            return
        trainset = self.trainset
        for kind, raw in (("user", uid), ("item", iid)):
            if raw is None or kind in warned or not hasattr(trainset, "id_twin"):
                continue
            twin = trainset.id_twin(raw, kind)
            if twin is None:
                continue
            warned.add(kind)
            warnings.warn(
                f"{kind} {raw!r} ({type(raw).__name__}) is not part of the trainset, but its "
                f"twin {twin!r} ({type(twin).__name__}) is: ids are matched exactly (as in "
                f"Surprise), so the estimate falls back as for an unknown {kind}. Pass "
                f"{type(twin).__name__} ids (warned once per model).",
                IdTypeWarning,
                stacklevel=3,
            )

    def default_prediction(self):
        """The estimate used when a prediction is impossible: the global mean."""
        return self.trainset.global_mean

    def test(self, testset, verbose=False):
        """Predict every ``(uid, iid, r_ui)`` of ``testset``; returns a list of ``Prediction``."""
        self._check_fitted("test")
        if self._batch_capable():
            return self._test_batch(testset, verbose)
        return [
            self.predict(uid, iid, r_ui_trans, verbose=verbose)
            for (uid, iid, r_ui_trans) in testset
        ]

    # ----------------------------------------------------------------- batching
    def _batch_capable(self) -> bool:
        cls = type(self)
        impl = getattr(cls, "_batch_impl", None)
        if impl is None:
            return False
        return (
            cls.estimate is impl.estimate
            and cls.predict is impl.predict
            and cls.default_prediction is impl.default_prediction
        )

    def _test_batch(self, testset, verbose):
        triples = testset if isinstance(testset, list) else list(testset)
        if not triples:
            return []
        trainset = self.trainset
        with _gc_paused():
            inner_u, inner_i = trainset.testset_inner_ids(triples)
            for inner, pos in ((inner_u, 0), (inner_i, 1)):
                unknown = np.flatnonzero(inner < 0)
                if len(unknown):  # the first unknown id tells the id type (warned once)
                    raw = triples[int(unknown[0])][pos]
                    self._warn_id_twins(*((raw, None) if pos == 0 else (None, raw)))
            est, impossible = self._estimate_batch(inner_u, inner_i)
            lo, hi = trainset.rating_scale
            preds = _objects.predictions(
                Prediction,
                triples,
                est,
                lo,
                hi,
                POSSIBLE,
                impossible_details(self._impossible_reason),
                impossible.view(np.uint8),
            )
        if verbose:
            for p in preds:
                print(p)
        return preds

    def _n_threads(self) -> int:
        return effective_n_threads(getattr(self, "n_jobs", None), "n_jobs")

    # ------------------------------------------------------------------ baselines
    def compute_baselines(self):
        """Compute (and cache) user and item baselines with ``bsl_options``.

        Returns
        -------
        (bu, bi) : tuple of numpy.ndarray
        """
        if self.bu is not None:
            return self.bu, self.bi
        method_name = check_bsl_options(self.bsl_options)
        method = dict(als=baseline_als, sgd=baseline_sgd)[method_name]
        if getattr(self, "verbose", False):
            print("Estimating biases using", method_name + "...")
        bu, bi = method(self)
        if not (np.isfinite(bu).all() and np.isfinite(bi).all()):
            raise ModelFitError(
                f"baseline estimation ({method_name}) diverged: NaN or infinite biases; "
                + (
                    "lower bsl_options['learning_rate'] or raise bsl_options['reg']"
                    if method_name == "sgd"
                    else "check bsl_options"
                )
            )
        self.bu, self.bi = bu, bi
        return self.bu, self.bi

    # -------------------------------------------------------------- similarities
    def _sim_spec(self, options=None):
        """The similarity measure of ``sim_options`` (computes baselines for pearson_baseline)."""
        opts = parse_sim_options(self.sim_options) if options is None else options
        if opts.name != "pearson_baseline":
            return _nb.SimSpec(opts.name, opts.min_support)
        bu, bi = self.compute_baselines()
        bx, by = (bu, bi) if opts.user_based else (bi, bu)
        return _nb.SimSpec(
            opts.name,
            opts.min_support,
            opts.shrinkage,
            float(self.trainset.global_mean),
            np.ascontiguousarray(bx, dtype=np.float64),
            np.ascontiguousarray(by, dtype=np.float64),
        )

    def compute_similarities(self):
        """Build the similarity matrix of ``sim_options`` (Surprise's method).

        Returns
        -------
        numpy.ndarray of shape (n, n)
            ``n`` users (``user_based``) or items. It is refused with a ``ValueError``
            when it cannot fit in memory; the k-NN algorithms never need it.

        Raises
        ------
        NameError
            For an unknown similarity name (Surprise's type and message).
        """
        opts = parse_sim_options(self.sim_options)
        spec = self._sim_spec(opts)
        verbose = getattr(self, "verbose", False)
        if verbose:
            print(f"Computing the {opts.name} similarity matrix...")
        groups = _nb.Groups.from_trainset(self.trainset, opts.user_based)
        sim = _nb.full_matrix(groups, spec, self._n_threads())
        if verbose:
            print("Done computing similarity matrix.")
        return sim

    def get_neighbors(self, iid, k):
        """The ``k`` nearest neighbours of the user (or item) of inner id ``iid``.

        Reads the similarities of ``self.sim`` (``user_based`` decides whether ``iid`` is a
        user or an item). Ties go to the smaller inner id, as in Surprise.

        Returns
        -------
        list of int
            Inner ids, most similar first.
        """
        return _nb.top_neighbors(np.asarray(self.sim[iid], dtype=np.float64), iid, k)
