"""Converters between turbosvd models and Spark: ``to_spark_factors``, ``from_als``."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from .._validation import check_real
from ..prediction_algorithms.matrix_factorization import SVD
from ..trainset import Trainset
from ._common import (
    _check_columns,
    _check_rating_scale,
    _col,
)

__all__ = ["SparkFactors", "from_als", "to_spark_factors"]


# ------------------------------------------------------------------------ converters
class SparkFactors(NamedTuple):
    """A turbosvd model as Spark DataFrames (see :func:`to_spark_factors`)."""

    users: DataFrame
    items: DataFrame
    global_mean: float
    biased: bool


def to_spark_factors(model: SVD, spark: SparkSession) -> SparkFactors:
    """A fitted turbosvd ``SVD`` as Spark DataFrames of factors and biases.

    Parameters
    ----------
    model : SVD
        A fitted model (turbosvd's or one unpickled from scikit-surprise).
    spark : SparkSession

    Returns
    -------
    SparkFactors
        ``users`` and ``items`` have the columns of ``ALSModel.userFactors`` /
        ``itemFactors`` (``id`` — the raw id —, ``features`` array<float>) plus ``bias``
        (float, 0 when the model is unbiased); rows in inner-id order. The estimate of
        (u, i) is ``global_mean + bias_u + bias_i + features_u . features_i`` when
        ``biased``, else the dot product alone (clipped to the rating scale by
        ``SVD.predict``).
    """
    model._check_fitted("to_spark_factors")
    ts = model.trainset
    out = []
    for ids, factors, bias in (
        (ts.raw_user_ids, model.pu, model.bu),
        (ts.raw_item_ids, model.qi, model.bi),
    ):
        f32 = np.asarray(factors, dtype=np.float32)
        pdf = pd.DataFrame(
            {
                "id": ids,
                "features": list(f32),
                "bias": np.asarray(bias, dtype=np.float32),
            }
        )
        out.append(spark.createDataFrame(pdf))
    return SparkFactors(out[0], out[1], float(ts.global_mean), bool(model.biased))


def from_als(
    als_model,
    *,
    ratings: DataFrame | None = None,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str = "rating",
    global_mean: float | None = None,
    rating_scale: tuple[float, float] | None = None,
) -> SVD:
    """A turbosvd ``SVD`` serving a fitted ``pyspark.ml.recommendation.ALSModel``.

    Parameters
    ----------
    als_model : pyspark.ml.recommendation.ALSModel
        Its ``userFactors`` and ``itemFactors`` (``id`` int, ``features`` array<float>)
        are collected to the driver.
    ratings : pyspark.sql.DataFrame, optional
        The training ratings (columns ``user_col``, ``item_col``, ``rating_col``). When
        given they are collected into the trainset (pairs whose user or item has no
        factors are dropped), so that top-N can exclude seen items and the global mean is
        theirs.
    user_col, item_col, rating_col : str
        Columns of ``ratings``.
    global_mean : float, optional
        ``trainset.global_mean`` of the result: the estimate ``predict`` falls back to for
        an unknown user or item (``details['was_impossible']`` is then True). ALS has no
        global mean (it predicts NaN there, or drops the row). None means the mean of
        ``ratings`` when given (Surprise's fallback), else 0.0, what the factor model
        itself gives an id without factors (a zero vector). It never enters the known
        estimates (``biased=False``).
    rating_scale : (float, float), optional
        Scale to which ``predict`` clips. None means no clipping, as ALS does not clip.

    Returns
    -------
    SVD
        ``biased=False``, ``n_factors=rank``, float32 ``pu``/``qi`` (ALS's own type), zero
        biases. Inner ids are the raw ids in increasing order. Without ``ratings`` the
        trainset holds the ids but no ratings (``n_ratings`` is 0). ``predict(u, i).est``
        equals ALS's prediction ``<userFactor, itemFactor>`` up to float32 rounding.
    """
    for attr in ("userFactors", "itemFactors", "rank"):
        if not hasattr(als_model, attr):
            raise TypeError(
                f"als_model must be a fitted pyspark.ml.recommendation.ALSModel, got "
                f"{type(als_model).__name__} (no {attr!r})"
            )
    if rating_scale is None:
        scale = (-math.inf, math.inf)
    else:
        scale = _check_rating_scale(rating_scale)
    rank = int(als_model.rank)
    sides = []
    for frame in (als_model.userFactors, als_model.itemFactors):
        pdf = frame.select("id", "features").toPandas().sort_values("id", kind="stable")
        ids = pdf["id"].to_numpy()
        feats = np.zeros((len(pdf), rank), dtype=np.float32)
        if len(pdf):
            feats[:] = np.stack(pdf["features"].to_numpy()).astype(np.float32)
        sides.append((ids, feats))
    (user_ids, pu), (item_ids, qi) = sides
    if global_mean is not None:
        global_mean = check_real("global_mean", global_mean)
    empty = np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0)
    ts = Trainset.from_arrays(*empty, user_ids, item_ids, scale, global_mean=global_mean)
    if ratings is not None:
        _check_columns(ratings, user_col=user_col, item_col=item_col, rating_col=rating_col)
        pdf = ratings.select(
            _col(user_col).alias("u"), _col(item_col).alias("i"), _col(rating_col).cast("double")
        ).toPandas()
        u, i = ts.inner_uids(pdf["u"].tolist()), ts.inner_iids(pdf["i"].tolist())
        keep = (u >= 0) & (i >= 0)
        # global_mean None: the mean of the kept ratings, computed when read
        ts = Trainset.from_arrays(
            u[keep],
            i[keep],
            pdf.iloc[:, 2].to_numpy(np.float64)[keep],
            user_ids,
            item_ids,
            scale,
            global_mean=global_mean,
        )
    elif global_mean is None:
        ts = Trainset.from_arrays(*empty, user_ids, item_ids, scale, global_mean=0.0)
    bu = np.zeros(len(user_ids), dtype=np.float32)
    bi = np.zeros(len(item_ids), dtype=np.float32)
    return SVD._from_factors(
        ts, pu, qi, bu, bi, n_factors=rank, biased=False, schedule="blocked", dtype=np.float32
    )
