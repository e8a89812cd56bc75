"""Model files (turbosvd.save / turbosvd.load) of the k-NN family, SlopeOne and CoClustering:
round trips predict bit for bit, and tampered files are refused with a ValueError."""

from __future__ import annotations

import numpy as np
import pytest

import turbosvd
from conftest import small_ratings
from test_persist import _npy, _rewrite
from turbosvd import Dataset, Reader
from turbosvd.model_selection import train_test_split

KNN_CASES = [
    ("KNNBasic", {}),
    ("KNNBasic", {"sim_options": {"name": "pearson_baseline"}, "bsl_options": {"n_epochs": 3}}),
    ("KNNWithMeans", {"k": 7, "sim_options": {"name": "cosine", "user_based": False}}),
    ("KNNWithZScore", {"min_k": 2, "sim_options": {"name": "pearson", "min_support": 2}}),
    ("KNNBaseline", {}),
    (
        "KNNBaseline",
        {
            "sim_options": {"name": "pearson_baseline", "user_based": False, "shrinkage": 10},
            "bsl_options": {"method": "sgd", "n_epochs": 5},
        },
    ),
    ("SlopeOne", {}),
    ("CoClustering", {"n_cltr_u": 4, "n_cltr_i": 2, "n_epochs": 5, "random_state": 3}),
]


@pytest.fixture(scope="module")
def split():
    data = Dataset.load_from_df(small_ratings(n_users=50, n_items=30), Reader(rating_scale=(1, 5)))
    return train_test_split(data, test_size=0.25, random_state=0)


def _pairs(trainset, testset):
    return testset + [("nobody", "i1", 3.0), ("u1", "nothing", 4.0), ("x", "y", 1.0)]


def _fit(name, kwargs, trainset):
    import copy

    kwargs = copy.deepcopy(kwargs)
    if name.startswith("KNN"):
        kwargs["verbose"] = False
    return getattr(turbosvd, name)(**kwargs).fit(trainset)


@pytest.mark.parametrize(("name", "kwargs"), KNN_CASES, ids=lambda v: str(v))
def test_round_trip_predicts_identically(name, kwargs, split, tmp_path):
    trainset, testset = split
    algo = _fit(name, kwargs, trainset)
    path = tmp_path / "model.tsvd"
    algo.save(path)
    loaded = turbosvd.load(path)
    assert type(loaded) is type(algo)
    pairs = _pairs(trainset, testset)
    ours, theirs = algo.test(pairs), loaded.test(pairs)
    assert [(p.est, dict(p.details)) for p in ours] == [(p.est, dict(p.details)) for p in theirs]
    for uid, iid, _ in pairs[:20]:
        assert algo.predict(uid, iid) == loaded.predict(uid, iid)
    if name.startswith("KNN"):
        assert loaded.k == algo.k and loaded.min_k == algo.min_k
        assert loaded.sim_options == algo.sim_options
        np.testing.assert_array_equal(loaded.sim, algo.sim)
        assert loaded.get_neighbors(0, 5) == algo.get_neighbors(0, 5)
        if algo.bu is not None:
            assert np.array_equal(loaded.bu, algo.bu) and np.array_equal(loaded.bi, algo.bi)
        else:
            assert loaded.bu is None and loaded.bi is None
    if name == "CoClustering":
        for attr in type(algo)._file_arrays:
            np.testing.assert_array_equal(getattr(loaded, attr), getattr(algo, attr))


def test_knn_file_does_not_hold_the_similarities(split, tmp_path):
    trainset, _ = split
    algo = _fit("KNNBaseline", {}, trainset)
    path = algo.save(tmp_path / "m")
    meta = turbosvd.persist.read_metadata(path)
    assert set(meta["arrays"]) == {
        "bu",
        "bi",
        "user_ids",
        "item_ids",
        "train_users",
        "train_items",
        "train_ratings",
    }
    assert meta["params"]["sim_options"] == {"user_based": True}
    plain = _fit("KNNBasic", {}, trainset).save(tmp_path / "plain")
    assert turbosvd.persist.read_metadata(plain)["arrays"]["bu"]["shape"] == [0]


def test_unfitted_models_are_refused(tmp_path):
    for cls in (turbosvd.KNNBasic, turbosvd.SlopeOne, turbosvd.CoClustering):
        with pytest.raises(ValueError, match="unfitted"):
            cls().save(tmp_path / "m")


