"""Files, pipes and the command line under abuse (issue 16): nothing lost, nothing hangs,
nothing trusted.

Device cases use FIFOs in a temporary folder, never real devices; every subprocess has a
timeout, and every in-process FIFO open that could block is released by a watchdog.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import turbosvd
from conftest import small_ratings
from turbosvd import SVD, Dataset, Reader, persist
from turbosvd.apps import cli
from turbosvd.apps.formats import detect_format, load_dataset

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")

TIMEOUT = 120


def _trainset():
    return Dataset.load_from_df(small_ratings(), Reader(rating_scale=(1, 5))).build_full_trainset()


@pytest.fixture(scope="module")
def fitted():
    return SVD(n_factors=4, n_epochs=2, random_state=0).fit(_trainset())


@pytest.fixture
def saved(fitted, tmp_path) -> Path:
    return Path(fitted.save(tmp_path / "model.tsvd"))


@pytest.fixture
def fifo(tmp_path):
    """A FIFO; afterwards, anything left blocked on it (reader or writer) is released."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path
    _release(path)


def _release(path: Path) -> None:
    """Unblock a thread stuck opening ``path`` for reading or writing."""
    for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
        with contextlib.suppress(OSError):
            os.close(os.open(path, flags))


class _watchdog:  # noqa: N801 - used like a function
    """From ``seconds`` on, keep releasing blocked opens of ``path`` until cancelled: a test
    that would block on the FIFO fails instead of hanging."""

    def __init__(self, path: Path, seconds: float = 20.0):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, seconds), daemon=True)
        self._thread.start()

    def _run(self, path, seconds):
        if self._stop.wait(seconds):
            return
        while not self._stop.wait(0.2):
            _release(path)

    def cancel(self):
        self._stop.set()
        self._thread.join(5)


def run_cli(*args, input=None, stdout=subprocess.PIPE, preexec_fn=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "turbosvd", *map(str, args)],
        input=input, stdout=stdout, stderr=subprocess.PIPE, timeout=TIMEOUT,
        preexec_fn=preexec_fn, cwd=cwd,
    )  # fmt: skip


def assert_one_line(stderr: bytes | str, *fragments):
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("turbosvd: error:"), text
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def _ratings_text(n_users=400, n_items=200, density=0.3, seed=1) -> str:
    df = small_ratings(n_users=n_users, n_items=n_items, density=density, seed=seed)
    return "".join(f"{u}\t{i}\t{r}\n" for u, i, r in df.itertuples(index=False))


# --------------------------------------------------------------------------- saving
def test_save_refuses_a_fifo_and_leaves_it(fitted, fifo):
    with pytest.raises(ValueError, match="FIFO") as e:
        fitted.save(fifo)
    assert str(fifo) in str(e.value)
    assert fifo.is_fifo()
    link = fifo.parent / "link"
    link.symlink_to(fifo)
    with pytest.raises(ValueError, match="FIFO"):
        fitted.save(link)
    assert fifo.is_fifo() and link.is_symlink()
    assert sorted(p.name for p in fifo.parent.iterdir()) == ["fifo", "link"]  # no temp file


def test_save_over_a_regular_file_or_a_new_path_still_works(fitted, saved, tmp_path):
    fitted.save(saved)  # replace
    fitted.save(tmp_path / "new.tsvd")
    assert turbosvd.load(tmp_path / "new.tsvd").trainset.n_ratings == fitted.trainset.n_ratings


def test_save_with_a_trailing_slash_names_a_folder(fitted, tmp_path):
    for target in (f"{tmp_path}/newdir/", f"{tmp_path}/"):
        with pytest.raises(IsADirectoryError, match="names a folder"):
            fitted.save(target)
    assert not (tmp_path / "newdir").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_non_finite_factors_are_refused_at_save(tmp_path):
    algo = SVD(init_std_dev=1e39, n_epochs=0, random_state=0).fit(_trainset())  # float32: inf
    assert not np.isfinite(algo.pu).all()
    with pytest.raises(ValueError, match="pu holds NaN or infinite"):
        algo.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_saving_deeper_metadata_than_load_accepts_is_refused(fitted, tmp_path):
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than"):
        fitted.save(tmp_path / "m", extra={"x": deep})
    shallow: list = []
    for _ in range(20):
        shallow = [shallow]
    fitted.save(tmp_path / "m", extra={"x": shallow})
    assert persist.read_metadata(tmp_path / "m")["extra"] == {"x": shallow}


