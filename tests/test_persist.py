"""Safe model files: SVD.save / turbosvd.load round trips, atomic writes, corrupt files."""

from __future__ import annotations

import inspect
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import turbosvd
from conftest import small_ratings
from turbosvd import SVD, Dataset, Reader, accuracy, persist
from turbosvd.model_selection import train_test_split


def _data(df=None, scale=(1, 5)):
    df = small_ratings() if df is None else df
    return Dataset.load_from_df(df, Reader(rating_scale=scale))


@pytest.fixture
def split():
    return train_test_split(_data(), test_size=0.25, random_state=0)


@pytest.fixture
def fitted(split):
    trainset, _ = split
    return SVD(n_factors=5, n_epochs=4, random_state=0).fit(trainset)


@pytest.fixture
def saved(fitted, tmp_path) -> Path:
    path = tmp_path / "model.tsvd"
    fitted.save(path)
    return path


def _unknown_pairs(testset):
    return testset + [("nobody", "i1", 3.0), ("u1", "nothing", 4.0), ("x", "y", 1.0)]


def assert_same_model(a, b):
    for name in ("pu", "qi", "bu", "bi"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y), name
        assert y.flags.c_contiguous and y.flags.writeable
    params = [p for p in vars(a) if p not in ("trainset", "pu", "qi", "bu", "bi")]
    for p in params:
        va, vb = getattr(a, p), getattr(b, p)
        if isinstance(va, np.random.RandomState):
            assert all(np.array_equal(x, y) for x, y in zip(va.get_state(), vb.get_state()))
        elif isinstance(va, dict) and p == "history_":
            assert va == vb
        else:
            assert va == vb and type(va) is type(vb), p


# --------------------------------------------------------------------------- round trips
def test_round_trip_predicts_identically(fitted, split, saved):
    _, testset = split
    loaded = turbosvd.load(saved)
    assert type(loaded) is SVD
    assert_same_model(fitted, loaded)
    pairs = _unknown_pairs(testset)
    assert loaded.test(pairs) == fitted.test(pairs)  # exact equality of every float
    for uid, iid, _ in pairs[:20] + pairs[-3:]:
        assert loaded.predict(uid, iid) == fitted.predict(uid, iid)
        assert loaded.predict(uid, iid, clip=False).est == fitted.predict(uid, iid, clip=False).est


def test_loaded_trainset_is_the_training_data(fitted, saved):
    loaded = turbosvd.load(saved)
    a, b = fitted.trainset, loaded.trainset
    assert (b.n_users, b.n_items, b.n_ratings) == (a.n_users, a.n_items, a.n_ratings)
    assert b.rating_scale == a.rating_scale
    assert b.global_mean == a.global_mean and type(b.global_mean) is type(a.global_mean)
    assert b.build_testset() == a.build_testset()
    assert dict(b.ur) == dict(a.ur) and dict(b.ir) == dict(a.ir)
    assert [b.to_raw_uid(u) for u in b.all_users()] == [a.to_raw_uid(u) for u in a.all_users()]
    assert [b.to_raw_iid(i) for i in b.all_items()] == [a.to_raw_iid(i) for i in a.all_items()]
    assert b.build_anti_testset() == a.build_anti_testset()


def test_refit_of_loaded_model_reproduces_the_original(fitted, saved):
    loaded = turbosvd.load(saved)
    refit = SVD(n_factors=5, n_epochs=4, random_state=0).fit(loaded.trainset)
    assert np.array_equal(refit.pu, fitted.pu) and np.array_equal(refit.bi, fitted.bi)


def test_all_constructor_params_round_trip(split, tmp_path):
    trainset, testset = split
    algo = SVD(
        n_factors=3,
        n_epochs=2,
        biased=False,
        init_mean=0.05,
        init_std_dev=0.2,
        lr_all=0.01,
        reg_all=0.1,
        lr_bu=0.02,
        reg_qi=0.5,
        random_state=np.random.RandomState(7),
        verbose=False,
    ).fit(trainset)
    algo.save(tmp_path / "m")
    loaded = turbosvd.load(tmp_path / "m")
    assert_same_model(algo, loaded)
    assert not hasattr(loaded, "lr_all") and not hasattr(loaded, "reg_all")
    # The RandomState continues exactly where the saved one was.
    assert loaded.random_state.randint(1 << 30) == algo.random_state.randint(1 << 30)
    assert loaded.test(testset) == algo.test(testset)  # unbiased: impossible predictions too


