"""Progress bars (issue 17, item 8): tqdm.auto's when tqdm is installed (terminal, notebook),
the plain bar otherwise, and neither floods a notebook's output."""

from __future__ import annotations

import io
import time

import pytest

from turbosvd import SVD, _progress
from turbosvd.datasets import make_ratings
from turbosvd.train import monitor as _monitor


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class FakeTqdm:
    """Records what the progress policy asks of tqdm."""

    made: list = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.n = 0
        self.updates = []
        self.postfix = []
        self.leave = kwargs["leave"]
        self.closed = False
        FakeTqdm.made.append(self)

    def update(self, step):
        self.n += step
        self.updates.append(step)

    def set_postfix_str(self, text, refresh=True):
        self.postfix.append(text)

    def refresh(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def trainset():
    return make_ratings(40, 30, 500, random_state=0, as_trainset=True)


@pytest.fixture
def fake_tqdm(monkeypatch):
    FakeTqdm.made = []
    monkeypatch.setattr(_progress, "_tqdm_class", lambda: FakeTqdm)
    return FakeTqdm


def test_tqdm_is_used_on_a_terminal(trainset, monkeypatch, fake_tqdm):
    monkeypatch.setattr("sys.stderr", _FakeTerminal())
    SVD(n_factors=2, n_epochs=4, random_state=0).fit(trainset, history=True, progress=True)
    (bar,) = fake_tqdm.made
    assert bar.kwargs["total"] == 4 and bar.kwargs["desc"] == "SVD fit"
    assert bar.kwargs["mininterval"] == _progress._BAR_INTERVAL
    assert bar.n == 4 and all(step == 1 for step in bar.updates)
    assert bar.postfix[-1].startswith("train RMSE ")
    assert bar.closed and bar.leave is False  # erased after a successful fit


def test_tqdm_bar_stays_after_an_interruption(trainset, monkeypatch, fake_tqdm):
    monkeypatch.setattr("sys.stderr", _FakeTerminal())
    real = _monitor.TrainingMonitor.epoch_end

    def interrupt(self, epoch, *arrays):
        real(self, epoch, *arrays)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(_monitor.TrainingMonitor, "epoch_end", interrupt)
    with pytest.raises(KeyboardInterrupt):
        SVD(n_factors=2, n_epochs=5, random_state=0).fit(trainset, progress=True)
    (bar,) = fake_tqdm.made
    assert bar.closed and bar.leave is True and bar.n == 2


def test_logs_keep_plain_lines_even_with_tqdm(trainset, monkeypatch, fake_tqdm, capsys):
    SVD(n_factors=2, n_epochs=2, random_state=0).fit(trainset, progress=True)
    assert fake_tqdm.made == []  # stderr is not a terminal: whole lines, not \r redraws
    assert capsys.readouterr().err.startswith("SVD fit: 1/2 epochs")


def test_notebook_uses_tqdm_with_a_slow_refresh(trainset, monkeypatch, fake_tqdm):
    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    monkeypatch.setattr(_progress, "AUTO_DELAY", 0.0)
    SVD(n_factors=2, n_epochs=3, random_state=0).fit(trainset)  # automatic in a notebook
    (bar,) = fake_tqdm.made
    assert bar.kwargs["mininterval"] == _progress._NOTEBOOK_INTERVAL
    assert bar.leave is True  # a finished bar stays in the notebook as the run's record


def test_plain_bar_in_a_notebook_is_one_redrawn_line(trainset, monkeypatch):
    """Without tqdm, a notebook gets the plain bar redrawn with \\r (Jupyter overwrites the
    line), at most every 0.5 s: a long fit never floods the output with lines."""
    monkeypatch.setattr(_progress, "_tqdm_class", lambda: None)
    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    out = io.StringIO()  # a notebook's stderr is not a terminal
    monkeypatch.setattr("sys.stderr", out)
    start = time.perf_counter()
    SVD(n_factors=2, n_epochs=300, random_state=0, verbose=False).fit(
        trainset, history=True, progress=True
    )
    elapsed = time.perf_counter() - start
    text = out.getvalue()
    assert "\n" not in text
    frames = [f for f in text.split("\r") if f.strip()]
    assert 1 <= len(frames) <= 2 + elapsed / _progress._NOTEBOOK_INTERVAL
    assert " 300/300 " in frames[-1]


def test_not_a_notebook_here():
    assert _progress.in_notebook() is False


def test_tqdm_bar_falls_back_to_text_without_ipywidgets(monkeypatch):
    tqdm = pytest.importorskip("tqdm", reason="tqdm is not installed")

    def needs_widgets(**kwargs):
        raise ImportError("IProgress not found. Please update jupyter and ipywidgets.")

    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = _progress.TqdmBar(needs_widgets, 3, "fit", unit="epochs", delay=0.0, interval=0.0)
    assert isinstance(bar._bar, tqdm.std.tqdm)
    bar.update(3, "done", final=True)
    bar.close()
    assert "fit" in err.getvalue() and "3/3" in err.getvalue()