# --------------------------------------------------------------------------- loading
def test_load_refuses_a_fifo_without_blocking(fifo):
    timer = _watchdog(fifo)
    try:
        start = time.monotonic()
        with pytest.raises(ValueError, match="FIFO") as e:
            turbosvd.load(fifo)
        assert str(fifo) in str(e.value)
        with pytest.raises(ValueError, match="only from a regular file"):
            persist.read_metadata(fifo)
        assert time.monotonic() - start < 20  # not released by the watchdog
    finally:
        timer.cancel()


def test_load_refuses_an_endless_stream(fifo):
    """The zero device's case, with a FIFO fed zeros forever: refused, no growth, no hang."""
    stop = threading.Event()

    def feed():
        try:
            with open(fifo, "wb") as f:
                while not stop.is_set():
                    f.write(bytes(1 << 16))
        except OSError:  # the reader went away
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    timer = _watchdog(fifo)
    try:
        with pytest.raises(ValueError, match="only from a regular file"):
            turbosvd.load(fifo)
    finally:
        stop.set()
        timer.cancel()
        _release(fifo)
        writer.join(10)


def test_cli_predict_on_a_fifo_is_one_line(fifo):
    proc = run_cli("predict", fifo, "u1", "i1")
    assert proc.returncode == 1
    assert_one_line(proc.stderr, str(fifo), "FIFO")


def test_load_through_a_symlink_to_a_regular_file(saved, tmp_path):
    link = tmp_path / "link.tsvd"
    link.symlink_to(saved)
    assert turbosvd.load(link).trainset.n_ratings > 0


