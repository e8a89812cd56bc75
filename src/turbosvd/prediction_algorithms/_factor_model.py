"""What ``SVD`` and ``ALS`` share: the biased factor model ``mu + bu + bi + qi . pu``.

Both classes store ``pu, qi, bu, bi`` (one float dtype) and predict with the same rule;
they differ only in training. This mixin gives them the one constructor from arrays
(``_from_factors``), the model-file protocol of :mod:`turbosvd.persist`
(``_file_arrays``, ``_model_arrays``, ``_from_arrays``), the top-N hooks of
:class:`turbosvd.topn.recommend.RecommendMixin` and the compiled prediction.

The class using it provides ``n_factors``, ``biased``, ``_n_threads()`` and
``_validate(trainset, fitting=False)`` (``fit``'s checks, bar the ratings).
"""

from __future__ import annotations

import weakref

import numpy as np

from .. import _sgd
from ..train.common import check_factor_arrays
from .algo_base import AlgoBase
from .predictions import PredictionImpossible

__all__ = ["FLOAT_DTYPES", "BiasedFactorModelMixin", "check_factors"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Per model (by id, with a weak reference that removes the entry when the model dies): the
# compiled single-pair predictor over its current arrays (_estimate_one). A plain dict: a
# WeakKeyDictionary lookup creates a weak reference per call, a third of a predict().
_SCALAR_PREDICTORS: dict[int, tuple[weakref.ref, object]] = {}


class BiasedFactorModelMixin:
    """Arrays in and out, model files, top-N hooks and prediction of a biased factor model."""

    # ------------------------------------------------------- assembling from arrays
    @classmethod
    def _from_factors(cls, trainset, pu, qi, bu, bi, **params):
        """A fitted model of this class from its factors and biases, without training.

        The one place a fitted model is assembled from arrays: model files
        (``turbosvd.load``), Spark (``spark.fit``, ``spark.fit_als``, ``spark.from_als``,
        the top-N tasks).

        Parameters
        ----------
        trainset : Trainset
            What the model was trained on (its ids, ratings, ``global_mean``).
        pu, qi, bu, bi : numpy.ndarray
            Factors ``(n_users, k)``, ``(n_items, k)`` and biases, all float32 or all
            float64, finite. Used as given (no copy when already C-contiguous).
        **params
            Constructor parameters; ``n_factors`` defaults to ``k``.

        Raises
        ------
        ValueError
            If the arrays do not fit the trainset or each other, or a parameter is invalid
            (message ``invalid parameters (...)``).
        """
        pu, qi, bu, bi = (np.ascontiguousarray(a) for a in (pu, qi, bu, bi))
        check_factors(trainset, pu, qi, bu, bi)
        params.setdefault("n_factors", pu.shape[1])
        try:
            model = cls(**params)
            model._validate(trainset, fitting=False)  # fit()'s checks, bar the ratings
            if model.n_factors != pu.shape[1]:
                raise ValueError(
                    f"n_factors={model.n_factors!r} but the factors have {pu.shape[1]} columns"
                )
        except (TypeError, ValueError) as e:
            raise ValueError(f"invalid parameters ({e})") from None
        AlgoBase.fit(model, trainset)
        model.bu, model.bi, model.pu, model.qi = bu, bi, pu, qi
        return model

    # Model files (turbosvd.persist): the arrays that, with the trainset and the
    # constructor parameters, make the fitted model.
    _file_arrays = ("pu", "qi", "bu", "bi")

    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in self._file_arrays}
        dtypes = {a.dtype for a in arrays.values()}
        if len(dtypes) != 1 or not dtypes <= set(FLOAT_DTYPES):
            raise ValueError(
                f"cannot save: pu, qi, bu and bi must share a float32 or float64 dtype, got "
                f"{[str(a.dtype) for a in arrays.values()]}"
            )
        return arrays

    @classmethod
    def _from_arrays(cls, trainset, arrays: dict, params: dict):
        return cls._from_factors(trainset, *(arrays[k] for k in cls._file_arrays), **params)

    # Top-N (turbosvd.topn.recommend): estimate = c_u + item_bias[i] + user_vec . item_vec.
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
        est, impossible = self._estimate_one(int(u) if known_user else -1,
                                             int(i) if known_item else -1)  # fmt: skip
        if impossible:
            raise PredictionImpossible("User and item are unknown.")
        return est

    def _estimate_one(self, u: int, i: int) -> tuple[float, bool]:
        """(estimate, impossible) of inner ids ``u``, ``i`` (-1 = unknown): predict()'s path.

        The compiled predictor keeps the factor arrays' buffers between calls (one per model,
        rebuilt when ``pu``, ``qi``, ``bu`` or ``bi`` is replaced); same kernel, same bits
        as ``_estimate_batch``.
        """
        pu, qi, bu, bi = self.pu, self.qi, self.bu, self.bi
        mu = self.trainset.global_mean
        entry = _SCALAR_PREDICTORS.get(id(self))
        if entry is not None and entry[0]() is self:
            out = entry[1].estimate_if(pu, qi, bu, bi, u, i, mu, self.biased)
            if out is not None:
                return out
        key = id(self)
        ref = weakref.ref(self, lambda _, key=key: _SCALAR_PREDICTORS.pop(key, None))
        one = _sgd.ScalarPredictor(pu, qi, bu, bi)
        _SCALAR_PREDICTORS[key] = (ref, one)
        return one.estimate(u, i, mu, self.biased)

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


def check_factors(trainset, pu, qi, bu, bi) -> None:
    """Shapes, dtypes and finiteness of factors and biases against a trainset."""
    check_factor_arrays(trainset, {"pu": pu, "qi": qi, "bu": bu, "bi": bi})
