"""Reader, Dataset, Trainset: the same objects, orders and errors as Surprise."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import turbosvd
from conftest import needs_ml100k, small_ratings
from turbosvd import Dataset, Reader, Trainset
from turbosvd._table import read_lines, table_from_file

# ----------------------------------------------------------------------------- Reader


def test_reader_attributes_match_surprise(surprise):
    for kwargs in (
        {},
        {"line_format": "timestamp rating item user", "sep": ",", "skip_lines": 2},
        {"name": "ml-100k"},
        {"name": "jester"},
    ):
        ours, theirs = Reader(**kwargs), surprise.Reader(**kwargs)
        assert vars(ours) == vars(theirs)
        assert not hasattr(ours, "line_format")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "ml-10m"}, "unknown reader ml-10m. Accepted values are ml-100k, ml-1m, jester."),
        ({"line_format": "user item note"}, "line_format parameter is incorrect."),
        ({"line_format": "user item"}, "'rating' is not in list"),
    ],
)
def test_reader_errors_match_surprise(surprise, kwargs, message):
    with pytest.raises(ValueError) as theirs:
        surprise.Reader(**kwargs)
    with pytest.raises(ValueError) as ours:
        Reader(**kwargs)
    assert str(ours.value) == str(theirs.value) == message


def test_reader_rating_scale_must_have_two_values():
    with pytest.raises(ValueError, match="too many values to unpack"):
        Reader(rating_scale=(1, 3, 5))


def test_parse_line_matches_surprise(surprise):
    lines = ["196\t242\t3\t881250949\n", " a \t b \t 4.5 \t t \textra\n", "x\ty\t1e0\tz"]
    ours = Reader(line_format="user item rating timestamp", sep="\t")
    theirs = surprise.Reader(line_format="user item rating timestamp", sep="\t")
    for line in lines:
        assert ours.parse_line(line) == theirs.parse_line(line)
    for bad in ["", "1\t2\n"]:
        with pytest.raises(ValueError, match="Impossible to parse line"):
            ours.parse_line(bad)
    with pytest.raises(ValueError, match="could not convert string to float"):
        ours.parse_line("1\t2\tnot-a-number\tt")


# ---------------------------------------------------------------------- file loading


FILE_CASES = [
    ("user item rating", None, 0, "1 2 3\n2 3 4.5\n1 3 1\n"),
    ("user item rating", None, 0, "  1   2\t3\n2\t3 4.5\n"),
    ("user item rating timestamp", "\t", 0, "1\t2\t3\t99\n2\t3\t4.5\t100\n 3 \t 4 \t 5 \t101\n"),
    ("user item rating", ",", 1, "userId,movieId,rating\n1,2,3.5\n1,3,4\n7,2,2.5\n"),
    ("item rating user", ";", 0, "a;3;x\nb;4;y\na;5;y\n"),
    ("user item rating", ",", 0, "1,2,3,extra\n2,3,4\n"),  # ragged: line parser fallback
    ("user item rating timestamp", "::", 0, "1::2::3::9\n2::1::4::8\n"),  # multi-char sep
    ("user item rating", ",", 0, '"1",2,3\n1,2,4\n'),  # quotes are data, as in Surprise
    ("user item rating", ",", 0, "1,,3\n,2,4\n"),  # empty ids are ids
]


@pytest.mark.parametrize(("line_format", "sep", "skip", "text"), FILE_CASES)
def test_load_from_file_matches_surprise(tmp_path, surprise, line_format, sep, skip, text):
    path = tmp_path / "ratings.txt"
    path.write_text(text)
    kwargs = dict(line_format=line_format, sep=sep, skip_lines=skip, rating_scale=(1, 5))
    ours = Dataset.load_from_file(str(path), Reader(**kwargs))
    theirs = surprise.Dataset.load_from_file(str(path), surprise.Reader(**kwargs))
    assert ours.raw_ratings == theirs.raw_ratings
    # The vectorised reader and the line-by-line parser agree.
    assert table_from_file(str(path), Reader(**kwargs)).raw_list() == read_lines(
        str(path), Reader(**kwargs)
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [("1 2 3\n\n2 3 4\n", 2), ("1 2 3\n2 3\n", 2), ("1 2 3\n2 3 4\n\n", 3)],
)
def test_blank_or_short_lines_are_fatal_and_name_the_line(tmp_path, surprise, text, line):
    path = tmp_path / "r.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match="Impossible to parse line"):
        surprise.Dataset.load_from_file(str(path), surprise.Reader())
    with pytest.raises(ValueError, match=rf"Impossible to parse line.*line {line} of"):
        Dataset.load_from_file(str(path), Reader())


def test_non_numeric_rating_names_the_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("1,2,3\n1,3,four\n")
    with pytest.raises(ValueError, match=r"could not convert string to float: 'four'.*line 2"):
        Dataset.load_from_file(str(path), Reader(sep=","))


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_ratings_are_rejected(tmp_path, bad):
    path = tmp_path / "r.csv"
    path.write_text(f"1,2,3\n1,3,{bad}\n")
    with pytest.raises(ValueError, match=r"rating .* at line 2 .* not a finite number"):
        Dataset.load_from_file(str(path), Reader(sep=","))
    df = pd.DataFrame({"u": [1, 2], "i": [1, 2], "r": [3.0, float(bad)]})
    with pytest.raises(ValueError, match=r"row 1 .* not a finite number"):
        Dataset.load_from_df(df, Reader())


def test_missing_file_and_empty_data(tmp_path):
    with pytest.raises(FileNotFoundError):
        Dataset.load_from_file(str(tmp_path / "nope.csv"), Reader())
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="the dataset is empty"):
        Dataset.load_from_file(str(empty), Reader())
    with pytest.raises(ValueError, match="the dataset is empty"):
        Dataset.load_from_df(pd.DataFrame({"u": [], "i": [], "r": []}), Reader())


@needs_ml100k
def test_ml100k_raw_ratings_match_surprise(surprise):
    ours = Dataset.load_builtin("ml-100k", prompt=False)
    theirs = surprise.Dataset.load_builtin("ml-100k", prompt=False)
    assert len(ours.raw_ratings) == 100000
    assert ours.raw_ratings[0] == ("196", "242", 3.0, "881250949")
    assert ours.raw_ratings == theirs.raw_ratings
    full = ours.build_full_trainset()
    assert (full.n_users, full.n_items) == (943, 1682)
    assert full.global_mean == theirs.build_full_trainset().global_mean


# ------------------------------------------------------------------------- DataFrames


def test_load_from_df_keeps_pandas_element_types(surprise):
    df = pd.DataFrame(
        {
            "user": pd.Series([9, 10000, 9], dtype="int64"),
            "item": pd.Series([1.0, 2.0, 3.0]),
            "rating": [3, 4, 5],
        }
    )
    ours = Dataset.load_from_df(df, Reader()).raw_ratings
    theirs = surprise.Dataset.load_from_df(df, surprise.Reader()).raw_ratings
    assert ours == theirs
    assert [tuple(map(type, t)) for t in ours] == [tuple(map(type, t)) for t in theirs]


def test_load_from_df_mixed_object_ids(surprise):
    df = pd.DataFrame({"u": [9, "10000", 9, "a"], "i": ["x", 1, "x", 2.5], "r": [1, 2, 3, 4]})
    ours = Dataset.load_from_df(df, Reader())
    theirs = surprise.Dataset.load_from_df(df, surprise.Reader())
    assert ours.raw_ratings == theirs.raw_ratings
    tr_o, tr_t = ours.build_full_trainset(), theirs.build_full_trainset()
    assert tr_o._raw2inner_id_users == tr_t._raw2inner_id_users
    assert tr_o._raw2inner_id_items == tr_t._raw2inner_id_items
    assert tr_o.to_inner_uid("10000") == 1
    with pytest.raises(ValueError, match="User 10000 is not part of the trainset."):
        tr_o.to_inner_uid(10000)


def test_load_from_df_needs_exactly_three_columns():
    df = pd.DataFrame({"u": [1], "i": [2], "r": [3.0], "ts": [4]})
    with pytest.raises(ValueError, match="exactly 3 columns .* got 4"):
        Dataset.load_from_df(df, Reader())
    with pytest.raises(ValueError, match="Must specify ratings file or dataframe."):
        Dataset.load_from_df(None, None)
    with pytest.raises(TypeError, match="df must be a pandas DataFrame"):
        Dataset.load_from_df(np.ones((3, 3)), Reader())


def test_missing_ids_are_rejected():
    df = pd.DataFrame({"u": ["a", None], "i": ["x", "y"], "r": [1.0, 2.0]})
    with pytest.raises(ValueError, match="user id is missing .* row 1"):
        Dataset.load_from_df(df, Reader())


def test_string_ratings_in_df_go_through_float(surprise):
    df = pd.DataFrame({"u": ["a", "b"], "i": ["x", "y"], "r": ["3.5", " 4 "]})
    assert Dataset.load_from_df(df, Reader()).raw_ratings == [
        ("a", "x", 3.5, None),
        ("b", "y", 4.0, None),
    ]
    df.loc[1, "r"] = "four"
    with pytest.raises(ValueError, match="rating 'four' at row 1"):
        Dataset.load_from_df(df, Reader())


# -------------------------------------------------------------------------- Trainset


def _pair(surprise, df):
    ours = Dataset.load_from_df(df, Reader()).build_full_trainset()
    theirs = surprise.Dataset.load_from_df(df, surprise.Reader()).build_full_trainset()
    return ours, theirs


def test_trainset_views_match_surprise(surprise, small_df):
    ours, theirs = _pair(surprise, small_df)
    assert (ours.n_users, ours.n_items, ours.n_ratings) == (
        theirs.n_users,
        theirs.n_items,
        theirs.n_ratings,
    )
    assert ours.rating_scale == theirs.rating_scale
    assert ours.global_mean == theirs.global_mean
    assert type(ours.global_mean) is type(theirs.global_mean)
    assert list(ours.all_ratings()) == list(theirs.all_ratings())
    assert ours.build_testset() == theirs.build_testset()
    assert ours.build_anti_testset() == theirs.build_anti_testset()
    assert ours.build_anti_testset(fill=2) == theirs.build_anti_testset(fill=2)
    assert ours.all_users() == theirs.all_users() and ours.all_items() == theirs.all_items()
    assert ours._inner2raw_id_users is None
    for u in range(ours.n_users):
        assert ours.to_raw_uid(u) == theirs.to_raw_uid(u)
    assert ours._inner2raw_id_users is not None
    assert ours._raw2inner_id_users == theirs._raw2inner_id_users
    assert ours._raw2inner_id_items == theirs._raw2inner_id_items
    assert ours.ur == theirs.ur and ours.ir == theirs.ir
    assert list(ours.ur) == list(theirs.ur)


def test_trainset_lookups_and_errors(surprise, small_df):
    ours, theirs = _pair(surprise, small_df)
    for t in (ours, theirs):
        assert t.knows_user(0) and t.knows_user(np.int64(1)) and t.knows_user(2.0)
        assert not t.knows_user("UKN__u1") and not t.knows_user(t.n_users)
    for call, arg in (("to_inner_uid", "nobody"), ("to_inner_iid", "nothing")):
        with pytest.raises(ValueError) as e_ours:
            getattr(ours, call)(arg)
        with pytest.raises(ValueError) as e_theirs:
            getattr(theirs, call)(arg)
        assert str(e_ours.value) == str(e_theirs.value)
    with pytest.raises(ValueError, match="99999 is not a valid inner id."):
        ours.to_raw_iid(99999)


def test_defaultdict_reads_grow_like_surprise(surprise, small_df):
    ours, theirs = _pair(surprise, small_df)
    for t in (ours, theirs):
        n = t.n_users
        assert not t.knows_user(n + 40)
        assert t.ur[n + 40] == []
        assert t.knows_user(n + 40)
        assert t.n_users == n


def test_legacy_trainset_constructor(surprise, small_df):
    theirs = surprise.Dataset.load_from_df(small_df, surprise.Reader()).build_full_trainset()
    ours = Trainset(
        theirs.ur,
        theirs.ir,
        theirs.n_users,
        theirs.n_items,
        theirs.n_ratings,
        theirs.rating_scale,
        theirs._raw2inner_id_users,
        theirs._raw2inner_id_items,
    )
    assert ours.global_mean == theirs.global_mean
    assert list(ours.all_ratings()) == list(theirs.all_ratings())
    assert ours.build_testset() == theirs.build_testset()
    clone = pickle.loads(pickle.dumps(ours))
    assert list(clone.all_ratings()) == list(theirs.all_ratings())


def test_raw_ratings_edits_are_honoured(small_df):
    data = Dataset.load_from_df(small_df, Reader())
    first = data.build_full_trainset()
    data.raw_ratings.reverse()
    rev = data.build_full_trainset()
    assert rev.to_raw_uid(0) == data.raw_ratings[0][0]
    assert rev.n_ratings == first.n_ratings
    data.raw_ratings = data.raw_ratings[:10]
    assert data.build_full_trainset().n_ratings == 10


def test_construct_trainset_and_testset_match_surprise(surprise, small_df):
    ours = Dataset.load_from_df(small_df, Reader())
    theirs = surprise.Dataset.load_from_df(small_df, surprise.Reader())
    raw = theirs.raw_ratings[::3]
    t_o, t_t = ours.construct_trainset(raw), theirs.construct_trainset(raw)
    assert t_o.ur == t_t.ur and t_o.ir == t_t.ir
    assert ours.construct_testset(raw) == theirs.construct_testset(raw)


def test_trainset_pickle_round_trip(small_df):
    tr = Dataset.load_from_df(small_df, Reader()).build_full_trainset()
    clone = pickle.loads(pickle.dumps(tr))
    assert clone.build_testset() == tr.build_testset()
    assert clone.global_mean == tr.global_mean


def test_public_module_paths_exist():
    import importlib

    for path, names in {
        "turbosvd.dataset": ["Dataset", "DatasetAutoFolds", "DatasetUserFolds"],
        "turbosvd.reader": ["Reader"],
        "turbosvd.trainset": ["Trainset"],
        "turbosvd.accuracy": ["rmse", "mse", "mae", "fcp"],
        "turbosvd.dump": ["dump", "load"],
        "turbosvd.builtin_datasets": [
            "get_dataset_dir",
            "BUILTIN_DATASETS",
            "download_builtin_dataset",
            "BuiltinDataset",
        ],
        "turbosvd.utils": ["get_rng"],
        "turbosvd.model_selection": [
            "train_test_split",
            "KFold",
            "RepeatedKFold",
            "ShuffleSplit",
            "LeaveOneOut",
            "PredefinedKFold",
            "cross_validate",
            "GridSearchCV",
            "RandomizedSearchCV",
        ],
        "turbosvd.model_selection.split": ["get_cv"],
        "turbosvd.model_selection.validation": ["cross_validate", "fit_and_score", "print_summary"],
        "turbosvd.model_selection.search": ["BaseSearchCV", "GridSearchCV", "RandomizedSearchCV"],
        "turbosvd.prediction_algorithms": ["AlgoBase", "SVD", "BaselineOnly", "NormalPredictor"],
        "turbosvd.prediction_algorithms.algo_base": ["AlgoBase"],
        "turbosvd.prediction_algorithms.predictions": ["Prediction", "PredictionImpossible"],
        "turbosvd.prediction_algorithms.matrix_factorization": ["SVD"],
        "turbosvd.prediction_algorithms.baseline_only": ["BaselineOnly"],
        "turbosvd.prediction_algorithms.random_pred": ["NormalPredictor"],
    }.items():
        module = importlib.import_module(path)
        for name in names:
            assert hasattr(module, name), f"{path}.{name}"
    for name in ("accuracy", "dump", "model_selection"):
        assert hasattr(turbosvd, name)


def test_small_ratings_fixture_is_deterministic():
    pd.testing.assert_frame_equal(small_ratings(seed=3), small_ratings(seed=3))


def test_trainset_public_array_views():
    """The engine-facing accessors agree with Surprise's ur/ir views and are read-only."""
    import pandas as pd

    from turbosvd import Dataset, Reader

    df = pd.DataFrame(
        {"u": ["a", "b", "a", "c", "b"], "i": [1, 2, 2, 1, 3], "r": [1.0, 2.0, 3.0, 4.0, 5.0]}
    )
    ts = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    users, items, ratings = ts.rating_arrays()
    assert sorted(zip(users.tolist(), items.tolist(), ratings.tolist())) == sorted(ts.all_ratings())
    indptr, items_u, ratings_u = ts.user_csr()
    for u in range(ts.n_users):
        s, e = indptr[u], indptr[u + 1]
        assert list(zip(items_u[s:e].tolist(), ratings_u[s:e].tolist())) == ts.ur[u]
    indptr, users_i, ratings_i = ts.item_csr()
    for i in range(ts.n_items):
        s, e = indptr[i], indptr[i + 1]
        assert list(zip(users_i[s:e].tolist(), ratings_i[s:e].tolist())) == ts.ir[i]
    assert ts.raw_user_ids.tolist() == ["a", "b", "c"]
    assert ts.raw_item_ids.tolist() == [1, 2, 3]
    assert ts.inner_uids(["c", "zz"]).tolist() == [2, -1]
    assert ts.inner_iids([3, 99]).tolist() == [2, -1]
    for a in (users, ratings, indptr, ts.raw_user_ids):
        with pytest.raises(ValueError, match="read-only"):
            a[0] = a[0]


def test_rating_table_is_the_ratings_as_arrays_and_follows_edits():
    df = pd.DataFrame({"u": ["a", "b", "a"], "i": [1, 2, 2], "r": [3.0, 4.0, 5.0]})
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    table = data.rating_table()
    assert len(table) == 3
    assert list(np.asarray(table.user_ids)[table.users]) == ["a", "b", "a"]
    assert list(np.asarray(table.item_ids)[table.items]) == [1, 2, 2]
    np.testing.assert_array_equal(table.ratings, [3.0, 4.0, 5.0])
    data.raw_ratings = data.raw_ratings[:2]  # edits are honoured, as by the trainsets
    edited = data.rating_table()
    assert len(edited) == 2 and len(edited.user_ids) == 2
