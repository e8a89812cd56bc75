"""The ``Reader`` class, as in ``surprise.reader``."""

from __future__ import annotations

import math
import numbers

from .builtin_datasets import BUILTIN_DATASETS

__all__ = ["Reader"]


def _check_reader_args(sep, skip_lines, lo, hi):
    """What Surprise accepts silently and then misreads or mis-clips."""
    if sep is not None and (not isinstance(sep, str) or sep == ""):
        raise ValueError(f"sep={sep!r} is not valid: use None (any whitespace) or a non-empty str")
    if isinstance(skip_lines, bool) or not isinstance(skip_lines, numbers.Integral):
        raise TypeError(f"skip_lines must be an integer, got {skip_lines!r}")
    if skip_lines < 0:
        raise ValueError(f"skip_lines={skip_lines!r} is out of range: must be >= 0")
    for bound in (lo, hi):
        if (
            isinstance(bound, bool)
            or not isinstance(bound, numbers.Real)
            or not math.isfinite(bound)
        ):
            raise ValueError(f"rating_scale=({lo!r}, {hi!r}): both bounds must be finite numbers")
    if lo > hi:
        raise ValueError(
            f"rating_scale=({lo!r}, {hi!r}): the lowest rating must not exceed the highest"
        )


class Reader:
    """Describe how to parse a file of ratings.

    Parameters
    ----------
    name : str, optional
        Name of a built-in dataset (``'ml-100k'``, ``'ml-1m'``, ``'jester'``). If given,
        every other parameter is ignored and the built-in's format is used.
    line_format : str, default ``'user item rating'``
        The fields of a line, separated by spaces, in any order. ``timestamp`` is optional.
    sep : str or None, default None
        Field separator; ``None`` splits on any run of whitespace.
    rating_scale : tuple of two numbers, default ``(1, 5)``
        Lowest and highest possible ratings; estimates are clipped to it.
    skip_lines : int, default 0
        Number of lines to skip at the top of the file (e.g. a CSV header).

    Notes
    -----
    Like Surprise, the reader stores only ``sep``, ``skip_lines``, ``rating_scale``,
    ``with_timestamp`` and ``indexes`` (positions of user, item, rating[, timestamp]).
    """

    def __init__(
        self,
        name=None,
        line_format="user item rating",
        sep=None,
        rating_scale=(1, 5),
        skip_lines=0,
    ):
        if name:
            try:
                self.__init__(**BUILTIN_DATASETS[name].reader_params)
            except KeyError:
                raise ValueError(
                    "unknown reader "
                    + name
                    + ". Accepted values are "
                    + ", ".join(BUILTIN_DATASETS.keys())
                    + "."
                ) from None
        else:
            self.sep = sep
            self.skip_lines = skip_lines
            self.rating_scale = rating_scale
            lower_bound, higher_bound = rating_scale
            _check_reader_args(sep, skip_lines, lower_bound, higher_bound)

            splitted_format = line_format.split()
            entities = ["user", "item", "rating"]
            if "timestamp" in splitted_format:
                self.with_timestamp = True
                entities.append("timestamp")
            else:
                self.with_timestamp = False
            if any(field not in entities for field in splitted_format):
                raise ValueError("line_format parameter is incorrect.")
            self.indexes = [splitted_format.index(entity) for entity in entities]

    def parse_line(self, line: str):
        """Parse one line into ``(user, item, rating, timestamp_or_None)``.

        Ids are stripped strings; the rating goes through ``float()``.
        """
        fields = line.split(self.sep)
        try:
            if self.with_timestamp:
                uid, iid, r, timestamp = (fields[i].strip() for i in self.indexes)
            else:
                uid, iid, r = (fields[i].strip() for i in self.indexes)
                timestamp = None
        except IndexError:
            raise ValueError(
                "Impossible to parse line. Check the line_format and sep parameters."
            ) from None
        return uid, iid, float(r), timestamp
