"""The README's snippets work as shown (issue 17: docs are checked, not hoped): every Python
block runs (Spark's needs a cluster: tests/test_spark.py covers it), and the command-line
example prints what the README shows, up to timings and the last digits of floats."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_FOLDER, needs_ml100k

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)\n```", README, re.S)


@needs_ml100k
@pytest.mark.slow
def test_python_blocks_run(tmp_path, monkeypatch):
    import numpy as np

    import turbosvd

    monkeypatch.chdir(tmp_path)
    blocks = [b for b in _blocks("python") if "tspark" not in b]
    assert len(blocks) >= 6
    # What the prose around the blocks assumes: an item-vector array for the search example.
    namespace = {"turbosvd": turbosvd, "np": np}
    for block in blocks:
        if "cosine_topk(item_vectors" in block:
            namespace["item_vectors"] = namespace["algo"].qi
        exec(compile(block, "README.md", "exec"), namespace)
    algo = namespace["algo"]
    assert algo.recommend("196", n=10)[0][1] <= 5  # shown on the rating scale
    assert len(algo.similar_items("50", k=10, min_support=20)) == 10


def _turbosvd(*args, cwd) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "turbosvd", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "TURBOSVD_SCHEDULE": ""}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _same(shown: str, got: str, tol: float) -> None:
    """Equal lines, numbers within ``tol`` (timings and sizes are not compared)."""
    number = r"-?\d+\.\d+"
    assert re.sub(number, "#", shown) == re.sub(number, "#", got), (shown, got)
    for a, b in zip(re.findall(number, shown), re.findall(number, got), strict=True):
        assert abs(float(a) - float(b)) <= tol, (shown, got)


@needs_ml100k
def test_command_line_example(tmp_path):
    console = next(b for b in _blocks("console") if "turbosvd fit ml-100k/u.data" in b)
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    for name in ("u.data", "u.item"):
        shutil.copy(DATA_FOLDER / "ml-100k" / "ml-100k" / name, folder / name)
    # Each "$ command" up to the next one, with its output lines (the first three commands).
    runs = re.findall(r"^\$ (.*?)\n((?:[^$].*\n?)*)", console, re.M)[:3]
    assert [cmd.split()[1] for cmd, _ in runs] == ["fit", "predict", "similar"]
    for command, shown in runs:
        args = re.findall(r'"[^"]*"|\S+', command.split("#")[0])[1:]
        out = _turbosvd(*(a.strip('"') for a in args), cwd=tmp_path)
        shown_lines, got_lines = shown.strip("\n").splitlines(), out.strip("\n").splitlines()
        assert len(shown_lines) == len(got_lines), (shown, out)
        for a, b in zip(shown_lines, got_lines, strict=True):
            if a.startswith("Trained "):  # the time varies; the description and RMSE do not
                a, b = re.sub(r"in \S+ s", "in T s", a), re.sub(r"in \S+ s", "in T s", b)
            if a.startswith("Saved "):
                a, b = re.sub(r"\(.*\)", "", a), re.sub(r"\(.*\)", "", b)
            _same(a, b, tol=0.01)