# ------------------------------------------------------------------- crafted model files
def _rewrite(src: Path, dst: Path, *, meta=None, members=None, info=None) -> Path:
    """Copy a model file, editing its metadata, member bytes or ZIP entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for zi in zin.infolist():
            data = zin.read(zi)
            if zi.filename == "metadata.json" and meta is not None:
                m = json.loads(data)
                meta(m)
                data = json.dumps(m).encode()
            data = (members or {}).get(zi.filename, data)
            zout.writestr(zi.filename, data)
        if info is not None:  # edit the central directory written at close
            for zi in zout.infolist():
                info(zi)
    return dst


def _expect_value_error(path: Path, *fragments):
    with pytest.raises(ValueError) as e:
        turbosvd.load(path)
    msg = str(e.value)
    assert str(path) in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


def test_reversed_rating_scale_is_refused(saved, tmp_path):
    def edit(m):
        m["trainset"]["rating_scale"] = [5, 1]

    _expect_value_error(_rewrite(saved, tmp_path / "bad", meta=edit), "rating_scale")


def _rs_entry(**change):
    state = np.random.RandomState(3).get_state(legacy=True)
    entry = {
        "kind": "MT19937",
        "keys": state[1].tolist(),
        "pos": int(state[2]),
        "has_gauss": 0,
        "cached_gaussian": 0.0,
    }
    entry.update(change)
    return {"__random_state__": {k: v for k, v in entry.items() if v is not None}}


@pytest.mark.parametrize(
    "entry",
    [
        _rs_entry(keys=[1, 2, 3]),
        _rs_entry(keys=[-1] * 624),
        _rs_entry(keys=None),
        _rs_entry(pos=700),
        _rs_entry(pos="x"),
        _rs_entry(kind="PCG64"),
        _rs_entry(has_gauss=2),
        {"__random_state__": [1, 2]},
    ],
    ids=["short", "negative", "missing", "pos", "pos-type", "kind", "gauss", "list"],
)
def test_bad_random_state_entry_is_refused(saved, tmp_path, entry):
    def edit(m):
        m["params"]["random_state"] = entry

    _expect_value_error(_rewrite(saved, tmp_path / "bad", meta=edit), "random_state")


def test_valid_random_state_entry_still_loads(saved, tmp_path):
    def edit(m):
        m["params"]["random_state"] = _rs_entry()

    loaded = turbosvd.load(_rewrite(saved, tmp_path / "ok", meta=edit))
    assert loaded.random_state.randint(1 << 30) == np.random.RandomState(3).randint(1 << 30)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("param", {"__dtype__": "foo"}),
        ("param", {"__dtype__": "object"}),
        ("param", {"__dtype__": ["float32"]}),
        ("array", "foo"),
        ("array", "|O"),
        ("array", "<M8[s]"),
        ("array", [["a", "<f8"]]),
    ],
)
def test_unknown_dtype_is_refused(saved, tmp_path, where, value):
    def edit(m):
        if where == "param":
            m["params"]["dtype"] = value
        else:
            m["arrays"]["pu"]["dtype"] = value

    _expect_value_error(_rewrite(saved, tmp_path / "bad", meta=edit))


def test_deeply_nested_metadata_is_refused(saved, tmp_path):
    with zipfile.ZipFile(saved) as z:
        text = z.read("metadata.json").decode()
    deep = "[" * 100_000 + "]" * 100_000
    for depth_text in (deep, "[" * 40 + "]" * 40):
        crafted = text[:-1].rstrip() + f', "extra": {depth_text}}}'
        path = _rewrite(saved, tmp_path / "bad", members={"metadata.json": crafted.encode()})
        _expect_value_error(path, "nested")


def _forge(zi, **fields):
    for k, v in fields.items():
        setattr(zi, k, v)


@pytest.mark.parametrize(
    "fields",
    [
        {"file_size": 1 << 40},  # stored: more than its stored bytes
        {"file_size": 1 << 40, "compress_size": 1 << 40},  # beyond the end of the file
        {"file_size": (1 << 62) + 5},
    ],
    ids=["file_size", "both", "huge"],
)
@pytest.mark.parametrize("member", ["metadata.json", "pu.npy"])
def test_forged_zip64_sizes_are_refused(saved, tmp_path, fields, member):
    def info(zi):
        if zi.filename == member:
            _forge(zi, **fields)

    path = _rewrite(saved, tmp_path / "bad", info=info)
    with zipfile.ZipFile(path) as z:  # the forged sizes really are in the file (ZIP64)
        assert z.getinfo(member).file_size == fields["file_size"]
    _expect_value_error(path, member)


def test_sizes_beyond_memory_are_refused_before_reading(saved, tmp_path):
    """Metadata and a deflated member both claim a huge array: refused by the memory check."""
    n = 1 << 42

    def edit(m):
        m["arrays"]["pu"]["shape"] = [n, 1]

    def info(zi):
        if zi.filename == "pu.npy":
            _forge(zi, file_size=4 * n + 128, compress_type=zipfile.ZIP_DEFLATED)
            zi.compress_size = zi.file_size // 1000

    path = _rewrite(saved, tmp_path / "bad", meta=edit, info=info)
    msg = _expect_value_error(path)
    assert "pu" in msg


def test_array_header_disagreeing_with_metadata_is_refused_before_allocating(
    saved, tmp_path, monkeypatch
):
    """A small member whose .npy header claims a huge shape never reaches np.empty."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (1 << 40, 4)}
    )
    path = _rewrite(saved, tmp_path / "bad", members={"pu.npy": buf.getvalue() + bytes(64)})
    _expect_value_error(path, "pu.npy")


@pytest.mark.parametrize(
    "fields", [{"extract_version": 70, "create_version": 70}, {"extract_version": 70}]
)
def test_unsupported_zip_version_is_refused(saved, tmp_path, fields):
    def info(zi):
        if zi.filename == "pu.npy":
            _forge(zi, **fields)

    _expect_value_error(_rewrite(saved, tmp_path / "bad", info=info), "unsupported ZIP version")


