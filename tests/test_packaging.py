"""Project hygiene that CI relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = [c for c in _readme_commands() if "pytest" in c and "[test]" in c]
    assert len(test_cmd) == 1
    assert test_cmd[0] in ci.splitlines()


def test_readme_has_the_two_setup_commands():
    setup = (ROOT / "README.md").read_text().split("## Set up")[1].split("##")[0]
    blocks = re.findall(r"```bash\n(.*?)\n```", setup, re.S)
    assert len(blocks) == 2
    assert all("\n" not in b for b in blocks)
    assert "turbosvd demo" in blocks[0]


def test_no_movielens_files_tracked():
    try:
        files = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    leaks = [f for f in files if re.search(r"(^|/)(u\.data|u\.item|u[1-5]\.(base|test))$", f)]
    assert leaks == []


def test_version_is_single_sourced():
    import turbosvd

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", turbosvd.__version__)


def test_ci_installs_the_spark_extra():
    """The Spark step of .ci/run installs exactly the `spark` extra's requirements."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["spark"]
    step = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "spark" in line]
    step = [line for line in step if "pip install" in line]
    assert len(step) == 1
    installed = re.findall(r'"([^"]+)"', step[0].split("&&")[0])
    # The CI may add client extras (pyspark[connect]); the versions must be the extra's.
    assert [re.sub(r"\[.*?\]", "", x) for x in installed] == extra
    assert "pytest tests/test_spark.py" in step[0]


def test_readme_main_command_installs_what_the_demo_compares_with():
    """The main command installs the `demo` extra, which holds scikit-surprise (issue 17)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    setup = (ROOT / "README.md").read_text().split("## Set up")[1].split("##")[0]
    main = re.findall(r"```bash\n(.*?)\n```", setup, re.S)[0]
    assert '.venv/bin/pip install ".[demo]"' in main and main.endswith("turbosvd demo")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(r.startswith("scikit-surprise==1.1.5") for r in extras["demo"])


def test_license_file_and_metadata():
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert project["urls"]["Homepage"].startswith("https://")
