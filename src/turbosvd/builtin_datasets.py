"""Built-in datasets (MovieLens 100k, 1M, Jester), as in ``surprise.builtin_datasets``.

The data folder is ``$TURBOSVD_DATA_FOLDER`` if set, else ``$SURPRISE_DATA_FOLDER``, else
``~/.surprise_data/`` (shared with Surprise, so data it already downloaded is reused).
Unlike Surprise, the folder is resolved each time a dataset is loaded (not frozen at
import) and importing turbosvd creates nothing on disk.
"""

from __future__ import annotations

import os
import zipfile
from collections import namedtuple
from os.path import join
from urllib.request import urlretrieve

__all__ = ["BUILTIN_DATASETS", "BuiltinDataset", "download_builtin_dataset", "get_dataset_dir"]

BuiltinDataset = namedtuple("BuiltinDataset", ["url", "path", "reader_params"])

_SPECS = {
    "ml-100k": (
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "ml-100k/ml-100k/u.data",
        dict(line_format="user item rating timestamp", rating_scale=(1, 5), sep="\t"),
    ),
    "ml-1m": (
        "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "ml-1m/ml-1m/ratings.dat",
        dict(line_format="user item rating timestamp", rating_scale=(1, 5), sep="::"),
    ),
    "jester": (
        "https://eigentaste.berkeley.edu/dataset/archive/jester_dataset_2.zip",
        "jester/jester_ratings.dat",
        dict(line_format="user item rating", rating_scale=(-10, 10)),
    ),
}


def _data_folder() -> str:
    """The data folder, without creating it."""
    for var in ("TURBOSVD_DATA_FOLDER", "SURPRISE_DATA_FOLDER"):
        value = os.environ.get(var)
        if value:
            return value
    return os.path.expanduser("~") + "/.surprise_data/"


def get_dataset_dir() -> str:
    """Return the folder where built-in datasets are stored, creating it if needed.

    ``$TURBOSVD_DATA_FOLDER`` wins over ``$SURPRISE_DATA_FOLDER``; both are returned
    verbatim. The default is ``~/.surprise_data/``.
    """
    folder = _data_folder()
    os.makedirs(folder, exist_ok=True)
    return folder


def _builtin(name: str) -> BuiltinDataset:
    """The dataset record with its path resolved against the current data folder."""
    url, rel_path, reader_params = _SPECS[name]
    return BuiltinDataset(url=url, path=join(_data_folder(), rel_path), reader_params=reader_params)


class _BuiltinDatasets(dict):
    """``name -> BuiltinDataset``; paths follow the data folder at lookup time."""

    def __getitem__(self, name):
        return _builtin(name)

    def get(self, name, default=None):
        return _builtin(name) if name in _SPECS else default

    def values(self):
        return [_builtin(n) for n in _SPECS]

    def items(self):
        return [(n, _builtin(n)) for n in _SPECS]


BUILTIN_DATASETS = _BuiltinDatasets({name: None for name in _SPECS})


def download_builtin_dataset(name: str) -> None:
    """Download and unzip a built-in dataset into the data folder (Surprise's messages)."""
    dataset = BUILTIN_DATASETS[name]
    print("Trying to download dataset from " + dataset.url + "...")
    folder = get_dataset_dir()
    tmp_file_path = join(folder, "tmp.zip")
    urlretrieve(dataset.url, tmp_file_path)
    try:
        with zipfile.ZipFile(tmp_file_path, "r") as tmp_zip:
            tmp_zip.extractall(join(folder, name))
    finally:
        os.remove(tmp_file_path)
    print("Done! Dataset", name, "has been saved to", join(folder, name))
