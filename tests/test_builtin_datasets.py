"""Data folder resolution, load_builtin's prompt and download (network mocked)."""

from __future__ import annotations

import zipfile

import pytest

import turbosvd.builtin_datasets as bd
from turbosvd import Dataset, get_dataset_dir


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    monkeypatch.delenv("TURBOSVD_DATA_FOLDER", raising=False)
    monkeypatch.setenv("SURPRISE_DATA_FOLDER", str(tmp_path / "surprise"))
    return tmp_path


def test_get_dataset_dir_precedence(data_env, monkeypatch):
    assert get_dataset_dir() == str(data_env / "surprise")
    assert (data_env / "surprise").is_dir()
    monkeypatch.setenv("TURBOSVD_DATA_FOLDER", str(data_env / "turbo"))
    assert get_dataset_dir() == str(data_env / "turbo")
    monkeypatch.delenv("TURBOSVD_DATA_FOLDER")
    monkeypatch.delenv("SURPRISE_DATA_FOLDER")
    monkeypatch.setenv("HOME", str(data_env / "home"))
    assert get_dataset_dir() == str(data_env / "home") + "/.surprise_data/"


def test_builtin_paths_follow_the_folder_at_call_time(data_env, monkeypatch):
    assert list(bd.BUILTIN_DATASETS) == ["ml-100k", "ml-1m", "jester"]
    assert bd.BUILTIN_DATASETS["ml-100k"].path == str(
        data_env / "surprise" / "ml-100k/ml-100k/u.data"
    )
    monkeypatch.setenv("TURBOSVD_DATA_FOLDER", str(data_env / "elsewhere"))
    assert bd.BUILTIN_DATASETS["ml-1m"].path.startswith(str(data_env / "elsewhere"))


def test_unknown_builtin():
    with pytest.raises(
        ValueError, match="unknown dataset foo. Accepted values are ml-100k, ml-1m, jester."
    ):
        Dataset.load_builtin("foo")


def _fake_zip(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-100k/u.data", "1\t10\t4\t881250949\n2\t10\t3\t881250950\n")


def test_prompt_then_download(data_env, monkeypatch, capsys):
    answers = iter(["maybe", "Y"])
    monkeypatch.setattr("builtins.input", lambda: next(answers))
    monkeypatch.setattr(bd, "urlretrieve", lambda url, dest: _fake_zip(dest))
    data = Dataset.load_builtin("ml-100k")
    assert data.raw_ratings == [("1", "10", 4.0, "881250949"), ("2", "10", 3.0, "881250950")]
    out = capsys.readouterr().out
    question = "Dataset ml-100k could not be found. Do you want to download it? [Y/n] "
    assert out.startswith(question + question + "Trying to download dataset from ")
    assert f"Done! Dataset ml-100k has been saved to {data_env / 'surprise'}/ml-100k" in out
    assert not (data_env / "surprise" / "tmp.zip").exists()


def test_prompt_no_exits(data_env, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda: "n")
    with pytest.raises(SystemExit) as e:
        Dataset.load_builtin("ml-100k")
    assert e.value.code is None
    assert capsys.readouterr().out.endswith("Ok then, I'm out!\n")