@pytest.fixture(scope="module")
def saved_files(split, tmp_path_factory):
    trainset, _ = split
    out = tmp_path_factory.mktemp("files")
    return {
        "KNNBaseline": _fit("KNNBaseline", {}, trainset).save(out / "knnbaseline"),
        "KNNBasic": _fit("KNNBasic", {}, trainset).save(out / "knnbasic"),
        "CoClustering": _fit("CoClustering", {"random_state": 0}, trainset).save(out / "cc"),
    }


def _replace_array(src, dst, name, array):
    array = np.asarray(array)

    def edit(m):
        m["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape)}

    return _rewrite(src, dst, replace={name + ".npy": _npy(array)}, meta=edit)


def _edit_params(src, dst, **params):
    return _rewrite(src, dst, meta=lambda m: m["params"].update(params))


def test_tampered_knn_files_are_refused(saved_files, split, tmp_path):
    trainset, _ = split
    n_u, n_i = trainset.n_users, trainset.n_items
    base, basic = saved_files["KNNBaseline"], saved_files["KNNBasic"]
    cases = [
        (_replace_array(base, tmp_path / "a", "bu", np.zeros(n_u + 1)), "bu has shape"),
        (_replace_array(base, tmp_path / "b", "bi", np.zeros(n_i, np.float32)), "must be float64"),
        (_replace_array(base, tmp_path / "c", "bu", np.zeros(0)), "bu has shape .0,."),
        (
            _replace_array(
                _replace_array(base, tmp_path / "c0", "bu", np.zeros(0)),
                tmp_path / "c1",
                "bi",
                np.zeros(0),
            ),
            "needs baselines bu and bi, but the file has none",
        ),
        (_replace_array(base, tmp_path / "d", "bu", np.full(n_u, np.nan)), "NaN or infinite"),
        (_replace_array(basic, tmp_path / "e", "bu", np.zeros(n_u)), "bu has shape|has no"),
        (_edit_params(base, tmp_path / "f", k=0), "k=0 is out of range"),
        (_edit_params(base, tmp_path / "g", min_k=50, k=3), "min_k=50 is larger than k=3"),
        (_edit_params(base, tmp_path / "h", sim_options={"name": "telepathy"}), "Wrong sim name"),
        (_edit_params(base, tmp_path / "i", sim_options=[1, 2]), "sim_options must be a dict"),
        (
            _edit_params(base, tmp_path / "j", sim_options={"min_support": -1}),
            "min_support",
        ),
        (_edit_params(base, tmp_path / "k", bsl_options={"method": "magic"}), "magic"),
        (_rewrite(base, tmp_path / "l", meta=lambda m: m["params"].pop("k")), None),
    ]
    for path, message in cases:
        if message is None:  # a missing parameter takes its default
            assert turbosvd.load(path).k == 40
            continue
        with pytest.raises(ValueError, match=message) as e:
            turbosvd.load(path)
        assert str(path) in str(e.value), message


def test_tampered_co_clustering_files_are_refused(saved_files, split, tmp_path):
    trainset, _ = split
    n_u, n_i = trainset.n_users, trainset.n_items
    cc = saved_files["CoClustering"]
    cases = [
        (_replace_array(cc, tmp_path / "a", "cltr_u", np.full(n_u, 3)), "outside 0 .. 2"),
        (_replace_array(cc, tmp_path / "b", "cltr_i", np.full(n_i, -1)), "outside 0 .. 2"),
        (_replace_array(cc, tmp_path / "c", "avg_cocltr", np.zeros((3, 4))), "avg_cocltr is"),
        (_replace_array(cc, tmp_path / "d", "user_mean", np.zeros(n_u - 1)), "user_mean is"),
        (_replace_array(cc, tmp_path / "e", "cltr_u", np.zeros(n_u, np.int32)), "cltr_u is int32"),
        (_edit_params(cc, tmp_path / "f", n_cltr_u=4), "avg_cltr_u is"),
        (_edit_params(cc, tmp_path / "g", n_cltr_i=0), "n_cltr_i"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message) as e:
            turbosvd.load(path)
        assert str(path) in str(e.value), message
