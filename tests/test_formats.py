"""Detection of ratings-file layouts (separator, header, columns) and titles files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import needs_ml100k, needs_ml_latest
from turbosvd import Dataset, Reader
from turbosvd.apps.formats import (
    detect_format,
    find_titles_file,
    infer_rating_scale,
    load_dataset,
    read_ratings,
    read_titles,
)

ROWS = [("196", "242", 3.0, "881250949"), ("186", "302", 3.5, "891717742"),
        ("22", "377", 1.0, "878887116"), ("196", "51", 2.0, "880606923"),
        ("7", "242", 5.0, "886397596")]  # fmt: skip


def _write(tmp_path: Path, text: str, name="ratings.txt", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _lines(sep, header=None, rows=ROWS, n_fields=4):
    out = [sep.join(header)] if header else []
    out += [sep.join([u, i, f"{r:g}", t][:n_fields]) for u, i, r, t in rows]
    return "\n".join(out) + "\n"


def _expected(rows=ROWS):
    return [(u, i, r) for u, i, r, _ in rows]


def _triples(df):
    return list(df.itertuples(index=False, name=None))


@pytest.mark.parametrize(
    ("sep", "header", "n_fields", "sep_out"),
    [
        (",", ["userId", "movieId", "rating", "timestamp"], 4, ","),  # ml-latest ratings.csv
        ("\t", None, 4, "\t"),  # ml-100k u.data
        ("::", None, 4, "::"),  # ml-1m ratings.dat
        ("|", None, 3, "|"),
        (";", ["user_id", "item_id", "rating"], 3, ";"),
        (" ", None, 3, None),
        ("  ", None, 4, None),  # aligned with runs of spaces
        (",", None, 3, ","),
        ("\t", ["User", "Item", "Score"], 3, "\t"),
    ],
)
def test_layouts(tmp_path, sep, header, n_fields, sep_out):
    path = _write(tmp_path, _lines(sep, header, n_fields=n_fields))
    fmt = detect_format(path)
    assert fmt.sep == sep_out
    assert fmt.n_fields == n_fields
    assert fmt.header == (tuple(header) if header else None)
    assert (fmt.user, fmt.item, fmt.rating) == (0, 1, 2)
    assert fmt.timestamp == (3 if n_fields == 4 else None)
    assert _triples(read_ratings(path, fmt)) == _expected()


def test_header_columns_in_any_order(tmp_path):
    text = "timestamp,rating,movieId,userId\n" + "".join(
        f"{t},{r:g},{i},{u}\n" for u, i, r, t in ROWS
    )
    path = _write(tmp_path, text)
    fmt = detect_format(path)
    assert (fmt.user, fmt.item, fmt.rating, fmt.timestamp) == (3, 2, 1, 0)
    assert "user=userId, item=movieId, rating=rating" in fmt.describe()
    assert _triples(read_ratings(path)) == _expected()


def test_string_ids_without_header(tmp_path):
    rows = [("alice", "book 1", 4.0, ""), ("bob", "book 2", 2.5, ""), ("alice", "book 2", 1.0, "")]
    path = _write(tmp_path, _lines(",", rows=rows, n_fields=3))
    fmt = detect_format(path)
    assert fmt.header is None
    assert _triples(read_ratings(path)) == _expected(rows)


def test_unknown_header_names_with_numeric_ratings(tmp_path):
    # Names not recognised, but the first line has text where the others have numbers.
    path = _write(tmp_path, _lines(",", ["a", "b", "c", "d"]))
    fmt = detect_format(path)
    assert fmt.header == ("a", "b", "c", "d")
    assert (fmt.user, fmt.item, fmt.rating) == (0, 1, 2)
    assert _triples(read_ratings(path)) == _expected()


def test_forced_separator_and_header(tmp_path):
    path = _write(tmp_path, _lines(",", n_fields=3))
    fmt = detect_format(path, header=True)
    assert fmt.header == ("196", "242", "3")
    assert len(read_ratings(path, fmt)) == len(ROWS) - 1
    with pytest.raises(ValueError, match="separator ';'"):
        detect_format(path, sep=";")
    space = _write(tmp_path, _lines(" ", n_fields=3), name="s.txt")
    assert detect_format(space, sep=" ").sep is None


def test_bom_latin1_and_quotes(tmp_path):
    path = _write(tmp_path, "\ufeff" + _lines(",", ["userId", "movieId", "rating"], n_fields=3))
    fmt = detect_format(path)
    assert fmt.header == ("userId", "movieId", "rating")
    assert _triples(read_ratings(path)) == _expected()
    latin = _write(tmp_path, "José,Café,4\nZoë,Café,3\n", name="l.csv", encoding="latin-1")
    assert detect_format(latin).encoding == "latin-1"
    assert _triples(read_ratings(latin)) == [("José", "Café", 4.0), ("Zoë", "Café", 3.0)]
    quoted = _write(tmp_path, '"u,1","i 1",4\n"u2","i,2",3.5\n', name="q.csv")
    assert _triples(read_ratings(quoted)) == [("u,1", "i 1", 4.0), ("u2", "i,2", 3.5)]


def test_double_colon_ids_containing_colons(tmp_path):
    path = _write(tmp_path, "a:1::x::4\nb::y:2::3\nc::z::5\n")
    fmt = detect_format(path)
    assert fmt.sep == "::"
    assert _triples(read_ratings(path)) == [("a:1", "x", 4.0), ("b", "y:2", 3.0), ("c", "z", 5.0)]


def _many(sep=",", n=30):
    return [sep.join([str(k % 7), str(k % 11), str(1 + k % 5)]) for k in range(n)]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("3,4", "line 6: the rating is missing"),
        ("3,4,5,6", "line 6 has 4 fields, expected 3"),
        ("3,4,five", "line 6: rating 'five' is not a finite number"),
        ("3,4,nan", "line 6: rating 'nan' is not a finite number"),
        (",4,5", "line 6: the user id is empty"),
    ],
)
def test_malformed_lines_are_reported_with_line_numbers(tmp_path, bad_line, message):
    lines = ["user,item,rating"] + _many()
    lines.insert(5, bad_line)
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message) as e:
        read_ratings(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"PK\x03\x04rest", "ZIP archive"),
        (b"\x00\x01\x02abc", "binary file"),
        (b"userId,movieId,rating\n", "header line but no ratings"),
        (b"1 2\n3 4\n", "cannot detect the field separator"),
        (b"1,Toy Story,01-Jan-1995\n2,Heat,01-Jan-1995\n", "column 3 should hold the ratings"),
    ],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as e:
        detect_format(path)
    assert str(path) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "nope.csv")


def test_load_dataset_and_scale(tmp_path):
    path = _write(tmp_path, _lines(",", ["userId", "movieId", "rating", "timestamp"]))
    data, fmt, scale = load_dataset(path)
    assert scale == (1, 5) and isinstance(scale[0], int)
    trainset = data.build_full_trainset()
    assert trainset.rating_scale == (1, 5)
    # Same ids and order as Surprise's own loader with an explicit Reader.
    reader = Reader(line_format="user item rating timestamp", sep=",", skip_lines=1)
    ref = Dataset.load_from_file(str(path), reader).build_full_trainset()
    assert trainset.build_testset() == ref.build_testset()
    data, _, scale = load_dataset(path, rating_scale=(0.5, 5))
    assert scale == (0.5, 5) and data.build_full_trainset().rating_scale == (0.5, 5)
    with pytest.raises(ValueError, match="rating_scale"):
        load_dataset(path, rating_scale=(5, 1))
    assert infer_rating_scale(np.array([0.5, 4.5, 3])) == (0.5, 4.5)
    with pytest.raises(ValueError, match="no ratings"):
        infer_rating_scale([])


def test_titles(tmp_path):
    item = _write(tmp_path, "1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n2|Café (1990)|x\n",
                  name="u.item", encoding="latin-1")  # fmt: skip
    assert read_titles(item) == {"1": "Toy Story (1995)", "2": "Café (1990)"}
    csv_ = _write(tmp_path, 'movieId,title,genres\n1,"American President, The (1995)",Comedy\n'
                  "2,Heat (1995),Action\n", name="movies.csv")  # fmt: skip
    assert read_titles(csv_) == {"1": "American President, The (1995)", "2": "Heat (1995)"}
    dat = _write(tmp_path, "1::Toy Story (1995)::Animation\n", name="movies.dat")
    assert read_titles(dat) == {"1": "Toy Story (1995)"}
    other = _write(tmp_path, "name\tid\nFoo\t9\n", name="titles.tsv")
    assert read_titles(other) == {"9": "Foo"}
    assert find_titles_file(tmp_path / "none", tmp_path) == tmp_path / "movies.csv"
    assert find_titles_file(tmp_path / "none") is None
    with pytest.raises(ValueError, match="empty"):
        read_titles(_write(tmp_path, "\n", name="e"))


@needs_ml100k
def test_movielens_100k(ml100k_dir):
    fmt = detect_format(ml100k_dir / "u.data")
    assert (fmt.sep, fmt.header, fmt.n_fields) == ("\t", None, 4)
    data, _, scale = load_dataset(ml100k_dir / "u.data")
    assert scale == (1, 5)
    ref = Dataset.load_builtin("ml-100k", prompt=False).build_full_trainset()
    ours = data.build_full_trainset()
    assert ours.build_testset()[:1000] == ref.build_testset()[:1000]
    assert ours.n_ratings == 100_000
    titles = read_titles(ml100k_dir / "u.item")
    assert titles["1"] == "Toy Story (1995)" and len(titles) == 1682


@needs_ml_latest
def test_movielens_latest_small(data_folder):
    folder = data_folder / "ml-latest-small" / "ml-latest-small"
    fmt = detect_format(folder / "ratings.csv")
    assert fmt.header == ("userId", "movieId", "rating", "timestamp")
    df = read_ratings(folder / "ratings.csv", fmt)
    assert len(df) == 100_836 and infer_rating_scale(df["rating"]) == (0.5, 5)
    assert read_titles(folder / "movies.csv")["1"] == "Toy Story (1995)"
