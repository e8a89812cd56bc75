"""Learning curves (SVD.history_) and the stderr progress bar."""

from __future__ import annotations

import io
import itertools
import threading

import numpy as np
import pytest

from conftest import small_ratings
from turbosvd import SVD, Dataset, ModelFitError, Reader, _progress, accuracy
from turbosvd.model_selection import train_test_split
from turbosvd.prediction_algorithms import matrix_factorization as mf
from turbosvd.train import monitor as _monitor

SCHEDULES = getattr(mf, "_SCHEDULES", ("exact",))


@pytest.fixture(autouse=True)
def _plain_bar(monkeypatch):
    """These tests check the dependency-free bar: tqdm's is tested in test_progress.py."""
    monkeypatch.setattr(_progress, "_tqdm_class", lambda: None)


@pytest.fixture
def split():
    data = Dataset.load_from_df(small_ratings(), Reader(rating_scale=(1, 5)))
    return train_test_split(data, test_size=0.25, random_state=0)


def _rmse_by_hand(algo, triples):
    """Reference: RMSE of Surprise-style clipped predictions, one predict() at a time."""
    errors = [r - algo.predict(u, i).est for (u, i, r) in triples]
    return float(np.sqrt(np.mean(np.square(errors))))


def _svd(schedule, **kwargs):
    return SVD(schedule=schedule, **kwargs) if len(SCHEDULES) > 1 else SVD(**kwargs)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("biased", [True, False])
def test_history_matches_accuracy_each_epoch(split, biased, schedule):
    trainset, testset = split
    testset = testset + [("stranger", "i1", 4.0), ("u1", "unseen", 2.0)]
    n_epochs = 4
    algo = _svd(schedule, n_factors=3, n_epochs=n_epochs, biased=biased, random_state=0)
    algo.fit(trainset, eval_set=testset)
    h = algo.history_
    assert h["epoch"] == [1, 2, 3, 4]
    assert set(h) == {"epoch", "train_rmse", "val_rmse", "time"}
    assert all(len(v) == n_epochs for v in h.values())
    assert np.all(np.diff(h["time"]) >= 0)
    # The last epoch's numbers are those of the fitted model, as accuracy computes them.
    assert h["val_rmse"][-1] == pytest.approx(
        accuracy.rmse(algo.test(testset), verbose=False), abs=1e-12
    )
    train_preds = algo.test(trainset.build_testset())
    assert h["train_rmse"][-1] == pytest.approx(
        accuracy.rmse(train_preds, verbose=False), abs=1e-12
    )
    # Each epoch's numbers are those of a model trained for that many epochs.
    for e in range(1, n_epochs):
        shorter = _svd(schedule, n_factors=3, n_epochs=e, biased=biased, random_state=0)
        shorter.fit(trainset)
        assert h["val_rmse"][e - 1] == pytest.approx(_rmse_by_hand(shorter, testset), abs=1e-12)
        assert h["train_rmse"][e - 1] == pytest.approx(
            _rmse_by_hand(shorter, trainset.build_testset()), abs=1e-12
        )


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_monitoring_does_not_change_training(split, schedule):
    trainset, testset = split
    plain = _svd(schedule, n_factors=4, n_epochs=5, random_state=1).fit(trainset)
    watched = _svd(schedule, n_factors=4, n_epochs=5, random_state=1)
    watched.fit(trainset, eval_set=testset, progress=True)
    for name in ("pu", "qi", "bu", "bi"):
        assert np.array_equal(getattr(plain, name), getattr(watched, name))
    assert "history_" not in vars(plain) and "_monitor" not in vars(watched)


def test_history_only_when_asked_and_stale_history_removed(split):
    trainset, _ = split
    algo = SVD(n_factors=2, n_epochs=3, random_state=0)
    algo.fit(trainset, history=True)
    assert set(algo.history_) == {"epoch", "train_rmse", "time"}
    assert len(algo.history_["train_rmse"]) == 3
    algo.fit(trainset)
    assert not hasattr(algo, "history_")
    algo.n_epochs = 0
    algo.fit(trainset, history=True)
    assert algo.history_ == {"epoch": [], "train_rmse": [], "time": []}


def test_failed_fit_keeps_previous_history(split):
    trainset, _ = split
    algo = SVD(n_factors=2, n_epochs=2, random_state=0).fit(trainset, history=True)
    before = algo.history_
    algo.lr_bu = algo.lr_bi = algo.lr_pu = algo.lr_qi = 1e6
    algo.n_epochs = 50
    with pytest.raises(ModelFitError):
        algo.fit(trainset, history=True)
    assert algo.history_ is before
    assert "_monitor" not in vars(algo)


def test_fit_signature_errors(split):
    trainset, testset = split
    algo = SVD(n_factors=2, n_epochs=1)
    with pytest.raises(TypeError, match="eval_set must be a testset"):
        algo.fit(trainset, eval_set=42)
    with pytest.raises(ValueError, match="eval_set is empty"):
        algo.fit(trainset, eval_set=[])
    with pytest.raises(ValueError, match=r"eval_set\[1\].*no numeric rating"):
        algo.fit(trainset, eval_set=[testset[0], ("u1", "i1", None)])
    with pytest.raises(ValueError, match=r"eval_set\[0\].*not finite"):
        algo.fit(trainset, eval_set=[("u1", "i1", float("nan"))])
    with pytest.raises(TypeError, match="history must be a bool"):
        algo.fit(trainset, history="yes")
    with pytest.raises(TypeError, match="progress must be None or a bool"):
        algo.fit(trainset, progress="auto")
    assert "trainset" not in vars(algo)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_verbose_stdout_is_byte_identical_with_progress(split, capsys, schedule):
    trainset, testset = split
    _svd(schedule, n_factors=2, n_epochs=3, verbose=True, random_state=0).fit(
        trainset, eval_set=testset, progress=True
    )
    out, err = capsys.readouterr()
    assert out == "Processing epoch 0\nProcessing epoch 1\nProcessing epoch 2\n"
    lines = err.splitlines()
    # Line mode (stderr is not a terminal): first and last epoch at least, whole lines.
    assert lines[0].startswith("SVD fit: 1/3 epochs") and "val RMSE" in lines[0]
    assert lines[-1].startswith("SVD fit: 3/3 epochs")
    assert "\r" not in err


