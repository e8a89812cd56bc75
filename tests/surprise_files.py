"""The data files of Surprise's test suite that its sdist lacks, rebuilt at test time.

scikit-surprise 1.1.5's sdist ships ``tests/test_*.py`` but neither its ``conftest.py`` nor
the data files those tests read. Nothing of Surprise's is committed here; instead:

- the three toy files (``custom_dataset``, ``custom_train``, ``custom_test``: a few lines
  whose values Surprise's tests assert on) are written from ``TOY_FILES``;
- ``u1_ml100k_train`` / ``u1_ml100k_test`` (a shuffled 8,000 + 2,000-rating subset of
  MovieLens 100k's ``u1.base``) are rebuilt from the local MovieLens copy and the list of
  line numbers in ``surprise_alias/u1_subset_lines.txt`` (Surprise drew both from
  ``u1.base`` independently: 195 ratings are in both);
- every file is checked against its SHA-256 (``SHA256``) before use, everywhere; where a
  Surprise checkout exists, ``tests/test_surprise_files.py`` also compares them byte for
  byte with Surprise's own files.

The fixtures of those tests (``toy_data_reader``, ``toy_data``, ``u1_ml100k``,
``small_ml``, ``pkf``) are this project's own, in ``surprise_alias/surprise_conftest.py``.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALIAS_DIR = HERE / "surprise_alias"
LINES_FILE = ALIAS_DIR / "u1_subset_lines.txt"
CONFTEST_FILE = ALIAS_DIR / "surprise_conftest.py"

_HEADER = b"There are three lines to be ignored\nLine format is user - item - rating\n\n"


def _toy(*rows: str) -> bytes:
    return _HEADER + b"".join(row.encode() + b"\n" for row in rows)


# "user item rating" lines after a three-line header (the tests read them with skip_lines=3).
TOY_FILES: dict[str, bytes] = {
    "custom_dataset": _toy(
        "user0 item0 4", "user1 item0 4", "user2 item0 1", "user3 item1 5", "user4 item1 1"
    ),
    "custom_train": _toy(
        "user0 item0 4",
        "user1 item0 4",
        "user1 item1 2",
        "user2 item0 1",
        "user2 item1 1",
        "user3 item1 5",
    ),
    "custom_test": _toy("user3 item0 5", "user0 item1 1", "user_neverseen item_neverseen 5"),
}

U1_FILES = ("u1_ml100k_train", "u1_ml100k_test")

SHA256: dict[str, str] = {
    "custom_dataset": "64638e16553c7fba61387a28defeaf2e41cf99d58c80732868bb61b81505fff4",
    "custom_train": "defd055fc7f15de9229f0ba8c95041e1fa66eee0aa4d044dee1fb0e2d42576d2",
    "custom_test": "9c6fa303c00b8c8805a3a8263e9f35319074148b639d9254b32db03a8fb7832a",
    "u1_ml100k_train": "447862b489c482b019da34d87429ffb95010ed4479663c7ca0b35c3353776084",
    "u1_ml100k_test": "68f094b4acd23d2875e0ad26b20e69a9f85b7340bb65aac17cdbd14e7e6ed5fc",
}

# Every file the sdist lacks (conftest.py is ours: surprise_alias/surprise_conftest.py).
DATA_FILES = (*TOY_FILES, *U1_FILES)


def u1_line_numbers() -> dict[str, list[int]]:
    """The committed line numbers: ``{"u1_ml100k_train": [...], "u1_ml100k_test": [...]}``."""
    out: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    current: list[int] = []
    for raw in LINES_FILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            name, count = line[1:].split("]")
            counts[name] = int(count)
            current = out.setdefault(name, [])
        else:
            current.extend(int(x) for x in line.split())
    if sorted(out) != sorted(U1_FILES):
        raise ValueError(f"{LINES_FILE}: sections {sorted(out)}, expected {sorted(U1_FILES)}")
    for name, numbers in out.items():
        if len(numbers) != counts[name]:
            raise ValueError(
                f"{LINES_FILE}: [{name}] lists {len(numbers)} lines, not {counts[name]}"
            )
    return out


def u1_subset(u1_base: Path) -> dict[str, bytes]:
    """``u1_ml100k_train`` and ``u1_ml100k_test`` built from MovieLens 100k's ``u1.base``."""
    lines = Path(u1_base).read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return {
        name: b"".join(lines[k] + b"\n" for k in numbers)
        for name, numbers in u1_line_numbers().items()
    }


def _checked(name: str, content: bytes) -> bytes:
    digest = hashlib.sha256(content).hexdigest()
    if digest != SHA256[name]:
        raise AssertionError(
            f"rebuilt {name} has SHA-256 {digest}, expected {SHA256[name]} (is the local "
            "MovieLens 100k the original release?)"
        )
    return content


def surprise_data_files(ml100k_dir: Path) -> dict[str, bytes]:
    """The five data files, content checked against ``SHA256``."""
    files = {**TOY_FILES, **u1_subset(Path(ml100k_dir) / "u1.base")}
    return {name: _checked(name, content) for name, content in files.items()}


def write_surprise_tests_support(dest: Path, ml100k_dir: Path) -> None:
    """Write the data files and this project's ``conftest.py`` for Surprise's tests to ``dest``."""
    dest = Path(dest)
    for name, content in surprise_data_files(ml100k_dir).items():
        (dest / name).write_bytes(content)
    shutil.copyfile(CONFTEST_FILE, dest / "conftest.py")
