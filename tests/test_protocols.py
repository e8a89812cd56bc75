"""The two protocols new model classes implement (CONTRIBUTING.md): model files and top-N.

A model written here, outside the package, gets ``save``/``turbosvd.load`` and the top-N
methods without any change to ``persist`` or ``topn``.
"""

from __future__ import annotations

import numpy as np
import pytest

import turbosvd
from turbosvd import _sgd, persist
from turbosvd.datasets import make_ratings
from turbosvd.prediction_algorithms import AlgoBase
from turbosvd.topn.recommend import RecommendMixin


class TwoTowers(persist.ModelFileMixin, RecommendMixin, AlgoBase):
    """estimate = x[u] . y[i] + c[i]: user and item towers plus an item offset."""

    _file_arrays = ("x", "y", "c")

    def __init__(self, n_factors=3, shift=0.5):
        AlgoBase.__init__(self)
        self.n_factors = n_factors
        self.shift = shift

    def fit(self, trainset):
        AlgoBase.fit(self, trainset)
        rng = np.random.RandomState(0)
        self.x = rng.normal(size=(trainset.n_users, self.n_factors))
        self.y = rng.normal(size=(trainset.n_items, self.n_factors))
        self.c = rng.normal(size=trainset.n_items) + self.shift
        return self

    def _model_arrays(self):
        return {"x": self.x, "y": self.y, "c": self.c}

    @classmethod
    def _from_arrays(cls, trainset, arrays, params):
        if arrays["x"].shape[0] != trainset.n_users:
            raise ValueError("x does not match n_users")
        model = cls(**params)
        AlgoBase.fit(model, trainset)
        model.x, model.y, model.c = arrays["x"], arrays["y"], arrays["c"]
        return model

    def _user_vectors(self):
        return self.x

    def _item_vectors(self):
        return self.y

    def _item_biases(self):
        return self.c

    def _estimate_batch(self, users, items):
        zeros_u = np.zeros(self.trainset.n_users)
        return _sgd.predict(
            users, items, self.x, self.y, zeros_u, self.c, 0.0, True, self._n_threads()
        )

    def estimate(self, u, i):
        est, impossible = self._estimate_batch(
            np.array([u], dtype=np.int32), np.array([i], dtype=np.int32)
        )
        if impossible[0]:
            raise turbosvd.PredictionImpossible("unknown")
        return est[0]


persist.register_model(TwoTowers)


@pytest.fixture(scope="module")
def model():
    trainset = make_ratings(60, 40, 800, random_state=1, as_trainset=True)
    return TwoTowers(n_factors=4, shift=0.25).fit(trainset)


def test_a_new_model_round_trips_through_a_model_file(model, tmp_path):
    path = model.save(tmp_path / "towers.tsvd")
    back = turbosvd.load(path)
    assert type(back) is TwoTowers and back.shift == 0.25 and back.n_factors == 4
    for name in TwoTowers._file_arrays:
        np.testing.assert_array_equal(getattr(back, name), getattr(model, name))
    uid, iid = model.trainset.to_raw_uid(3), model.trainset.to_raw_iid(5)
    assert back.predict(uid, iid).est == model.predict(uid, iid).est


def test_its_own_checks_report_a_corrupted_file(model, tmp_path, monkeypatch):
    path = model.save(tmp_path / "towers.tsvd")
    original = TwoTowers._from_arrays.__func__

    def truncated(cls, trainset, arrays, params):
        return original(cls, trainset, {**arrays, "x": arrays["x"][:-1]}, params)

    monkeypatch.setattr(TwoTowers, "_from_arrays", classmethod(truncated))
    with pytest.raises(ValueError, match="corrupted model file: x does not match n_users") as e:
        turbosvd.load(path)
    assert str(path) in str(e.value)


def test_a_new_model_gets_top_n(model):
    ts = model.trainset
    u = 7
    est = model.x[u] @ model.y.T + model.c
    seen = {i for i, _ in ts.ur[u]}
    order = [i for i in np.argsort(-est, kind="stable") if i not in seen][:5]
    recs = model.recommend(ts.to_raw_uid(u), n=5)
    assert [iid for iid, _ in recs] == [ts.to_raw_iid(i) for i in order]
    for iid, score in recs:
        assert score == model.predict(ts.to_raw_uid(u), iid, clip=False).est
    # similar items: cosine of the item vectors
    y = model.y / np.linalg.norm(model.y, axis=1, keepdims=True)
    cos = y @ y[2]
    cos[2] = -np.inf
    sims = model.similar_items(ts.to_raw_iid(2), k=3)
    assert [iid for iid, _ in sims] == [ts.to_raw_iid(i) for i in np.argsort(-cos)[:3]]
    # cold start ranks by the item term alone
    cold = model.recommend("nobody", n=3, cold_start="bias")
    assert [iid for iid, _ in cold] == [ts.to_raw_iid(i) for i in np.argsort(-model.c)[:3]]


def test_register_model_refuses_incomplete_or_clashing_classes():
    class NoHooks(AlgoBase):
        pass

    with pytest.raises(TypeError, match="no _file_arrays"):
        persist.register_model(NoHooks)

    class Clash(TwoTowers):
        _file_arrays = ("x", "user_ids")

    with pytest.raises(ValueError, match="reserved names"):
        persist.register_model(Clash)

    SVD = type("SVD", (TwoTowers,), {})
    with pytest.raises(ValueError, match="already registered as 'SVD'"):
        persist.register_model(SVD)
