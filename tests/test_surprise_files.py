"""The data files of Surprise's suite that its sdist lacks, rebuilt by tests/surprise_files.py.

Everywhere: the rebuilt files have their committed SHA-256 and the committed line numbers
are a valid selection of ``u1.base``. Where a Surprise checkout exists
(``TURBOSVD_SURPRISE_SOURCE`` or ``ref/surprise`` beside the repository): they are byte for
byte Surprise's own files.
"""

from __future__ import annotations

import hashlib

import pytest

from conftest import needs_ml100k, surprise_checkout
from surprise_files import SHA256, TOY_FILES, U1_FILES, surprise_data_files, u1_line_numbers


def test_u1_line_numbers_are_a_subset_of_u1_base():
    numbers = u1_line_numbers()
    train, test = (numbers[name] for name in U1_FILES)
    assert (len(train), len(test)) == (8000, 2000)
    assert len(set(train)) == 8000 and len(set(test)) == 2000
    # Surprise drew both files from u1.base independently: 195 ratings are in both.
    assert len(set(train) & set(test)) == 195
    assert min(train + test) >= 0 and max(train + test) < 80000  # u1.base has 80,000 lines


def test_toy_files_have_their_hash():
    for name, content in TOY_FILES.items():
        assert hashlib.sha256(content).hexdigest() == SHA256[name]


@needs_ml100k
def test_rebuilt_files_have_their_hash(ml100k_dir):
    files = surprise_data_files(ml100k_dir)  # raises on a hash mismatch
    assert sorted(files) == sorted(SHA256)
    for name, content in files.items():
        assert hashlib.sha256(content).hexdigest() == SHA256[name]
    assert files["u1_ml100k_train"].count(b"\n") == 8000
    assert files["u1_ml100k_test"].count(b"\n") == 2000


@needs_ml100k
@pytest.mark.skipif(
    surprise_checkout() is None,
    reason="no Surprise checkout to compare with (set TURBOSVD_SURPRISE_SOURCE); the SHA-256 "
    "checks above run everywhere",
)
def test_rebuilt_files_equal_surprise_own(ml100k_dir):
    tests = surprise_checkout() / "tests"
    for name, content in surprise_data_files(ml100k_dir).items():
        assert content == (tests / name).read_bytes(), name