def test_params_are_read_generically_from_the_signature(split, tmp_path, monkeypatch):
    """A constructor parameter added later (schedule, dtype, n_jobs...) round-trips."""
    trainset, _ = split
    original_init = SVD.__init__

    def init(self, *args, extra_knob=3, **kwargs):
        original_init(self, *args, **kwargs)
        self.extra_knob = extra_knob

    sig = inspect.signature(original_init)
    extra = inspect.Parameter("extra_knob", inspect.Parameter.KEYWORD_ONLY, default=3)
    init.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])
    monkeypatch.setattr(SVD, "__init__", init)
    algo = SVD(n_factors=2, n_epochs=1, random_state=0, extra_knob=np.int64(11)).fit(trainset)
    algo.save(tmp_path / "m")
    meta = persist.read_metadata(tmp_path / "m")
    assert meta["params"]["extra_knob"] == 11
    assert turbosvd.load(tmp_path / "m").extra_knob == 11


def test_dtype_params_round_trip():
    for value in (np.float32, np.dtype("float64")):
        encoded = persist._encode_param("dtype", value)
        json.dumps(encoded)
        decoded = persist._decode_param(encoded)
        assert decoded == value and type(decoded) is type(value)


def test_float32_model_round_trips_exactly(split, tmp_path):
    trainset, testset = split
    algo = SVD(n_factors=4, n_epochs=3, random_state=0).fit(trainset)
    for name in ("pu", "qi", "bu", "bi"):
        setattr(algo, name, getattr(algo, name).astype(np.float32))
    algo.save(tmp_path / "m")
    loaded = turbosvd.load(tmp_path / "m")
    assert loaded.pu.dtype == np.float32
    assert loaded.test(testset) == algo.test(testset)


@pytest.mark.parametrize(
    ("users", "items", "tag"),
    [
        ([1, 2, 3, 1, 2], [10, 20, 10, 30, 30], "numeric"),  # int64 DataFrame columns
        ([1.5, 2.5, 3.5, 1.5, 2.5], ["a", "b", "a", "c", "c"], "numeric"),
        (["é", "ß", "日本", "é", "ß"], ["x", "y", "x", "z", "z"], "str"),
    ],
)
def test_id_types_round_trip(users, items, tag, tmp_path):
    df = pd.DataFrame({"u": users, "i": items, "r": [1.0, 2.0, 3.0, 4.0, 5.0]})
    trainset = _data(df).build_full_trainset()
    algo = SVD(n_factors=2, n_epochs=2, random_state=0).fit(trainset)
    algo.save(tmp_path / "m")
    assert persist.read_metadata(tmp_path / "m")["trainset"]["user_ids"]["type"] == tag
    loaded = turbosvd.load(tmp_path / "m")
    pairs = [(u, i, 3.0) for u, i in zip(users, items)]
    assert loaded.test(pairs) == algo.test(pairs)
    for u in users:
        raw = loaded.trainset.to_raw_uid(loaded.trainset.to_inner_uid(u))
        assert raw == u and type(raw) is type(u)


