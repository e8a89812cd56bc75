"""ALS engine: the sweep loop of ``turbosvd.ALS`` and of ``turbosvd.spark.fit_als``."""

from .solver import (
    SOLVERS,
    RowRatings,
    Side,
    check_finite,
    fold_in,
    half_sweep,
    init_side,
    pack,
    row_ratings,
    train,
    unpack,
)

__all__ = [
    "SOLVERS",
    "RowRatings",
    "Side",
    "check_finite",
    "fold_in",
    "half_sweep",
    "init_side",
    "pack",
    "row_ratings",
    "train",
    "unpack",
]
