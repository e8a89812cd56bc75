"""Single predictions: the direct path of ``predict(uid, iid)`` gives exactly what the batch
path (``test``) and the Surprise-style path (``estimate``) give, and ids of the wrong type
warn once per model (issue 17, item 1)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import turbosvd
from turbosvd import SVD, Dataset, IdTypeWarning, Reader
from turbosvd._threads import cpu_count, refresh_cpu_count


def _data(int_ids: bool):
    df = turbosvd.datasets.make_ratings(60, 40, 900, random_state=3)
    df = df[["user", "item", "rating"]]
    if not int_ids:
        df = df.astype({"user": str, "item": str})
    return Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("biased", [True, False])
def test_predict_equals_batch_and_estimate(dtype, biased):
    trainset = _data(int_ids=True).build_full_trainset()
    kwargs = {"dtype": dtype} if dtype is np.float32 else {"schedule": "exact"}
    algo = SVD(n_factors=7, n_epochs=3, biased=biased, random_state=0, **kwargs).fit(trainset)
    # Known and unknown users and items, both ways round.
    pairs = [(u, i) for u in [*range(0, 60, 7), 999] for i in [*range(0, 40, 3), -5]]
    batch = algo.test([(u, i, 0.0) for u, i in pairs])
    for (u, i), b in zip(pairs, batch, strict=True):
        for clip in (True, False):
            p = algo.predict(u, i, r_ui=0.0, clip=clip)
            if clip:
                assert p.est == b.est, (u, i)
                assert p.details == b.details
            # The same estimate as the Surprise path (a subclass overriding estimate()).
            iu, ii = trainset.inner_pair(u, i)
            iu, ii = (iu if iu >= 0 else "UKN__"), (ii if ii >= 0 else "UKN__")
            if p.details["was_impossible"]:
                with pytest.raises(turbosvd.prediction_algorithms.PredictionImpossible):
                    algo.estimate(iu, ii)
                assert p.est == trainset.global_mean
                assert p.details["reason"] == "User and item are unknown."
            else:
                assert p.est == (algo.estimate(iu, ii) if not clip else p.est)


def test_predict_follows_replaced_factors():
    trainset = _data(int_ids=True).build_full_trainset()
    algo = SVD(n_factors=4, n_epochs=2, random_state=0).fit(trainset)
    before = algo.predict(0, 0, clip=False).est
    algo.bu = algo.bu + np.float32(0.25)  # a new array: the cached predictor must not serve it
    assert algo.predict(0, 0, clip=False).est == pytest.approx(before + 0.25, abs=1e-6)
    algo.bi[trainset.to_inner_iid(0)] += np.float32(0.5)  # in place: read through the buffer
    assert algo.predict(0, 0, clip=False).est == pytest.approx(before + 0.75, abs=1e-6)


def test_subclass_overriding_estimate_is_used():
    class Shifted(SVD):
        def estimate(self, u, i):
            return super().estimate(u, i) + 10.0

    trainset = _data(int_ids=True).build_full_trainset()
    base = SVD(n_factors=4, n_epochs=2, random_state=0).fit(trainset)
    algo = Shifted(n_factors=4, n_epochs=2, random_state=0).fit(trainset)
    assert algo.predict(0, 0, clip=False).est == pytest.approx(
        base.predict(0, 0, clip=False).est + 10.0
    )


@pytest.mark.parametrize(
    ("int_ids", "uid", "iid", "twin"),
    [
        (True, "1", 2, "user '1' (str) is not part of the trainset, but its twin 1 (int)"),
        (False, 1, "2", "user 1 (int) is not part of the trainset, but its twin '1' (str)"),
        (True, 1, "2", "item '2' (str) is not part of the trainset, but its twin 2 (int)"),
        (False, "1", np.int64(2), "twin '2' (str)"),
    ],
)
def test_wrong_id_type_warns_once_and_keeps_surprise_result(int_ids, uid, iid, twin):
    trainset = _data(int_ids).build_full_trainset()
    algo = SVD(n_factors=4, n_epochs=2, random_state=0).fit(trainset)
    unknown_user = trainset.inner_pair(uid, iid)[0] < 0
    with pytest.warns(IdTypeWarning, match=twin.replace("(", r"\(").replace(")", r"\)")):
        p = algo.predict(uid, iid)
    # Surprise's fallback, unchanged: an unknown id is not impossible for a biased SVD.
    assert p.details == {"was_impossible": False}
    other = algo.trainset
    if unknown_user:
        i = other.to_inner_iid(iid)
        expected = other.global_mean + float(algo.bi[i])
    else:
        u = other.to_inner_uid(uid)
        expected = other.global_mean + float(algo.bu[u])
    assert p.est == pytest.approx(min(5.0, max(1.0, expected)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        algo.predict(uid, iid)  # once per model and kind
    with pytest.warns(IdTypeWarning):  # another model warns again
        SVD(n_factors=4, n_epochs=1, random_state=0).fit(trainset).predict(uid, iid)


def test_unknown_ids_without_twin_do_not_warn():
    trainset = _data(int_ids=True).build_full_trainset()
    algo = SVD(n_factors=4, n_epochs=1, random_state=0).fit(trainset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for uid in (999, "abc", "999", 1.5, None, "1.0"):
            algo.predict(uid, 0)


def test_id_twin():
    ts = _data(int_ids=True).build_full_trainset()
    assert ts.id_twin("7", "user") == 7
    assert ts.id_twin(" 7 ", "item") == 7
    assert ts.id_twin("x", "user") is None
    assert ts.id_twin(True, "user") is None
    ts = _data(int_ids=False).build_full_trainset()
    assert ts.id_twin(7, "user") == "7"
    assert ts.id_twin(np.int32(7), "item") == "7"
    assert ts.id_twin(7.0, "user") == "7"
    assert ts.id_twin(float("nan"), "user") is None


def test_other_algorithms_warn_too():
    trainset = _data(int_ids=True).build_full_trainset()
    algo = turbosvd.KNNBasic(verbose=False).fit(trainset)
    with pytest.warns(IdTypeWarning, match="user '3'"):
        algo.predict("3", 2)


def test_cpu_count_is_cached_and_refreshable(monkeypatch):
    import os

    first = cpu_count()
    calls = []
    real = os.sched_getaffinity

    def counting(pid):
        calls.append(pid)
        return real(pid)

    monkeypatch.setattr(os, "sched_getaffinity", counting)
    assert cpu_count() == first and not calls
    refresh_cpu_count()
    assert cpu_count() == first and len(calls) == 1


def test_predict_from_dataframe_int_ids_direct_path_matches_test():
    df = pd.DataFrame({"u": [1, 1, 2, 3], "i": [10, 20, 10, 30], "r": [4.0, 3.0, 5.0, 1.0]})
    trainset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = SVD(n_factors=2, n_epochs=5, random_state=0).fit(trainset)
    got = [algo.predict(u, i).est for u, i in [(1, 10), (2, 30), (9, 9)]]
    want = [p.est for p in algo.test([(1, 10, 0), (2, 30, 0), (9, 9, 0)])]
    assert got == want


def test_test_and_top_n_name_the_twin():
    trainset = _data(int_ids=False).build_full_trainset()
    algo = SVD(n_factors=4, n_epochs=1, random_state=0).fit(trainset)
    with pytest.warns(IdTypeWarning, match="twin '3'"):
        preds = algo.test([(3, "2", 4.0)])
    assert preds[0].details == {"was_impossible": False}
    with pytest.raises(ValueError, match=r"user 3 is not part of the trainset \(but '3' is"):
        algo.recommend(3)
    with pytest.raises(ValueError, match=r"item 2 is not part of the trainset \(but '2' is"):
        algo.similar_items(2)


@pytest.mark.parametrize("cow", [True, False])
def test_float64_rating_column_is_used_in_place_only_when_safe(monkeypatch, cow):
    from turbosvd import _table

    real_cow = _table._copy_on_write()
    monkeypatch.setattr(_table, "_copy_on_write", lambda: cow)
    df = pd.DataFrame(
        {"u": np.arange(6, dtype=np.int32) % 3, "i": np.arange(6, dtype=np.int32), "r": 3.0}
    )
    trainset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    _, _, ratings = trainset.rating_arrays()
    column = df["r"].to_numpy()
    assert np.shares_memory(ratings, column) == cow
    if not (cow and real_cow):
        return
    # Changes to the DataFrame after loading never reach the trainset (copy-on-write).
    df.iloc[0, 2] = 5.0
    df["r"] *= 2
    assert trainset.rating_arrays()[2].tolist() == [3.0] * 6
    assert not ratings.flags.writeable


def test_search_sizes_its_team_by_the_work_only_when_left_to_it(monkeypatch):
    """num_threads=None: one thread per 2**27 multiply-adds at most; a count is kept."""
    from turbosvd.topn import search

    assert search._threads_for_work(2, 943 * 1682 * 101) == 1  # MovieLens 100k, k=100
    assert search._threads_for_work(2, 1 << 28) == 2
    assert search._threads_for_work(8, 3 << 27) == 3
    assert search._threads_for_work(4, 10) == 1
    seen = []
    real = search._knn.topk

    def spy(*args):
        seen.append(args[9])  # n_threads
        return real(*args)

    monkeypatch.setattr(search._knn, "topk", spy)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16))
    search.inner_product_topk(x, 5)
    search.inner_product_topk(x, 5, num_threads=2)
    assert seen == [1, 2]


@pytest.mark.parametrize("int_ids", [False, True])
def test_recommend_all_keeps_the_raw_id_types(int_ids):
    rng = np.random.default_rng(1)
    users = rng.integers(0, 30, 600)
    items = rng.integers(0, 40, 600)
    df = pd.DataFrame(
        {
            "u": users if int_ids else [f"u{u}" for u in users],
            "i": items if int_ids else [f"i{i}" for i in items],
            "r": rng.integers(1, 6, 600).astype(float),
        }
    ).drop_duplicates(["u", "i"])
    ts = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = SVD(n_epochs=2, random_state=0).fit(ts)
    table = algo.recommend_all(n=3)
    for col, raw in (("user", ts.raw_user_ids), ("item", ts.raw_item_ids)):
        assert set(table[col]) <= set(raw)
        assert table[col].dtype == pd.Series(np.asarray(raw)).dtype  # as a column of raw ids
    first = table[table["user"] == ts.to_raw_uid(0)]
    assert list(first["item"]) == [iid for iid, _ in algo.recommend(ts.to_raw_uid(0), n=3)]
