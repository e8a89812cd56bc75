"""SVDpp and NMF as complete models: early stopping (SVD's implementation, shared), model
files (``turbosvd.save``/``load``, untrusted input) and top-N against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

import turbosvd
from turbosvd import NMF, SVD, SVDpp
from turbosvd.datasets import make_ratings
from turbosvd.train import common
from turbosvd.train.early_stopping import holdout_split

# Over-fit quickly so that early stopping stops well before n_epochs.
OVERFIT = {
    SVDpp: dict(n_factors=30, lr_all=0.03, reg_all=0.0, n_epochs=120, random_state=7),
    NMF: dict(n_factors=30, reg_pu=0.0, reg_qi=0.0, n_epochs=150, random_state=7),
}
NAMES = {SVDpp: ("bu", "bi", "pu", "qi", "yj"), NMF: ("bu", "bi", "pu", "qi")}
MODELS = [SVDpp, NMF]


@pytest.fixture(scope="module")
def trainset():
    return make_ratings(300, 200, 12_000, random_state=5, as_trainset=True)


def _arrays(algo):
    return [np.asarray(getattr(algo, k)) for k in NAMES[type(algo)]]


def _same(a, b):
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


# ------------------------------------------------------------------------ early stopping


@pytest.mark.parametrize("cls", MODELS)
def test_defaults_leave_training_untouched(trainset, cls):
    algo = cls(random_state=0, n_epochs=4)
    assert algo.early_stopping is False and algo.refit is True
    assert (algo.validation_fraction, algo.n_iter_no_change, algo.tol) == (0.1, 5, 1e-4)
    algo.fit(trainset)
    assert not hasattr(algo, "n_epochs_") and not hasattr(algo, "history_")
    _same(algo, cls(random_state=0, n_epochs=4, early_stopping=False).fit(trainset))


@pytest.mark.parametrize("schedule", ["blocked", "exact"])
@pytest.mark.parametrize("cls", MODELS)
def test_stops_and_keeps_the_best_epoch(trainset, cls, schedule):
    params = {**OVERFIT[cls], "schedule": schedule}
    algo = cls(**params, early_stopping=True, refit=False, n_iter_no_change=3, tol=0)
    algo.fit(trainset)
    curve = algo.history_["holdout_rmse"]
    assert algo.n_epochs_ == len(curve) < params["n_epochs"]
    assert algo.best_epoch_ == int(np.argmin(curve)) + 1
    assert algo.n_epochs_ == algo.best_epoch_ + 3
    # The kept parameters are the best epoch's: the same model trained that many epochs on
    # the training part of the split (the split is the seed's first draw).
    train_rows, _ = holdout_split(trainset.n_ratings, 0.1, np.random.RandomState(7))
    part = trainset.subset(train_rows)
    same = cls(**{**params, "n_epochs": algo.best_epoch_}).fit(part)
    _same(algo, same)
    assert algo.trainset is trainset
    # The hold-out RMSE of the kept epoch is the model's RMSE on the held-out ratings.
    users, items, ratings = trainset.rating_arrays()
    _, held = holdout_split(trainset.n_ratings, 0.1, np.random.RandomState(7))
    est, _ = same._estimate_batch(users[held].astype(np.int32), items[held].astype(np.int32))
    est = np.clip(est, *trainset.rating_scale)
    rmse = float(np.sqrt(np.mean((ratings[held] - est) ** 2)))
    assert rmse == pytest.approx(min(curve), rel=1e-6)


@pytest.mark.parametrize("cls", MODELS)
def test_refit_is_a_plain_fit_for_the_chosen_epochs(trainset, cls):
    algo = cls(**OVERFIT[cls], early_stopping=True).fit(trainset)
    plain = cls(**{**OVERFIT[cls], "n_epochs": algo.best_epoch_}).fit(trainset)
    _same(algo, plain)
    assert 1 <= algo.best_epoch_ < algo.n_epochs_


@pytest.mark.parametrize("cls", MODELS)
def test_same_seed_same_stop_for_any_n_jobs(trainset, cls, monkeypatch):
    monkeypatch.setattr(common, "RATINGS_PER_THREAD", 1)  # small data normally runs on 1
    runs = [
        cls(**OVERFIT[cls], early_stopping=True, n_jobs=n_jobs).fit(trainset)
        for n_jobs in (1, 2, 3)
    ]
    for other in runs[1:]:
        assert (other.n_epochs_, other.best_epoch_) == (runs[0].n_epochs_, runs[0].best_epoch_)
        assert other.history_["holdout_rmse"] == runs[0].history_["holdout_rmse"]
        _same(other, runs[0])


@pytest.mark.parametrize("cls", MODELS)
def test_early_stopping_bad_parameters(trainset, cls):
    with pytest.raises(ValueError, match="validation_fraction=1.5"):
        cls(early_stopping=True, validation_fraction=1.5).fit(trainset)
    with pytest.raises(ValueError, match="n_iter_no_change=0"):
        cls(early_stopping=True, n_iter_no_change=0).fit(trainset)
    with pytest.raises(TypeError, match="refit must be True or False"):
        cls(refit="yes").fit(trainset)


def test_history_and_eval_set(trainset):
    testset = trainset.build_testset()[:300]
    algo = SVDpp(n_factors=5, n_epochs=4, random_state=0).fit(trainset, eval_set=testset)
    assert len(algo.history_["val_rmse"]) == 4
    want = turbosvd.accuracy.rmse(algo.test(testset), verbose=False)
    assert algo.history_["val_rmse"][-1] == pytest.approx(want, rel=1e-6)
    nmf = NMF(n_epochs=3, random_state=0).fit(trainset, history=True)
    assert len(nmf.history_["train_rmse"]) == 3


# --------------------------------------------------------------------------- model files


@pytest.mark.parametrize(
    "make",
    [
        lambda: SVDpp(n_factors=6, n_epochs=3, random_state=0),
        lambda: SVDpp(n_factors=6, n_epochs=3, random_state=0, schedule="exact"),
        lambda: NMF(n_factors=5, n_epochs=4, random_state=0),
        lambda: NMF(n_factors=5, n_epochs=4, random_state=0, biased=True, schedule="exact"),
        lambda: SVDpp(n_factors=4, early_stopping=True, random_state=1, lr_all=0.01),
    ],
)
def test_save_load_roundtrip(trainset, tmp_path, make):
    algo = make().fit(trainset)
    path = algo.save(tmp_path / "m.tsvd")
    back = turbosvd.load(path)
    assert type(back) is type(algo)
    _same(algo, back)
    u0, i0 = trainset.to_raw_uid(0), trainset.to_raw_iid(0)
    testset = trainset.build_testset()[:200] + [("nobody", i0, 3.0), (u0, "nothing", 3.0)]
    assert [p.est for p in back.test(testset)] == [p.est for p in algo.test(testset)]
    for name in ("lr_bu", "reg_qi", "n_factors", "schedule", "early_stopping"):
        if hasattr(algo, name):
            assert getattr(back, name) == getattr(algo, name)
    assert back.recommend(u0, 5) == algo.recommend(u0, 5)


def _tamper(path, out, key, value):
    import zipfile

    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == key:
                import io

                buf = io.BytesIO()
                np.save(buf, value)
                data = buf.getvalue()
            dst.writestr(info, data)


@pytest.mark.parametrize(
    ("make", "key", "value", "match"),
    [
        (
            lambda: SVDpp(n_factors=3, n_epochs=1),
            "yj.npy",
            np.zeros((5, 3), np.float32),
            "yj .* n_items",
        ),
        (
            lambda: SVDpp(n_factors=3, n_epochs=1),
            "yj.npy",
            np.zeros((200, 4), np.float32),
            "same number",
        ),
        (
            lambda: NMF(n_factors=3, n_epochs=1),
            "qi.npy",
            -np.ones((200, 3), np.float32),
            "negative",
        ),
        (lambda: NMF(n_factors=3, n_epochs=1), "bu.npy", np.zeros(300), "share a float32"),
    ],
)
def test_load_validates_the_arrays(trainset, tmp_path, make, key, value, match):
    path = make().fit(trainset).save(tmp_path / "m.tsvd")
    bad = tmp_path / "bad.tsvd"
    meta_key = key[: -len(".npy")]
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert key in names
    _tamper(path, bad, key, value)
    # The metadata describes every array's dtype and shape: make it agree with the
    # tampered array, so that the class's own checks are what refuses the file.
    fixed = tmp_path / "fixed.tsvd"
    with zipfile.ZipFile(bad) as src, zipfile.ZipFile(fixed, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".json"):
                meta = json.loads(data)
                spec = meta["arrays"][meta_key]
                spec["shape"] = list(value.shape)
                spec["dtype"] = np.lib.format.dtype_to_descr(value.dtype)
                data = json.dumps(meta).encode()
            dst.writestr(info, data)
    with pytest.raises(ValueError, match=match):
        turbosvd.load(fixed)


# ----------------------------------------------------------------------------- top-N


def _reference_estimates(algo, inner_u):
    """NumPy estimates of every item for one user, from the definition of each model."""
    ts = algo.trainset
    f = np.float64
    if isinstance(algo, SVDpp):
        rated = np.array([j for j, _ in ts.ur[inner_u]])
        x = algo.pu[inner_u].astype(f) + algo.yj[rated].astype(f).sum(0) / np.sqrt(len(rated))
        return ts.global_mean + algo.bu[inner_u] + algo.bi.astype(f) + algo.qi.astype(f) @ x
    est = algo.qi.astype(f) @ algo.pu[inner_u].astype(f)
    if algo.biased:
        est = est + ts.global_mean + algo.bu[inner_u] + algo.bi.astype(f)
    return est


def _cosine_reference(vectors, inner, k):
    v = vectors.astype(np.float64)
    norms = np.linalg.norm(v, axis=1)
    sims = v @ v[inner] / np.maximum(norms * norms[inner], 1e-300)
    sims[inner] = -np.inf
    order = np.lexsort((np.arange(len(v)), -sims))[:k]
    return order, sims[order]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SVDpp(n_factors=8, n_epochs=5, random_state=0),
        lambda: SVDpp(n_factors=8, n_epochs=3, random_state=0, schedule="exact"),
        lambda: NMF(n_factors=6, n_epochs=10, random_state=0),
        lambda: NMF(n_factors=6, n_epochs=10, random_state=0, biased=True),
    ],
)
def test_topn_matches_numpy_reference(trainset, make):
    algo = make().fit(trainset)
    ts = trainset
    for u in (0, 17, 250):
        raw_u = ts.to_raw_uid(u)
        est = _reference_estimates(algo, u)
        seen = {j for j, _ in ts.ur[u]}
        cand = [i for i in range(ts.n_items) if i not in seen]
        want = sorted(cand, key=lambda i: (-est[i], i))[:10]
        got = algo.recommend(raw_u, 10)
        # The same ranking up to float32 rounding (the estimates may differ in the last
        # bits between the reference's float64 and the model's float32 arithmetic).
        assert not seen & {ts.to_inner_iid(i) for i, _ in got}
        np.testing.assert_allclose([e for _, e in got], est[want], rtol=1e-5, atol=1e-5)
        for iid, e in got:
            assert e == algo.predict(raw_u, iid, clip=False).est
    # Similar items: cosines of qi; similar users: cosines of the user vectors.
    items, sims = _cosine_reference(np.asarray(algo.qi), 3, 5)
    got = algo.similar_items(ts.to_raw_iid(3), 5)
    np.testing.assert_allclose([s for _, s in got], sims, rtol=1e-5, atol=1e-6)
    if isinstance(algo, SVDpp):
        x = np.stack([_effective(algo, u) for u in range(ts.n_users)])
        np.testing.assert_allclose(algo.user_vectors(), x, rtol=1e-5, atol=1e-6)
    else:
        x = np.asarray(algo.pu)
    users, sims = _cosine_reference(x, 5, 5)
    got = algo.similar_users(ts.to_raw_uid(5), 5)
    np.testing.assert_allclose([s for _, s in got], sims, rtol=1e-5, atol=1e-6)
    # recommend_all agrees with recommend.
    table = algo.recommend_all(3)
    raw17 = ts.to_raw_uid(17)
    first = table[table.iloc[:, 0] == raw17]
    assert list(first.iloc[:, 1]) == [i for i, _ in algo.recommend(raw17, 3)]


def _effective(algo, u):
    rated = np.array([j for j, _ in algo.trainset.ur[u]])
    f = np.float64
    return algo.pu[u].astype(f) + algo.yj[rated].astype(f).sum(0) / np.sqrt(len(rated))


def test_unbiased_nmf_refuses_cold_start(trainset):
    algo = NMF(n_factors=4, n_epochs=2, random_state=0).fit(trainset)
    with pytest.raises(ValueError, match="unbiased"):
        algo.recommend("somebody new", 3, cold_start="bias")
    biased = NMF(n_factors=4, n_epochs=2, random_state=0, biased=True).fit(trainset)
    got = biased.recommend("somebody new", 3, cold_start="bias")
    bi = np.asarray(biased.bi, dtype=np.float64)
    want = np.lexsort((np.arange(len(bi)), -bi))[:3]
    assert [trainset.to_inner_iid(i) for i, _ in got] == list(want)


def test_svd_still_uses_the_shared_pieces(trainset):
    algo = SVD(n_factors=4, n_epochs=30, random_state=0, early_stopping=True, lr_all=0.05)
    algo.fit(trainset)
    assert 1 <= algo.best_epoch_ <= algo.n_epochs_ <= 30
    with pytest.raises(ValueError, match=r"lr_bu=nan is not a finite number \(lr_all=nan sets"):
        SVD(lr_all=float("nan")).fit(trainset)
    with pytest.raises(ValueError, match=r"reg_bu=inf .* \(reg_all=inf sets"):
        SVDpp(reg_all=float("inf")).fit(trainset)
    with pytest.raises(TypeError, match="lr_bi must be a real number"):
        NMF(lr_bi="fast").fit(trainset)