def _clock(step):
    """A fake clock for the progress bar: each reading is ``step`` seconds after the last."""
    readings = itertools.count()
    return lambda: next(readings) * step


def test_auto_progress_is_silent_for_short_fits_and_off_the_terminal(split, capsys, monkeypatch):
    trainset, _ = split
    monkeypatch.setattr(_progress, "_now", _clock(0.0))  # a fit that takes no time
    SVD(n_factors=2, n_epochs=3, random_state=0).fit(trainset)
    SVD(n_factors=2, n_epochs=3, random_state=0, verbose=True).fit(trainset, history=True)
    out, err = capsys.readouterr()
    assert err == ""
    SVD(n_factors=2, n_epochs=3, random_state=0).fit(trainset, progress=False)
    assert capsys.readouterr().err == ""


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_bar_is_redrawn_then_erased(split, monkeypatch, capsys):
    trainset, _ = split
    fake = _FakeTerminal()
    monkeypatch.setattr("sys.stderr", fake)
    monkeypatch.setattr(_progress, "_BAR_INTERVAL", 0.0)
    SVD(n_factors=2, n_epochs=3, random_state=0).fit(trainset, history=True, progress=True)
    text = fake.getvalue()
    frames = text.split("\r")
    assert frames[0] == ""
    assert frames[1].startswith("SVD fit [") and " 1/3 " in frames[1]
    assert "train RMSE" in frames[1]
    assert any(" 3/3 " in f for f in frames)
    assert frames[-1] == "" and frames[-2].strip() == ""  # erased at the end
    assert "\n" not in text
    assert capsys.readouterr().out == ""


def test_terminal_bar_delay_in_auto_mode(split, monkeypatch):
    trainset, _ = split
    fake = _FakeTerminal()
    monkeypatch.setattr("sys.stderr", fake)
    # AUTO_DELAY (1 s) passes during a fit whose epochs take 2 s each, not one of 0.1 s.
    monkeypatch.setattr(_progress, "_now", _clock(2.0))
    SVD(n_factors=2, n_epochs=2, random_state=0).fit(trainset)
    assert "SVD fit [" in fake.getvalue()
    fake.truncate(0)
    fake.seek(0)
    monkeypatch.setattr(_progress, "_now", _clock(0.1))
    SVD(n_factors=2, n_epochs=2, random_state=0).fit(trainset)
    assert fake.getvalue() == ""


def test_auto_progress_stays_off_in_worker_threads(split, monkeypatch):
    trainset, _ = split
    fake = _FakeTerminal()
    monkeypatch.setattr("sys.stderr", fake)
    monkeypatch.setattr(_progress, "AUTO_DELAY", 0.0)
    t = threading.Thread(target=lambda: SVD(n_factors=2, n_epochs=2).fit(trainset))
    t.start()
    t.join()
    assert fake.getvalue() == ""


def test_interrupted_fit_leaves_the_bar_on_its_own_line(split, monkeypatch):
    trainset, _ = split
    fake = _FakeTerminal()
    monkeypatch.setattr("sys.stderr", fake)
    algo = SVD(n_factors=2, n_epochs=5, random_state=0)
    calls = []
    real = _monitor.TrainingMonitor.epoch_end

    def interrupt(self, epoch, *arrays):
        real(self, epoch, *arrays)
        calls.append(epoch)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(_monitor.TrainingMonitor, "epoch_end", interrupt)
    with pytest.raises(KeyboardInterrupt):
        algo.fit(trainset, progress=True)
    assert calls == [0, 1]
    assert fake.getvalue().endswith("\n")
    assert "trainset" not in vars(algo) and "_monitor" not in vars(algo)


def test_progress_bar_formatting():
    out = io.StringIO()
    times = iter([0.0, 0.5, 1.2, 2.6, 3.0])  # creation, then one reading per update
    bar = _progress.ProgressBar(4, "fit", mode="lines", stream=out, clock=lambda: next(times))
    bar.update(1, "x")
    bar.update(2)  # rate-limited: 0.7 s after the previous line
    bar.update(3, "y")  # 2.1 s after it: printed
    bar.update(4, "done", final=True)  # the final line is never held back
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[1].startswith("fit: 3/4 epochs, ") and "ETA" in lines[1]
    assert (
        lines[0].startswith("fit: 1/4 epochs, ") and "ETA" in lines[0] and lines[0].endswith("  x")
    )
    assert lines[2].startswith("fit: 4/4 epochs, ") and "ETA" not in lines[2]
    with pytest.raises(ValueError, match="mode='fancy'"):
        _progress.ProgressBar(1, "x", mode="fancy")
    assert _progress._fmt_seconds(75) == "1m15s" and _progress._fmt_seconds(7300) == "2h01m"


def test_fitted_rmse_matches_accuracy(split):
    trainset, testset = split
    algo = SVD(n_factors=3, n_epochs=3, random_state=0).fit(trainset)
    assert _monitor.fitted_rmse(algo, testset) == pytest.approx(
        accuracy.rmse(algo.test(testset), verbose=False), abs=1e-12
    )
    assert _monitor.fitted_rmse(algo) == pytest.approx(
        accuracy.rmse(algo.test(trainset.build_testset()), verbose=False), abs=1e-12
    )
