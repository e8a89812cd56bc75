"""Read rating files without describing them: separator, header and columns are detected.

Handles the usual layouts of rating data: comma- or semicolon-separated files with or
without a header (MovieLens ``ratings.csv``: ``userId,movieId,rating,timestamp``),
tab-separated ones (MovieLens 100k ``u.data``), ``::``-separated ones (MovieLens 1M/10M
``ratings.dat``), ``|``-separated ones and whitespace-aligned ones. Ids are read as strings,
exactly as ``Dataset.load_from_file`` reads them, so a model trained from a file answers to
the ids written in that file.

Also reads movie titles (``u.item``, ``movies.csv``, ``movies.dat``) for display.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

__all__ = [
    "RatingsFormat",
    "detect_format",
    "find_titles_file",
    "infer_rating_scale",
    "load_dataset",
    "read_ratings",
    "read_titles",
]

# Tried in this order; the first that splits every sampled line into the same number
# (>= 3) of fields wins. None means runs of whitespace.
_SEPARATORS = ("::", "\t", ",", ";", "|", None)
_SEP_NAMES = {"::": "'::'", "\t": "tab", ",": "comma", ";": "semicolon", "|": "'|'", None: "spaces"}
_SAMPLE_BYTES = 1 << 16
_SAMPLE_LINES = 200
# The sample grows past _SAMPLE_BYTES until it holds this many whole lines (or the file
# ends), up to _SAMPLE_MAX_BYTES.
_MIN_SAMPLE_LINES = 20
_SAMPLE_MAX_BYTES = 64 << 20
_MAJORITY = 0.9  # share of sampled lines that must agree on the layout
_ZIP_MAGIC = b"PK\x03\x04"

_ROLE_PATTERNS = {
    "user": re.compile(r"^(u|uid|user.*|.*userid|customer.*|reviewer.*|member.*|visitor.*)$"),
    "item": re.compile(
        r"^(i|iid|item.*|.*itemid|movie.*|.*movieid|product.*|book.*|isbn|asin|track.*|"
        r"song.*|artist.*|anime.*|joke.*|game.*|recipe.*|business.*)$"
    ),
    "rating": re.compile(r"^(r|rating.*|.*rating|score|stars?|value|preference|rate)$"),
    "timestamp": re.compile(r"^(ts|time.*|.*timestamp|date.*|.*time)$"),
}


@dataclass(frozen=True)
class RatingsFormat:
    """How a ratings file is laid out.

    Attributes
    ----------
    sep : str or None
        Field separator (None: runs of whitespace).
    header : tuple of str or None
        Column names, when the first line is a header.
    user, item, rating : int
        Column positions (0-based).
    timestamp : int or None
    n_fields : int
        Fields per line.
    encoding : str
    """

    sep: str | None
    header: tuple[str, ...] | None
    user: int
    item: int
    rating: int
    timestamp: int | None
    n_fields: int
    encoding: str

    def describe(self) -> str:
        """A short human description, e.g. ``comma-separated, header userId,movieId,...``."""
        sep = _SEP_NAMES.get(self.sep, repr(self.sep))
        sep = "whitespace-separated" if self.sep is None else f"{sep}-separated"
        if self.header:
            head = "header " + ",".join(self.header)
        else:
            head = "no header"
        names = self.header or [f"column {k + 1}" for k in range(self.n_fields)]
        roles = f"user={names[self.user]}, item={names[self.item]}, rating={names[self.rating]}"
        return f"{sep}, {head}; {roles}"


class _Source:
    """A ratings input, opened once: a regular file by path, anything else by its bytes.

    Standard input (``-``), pipes and process substitutions (``<(...)``) can be read only
    once, so their bytes are read into memory at the start and both the format detection
    and the parser read that copy: every rating arrives.
    """

    def __init__(self, path):
        if isinstance(path, _Source):
            self.name, self._path, self._data = path.name, path._path, path._data
            return
        path = os.fspath(path)
        self.name = path
        self._path, self._data = path, None
        if path == "-":
            self.name = "<stdin>"
            self._data = _read_stream(sys.stdin.buffer, self.name)
            return
        st = os.stat(path)  # FileNotFoundError names the path
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(f"{path}: is a directory, not a ratings file")
        if not stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                self._data = _read_stream(f, path)

    def open(self) -> IO[bytes]:
        """A fresh binary reader from the start."""
        return open(self._path, "rb") if self._data is None else io.BytesIO(self._data)

    def for_pandas(self):
        """What ``pandas.read_csv`` reads: the path, or a fresh buffer of the bytes."""
        return self._path if self._data is None else io.BytesIO(self._data)


def _read_stream(f: IO[bytes], name: str) -> bytes:
    """All of a non-seekable input; a binary stream (e.g. the zero device) stops at once."""
    first = f.read(_SAMPLE_BYTES)
    if b"\x00" in first:
        raise ValueError(f"{name}: this is a binary stream, not a text file of ratings")
    return first + f.read()


def _read_sample(src: _Source) -> tuple[list[str], str]:
    """Whole lines from the top of the input (at least ``_SAMPLE_BYTES`` of them, or up to
    ``_SAMPLE_LINES`` lines), never a line cut in the middle: a 100 KB first line is read
    in full."""
    path = src.name
    with src.open() as f:
        raw = f.read(_SAMPLE_BYTES)
        eof = len(raw) < _SAMPLE_BYTES
        step = _SAMPLE_BYTES
        while not eof and raw.count(b"\n") < _MIN_SAMPLE_LINES:
            if len(raw) >= _SAMPLE_MAX_BYTES:
                raise ValueError(
                    f"{path}: the first lines are longer than {_SAMPLE_MAX_BYTES >> 20} MiB; "
                    "this does not look like a ratings file"
                )
            chunk = f.read(step)
            step *= 2
            eof = not chunk
            raw += chunk
        if not eof:
            eof = not f.read(1)
    if not raw.strip():
        raise ValueError(f"{path}: the file is empty")
    if raw.startswith(_ZIP_MAGIC):
        raise ValueError(f"{path}: this is a ZIP archive (a saved model?), not a ratings file")
    if b"\x00" in raw:
        raise ValueError(f"{path}: this is a binary file, not a text file of ratings")
    if not eof:
        raw = raw[: raw.rindex(b"\n") + 1]  # whole lines only (UTF-8 never splits at \n)
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        text, encoding = raw.decode("latin-1"), "latin-1"
    lines = [ln for ln in text.splitlines() if ln.strip()][:_SAMPLE_LINES]
    return lines, encoding


def _split(line: str, sep: str | None) -> list[str]:
    if sep is None:
        return line.split()
    if sep == ",":
        return next(csv.reader([line]))
    return line.split(sep)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def detect_format(path, *, sep: str | None = None, header: bool | None = None) -> RatingsFormat:
    """Detect the separator, header and column roles of a ratings file.

    Parameters
    ----------
    path : str or os.PathLike
    sep : str, optional
        Force the separator (``'\\t'``, ``','``, ``'::'``, ``' '``...; ``' '`` means any
        whitespace). Detected when None.
    header : bool, optional
        Force whether the first line is a header. Detected when None: it is a header when
        its names are recognised (``userId``, ``movie_id``, ``rating``...) or when it has
        text where the other lines have numbers.

    Returns
    -------
    RatingsFormat

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, binary, or has no consistent layout with user, item and
        numeric rating columns. The message names the file.
    """
    src = _Source(path)
    path = src.name
    lines, encoding = _read_sample(src)
    if sep is not None:
        if not isinstance(sep, str) or not sep or sep in "\r\n":
            raise ValueError(f"sep={sep!r} is not a valid separator")
        candidates = (None if sep.isspace() else sep,)
    else:
        candidates = _SEPARATORS
    found, chosen = False, None  # chosen=None is a valid answer: whitespace
    for cand in candidates:
        counts = [len(_split(ln, cand)) for ln in lines]
        n_fields = max(set(counts), key=counts.count)
        # A few malformed lines must not hide the layout: read_ratings reports them.
        if n_fields >= 3 and counts.count(n_fields) >= _MAJORITY * len(counts):
            found, chosen = True, cand
            break
    if not found:
        if sep is not None:
            raise ValueError(
                f"{path}: with separator {sep!r}, the lines do not have a common number "
                "(at least 3) of fields"
            )
        raise ValueError(
            f"{path}: cannot detect the field separator (tried {', '.join(_SEP_NAMES.values())}:"
            " none splits the lines into a common number of fields, at least 3); "
            "pass it explicitly (--sep)"
        )
    rows = [[f.strip() for f in _split(ln, chosen)] for ln in lines]
    rows = [r for r in rows if len(r) == n_fields]
    first, rest = rows[0], rows[1:]
    roles = _roles_from_names(first)
    if header is None:
        numeric_below = [k for k in range(n_fields) if rest and all(_is_number(r[k]) for r in rest)]
        header = roles is not None or any(not _is_number(first[k]) for k in numeric_below)
    if header:
        if not rest:
            raise ValueError(f"{path}: the file has a header line but no ratings")
        names = tuple(first)
        data = rest
        if roles is None:
            roles = {"user": 0, "item": 1, "rating": 2, "timestamp": 3 if n_fields > 3 else None}
    else:
        names = None
        data = rows
        roles = {"user": 0, "item": 1, "rating": 2, "timestamp": 3 if n_fields > 3 else None}
    r = roles["rating"]
    numeric = [_is_number(row[r]) for row in data]
    if numeric.count(True) < _MAJORITY * len(numeric):
        bad = data[numeric.index(False)][r]
        col = f"column {r + 1}" + (f" ({names[r]!r})" if names else "")
        hint = (
            "name the columns in a header (userId,itemId,rating)"
            if names is None or _roles_from_names(list(names)) is None
            else "check the file"
        )
        raise ValueError(
            f"{path}: {col} should hold the ratings but has {bad!r}; the columns must be "
            f"user, item, rating[, timestamp] in that order, or {hint}"
        )
    return RatingsFormat(
        sep=chosen,
        header=names,
        user=roles["user"],
        item=roles["item"],
        rating=r,
        timestamp=roles["timestamp"],
        n_fields=n_fields,
        encoding=encoding,
    )


def _roles_from_names(fields: list[str]) -> dict | None:
    """Column of each role when ``fields`` look like a header naming them, else None."""
    if any(_is_number(f) for f in fields):
        return None
    roles: dict[str, int | None] = {}
    for role in ("user", "item", "rating", "timestamp"):
        pattern = _ROLE_PATTERNS[role]
        taken = set(roles.values())
        match = next(
            (k for k, f in enumerate(fields) if k not in taken and pattern.match(_norm(f))), None
        )
        roles[role] = match
    if roles["user"] is None or roles["item"] is None or roles["rating"] is None:
        return None
    return roles


def read_ratings(path, fmt: RatingsFormat | None = None) -> pd.DataFrame:
    """Read a ratings file into a DataFrame with columns ``user``, ``item``, ``rating``.

    Ids are strings (stripped); ratings are float64. ``fmt`` is detected when None.

    Raises
    ------
    ValueError
        If a line has the wrong number of fields or a rating is not a finite number; the
        message gives the file and line number.
    """
    src = _Source(path)
    path = src.name
    if fmt is None:
        fmt = detect_format(src)
    cols = [fmt.user, fmt.item, fmt.rating]
    skip = 1 if fmt.header else 0
    df = None
    if fmt.sep == "::":
        df = _read_double_colon(src, fmt, skip)
    if df is None:
        kwargs = {"quoting": csv.QUOTE_MINIMAL} if fmt.sep == "," else {"quoting": csv.QUOTE_NONE}
        try:
            df = pd.read_csv(
                src.for_pandas(),
                sep=r"\s+" if fmt.sep is None else fmt.sep,
                header=None,
                names=list(range(fmt.n_fields)),  # a line with more fields is an error
                skiprows=skip,
                dtype=str,
                na_filter=False,
                encoding=fmt.encoding,
                engine="python" if fmt.sep is not None and len(fmt.sep) > 1 else "c",
                **kwargs,
            )
        except pd.errors.ParserError as e:
            raise ValueError(f"{path}: {_parser_message(e, skip)}") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: cannot decode the file as {fmt.encoding} ({e})") from None
    df = df[cols]
    df.columns = ["user", "item", "rating"]
    if df.empty:
        raise ValueError(f"{path}: no ratings in the file")
    for col in ("user", "item"):
        values = df[col]
        values = values.str.strip()
        empty = values.eq("").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise ValueError(
                f"{path}: line {row + 1 + skip}: the {col} id is empty or missing "
                f"(expected {fmt.n_fields} fields per line)"
            )
        df[col] = values
    text = df["rating"].str.strip()
    ratings = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(ratings)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        where = f"{path}: line {row + 1 + skip}"
        if text.iloc[row] == "":
            raise ValueError(
                f"{where}: the rating is missing (expected {fmt.n_fields} fields per line)"
            )
        raise ValueError(f"{where}: rating {text.iloc[row]!r} is not a finite number")
    df["rating"] = ratings
    return df


def _read_double_colon(src: _Source, fmt: RatingsFormat, skip: int) -> pd.DataFrame | None:
    """``::`` files through the fast C parser: split on ``:`` and keep every other field."""
    cols = [2 * fmt.user, 2 * fmt.item, 2 * fmt.rating]
    try:
        df = pd.read_csv(
            src.for_pandas(),
            sep=":",
            header=None,
            skiprows=skip,
            dtype=str,
            na_filter=False,
            quoting=csv.QUOTE_NONE,
            encoding=fmt.encoding,
            engine="c",
        )
    except (pd.errors.ParserError, UnicodeDecodeError):
        return None
    if df.shape[1] != 2 * fmt.n_fields - 1 or (df.iloc[:, 1::2] != "").any().any():
        return None  # some field contains ':'; let the python engine split on '::'
    out = df.iloc[:, cols]
    out.columns = [fmt.user, fmt.item, fmt.rating]
    return out


def _parser_message(e: Exception, skip: int) -> str:
    msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    msg = msg.replace("Error tokenizing data. C error: ", "")
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:  # pandas counts lines from the top of the file, header included
        expected, line, saw = m.groups()
        return f"line {line} has {saw} fields, expected {expected}"
    return msg


def infer_rating_scale(ratings) -> tuple:
    """``(min, max)`` of the ratings, as ints when they are whole numbers."""
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.size == 0:
        raise ValueError("cannot infer a rating scale from no ratings")
    lo, hi = float(ratings.min()), float(ratings.max())
    return tuple(int(x) if x.is_integer() else x for x in (lo, hi))


def load_dataset(path, *, rating_scale=None, sep=None, header=None):
    """Read a ratings file into a ``Dataset``, detecting its layout.

    Parameters
    ----------
    path : str or os.PathLike
    rating_scale : tuple of two numbers, optional
        Lowest and highest possible ratings; inferred from the data (min, max) when None.
    sep, header : optional
        Passed to ``detect_format``.

    Returns
    -------
    dataset : DatasetAutoFolds
    fmt : RatingsFormat
    rating_scale : tuple
    """
    from ..dataset import Dataset
    from ..reader import Reader

    src = _Source(path)  # read once: a pipe cannot be read again
    fmt = detect_format(src, sep=sep, header=header)
    df = read_ratings(src, fmt)
    if rating_scale is None:
        rating_scale = infer_rating_scale(df["rating"].to_numpy())
    else:
        lo, hi = rating_scale
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(
                f"rating_scale={tuple(rating_scale)!r} is not valid: need two finite numbers "
                "LO < HI"
            )
        rating_scale = tuple(rating_scale)
    data = Dataset.load_from_df(df, Reader(rating_scale=rating_scale))
    return data, fmt, rating_scale


# ------------------------------------------------------------------------------ titles
_TITLE_FILES = ("movies.csv", "u.item", "movies.dat")


def find_titles_file(*folders) -> Path | None:
    """The first MovieLens titles file (``movies.csv``, ``u.item``, ``movies.dat``) found."""
    for folder in folders:
        if folder is None:
            continue
        for name in _TITLE_FILES:
            candidate = Path(folder) / name
            if candidate.is_file():
                return candidate
    return None


def read_titles(path) -> dict[str, str]:
    """Map item id (a string, as ratings files give them) to title.

    Reads MovieLens ``u.item`` (``|``-separated, Latin-1), ``movies.csv`` (CSV with a
    header, quoted titles) and ``movies.dat`` (``::``-separated), or any file whose first
    two columns are id and title (a header naming a ``title`` column is honoured).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: the titles file is empty")
    first = lines[0]
    for sep in ("::", "|", "\t", ","):
        if sep in first:
            break
    else:
        raise ValueError(f"{path}: cannot find the id and title columns (no separator found)")
    if sep == ",":
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    else:
        rows = [ln.split(sep) for ln in lines]
    id_col, title_col = 0, 1
    head = [_norm(x) for x in rows[0]]
    if "title" in head or "name" in head:
        title_col = head.index("title") if "title" in head else head.index("name")
        others = [k for k in range(len(head)) if k != title_col]
        id_col = next(
            (k for k in others if head[k] == "id" or _ROLE_PATTERNS["item"].match(head[k])),
            others[0] if others else 0,
        )
        rows = rows[1:]
    titles = {}
    for row in rows:
        if len(row) > max(id_col, title_col):
            titles[row[id_col].strip()] = row[title_col].strip()
    if not titles:
        raise ValueError(f"{path}: no titles found")
    return titles