def test_object_int_and_float_ids_round_trip(tmp_path):
    """Ids from a list of tuples are Python objects; they come back with the same types."""
    raw = [(1, 2.5, 3.0, None), (2, 3.5, 4.0, None), (1, 3.5, 5.0, None)]
    data = _data()
    trainset = data.construct_trainset(raw)
    assert trainset._user_ids.dtype == object
    algo = SVD(n_factors=2, n_epochs=2, random_state=0).fit(trainset)
    algo.save(tmp_path / "m")
    tags = persist.read_metadata(tmp_path / "m")["trainset"]
    assert (tags["user_ids"]["type"], tags["item_ids"]["type"]) == ("int", "float")
    loaded = turbosvd.load(tmp_path / "m")
    assert loaded.trainset._user_ids.dtype == object
    assert [type(x) for x in loaded.trainset._user_ids] == [int, int]
    assert [type(x) for x in loaded.trainset._item_ids] == [float, float]
    assert loaded.test([(1, 2.5, 3.0), (2, 3.5, 1.0)]) == algo.test([(1, 2.5, 3.0), (2, 3.5, 1.0)])


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([1, "a", 1], "a mix of int and str"),
        ([(1, 2), (3, 4), (1, 2)], "tuple"),
        ([True, False, True], "bool"),
        ([b"x", b"y", b"x"], "bytes"),
        ([2**70, 1, 2**70], "int64"),
        (["a\x00", "b", "a\x00"], "do not survive"),
    ],
)
def test_unsupported_ids_are_refused_at_save(ids, message, tmp_path):
    raw = [(u, "item", 3.0, None) for u in ids]
    trainset = _data().construct_trainset(raw)
    algo = SVD(n_factors=1, n_epochs=1, random_state=0).fit(trainset)
    target = tmp_path / "m"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError, match="cannot save user ids") as e:
        algo.save(target)
    assert message in str(e.value)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["m"]


def test_save_refuses_unfitted_subclasses_and_bad_params(split, tmp_path):
    with pytest.raises(ValueError, match="unfitted SVD"):
        SVD().save(tmp_path / "m")

    class MySVD(SVD):
        pass

    trainset, _ = split
    with pytest.raises(ValueError, match="MySVD"):
        MySVD(n_factors=1, n_epochs=1).fit(trainset).save(tmp_path / "m")
    algo = SVD(n_factors=1, n_epochs=1, random_state=0).fit(trainset)
    algo.verbose = object()
    with pytest.raises(ValueError, match="parameter verbose="):
        algo.save(tmp_path / "m")
    algo.verbose = False
    with pytest.raises(TypeError, match="extra must be a dict"):
        algo.save(tmp_path / "m", extra=[1])
    with pytest.raises(ValueError, match="extra is not JSON"):
        algo.save(tmp_path / "m", extra={"x": float("nan")})
    assert not list(tmp_path.iterdir())


def test_history_and_extra_round_trip(split, tmp_path):
    trainset, testset = split
    algo = SVD(n_factors=2, n_epochs=3, random_state=0).fit(trainset, eval_set=testset)
    algo.save(tmp_path / "m", extra={"source": {"path": "/data/r.csv"}})
    loaded = turbosvd.load(tmp_path / "m")
    assert loaded.history_ == algo.history_
    assert persist.read_metadata(tmp_path / "m")["extra"] == {"source": {"path": "/data/r.csv"}}


def test_file_is_a_plain_npz_without_pickle(fitted, saved):
    with np.load(saved, allow_pickle=False) as npz:
        assert np.array_equal(npz["pu"], fitted.pu)
        assert npz["user_ids"].dtype.kind == "U"
        meta = json.loads(npz["metadata.json"])
    assert meta["format"] == "turbosvd-model" and meta["format_version"] == 1
    assert meta["class"] == "SVD" and meta["turbosvd_version"] == turbosvd.__version__
    assert meta["trainset"]["rating_scale"] == [1, 5]
    with zipfile.ZipFile(saved) as zf:
        assert zf.namelist()[0] == "metadata.json"
        for name in zf.namelist():
            assert b"pickle" not in zf.read(name) or name == "metadata.json"


