"""Fixtures for Surprise's own test files, run unchanged against turbosvd.

turbosvd's implementation of the fixtures that scikit-surprise 1.1.5's tests use (its
sdist does not ship the conftest.py that defines them). ``tests/test_surprise_suite.py``
copies this file as ``conftest.py`` next to those tests, together with the data files
rebuilt by ``tests/surprise_files.py``; ``import surprise`` resolves to turbosvd there
(``sitecustomize.py``).
"""

from pathlib import Path

import pytest
from surprise import Dataset, Reader
from surprise.model_selection import PredefinedKFold

_FOLDER = Path(__file__).resolve().parent


def _path(name: str) -> str:
    return str(_FOLDER / name)


@pytest.fixture
def toy_data_reader():
    """Space-separated ``user item rating`` lines after a three-line header, ratings 1-5."""
    return Reader(line_format="user item rating", sep=" ", skip_lines=3, rating_scale=(1, 5))


@pytest.fixture
def toy_data(toy_data_reader):
    """The five ratings of ``custom_dataset``."""
    return Dataset.load_from_file(file_path=_path("custom_dataset"), reader=toy_data_reader)


@pytest.fixture
def u1_ml100k():
    """One predefined fold: 8,000 training and 2,000 test ratings of MovieLens 100k."""
    folds = [(_path("u1_ml100k_train"), _path("u1_ml100k_test"))]
    return Dataset.load_from_folds(folds, Reader("ml-100k"))


@pytest.fixture
def small_ml():
    """2,000 MovieLens 100k ratings (the test part of the fold above) as one dataset."""
    return Dataset.load_from_file(_path("u1_ml100k_test"), Reader("ml-100k"))


@pytest.fixture
def pkf():
    return PredefinedKFold()