def test_unsupported_compression_is_refused(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad")
    data = bytearray(bad.read_bytes())
    # Method 14 (LZMA) in the central directory entry of the first member.
    cd = data.rindex(b"PK\x01\x02", 0, data.rindex(b"PK\x05\x06"))
    while data.rfind(b"PK\x01\x02", 0, cd) != -1:
        cd = data.rfind(b"PK\x01\x02", 0, cd)
    data[cd + 10 : cd + 12] = (14).to_bytes(2, "little")
    bad.write_bytes(bytes(data))
    _expect_value_error(bad, "compression")


def test_model_saved_with_many_threads_loads_and_predicts_on_this_machine(fitted, tmp_path):
    from turbosvd._threads import cpu_count

    algo = SVD(n_factors=4, n_epochs=2, random_state=0, n_jobs=1).fit(_trainset())
    algo.n_jobs = 300  # as saved on a big machine
    algo.save(tmp_path / "m")
    assert persist.read_metadata(tmp_path / "m")["params"]["n_jobs"] == 300
    loaded = turbosvd.load(tmp_path / "m")
    assert loaded.n_jobs == cpu_count()
    pairs = [(u, i, r) for u, i, r in small_ratings().itertuples(index=False)][:50]
    algo.n_jobs = 1
    assert loaded.test(pairs) == algo.test(pairs)
    assert loaded.predict("u1", "i2") == algo.predict("u1", "i2")


# ------------------------------------------------------------------ command line: files
@pytest.fixture
def ratings_file(tmp_path) -> Path:
    path = tmp_path / "ratings.tsv"
    path.write_text(_ratings_text())
    return path


def test_fit_refuses_output_equal_to_input(ratings_file, tmp_path):
    original = ratings_file.read_bytes()
    link = tmp_path / "link.tsv"
    link.symlink_to(ratings_file)
    hard = tmp_path / "hard.tsv"
    os.link(ratings_file, hard)
    for output in (ratings_file, link, hard, tmp_path / "." / "ratings.tsv"):
        proc = run_cli("fit", ratings_file, "-o", output, "--n-epochs", "1")
        assert proc.returncode == 1, proc.stderr
        assert_one_line(proc.stderr, "the same file")
        assert proc.stdout == b""  # refused before reading or training
    proc = run_cli("fit", link, "-o", ratings_file, "--n-epochs", "1")
    assert_one_line(proc.stderr, "the same file")
    assert ratings_file.read_bytes() == original


def test_fit_refuses_a_fifo_or_a_folder_as_output_before_training(capsys, ratings_file, fifo):
    for output, fragment in ((fifo, "FIFO"), (f"{fifo.parent}/newdir/", "names a folder")):
        status = cli.main(["fit", str(ratings_file), "-o", str(output), "--n-epochs", "1"])
        out, err = capsys.readouterr()
        assert status == 1 and out == ""
        assert_one_line(err, fragment)
    assert fifo.is_fifo() and not (fifo.parent / "newdir").exists()


# ------------------------------------------------------------------ command line: pipes
def _n_ratings(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


@pytest.mark.parametrize("how", ["dash", "dev-stdin"])
def test_ratings_from_standard_input_all_arrive(tmp_path, how):
    text = _ratings_text()
    assert len(text.encode()) > 3 * (1 << 16)  # well past the detection sample
    source = "-" if how == "dash" else "/dev/stdin"
    if how == "dev-stdin" and not os.path.exists("/dev/stdin"):
        pytest.skip("no /dev/stdin")
    proc = run_cli("fit", source, "-o", tmp_path / "m", "--n-epochs", "1", input=text.encode())
    assert proc.returncode == 0, proc.stderr
    assert turbosvd.load(tmp_path / "m").trainset.n_ratings == _n_ratings(text)


def test_ratings_from_a_fifo_are_read_once(fifo):
    """A process substitution ``<(...)`` is a pipe: detection must not eat its start."""
    text = _ratings_text()

    def feed():
        try:
            with open(fifo, "w") as f:
                f.write(text)
        except OSError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    timer = _watchdog(fifo)
    try:
        data, fmt, _ = load_dataset(fifo)
    finally:
        timer.cancel()
        writer.join(10)
    assert fmt.sep == "\t"
    assert len(data.df) == _n_ratings(text)
    assert data.df.iloc[0].tolist()[:2] == text.split("\t")[:2]


def test_closed_stdout_does_not_cost_the_model(ratings_file, tmp_path):
    """``turbosvd fit ... | head -1``: the reader is gone before the first line."""
    model = tmp_path / "m"
    proc = subprocess.Popen(
        [sys.executable, "-m", "turbosvd", "fit", str(ratings_file), "-o", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    proc.stdout.close()  # every write to stdout now fails with EPIPE
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert err == b"", err.decode()  # quiet, as Unix tools on SIGPIPE
    assert proc.returncode == 1
    assert turbosvd.load(model).trainset.n_ratings == _n_ratings(ratings_file.read_text())


def test_predict_on_a_full_output_is_one_line(saved, tmp_path):
    """A full device, simulated by a file-size limit on a regular file (EFBIG)."""
    resource = pytest.importorskip("resource")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    with open(tmp_path / "out", "wb") as out:
        proc = run_cli("predict", saved, "u1", "i1", "i2", stdout=out, preexec_fn=limit)
    assert proc.returncode == 1
    assert_one_line(proc.stderr, "cannot write the output")
    assert b"Traceback" not in proc.stderr


def test_no_space_left_is_one_line_in_process(saved, capsys, monkeypatch):
    class Full(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sys, "stdout", Full())
    status = cli.main(["predict", str(saved), "u1", "i1"])
    err = capsys.readouterr().err
    assert status == 1
    assert_one_line(err, "cannot write the output", "No space left on device")


# ------------------------------------------------------------------ format detection
def test_detection_reads_a_first_line_longer_than_the_sample(tmp_path):
    long_id = "u" * 100_000
    text = f"{long_id}\ti1\t4\n" + _ratings_text()
    path = tmp_path / "long.tsv"
    path.write_text(text)
    fmt = detect_format(path)
    assert fmt.sep == "\t" and fmt.header is None
    data, _, _ = load_dataset(path)
    assert len(data.df) == _n_ratings(text)
    assert data.df["user"].iloc[0] == long_id


def test_detection_reads_a_header_longer_than_the_sample(tmp_path):
    header = "userId,movieId,rating," + "note_" + "x" * 70_000
    rows = [f"{u},{i},{r},n" for u, i, r in small_ratings().itertuples(index=False)]
    path = tmp_path / "long.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    fmt = detect_format(path)
    assert (
        fmt.sep == ","
        and fmt.header is not None
        and fmt.header[:3]
        == (
            "userId",
            "movieId",
            "rating",
        )
    )
    data, _, _ = load_dataset(path)
    assert len(data.df) == len(rows)


def test_detection_gives_up_on_absurd_lines(tmp_path, monkeypatch):
    from turbosvd.apps import formats

    monkeypatch.setattr(formats, "_SAMPLE_MAX_BYTES", 1 << 18)
    path = tmp_path / "one-line"
    path.write_bytes(b"a" * (1 << 20))
    with pytest.raises(ValueError, match="first lines are longer"):
        detect_format(path)


# ------------------------------------------------------------------ baseline options
@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"method": "als", "reg_i": -1, "reg_u": -1}, ValueError, "bsl_options['reg_u']=-1"),
        ({"method": "als", "reg_i": -1}, ValueError, "bsl_options['reg_i']=-1"),
        ({"method": "als", "reg_u": float("nan")}, ValueError, "not a finite number"),
        ({"method": "sgd", "reg": -0.1}, ValueError, "bsl_options['reg']=-0.1"),
        ({"method": "sgd", "learning_rate": float("inf")}, ValueError, "learning_rate"),
        ({"method": "sgd", "learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"n_epochs": -1}, ValueError, "bsl_options['n_epochs']=-1"),
        ({"n_epochs": 2.5}, TypeError, "n_epochs"),
        ({"method": "als", "reg_user": 3}, ValueError, "unknown keys ['reg_user']"),
        ({"method": None}, ValueError, "Invalid method None"),
        ([("method", "als")], TypeError, "bsl_options must be a dict"),
    ],
)
def test_bsl_options_are_validated_before_training(options, error, fragment):
    with pytest.raises(error) as e:
        turbosvd.BaselineOnly(bsl_options=options, verbose=False).fit(_trainset())
    assert fragment in str(e.value)


def test_bsl_options_are_validated_in_the_shared_place(capsys):
    """compute_baselines (used by BaselineOnly and the KNN family) validates, then prints."""
    from turbosvd.prediction_algorithms.algo_base import AlgoBase

    algo = AlgoBase(bsl_options={"method": "als", "reg_i": -1, "reg_u": -1})
    algo.verbose = True
    AlgoBase.fit(algo, _trainset())
    with pytest.raises(ValueError, match=r"bsl_options\['reg_u'\]=-1"):
        algo.compute_baselines()
    assert capsys.readouterr().out == ""  # refused before "Estimating biases using als..."
    assert algo.bu is None


@pytest.mark.parametrize(
    ("cls", "sim_options"),
    [("KNNBaseline", {}), ("KNNBasic", {"name": "pearson_baseline"})],
)
def test_bsl_options_of_the_knn_family_are_validated(cls, sim_options):
    algo = getattr(turbosvd, cls)(
        sim_options=sim_options,
        bsl_options={"method": "als", "reg_i": -1, "reg_u": -1},
        verbose=False,
    )
    with pytest.raises(ValueError, match=r"bsl_options\['reg_u'\]=-1"):
        algo.fit(_trainset())


def test_bsl_options_of_the_other_method_are_accepted_as_in_surprise():
    """A grid over both methods passes both sets of options; each method reads its own."""
    trainset = _trainset()
    plain = turbosvd.BaselineOnly(bsl_options={"method": "als"}, verbose=False).fit(trainset)
    mixed = turbosvd.BaselineOnly(
        bsl_options={"method": "als", "reg": 0.5, "learning_rate": 0.01}, verbose=False
    ).fit(trainset)
    assert np.array_equal(plain.bu, mixed.bu) and np.array_equal(plain.bi, mixed.bi)


def test_diverging_sgd_baselines_raise_instead_of_predicting_nan():
    from turbosvd import ModelFitError

    algo = turbosvd.BaselineOnly(
        bsl_options={"method": "sgd", "learning_rate": 1e6, "n_epochs": 30}, verbose=False
    )
    with pytest.raises(ModelFitError, match="diverged"):
        algo.fit(_trainset())


# ------------------------------------------------------- any registered model class
class _Toy(turbosvd.AlgoBase):
    """A minimal model-file class: one array, no checks of its own."""

    _file_arrays = ("w",)

    def __init__(self, scale=1.0):
        turbosvd.AlgoBase.__init__(self)
        self.scale = scale

    def fit(self, trainset):
        turbosvd.AlgoBase.fit(self, trainset)
        self.w = np.full(trainset.n_items, self.scale)
        return self

    def estimate(self, u, i):
        return self.trainset.global_mean + self.w[i]

    def _model_arrays(self):
        return {"w": self.w}

    @classmethod
    def _from_arrays(cls, trainset, arrays, params):
        model = cls(**params)
        turbosvd.AlgoBase.fit(model, trainset)
        model.w = arrays["w"]
        return model


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(persist._MODELS, "_Toy", _Toy)
    return _Toy


def test_a_registered_class_gets_the_file_guarantees(toy_registered, tmp_path, fifo):
    toy = toy_registered(scale=0.5).fit(_trainset())
    path = Path(persist.save(toy, tmp_path / "toy"))
    assert np.array_equal(turbosvd.load(path).w, toy.w)
    with pytest.raises(ValueError, match="FIFO"):
        persist.save(toy, fifo)
    toy.w[3] = np.nan
    with pytest.raises(ValueError, match="w holds NaN"):
        persist.save(toy, tmp_path / "nan")
    assert not (tmp_path / "nan").exists()
    # Its array is read like SVD's: the .npy header must match the metadata first.
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40,)}
    )
    _expect_value_error(
        _rewrite(path, tmp_path / "bad", members={"w.npy": buf.getvalue()}), "w.npy"
    )