def test_bytes_are_deterministic_and_compress_option(fitted, tmp_path):
    fitted.save(tmp_path / "a")
    fitted.save(tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    fitted.save(tmp_path / "c", compress=True)
    with zipfile.ZipFile(tmp_path / "c") as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    assert turbosvd.load(tmp_path / "c").test(fitted.trainset.build_testset()) == fitted.test(
        fitted.trainset.build_testset()
    )


def test_training_ratings_stored_compactly_only_when_exact(split, tmp_path):
    trainset, _ = split
    algo = SVD(n_factors=1, n_epochs=1, random_state=0).fit(trainset)
    algo.save(tmp_path / "m")
    assert persist.read_metadata(tmp_path / "m")["arrays"]["train_ratings"]["dtype"] == "<f4"
    df = small_ratings()
    df["rating"] = df["rating"] + 0.1  # not exact in float32
    algo = SVD(n_factors=1, n_epochs=1, random_state=0).fit(_data(df).build_full_trainset())
    algo.save(tmp_path / "m")
    assert persist.read_metadata(tmp_path / "m")["arrays"]["train_ratings"]["dtype"] == "<f8"
    loaded = turbosvd.load(tmp_path / "m")
    assert np.array_equal(loaded.trainset._ratings, algo.trainset._ratings)


# ------------------------------------------------------------------------------ atomicity
def test_failure_mid_write_keeps_the_old_file(fitted, saved, monkeypatch):
    old = saved.read_bytes()
    calls = []
    real = np.lib.format.write_array

    def exploding(f, array, **kwargs):
        calls.append(array.shape)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(f, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", exploding)
    other = SVD(n_factors=7, n_epochs=1, random_state=1).fit(fitted.trainset)
    with pytest.raises(OSError, match="No space left"):
        other.save(saved)
    assert len(calls) == 3
    assert saved.read_bytes() == old
    assert os.listdir(saved.parent) == [saved.name]  # no temporary file left behind
    assert turbosvd.load(saved).n_factors == 5


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError])
def test_failure_at_rename_or_fsync_keeps_the_old_file(fitted, saved, monkeypatch, exc):
    old = saved.read_bytes()

    def fail(*args, **kwargs):
        raise exc("simulated")

    monkeypatch.setattr(persist.os, "replace" if exc is OSError else "fsync", fail)
    with pytest.raises(exc):
        SVD(n_factors=2, n_epochs=1, random_state=1).fit(fitted.trainset).save(saved)
    assert saved.read_bytes() == old
    assert os.listdir(saved.parent) == [saved.name]


def test_new_file_permissions_follow_umask_and_existing_mode(fitted, tmp_path):
    new = tmp_path / "new"
    old_umask = os.umask(0o027)
    try:
        fitted.save(new)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
    new.chmod(0o604)
    fitted.save(new)
    assert stat.S_IMODE(new.stat().st_mode) == 0o604


def test_save_through_symlink_updates_target(fitted, tmp_path):
    target = tmp_path / "real"
    target.write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to(target)
    fitted.save(link)
    assert link.is_symlink()
    assert turbosvd.load(target).n_factors == fitted.n_factors


def test_save_to_directory_or_missing_folder(fitted, tmp_path):
    with pytest.raises(IsADirectoryError):
        fitted.save(tmp_path)
    with pytest.raises(FileNotFoundError):
        fitted.save(tmp_path / "missing" / "m")


