"""``Dataset`` and its subclasses, as in ``surprise.dataset``, over array storage.

Ratings are parsed straight into arrays (``turbosvd._table``). ``raw_ratings`` is the
Surprise list of 4-tuples; it is built the first time it is read, and from then on the
list is the source of truth, so code that shuffles or reassigns it works as with Surprise.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

from . import _table
from .builtin_datasets import BUILTIN_DATASETS, download_builtin_dataset
from .reader import Reader
from .trainset import Trainset

__all__ = ["Dataset", "DatasetAutoFolds", "DatasetUserFolds"]


class Dataset:
    """Base class for loading datasets. Use the ``load_*`` class methods."""

    def __init__(self, reader):
        self.reader = reader

    @classmethod
    def load_builtin(cls, name="ml-100k", prompt=True):
        """Load a built-in dataset, downloading it first if needed.

        Parameters
        ----------
        name : {'ml-100k', 'ml-1m', 'jester'}
        prompt : bool, default True
            Ask before downloading.

        Returns
        -------
        DatasetAutoFolds
        """
        try:
            dataset = BUILTIN_DATASETS[name]
        except (KeyError, TypeError):
            raise ValueError(
                "unknown dataset "
                + str(name)
                + ". Accepted values are "
                + ", ".join(BUILTIN_DATASETS.keys())
                + "."
            ) from None
        if not os.path.isfile(dataset.path):
            answered = not prompt
            while not answered:
                print(
                    "Dataset " + name + " could not be found. Do you want to download it? [Y/n] ",
                    end="",
                )
                choice = input().lower()
                if choice in ["yes", "y", "", "omg this is so nice of you!!"]:
                    answered = True
                elif choice in ["no", "n", "hell no why would i want that?!"]:
                    answered = True
                    print("Ok then, I'm out!")
                    sys.exit()
            download_builtin_dataset(name)
        reader = Reader(**dataset.reader_params)
        return cls.load_from_file(file_path=dataset.path, reader=reader)

    @classmethod
    def load_from_file(cls, file_path, reader):
        """Load a ratings file (one rating per line) described by ``reader``."""
        return DatasetAutoFolds(ratings_file=file_path, reader=reader)

    @classmethod
    def load_from_folds(cls, folds_files, reader):
        """Use predefined ``[(train_file, test_file), ...]`` folds (see ``PredefinedKFold``)."""
        return DatasetUserFolds(folds_files=folds_files, reader=reader)

    @classmethod
    def load_from_df(cls, df, reader):
        """Load a DataFrame whose first three columns are user, item and rating, in that order.

        Column names are ignored. Raw ids keep their pandas element type as Python scalars.
        Only ``reader.rating_scale`` is used.
        """
        return DatasetAutoFolds(reader=reader, df=df)

    def read_ratings(self, file_name):
        """Parse a file into a list of ``(uid, iid, rating, timestamp)`` tuples."""
        return _table.read_lines(file_name, self.reader)

    def construct_trainset(self, raw_trainset):
        """Build a ``Trainset`` from a list of ``(uid, iid, rating, timestamp)`` tuples.

        Inner ids are numbered in order of first appearance in the list.
        """
        return self._trainset(_table.table_from_list(raw_trainset))

    def construct_testset(self, raw_testset):
        """Drop the timestamps: ``[(uid, iid, rating), ...]``."""
        return [(ruid, riid, r_ui_trans) for (ruid, riid, r_ui_trans, _) in raw_testset]

    # ------------------------------------------------------------------ internal
    def _trainset(self, table, idx=None) -> Trainset:
        """Trainset of the table rows ``idx`` (all rows if None), in that order."""
        scale = self.reader.rating_scale
        if idx is None:
            # Table codes are already in order of first appearance: share the arrays.
            return Trainset.from_arrays(
                table.users, table.items, table.ratings, table.user_ids, table.item_ids, scale
            )
        users, first_u = pd.factorize(table.users[idx])
        items, first_i = pd.factorize(table.items[idx])
        return Trainset.from_arrays(
            users.astype(np.int32),
            items.astype(np.int32),
            table.ratings[idx],
            table.user_ids[first_u],
            table.item_ids[first_i],
            scale,
        )

    def _file_table(self, file_name):
        return _table.table_from_file(file_name, self.reader)


class DatasetUserFolds(Dataset):
    """A dataset whose train/test folds are given as files."""

    def __init__(self, folds_files=None, reader=None):
        Dataset.__init__(self, reader)
        self.folds_files = folds_files
        for train_test_files in self.folds_files:
            for f in train_test_files:
                if not os.path.isfile(os.path.expanduser(f)):
                    raise ValueError("File " + str(f) + " does not exist.")


class DatasetAutoFolds(Dataset):
    """A dataset read from one file or DataFrame, to be split by a CV iterator."""

    def __init__(self, ratings_file=None, reader=None, df=None):
        Dataset.__init__(self, reader)
        self.has_been_split = False
        self._raw_list = None
        if ratings_file is not None:
            self.ratings_file = ratings_file
            self._table = self._file_table(ratings_file)
            where = f"file {ratings_file!r}"
        elif df is not None:
            if not isinstance(df, pd.DataFrame):
                raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
            if df.shape[1] != 3:
                raise ValueError(
                    "load_from_df needs exactly 3 columns (user, item, rating, in that order); "
                    f"got {df.shape[1]}: {list(df.columns)}"
                )
            self.df = df
            self._table = _table.table_from_df(df)
            where = "DataFrame"
        else:
            raise ValueError("Must specify ratings file or dataframe.")
        if len(self._table) == 0:
            raise ValueError(f"the dataset is empty: no ratings in {where}")

    @property
    def raw_ratings(self) -> list:
        """The ratings as a list of ``(uid, iid, rating, timestamp)``; edits are honoured."""
        if self._raw_list is None:
            self._raw_list = self._table.raw_list()
        return self._raw_list

    @raw_ratings.setter
    def raw_ratings(self, value):
        self._raw_list = value

    def rating_table(self) -> _table.RatingTable:
        """The ratings as arrays (a turbosvd extension; Surprise has no such method).

        Returns
        -------
        turbosvd._table.RatingTable
            ``users`` and ``items`` (codes into ``user_ids`` and ``item_ids``, the raw ids)
            and ``ratings``, one entry per rating, in the data's order; ``len()`` is the
            number of ratings. Rebuilt from ``raw_ratings`` when that list may have been
            edited. Read-only by convention: edit ``raw_ratings`` instead.
        """
        return self._current_table()

    def _current_table(self):
        """The ratings as arrays, rebuilt from ``raw_ratings`` if anyone may have edited it."""
        if self._raw_list is not None:
            return _table.table_from_list(self._raw_list)
        return self._table

    def build_full_trainset(self):
        """A ``Trainset`` of every rating (no test set)."""
        return self._trainset(self._current_table())
