"""Cross-validation iterators, ``cross_validate`` and parameter searches (Surprise's API)."""

from .search import GridSearchCV, RandomizedSearchCV
from .split import (
    KFold,
    LeaveOneOut,
    PredefinedKFold,
    RepeatedKFold,
    ShuffleSplit,
    train_test_split,
)
from .validation import cross_validate

__all__ = [
    "GridSearchCV",
    "KFold",
    "LeaveOneOut",
    "PredefinedKFold",
    "RandomizedSearchCV",
    "RepeatedKFold",
    "ShuffleSplit",
    "cross_validate",
    "train_test_split",
]