# ------------------------------------------------------------------------ corrupt files
def _rewrite(src: Path, dst: Path, *, drop=(), replace=None, meta=None):
    """Copy a model zip, dropping or replacing members or editing the metadata."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "metadata.json" and meta is not None:
                m = json.loads(data)
                meta(m)
                data = json.dumps(m).encode()
            data = replace.get(name, data)
            zout.writestr(name, data)
    return dst


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=True)
    return buf.getvalue()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        turbosvd.load(tmp_path / "nowhere")


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.6, 0.97, 0.999])
def test_truncated_files(saved, tmp_path, fraction):
    data = saved.read_bytes()
    bad = tmp_path / "truncated"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match="truncated") as e:
        turbosvd.load(bad)
    assert str(bad) in str(e.value)


def test_not_a_model_file(tmp_path):
    text = tmp_path / "ratings.csv"
    text.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="not a turbosvd model file .not a ZIP"):
        turbosvd.load(text)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ValueError, match="not a turbosvd model file .no metadata.json"):
        turbosvd.load(other)


def test_flipped_byte_is_detected(saved, tmp_path, fitted):
    data = bytearray(saved.read_bytes())
    pos = data.find(fitted.qi[3].tobytes())
    assert pos > 0
    data[pos + 3] ^= 0x10
    bad = tmp_path / "flipped"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted .*CRC"):
        turbosvd.load(bad)


@pytest.mark.parametrize("member", ["metadata.json", "qi.npy", "train_ratings.npy"])
def test_missing_member(saved, tmp_path, member):
    bad = _rewrite(saved, tmp_path / "bad", drop=[member])
    with pytest.raises(ValueError, match=f"{member}") as e:
        turbosvd.load(bad)
    assert str(bad) in str(e.value)


def test_bad_json(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad", replace={"metadata.json": b'{"format": "turbo'})
    with pytest.raises(ValueError, match="metadata.json is not valid JSON"):
        turbosvd.load(bad)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format="something-else"), "not a turbosvd model file"),
        (lambda m: m.update(format_version=2), "format version 2 is newer"),
        (lambda m: m.update(format_version="1"), "invalid format_version"),
        (lambda m: m.update(format_version=0), "invalid format_version"),
        (lambda m: m.pop("params"), "params is missing"),
        (lambda m: m["trainset"].update(n_users=-1), "n_users is negative"),
        (lambda m: m["trainset"].update(rating_scale=[1]), "rating_scale is invalid"),
        (lambda m: m["trainset"].update(global_mean="x"), "global_mean"),
        (lambda m: m["trainset"]["user_ids"].update(type="pickle"), "unknown id type"),
        (lambda m: m["arrays"]["pu"].update(shape=[1, 1]), r"'pu.npy' holds float\d\d \(60, 5\)"),
        (lambda m: m["arrays"]["pu"].update(shape=[100000, 5]), r"'pu.npy' has \d+ bytes, but"),
        (lambda m: m["arrays"]["pu"].update(dtype="|O"), "object dtype"),
        (lambda m: m["arrays"]["pu"].update(dtype="nonsense"), "invalid dtype"),
        (lambda m: m["trainset"].update(n_users=3), "out of range|do(es)? not match n_users"),
        (lambda m: m.update(**{"class": "KNNTelepathy"}), "unknown model class .KNNTelepathy."),
        (lambda m: m["params"].update(telepathy=True), "parameters this turbosvd"),
        (lambda m: m["params"].update(n_factors="many"), "invalid parameters .n_factors must"),
        (lambda m: m["params"].update(n_factors=6), "invalid parameters .n_factors=6 but"),
        (lambda m: m["params"].update(lr_bu="fast"), "invalid parameters .lr_bu must"),
        (lambda m: m.update(history={"train_rmse": ["a"]}), "history is invalid"),
    ],
)
def test_bad_metadata(saved, tmp_path, edit, message):
    bad = _rewrite(saved, tmp_path / "bad", meta=edit)
    with pytest.raises(ValueError, match=message) as e:
        turbosvd.load(bad)
    assert str(bad) in str(e.value)


def test_bad_arrays(saved, tmp_path, fitted):
    n_users, k = fitted.pu.shape
    n_ratings = fitted.trainset.n_ratings

    def same_size(name, array):
        array = np.asarray(array)

        def edit(m):
            m["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape)}

        return _rewrite(saved, tmp_path / name, replace={name + ".npy": _npy(array)}, meta=edit)

    cases = {
        "pu": (
            same_size("pu", np.zeros((n_users, k + 1), dtype=fitted.pu.dtype)),
            "same number of columns",
        ),
        "bu": (same_size("bu", np.zeros(n_users, dtype=np.int64)), "share a float32"),
        "train_users": (
            same_size("train_users", np.full(n_ratings, n_users + 5, dtype=np.int32)),
            "out of range",
        ),
        "train_items": (
            same_size("train_items", np.zeros(n_ratings, dtype=np.int64)),
            "must be int32",
        ),
        "qi": (same_size("qi", np.full_like(fitted.qi, np.nan)), "NaN or infinite"),
        "train_ratings": (
            same_size("train_ratings", np.full(n_ratings, np.inf)),
            "NaN or infinite",
        ),
        "user_ids": (
            same_size("user_ids", np.array(["same"] * n_users)),
            "duplicate ids",
        ),
        "item_ids": (
            same_size("item_ids", np.arange(fitted.trainset.n_items, dtype=np.int64)),
            "does not match its type tag",
        ),
    }
    for name, (path, message) in cases.items():
        with pytest.raises(ValueError, match=message) as e:
            turbosvd.load(path)
        assert str(path) in str(e.value), name


def test_header_disagreeing_with_metadata(saved, tmp_path, fitted):
    # Same byte size, different declared shape: caught after reading the .npy header.
    flat = fitted.pu.reshape(-1)
    bad = _rewrite(saved, tmp_path / "bad", replace={"pu.npy": _npy(flat)})
    with pytest.raises(ValueError, match=rf"holds {flat.dtype} \(\d+,\), expected"):
        turbosvd.load(bad)


def test_pickled_object_array_is_never_unpickled(saved, tmp_path, fitted):
    evil = np.array([{"x": 1}] * fitted.trainset.n_users, dtype=object)

    def edit(m):
        m["arrays"]["user_ids"] = {"dtype": "<U1000", "shape": [fitted.trainset.n_users]}

    payload = _npy(evil) + b"\0" * 4000 * fitted.trainset.n_users
    bad = _rewrite(saved, tmp_path / "bad", replace={"user_ids.npy": payload}, meta=edit)
    # Refused from the .npy header, before any byte of the pickle is read.
    with pytest.raises(ValueError, match="user_ids.npy' holds object"):
        turbosvd.load(bad)


def test_read_metadata_does_not_need_the_arrays(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad", drop=["pu.npy"])
    meta = persist.read_metadata(bad)
    assert meta["params"]["n_factors"] == 5


def test_surprise_built_trainset_round_trips(surprise, tmp_path):
    """A trainset built from Surprise's dicts (e.g. an old pickle) saves and loads."""
    df = small_ratings()
    theirs = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=(1, 5)))
    ts = theirs.build_full_trainset()
    ours = turbosvd.Trainset(
        ts.ur,
        ts.ir,
        ts.n_users,
        ts.n_items,
        ts.n_ratings,
        ts.rating_scale,
        ts._raw2inner_id_users,
        ts._raw2inner_id_items,
    )
    algo = SVD(n_factors=3, n_epochs=2, random_state=0).fit(ours)
    algo.save(tmp_path / "m")
    loaded = turbosvd.load(tmp_path / "m")
    testset = ours.build_testset()
    assert loaded.test(testset) == algo.test(testset)
    assert accuracy.rmse(loaded.test(testset), verbose=False) == accuracy.rmse(
        algo.test(testset), verbose=False
    )


