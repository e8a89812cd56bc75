"""Shared fixtures: data folders, small generated datasets, the Surprise oracle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent


def _find_data_folder() -> Path | None:
    for var in ("TURBOSVD_DATA_FOLDER", "SURPRISE_DATA_FOLDER"):
        value = os.environ.get(var)
        if value and (Path(value) / "ml-100k" / "ml-100k" / "u.data").is_file():
            return Path(value)
    guess = HERE.parents[1] / "shared" / "data"
    if (guess / "ml-100k" / "ml-100k" / "u.data").is_file():
        return guess
    return None


DATA_FOLDER = _find_data_folder()

# Latency bounds (Ctrl-C tests) are wall-clock: under tools/sanitize.sh, where the
# instrumented build runs several times slower, they are scaled by this factor.
SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")
LATENCY_SCALE = 8 if SANITIZED else 1
if DATA_FOLDER is not None:
    # Surprise and turbosvd both resolve built-in datasets from this variable.
    os.environ["SURPRISE_DATA_FOLDER"] = str(DATA_FOLDER)
    os.environ.pop("TURBOSVD_DATA_FOLDER", None)

needs_ml100k = pytest.mark.skipif(
    DATA_FOLDER is None,
    reason="MovieLens 100k not found: set SURPRISE_DATA_FOLDER to a folder holding "
    "ml-100k/ml-100k/u.data (its licence forbids committing it)",
)
needs_ml_latest = pytest.mark.skipif(
    DATA_FOLDER is None
    or not (DATA_FOLDER / "ml-latest-small" / "ml-latest-small" / "ratings.csv").is_file(),
    reason="ml-latest-small not found under SURPRISE_DATA_FOLDER",
)


# What scikit-surprise's sdist lacks of its tests/ folder: the fixtures and data files. Its
# repository has them; they are not committed here (tests/surprise_files.py rebuilds the
# data files, tests/surprise_alias/surprise_conftest.py is our conftest for them).
SURPRISE_REPO_ONLY_FILES = [
    "conftest.py",
    "custom_dataset",
    "custom_train",
    "custom_test",
    "u1_ml100k_train",
    "u1_ml100k_test",
]


def surprise_checkout() -> Path | None:
    """A Surprise source tree holding those files: ``TURBOSVD_SURPRISE_SOURCE``, or a
    ``ref/surprise`` folder beside the repository or one of its parents. Only used to
    compare the rebuilt files with Surprise's own; nothing needs it."""
    candidates = []
    if os.environ.get("TURBOSVD_SURPRISE_SOURCE"):
        candidates.append(Path(os.environ["TURBOSVD_SURPRISE_SOURCE"]))
    candidates += [parent / "ref" / "surprise" for parent in HERE.parents]
    for path in candidates:
        if all((path / "tests" / name).is_file() for name in SURPRISE_REPO_ONLY_FILES):
            return path
    return None


@pytest.fixture(scope="session")
def surprise_u1_subset(tmp_path_factory) -> tuple[Path, Path]:
    """Surprise's ``u1_ml100k_train`` / ``u1_ml100k_test`` (8,000 / 2,000 ratings), rebuilt
    from the local MovieLens 100k and checked against their SHA-256."""
    if DATA_FOLDER is None:
        pytest.skip("MovieLens 100k not found: set SURPRISE_DATA_FOLDER")
    from surprise_files import U1_FILES, surprise_data_files

    out = tmp_path_factory.mktemp("surprise_u1")
    files = surprise_data_files(DATA_FOLDER / "ml-100k" / "ml-100k")
    for name in U1_FILES:
        (out / name).write_bytes(files[name])
    return out / U1_FILES[0], out / U1_FILES[1]


@pytest.fixture(scope="session")
def data_folder() -> Path:
    if DATA_FOLDER is None:
        pytest.skip("MovieLens data not available (set SURPRISE_DATA_FOLDER)")
    return DATA_FOLDER


@pytest.fixture(scope="session")
def ml100k_dir(data_folder) -> Path:
    return data_folder / "ml-100k" / "ml-100k"


@pytest.fixture(scope="session")
def surprise():
    """The oracle: scikit-surprise 1.1.5 (installed by the test extra)."""
    return pytest.importorskip("surprise", reason="scikit-surprise is the test oracle")


def small_ratings(n_users=60, n_items=40, density=0.3, seed=0, scale=(1, 5)) -> pd.DataFrame:
    """A small random ratings DataFrame (string ids, half-star ratings), fixed seed."""
    rng = np.random.RandomState(seed)
    mask = rng.rand(n_users, n_items) < density
    u, i = np.nonzero(mask)
    order = rng.permutation(len(u))
    u, i = u[order], i[order]
    lo, hi = scale
    r = np.round(rng.uniform(lo, hi, size=len(u)) * 2) / 2
    return pd.DataFrame({"user": [f"u{x}" for x in u], "item": [f"i{x}" for x in i], "rating": r})


@pytest.fixture
def small_df() -> pd.DataFrame:
    return small_ratings()