@pytest.mark.parametrize("schedule", ["blocked", "exact"])
def test_pickles_and_files_name_only_modules_that_exist(split, tmp_path, schedule):
    """``turbosvd._blocked`` (an old re-export of ``turbosvd.train.blocked``) is gone: no
    pickle or model file of a fitted, early-stopped or folded-in model ever named it, and
    both kinds of file still load."""
    import importlib
    import pickle
    import pickletools
    import warnings

    from turbosvd import dump

    trainset, testset = split
    algo = SVD(n_factors=5, n_epochs=6, schedule=schedule, random_state=0)
    algo.early_stopping = schedule == "blocked"
    algo.n_iter_no_change = 2
    algo.fit(trainset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        algo.partial_fit_users([("newcomer", testset[0][1], 4.0)])
    data = pickle.dumps(algo, protocol=2)  # GLOBAL opcodes carry "module name"
    modules = {arg.split(" ")[0] for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert "turbosvd.prediction_algorithms.matrix_factorization" in modules
    assert not any(m == "turbosvd._blocked" for m in modules)
    for module in modules:
        importlib.import_module(module)
    with pytest.raises(ImportError):
        importlib.import_module("turbosvd._blocked")
    dump.dump(str(tmp_path / "algo.pkl"), algo=algo)
    _, loaded = dump.load(str(tmp_path / "algo.pkl"))
    for name in ("pu", "qi", "bu", "bi"):
        assert np.array_equal(getattr(algo, name), getattr(loaded, name)), name
    assert [p.est for p in loaded.test(testset)] == [p.est for p in algo.test(testset)]
    algo.save(tmp_path / "algo.tsvd")
    from_file = turbosvd.load(tmp_path / "algo.tsvd")
    assert (
        from_file.predict("newcomer", testset[1][1]).est
        == algo.predict("newcomer", testset[1][1]).est
    )
