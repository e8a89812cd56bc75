"""turbosvd.spark in Spark local mode (and Spark Connect): DSGD, converters, top-N.

Skipped when pyspark (with pyarrow) or Java is missing. One ``local[2]`` session serves the
whole module (starting one takes ~20 s). The DSGD engine is checked against the serial
reference ``turbosvd.train.dsgd.fit_local`` bit for bit, so the accuracy of DSGD itself is
tested without Spark (tests/test_dsgd.py) and at 1M ratings in bench/bench_spark.py.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'turbosvd[spark]')")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'turbosvd[spark]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java: no java on PATH and JAVA_HOME unset", allow_module_level=True)

from spark_helpers import local_session, string_id_ratings  # noqa: E402
from turbosvd import SVD, Dataset, Reader, accuracy  # noqa: E402
from turbosvd import spark as tspark  # noqa: E402
from turbosvd.datasets import make_ratings  # noqa: E402
from turbosvd.exceptions import ModelFitError  # noqa: E402
from turbosvd.spark import _common  # noqa: E402
from turbosvd.spark import _dsgd_jobs as _jobs  # noqa: E402
from turbosvd.spark.fitting import _cap_n_blocks  # noqa: E402
from turbosvd.train import dsgd as _dsgd  # noqa: E402
from turbosvd.train.sgd import draw_normal as _draw_normal  # noqa: E402
from turbosvd.utils import get_rng  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

PARAMS = dict(n_factors=8, n_epochs=2, random_state=0, lr_all=0.007, reg_all=0.03)


@pytest.fixture(scope="module")
def spark():
    yield from local_session("turbosvd-tests")


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return string_id_ratings(300, 200, 12000)


@pytest.fixture(scope="module")
def local_trainset(ratings):
    return Dataset.load_from_df(ratings, Reader(rating_scale=(1, 5))).build_full_trainset()


@pytest.fixture(scope="module")
def ratings_df(spark, ratings):
    return spark.createDataFrame(ratings)


def _fit(ratings_df, **kw):
    return tspark.fit(ratings_df, "user", "item", "rating", rating_scale=(1, 5), **{**PARAMS, **kw})


def _assert_same_model(a, b):
    for name in ("pu", "qi", "bu", "bi"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# --------------------------------------------------------------------------- training
def test_one_block_equals_the_local_blocked_fit(ratings_df, ratings, local_trainset):
    """n_blocks=1: the same ids, layout, draws and kernel as SVD(schedule="blocked")."""
    model = _fit(ratings_df, n_blocks=1)
    local = SVD(**PARAMS, schedule="blocked").fit(local_trainset)
    ts = model.trainset
    np.testing.assert_array_equal(ts._user_ids, local_trainset._user_ids)
    np.testing.assert_array_equal(ts._item_ids, local_trainset._item_ids)
    np.testing.assert_array_equal(ts._users, local_trainset._users)
    np.testing.assert_array_equal(ts._items, local_trainset._items)
    np.testing.assert_array_equal(ts._ratings, local_trainset._ratings)
    assert ts.global_mean == local_trainset.global_mean
    assert ts.rating_scale == (1, 5)
    _assert_same_model(model, local)
    assert model.pu.dtype == np.float32
    testset = list(ratings.head(200).itertuples(index=False, name=None))
    assert model.test(testset) == local.test(testset)


def _reference(ts, d, dtype, params=PARAMS):
    """The serial DSGD reference on the trainset the Spark fit built."""
    svd = SVD(**params, dtype=dtype)
    rng = get_rng(params["random_state"])
    k = params["n_factors"]
    pu = _draw_normal(rng, 0, 0.1, ts.n_users, k, dtype)
    qi = _draw_normal(rng, 0, 0.1, ts.n_items, k, dtype)
    bu, bi = np.zeros(ts.n_users, dtype), np.zeros(ts.n_items, dtype)
    _dsgd.fit_local(
        ts._users,
        ts._items,
        ts._ratings,
        pu,
        qi,
        bu,
        bi,
        n_blocks=d,
        n_epochs=params["n_epochs"],
        global_mean=ts.global_mean,
        biased=True,
        rates=svd._rates(),
    )
    return pu, qi, bu, bi


def test_blocks_equal_the_serial_dsgd_reference(ratings_df):
    """d = 3 in float64: Spark's parallel sub-epochs give the serial reference's floats."""
    model = _fit(ratings_df, n_blocks=3, dtype=np.float64)
    assert model.pu.dtype == np.float64
    ref = _reference(model.trainset, 3, np.float64)
    for got, want in zip((model.pu, model.qi, model.bu, model.bi), ref, strict=True):
        np.testing.assert_array_equal(got, want)
    # The model is a usable SVD.
    pred = model.predict("u0", "i0")
    assert not pred.details["was_impossible"]
    assert model.predict("nobody", "nothing").est == model.trainset.global_mean


def test_profile_and_trainset_without_ratings(ratings_df, ratings):
    profile = []
    model = _fit(ratings_df, n_blocks=2, n_epochs=1, keep_ratings=False, profile=profile)
    ts = model.trainset
    assert ts.n_ratings == len(ratings)
    assert len(ts._ratings) == 0
    assert ts.global_mean == pytest.approx(ratings["rating"].mean(), rel=1e-12)
    steps = [p["step"] for p in profile if p["phase"] == "setup"]
    assert steps == [
        "cache and check the ratings",
        "number the ids",
        "pack and cache the blocks",
        "ship the initial factors",
        "collect the factors",
    ]
    # The driver moves the model once each way per fit (float32, k factors and a bias).
    model_bytes = (ts.n_users + ts.n_items) * (PARAMS["n_factors"] + 1) * 4
    moved = {p["step"]: p.get("bytes") for p in profile if p["phase"] == "setup"}
    assert moved["ship the initial factors"] == moved["collect the factors"] == model_bytes
    subs = [p for p in profile if p["phase"] == "sub_epoch"]
    assert [(p["epoch"], p["sub_epoch"]) for p in subs] == [(0, 0), (0, 1)]
    for p in subs:
        assert len(p["task_train_s"]) == len(p["task_io_s"]) == 2  # two blocks, one task each
        assert p["job_s"] > 0 and min(p["task_train_s"]) > 0
        assert p["bytes"] == 0 and p["shuffle_bytes"] == model_bytes
    # predict and test need only the id maps and the mean.
    testset = list(ratings.head(50).itertuples(index=False, name=None))
    assert accuracy.rmse(model.test(testset), verbose=False) < 2


def _persisted_rdds(spark) -> int:
    """RDDs the session keeps (cached or checkpointed), as the driver knows them now: no
    garbage collection is forced, so only what the code freed explicitly is gone."""
    return spark.sparkContext._jsc.getPersistentRDDs().size()


def _record_driver_traffic(monkeypatch, spark, df):
    """Log every call that moves data between the driver and Spark, and every checkpoint
    with the size of the plan it cuts and the number of persisted RDDs at that moment."""
    events = []
    frame, session = type(df), type(spark)

    def wrap(cls, name):
        original = getattr(cls, name)

        def logged(self, *args, **kwargs):
            if name == "localCheckpoint":
                plan = self._jdf.queryExecution().logical().toString()
                events.append((name, len(plan), _persisted_rdds(spark)))
            else:
                events.append((name, None, None))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, logged)

    for name in ("toPandas", "collect", "localCheckpoint"):
        wrap(frame, name)
    wrap(session, "createDataFrame")
    return events


def test_factors_stay_on_the_executors(monkeypatch, spark, ratings_df):
    """No factor bytes through the driver between the first and the last sub-epoch, one
    checkpoint per sub-epoch, plans and persisted data that do not grow with epochs."""
    before = _persisted_rdds(spark)
    events = _record_driver_traffic(monkeypatch, spark, ratings_df)
    profile = []
    n_epochs = 4
    model = _fit(ratings_df, n_blocks=2, n_epochs=n_epochs, profile=profile)
    monkeypatch.undo()
    checkpoints = [i for i, e in enumerate(events) if e[0] == "localCheckpoint"]
    assert len(checkpoints) == n_epochs * 2
    between = events[checkpoints[0] : checkpoints[-1] + 1]
    assert {e[0] for e in between} == {"localCheckpoint"}
    assert [p["bytes"] for p in profile if p["phase"] == "sub_epoch"] == [0] * n_epochs * 2
    # The lineage is cut every sub-epoch: a sub-epoch's plan is as long in the last epoch
    # as in epoch 1 (epoch 0 starts from the shipped rows, whose plan differs).
    plans = [events[i][1] for i in checkpoints]
    assert plans[-2:] == plans[2:4]
    # Old checkpoints are freed explicitly, without waiting for a garbage collection: the
    # persisted RDDs (the cached ratings and blocks, the current checkpoint) stay the same
    # in every sub-epoch after the first, and go once the fit returns.
    persisted = [events[i][2] for i in checkpoints]
    assert persisted[1:] == [persisted[1]] * (len(persisted) - 1), persisted
    assert persisted[1] == before + 3, persisted  # ratings, packed blocks, one checkpoint
    assert _persisted_rdds(spark) == before
    ref = _reference(model.trainset, 2, np.float32, {**PARAMS, "n_epochs": n_epochs})
    for got, want in zip((model.pu, model.qi, model.bu, model.bi), ref, strict=True):
        np.testing.assert_array_equal(got, want)


def test_divergence_is_reported_with_its_epoch(ratings_df):
    with pytest.raises(ModelFitError, match=r"training diverged at epoch 1 \(the first is 1\)"):
        _fit(ratings_df, n_blocks=2, n_epochs=2, lr_all=1e6, keep_ratings=False)


def test_integer_ids_and_a_default_rating_scale(spark):
    df = make_ratings(60, 40, 900, random_state=3)
    model = tspark.fit(
        spark.createDataFrame(df), "user", "item", "rating", n_factors=4, n_epochs=1, random_state=1
    )
    local = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    np.testing.assert_array_equal(model.trainset._user_ids, local._user_ids)
    assert model.trainset.to_inner_uid(int(df["user"].iloc[0])) == 0
    lo, hi = df["rating"].min(), df["rating"].max()
    assert model.trainset.rating_scale == (lo, hi)


def test_fit_validates_its_arguments(spark, ratings_df):
    with pytest.raises(ValueError, match="user_col='who' is not a column"):
        tspark.fit(ratings_df, "who", "item", "rating")
    with pytest.raises(TypeError, match="rating_col='user' has type string"):
        tspark.fit(ratings_df, "item", "user", "user")
    with pytest.raises(ValueError, match="schedule='exact' is not available on Spark"):
        tspark.fit(ratings_df, "user", "item", "rating", schedule="exact")
    with pytest.raises(ValueError, match="n_blocks=0 is out of range"):
        tspark.fit(ratings_df, "user", "item", "rating", n_blocks=0)
    with pytest.raises(ValueError, match="n_epochs=-1 is out of range"):
        tspark.fit(ratings_df, "user", "item", "rating", n_epochs=-1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_factor'"):
        tspark.fit(ratings_df, "user", "item", "rating", n_factor=3)
    with pytest.raises(ValueError, match="rating_scale=\\(5, 1\\) must have lowest < highest"):
        tspark.fit(ratings_df, "user", "item", "rating", rating_scale=(5, 1))
    with pytest.raises(TypeError, match="keep_ratings must be a bool"):
        tspark.fit(ratings_df, "user", "item", "rating", keep_ratings=1)
    bad = spark.createDataFrame(
        pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [3.0, math.nan]})
    )
    with pytest.raises(ValueError, match="rating_col='rating' has 1 null, NaN or infinite"):
        tspark.fit(bad, "user", "item", "rating")
    with pytest.raises(ValueError, match="df is empty"):
        tspark.fit(bad.limit(0), "user", "item", "rating")
    no_user = spark.createDataFrame(
        pd.DataFrame({"who": ["a", None, None], "item": [1, 1, 2], "rating": [3.0, 4.0, 5.0]})
    )
    with pytest.raises(ValueError, match="user_col='who' has 2 null ids"):
        tspark.fit(no_user, "who", "item", "rating")


def test_more_blocks_than_users_leaves_empty_blocks_out(spark):
    """Two users and three user blocks: a row of empty blocks, skipped in every stratum."""
    df = make_ratings(2, 600, 900, random_state=6)  # enough ratings for 3 x 3 blocks
    model = tspark.fit(
        spark.createDataFrame(df),
        "user",
        "item",
        "rating",
        n_blocks=3,
        rating_scale=(1, 5),
        **PARAMS,
    )
    ref = _reference(model.trainset, 3, np.float32)
    for got, want in zip((model.pu, model.qi, model.bu, model.bi), ref, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinite_ratings_are_refused_before_training(spark, value):
    """Not "training diverged ... lower the learning rates": the data is at fault."""
    df = make_ratings(20, 10, 150, random_state=2)
    df.loc[7, "rating"] = value
    with pytest.raises(ValueError, match="has 1 null, NaN or infinite values"):
        tspark.fit(spark.createDataFrame(df), "user", "item", "rating", n_epochs=1)


def test_n_blocks_is_capped_to_the_data(spark):
    """2,000 ratings with n_blocks=200 (40,000 blocks): capped to 4, with a warning."""
    df = make_ratings(100, 80, 2000, random_state=3)
    sdf = spark.createDataFrame(df)
    params = {**PARAMS, "n_epochs": 1}
    with pytest.warns(
        UserWarning, match="n_blocks=200 is too many for 2,000 ratings: using n_blocks=4"
    ):
        capped = tspark.fit(
            sdf, "user", "item", "rating", n_blocks=200, keep_ratings=False, **params
        )
    four = tspark.fit(sdf, "user", "item", "rating", n_blocks=4, keep_ratings=False, **params)
    _assert_same_model(capped, four)


def test_cap_n_blocks_keeps_what_the_data_fills():
    assert _cap_n_blocks(3, 900) == 3
    assert _cap_n_blocks(8, 10**6) == 8
    with pytest.warns(UserWarning, match="using n_blocks=1"):
        assert _cap_n_blocks(2, 150) == 1


def test_default_n_blocks():
    assert tspark.default_n_blocks(1000, 8) == 1
    assert tspark.default_n_blocks(1_000_000, 8) == 3
    assert tspark.default_n_blocks(10**9, 8) == 8
    assert tspark.default_n_blocks(10**9, 0) == 1


def test_task_slots_and_the_cap_on_n_blocks(spark):
    assert tspark.task_slots(spark) == 2  # local[2], spark.task.cpus = 1
    with pytest.warns(UserWarning, match="n_blocks=5000 is more than 1024: using n_blocks=1024"):
        assert _cap_n_blocks(5000, 10**9) == 1024


def test_session_limits_read_the_settings(spark):
    limits = tspark.session_limits(spark)
    assert limits.rpc_bytes == 128 << 20  # Spark's defaults: nothing is set in this session
    assert limits.result_bytes == 1 << 30
    assert limits.arrow_records == 10_000
    assert _common.parse_size("5m") == 5 << 20
    assert _common.parse_size("1", "m") == 1 << 20
    assert _common.parse_size("0") == 0
    with pytest.raises(ValueError, match="cannot read 'lots' as a size"):
        _common.parse_size("lots")


def _grid(users, items, d):
    return _dsgd.make_grid(np.full(users, 10), np.full(items, 10), d)


def test_size_checks_name_the_setting_or_parameter():
    """Each check fires alone, before any work, with the setting or parameter to change."""
    small = _common.SparkLimits(rpc_bytes=1 << 20, result_bytes=5 << 20, arrow_records=10_000,
                                task_cpus=1)  # fmt: skip
    big = _common.SparkLimits(1 << 30, 0, 10_000, 1)
    grid = _grid(100_000, 1_000, 2)  # 50,000 users per block
    args = (np.full(100_000, 10), np.full(1_000, 10), 100, 4)
    _jobs.check_sizes(big, grid, *args)  # within every limit: no error
    with pytest.raises(tspark.SparkLimitError, match="over spark.rpc.message.maxSize.*init="):
        _jobs.check_sizes(small, grid, *args, init_on_driver=True)
    with pytest.raises(tspark.SparkLimitError, match="spark.driver.maxResultSize.*fit_distributed"):
        _jobs.check_sizes(small, grid, *args, collect_factors=True)
    with pytest.raises(tspark.SparkLimitError, match="maxResultSize.*keep_ratings=False"):
        _jobs.check_sizes(small, grid, *args, collect_ratings=1_000_000)
    # 3M users of 100 float32 factors in 1 block: the cogroup's factor column is 1.2 GB.
    one = _grid(3_000_000, 10, 1)
    with pytest.raises(tspark.SparkLimitError, match="1 GiB.*use more blocks \\(n_blocks=1 is"):
        _jobs.check_sizes(big, one, np.full(3_000_000, 10), np.full(10, 10), 100, 4)
    # A block of 100M ratings packs to 1.2 GB (12 bytes each with the run index).
    dense = _dsgd.make_grid(np.full(1000, 100_000), np.full(1000, 100_000), 1)
    with pytest.raises(tspark.SparkLimitError, match="block \\(0, 0\\) of 100,000,000 ratings"):
        _jobs.check_sizes(big, dense, np.full(1000, 100_000), np.full(1000, 100_000), 1, 4)
    unlimited = _common.SparkLimits(1 << 30, 0, 0, 1)  # one Arrow batch per partition
    with pytest.raises(tspark.SparkLimitError, match="lower spark.sql.execution.arrow"):
        _common.check_batch(unlimited, "rows", 1000, 2_000_000, "x")


def test_local_frames_are_sent_in_pieces_that_fit_a_task(spark):
    limits = _common.SparkLimits(rpc_bytes=1 << 20, result_bytes=0, arrow_records=10_000,
                                 task_cpus=1)  # fmt: skip
    pdf = pd.DataFrame({"a": np.arange(200_000, dtype=np.int64), "b": np.ones(200_000)})
    frame = _common.local_frame(spark, pdf, "a long, b double", limits, "test rows", "x")
    assert frame.count() == 200_000  # 3.2 MB in pieces of under 1/4 MB
    got = frame.toPandas()
    pd.testing.assert_frame_equal(got, pdf)
    blob = pd.DataFrame({"x": [b"0" * (2 << 20)]})
    with pytest.raises(tspark.SparkLimitError, match="test blob.*spark.rpc.message.maxSize"):
        _common.local_frame(spark, blob, "x binary", limits, "test blob", "smaller rows")


def test_initial_factors_drawn_on_the_executors(ratings_df):
    """init='executors': the documented per-block draws, then the serial DSGD reference."""
    model = _fit(ratings_df, n_blocks=2, init="executors", keep_ratings=True)
    again = _fit(ratings_df, n_blocks=2, init="executors", keep_ratings=False)
    _assert_same_model(model, again)  # deterministic
    ts, k = model.trainset, PARAMS["n_factors"]
    grid = _dsgd.make_grid(np.bincount(ts._users), np.bincount(ts._items), 2)
    pu = np.empty((ts.n_users, k), np.float32)
    qi = np.empty((ts.n_items, k), np.float32)
    for side, out, rows in ((0, pu, grid.users_of), (1, qi, grid.items_of)):
        for b in range(2):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([0, side, b])))
            idx = rows(b)
            n = len(range(ts.n_users)[idx]) if side == 0 else len(idx)
            out[idx] = rng.normal(0, 0.1, size=(n, k))
    bu, bi = np.zeros(ts.n_users, np.float32), np.zeros(ts.n_items, np.float32)
    _dsgd.fit_local(ts._users, ts._items, ts._ratings, pu, qi, bu, bi, n_blocks=2,
                    n_epochs=PARAMS["n_epochs"], global_mean=ts.global_mean, biased=True,
                    rates=SVD(**PARAMS)._rates())  # fmt: skip
    for got, want in zip((model.pu, model.qi, model.bu, model.bi), (pu, qi, bu, bi), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="init='nowhere' must be one of"):
        _fit(ratings_df, init="nowhere")


def test_fit_distributed_keeps_the_model_in_spark(spark, ratings_df, ratings):
    profile = []
    handle = tspark.fit_distributed(ratings_df, "user", "item", "rating", n_blocks=2,
                                    rating_scale=(1, 5), profile=profile, **PARAMS)  # fmt: skip
    try:
        assert isinstance(handle, tspark.SparkSVD)
        assert not [p for p in profile if p.get("step") == "collect the factors"]
        local = handle.to_local(keep_ratings=True)
        _assert_same_model(local, _fit(ratings_df, n_blocks=2))
        assert local.trainset.n_ratings == len(ratings)
        users = handle.user_factors().toPandas()
        assert sorted(users["id"]) == sorted(local.trainset._user_ids)
        for row in users.head(20).itertuples(index=False):
            u = local.trainset.to_inner_uid(row.id)
            np.testing.assert_array_equal(np.asarray(row.features, np.float32), local.pu[u])
            assert np.float32(row.bias) == local.bu[u]
        assert handle.item_factors().count() == local.trainset.n_items
        for exclude_seen in (True, False):
            out = tspark.recommend_for_all_users(handle, n=6, exclude_seen=exclude_seen)
            got = _flatten(out, "user", "recommendations", "rating")
            want = local.recommend_all(n=6, exclude_seen=exclude_seen)
            order = got["user"].map(local.trainset._raw2inner_id_users)
            got = got.assign(_u=order).sort_values(["_u", "rank"], kind="stable").drop(columns="_u")
            pd.testing.assert_frame_equal(
                got.reset_index(drop=True),
                want.rename(columns={"estimate": "rating"}).reset_index(drop=True),
                check_dtype=False,
            )
        _check_distributed_top_n(spark, handle, local)
    finally:
        handle.unpersist()
    with pytest.raises(ValueError, match="unpersisted"):
        handle.to_local()


def _check_distributed_top_n(spark, handle, local):
    """min_support, clip, a subset of users and similar items of a SparkSVD: the local
    model's rows."""

    def in_order(got, key, to_inner):
        got = got.assign(_k=got[key].map(to_inner))
        return got.sort_values(["_k", "rank"], kind="stable").drop(columns="_k")

    support = np.bincount(local.trainset.rating_arrays()[1])
    min_support = int(np.median(support)) + 1
    users_map = local.trainset._raw2inner_id_users
    out = handle.recommend_for_all_users(5, min_support=min_support, clip=False)
    got = in_order(_flatten(out, "user", "recommendations", "rating"), "user", users_map)
    want = local.recommend_all(5, min_support=min_support, clip=False)
    assert not want.equals(local.recommend_all(5, clip=False))  # the filter bites
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        want.rename(columns={"estimate": "rating"}).reset_index(drop=True),
        check_dtype=False,
    )
    wanted = spark.createDataFrame(pd.DataFrame({"who": ["u3", "u10", "nobody", "u3"]}))
    out = tspark.recommend_for_users(handle, wanted, n=4, user_col="who")
    got = in_order(_flatten(out, "user", "recommendations", "rating"), "user", users_map)
    want = local.recommend_all(n=4)
    want = want[want["user"].isin(["u3", "u10"])].rename(columns={"estimate": "rating"})
    want = in_order(want, "user", users_map)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )
    with pytest.raises(ValueError, match="user_col='user' is not a column"):
        handle.recommend_for_users(wanted)
    for ms in (0, min_support):
        out = tspark.similar_items_all(handle, k=4, min_support=ms)
        got = _flatten(out, "item", "similar", "similarity", other="neighbour")
        assert got["item"].nunique() == local.trainset.n_items
        for raw, group in got.groupby("item", sort=False):
            group = group.sort_values("rank")
            expected = local.similar_items(raw, 4, min_support=ms)
            assert list(zip(group["neighbour"], group["similarity"], strict=True)) == expected


def test_durable_checkpoints_give_the_same_model_and_are_deleted(spark, ratings_df, tmp_path):
    """checkpoint_interval: the same floats as local checkpoints; old checkpoint files are
    deleted as training moves on, the last one when the model is dropped."""
    spark.sparkContext.setCheckpointDir(str(tmp_path))
    before = _persisted_rdds(spark)
    handle = tspark.fit_distributed(ratings_df, "user", "item", "rating", n_blocks=2,
                                    rating_scale=(1, 5), checkpoint_interval=1,
                                    **{**PARAMS, "n_epochs": 3})  # fmt: skip
    written = [p for p in tmp_path.rglob("rdd-*") if p.is_dir()]
    assert len(written) == 1  # three were written, the older two deleted
    model = handle.to_local(keep_ratings=False)
    handle.unpersist()
    assert not [p for p in tmp_path.rglob("rdd-*") if p.is_dir()]
    assert _persisted_rdds(spark) == before
    _assert_same_model(model, _fit(ratings_df, n_blocks=2, n_epochs=3, keep_ratings=False))
    with pytest.raises(ValueError, match="checkpoint_interval=0 is out of range"):
        _fit(ratings_df, checkpoint_interval=0)


# ------------------------------------------------------------------------- converters
@pytest.fixture(scope="module")
def als(spark):
    """A small ALS model and its training ratings (pandas and Spark)."""
    from pyspark.ml.recommendation import ALS

    df = make_ratings(80, 50, 1500, random_state=4)
    sdf = spark.createDataFrame(df)
    model = ALS(
        rank=3, maxIter=2, regParam=0.1, seed=0, userCol="user", itemCol="item", ratingCol="rating"
    ).fit(sdf)
    return df, sdf, model


def test_from_als_serves_the_als_predictions(spark, als):
    df, sdf, als = als
    model = tspark.from_als(als)
    assert model.n_factors == 3
    assert model.biased is False
    assert model.pu.dtype == np.float32
    pairs = df.head(100)
    expected = als.transform(spark.createDataFrame(pairs)).toPandas()
    expected = expected.set_index(["user", "item"])["prediction"]
    got = [model.predict(int(u), int(i), clip=False).est for u, i in zip(pairs.user, pairs.item)]
    want = [expected[(u, i)] for u, i in zip(pairs.user, pairs.item)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Unknown ids fall back to 0 (a zero factor vector), or to the given mean.
    unknown = model.predict(10**6, int(pairs.item[0]))
    assert unknown.est == 0.0
    assert unknown.details["was_impossible"]
    with_mean = tspark.from_als(als, global_mean=3.5, rating_scale=(1, 5))
    assert with_mean.predict(10**6, int(pairs.item[0])).est == 3.5
    # With the training ratings: seen items and Surprise's global-mean fallback.
    served = tspark.from_als(als, ratings=sdf)
    assert served.trainset.n_ratings == len(df)
    mean = df["rating"].astype(np.float64).mean()
    assert served.trainset.global_mean == pytest.approx(mean, rel=1e-12)
    assert served.predict(10**6, int(pairs.item[0])).est == pytest.approx(mean, rel=1e-12)
    u0 = served.trainset.to_inner_uid(int(df.user[0]))
    assert served.trainset.ur[u0]  # the user's ratings are there
    with pytest.raises(ValueError, match="global_mean=nan is not a finite number"):
        tspark.from_als(als, global_mean=math.nan)
    with pytest.raises(TypeError, match="als_model must be a fitted"):
        tspark.from_als(model)


def test_to_spark_factors_round_trips(spark, local_trainset):
    model = SVD(**PARAMS).fit(local_trainset)
    out = tspark.to_spark_factors(model, spark)
    assert out.biased is True
    assert out.global_mean == local_trainset.global_mean
    users = out.users.toPandas()
    items = out.items.toPandas()
    assert list(users.columns) == ["id", "features", "bias"]
    assert users["id"].tolist() == list(local_trainset._user_ids)
    np.testing.assert_array_equal(np.stack(users["features"]), model.pu)
    np.testing.assert_array_equal(users["bias"].to_numpy(np.float32), model.bu)
    np.testing.assert_array_equal(np.stack(items["features"]), model.qi)
    np.testing.assert_array_equal(items["bias"].to_numpy(np.float32), model.bi)
    # The documented estimate, computed from the frames, is the model's.
    u, i = 5, 7
    est = out.global_mean + users["bias"][u] + items["bias"][i]
    est += float(np.dot(users["features"][u], items["features"][i]))
    assert est == pytest.approx(model.estimate(u, i), abs=1e-5)


def test_a_spark_model_saves_and_loads(tmp_path, ratings_df):
    import turbosvd

    model = _fit(ratings_df, n_blocks=2, n_epochs=1)
    path = tmp_path / "model.tsvd"
    model.save(path)
    back = turbosvd.load(path)
    _assert_same_model(back, model)
    assert back.predict("u1", "i2").est == model.predict("u1", "i2").est


# ------------------------------------------------------------------------------ top-N
def _flatten(sdf, key: str, array: str, score: str, other: str = "item") -> pd.DataFrame:
    """Nested rows (key, array<struct<item, score, rank>>) as a long table."""
    rows = []
    for row in sdf.toPandas().itertuples(index=False):
        for x in getattr(row, array):
            rows.append((getattr(row, key), x["item"], x[score], x["rank"]))
    return pd.DataFrame(rows, columns=[key, other, score, "rank"])


@pytest.fixture(scope="module")
def models(local_trainset):
    return {
        "biased-f32": SVD(**PARAMS).fit(local_trainset),
        "unbiased-f64": SVD(**PARAMS, biased=False, dtype=np.float64).fit(local_trainset),
    }


@pytest.mark.parametrize(
    ("name", "exclude_seen", "min_support"),
    [("biased-f32", True, 0), ("unbiased-f64", False, 0), ("biased-f32", True, "median"),
     ("unbiased-f64", False, "median")],
)  # fmt: skip
def test_recommend_for_all_users_is_recommend_all(spark, models, name, exclude_seen, min_support):
    model = models[name]
    if min_support == "median":  # leaves out about half of the items
        support = np.bincount(model.trainset.rating_arrays()[1])
        min_support = int(np.median(support)) + 1
    out = tspark.recommend_for_all_users(
        model, spark, n=7, exclude_seen=exclude_seen, n_blocks=3, min_support=min_support
    )
    assert out.columns == ["user", "recommendations"]
    assert out.schema["recommendations"].dataType.elementType.names == ["item", "rating", "rank"]
    got = _flatten(out, "user", "recommendations", "rating")
    assert got["user"].nunique() == model.trainset.n_users
    want = model.recommend_all(n=7, exclude_seen=exclude_seen, min_support=min_support)
    if min_support:  # the filter removes candidates: the test would not see it otherwise
        assert not want.equals(model.recommend_all(n=7, exclude_seen=exclude_seen))
    order = got["user"].map(model.trainset._raw2inner_id_users)
    got = got.assign(_u=order).sort_values(["_u", "rank"], kind="stable").drop(columns="_u")
    want = want.rename(columns={"estimate": "rating"})
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )


def test_recommend_for_users_takes_a_subset(spark, models, local_trainset):
    model = models["biased-f32"]
    wanted = ["u3", "u10", "nobody", "u3"]
    users_df = spark.createDataFrame(pd.DataFrame({"who": wanted}))
    out = tspark.recommend_for_users(model, users_df, n=5, user_col="who", n_blocks=2)
    got = _flatten(out, "user", "recommendations", "rating")
    assert set(got["user"]) == {"u3", "u10"}  # unknown users are left out, as with ALS
    want = model.recommend_all(n=5)
    want = want[want["user"].isin(["u3", "u10"])].rename(columns={"estimate": "rating"})
    got = got.sort_values(["user", "rank"]).reset_index(drop=True)
    want = want.sort_values(["user", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    with pytest.raises(ValueError, match="user_col='user' is not a column"):
        tspark.recommend_for_users(model, users_df)


@pytest.mark.parametrize("min_support", [0, "median"])
def test_similar_items_all_is_similar_items(spark, models, min_support):
    model = models["biased-f32"]
    if min_support == "median":
        support = np.bincount(model.trainset.rating_arrays()[1])
        min_support = int(np.median(support)) + 1
    out = tspark.similar_items_all(model, spark, k=4, n_blocks=3, min_support=min_support)
    got = _flatten(out, "item", "similar", "similarity", other="neighbour")
    assert got["item"].nunique() == model.trainset.n_items
    for raw, group in got.groupby("item", sort=False):
        group = group.sort_values("rank")
        expected = model.similar_items(raw, 4, min_support=min_support)
        assert list(zip(group["neighbour"], group["similarity"], strict=True)) == expected
        assert group["rank"].tolist() == list(range(1, len(expected) + 1))
    if min_support:  # the filter bites
        assert any(model.similar_items(r, 4) != model.similar_items(r, 4, min_support=min_support)
                   for r in model.trainset.raw_item_ids[:20])  # fmt: skip


def test_recommendations_of_an_als_model_exclude_seen_items(spark, als):
    df, sdf, als = als
    model = tspark.from_als(als, ratings=sdf)
    got = _flatten(
        tspark.recommend_for_all_users(model, spark, n=5), "user", "recommendations", "rating"
    )
    seen = set(zip(df["user"].tolist(), df["item"].tolist(), strict=True))
    assert not seen & set(zip(got["user"].tolist(), got["item"].tolist(), strict=True))
    want = model.recommend_all(n=5).rename(columns={"estimate": "rating"})
    got = got.sort_values(["user", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got, want.sort_values(["user", "rank"]).reset_index(drop=True), check_dtype=False
    )


def test_top_n_needs_training_ratings_to_exclude_seen(spark, ratings_df):
    model = _fit(ratings_df, n_blocks=1, n_epochs=1, keep_ratings=False)
    with pytest.raises(ValueError, match="exclude_seen=True needs the training ratings"):
        tspark.recommend_for_all_users(model, spark)
    out = tspark.recommend_for_all_users(model, spark, n=3, exclude_seen=False)
    assert out.count() == model.trainset.n_users


# --------------------------------------------------------------------- Spark Connect
_CONNECT_SCRIPT = """
import json, os, sys, warnings
os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
warnings.simplefilter("ignore")
import numpy as np
from pyspark.sql import SparkSession
from turbosvd import SVD, Dataset, Reader
from turbosvd.train import dsgd as _dsgd
from turbosvd import spark as tspark
from turbosvd.datasets import make_ratings
from turbosvd.train.sgd import draw_normal as _draw_normal
from turbosvd.utils import get_rng

spark = (
    SparkSession.builder.remote("local[2]")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.shuffle.partitions", "4")
    .getOrCreate()
)
params = dict(n_factors=6, n_epochs=2, random_state=0)
pdf = make_ratings(200, 120, 5000, random_state=5).sample(frac=1.0, random_state=1)
ts = Dataset.load_from_df(pdf, Reader(rating_scale=(1, 5))).build_full_trainset()
sdf = spark.createDataFrame(pdf)
one = tspark.fit(sdf, "user", "item", "rating", n_blocks=1, rating_scale=(1, 5), **params)
local = SVD(**params).fit(ts)
two = tspark.fit(sdf, "user", "item", "rating", n_blocks=2, rating_scale=(1, 5), **params)
rng = get_rng(0)
ref = [_draw_normal(rng, 0, 0.1, ts.n_users, 6, np.float32),
       _draw_normal(rng, 0, 0.1, ts.n_items, 6, np.float32),
       np.zeros(ts.n_users, np.float32), np.zeros(ts.n_items, np.float32)]
_dsgd.fit_local(ts._users, ts._items, ts._ratings, *ref, n_blocks=2, n_epochs=2,
                global_mean=ts.global_mean, biased=True, rates=local._rates())
names = ("pu", "qi", "bu", "bi")
result = {
    "session": type(spark).__module__,
    "one_equals_local": all(np.array_equal(getattr(one, n), getattr(local, n)) for n in names),
    "two_equals_reference": all(np.array_equal(getattr(two, n), r) for n, r in zip(names, ref)),
    "exported_users": tspark.to_spark_factors(one, spark).users.count(),
    "n_users": ts.n_users,
}
recs = tspark.recommend_for_all_users(local, spark, n=5, n_blocks=3).toPandas()
got = [(r.user, x["item"], x["rating"], x["rank"])
       for r in recs.itertuples() for x in r.recommendations]
want = local.recommend_all(5)
result["recommend_equals_local"] = sorted(got) == sorted(
    zip(want.user, want.item, want.estimate, want["rank"]))
sim = tspark.similar_items_all(local, spark, k=3).toPandas()
result["similar_equals_local"] = all(
    [(x["item"], x["similarity"]) for x in r.similar] == local.similar_items(r.item, 3)
    for r in sim.itertuples())
print("@@" + json.dumps(result))
spark.stop()
"""


@pytest.fixture(scope="module")
def connect_run(tmp_path_factory) -> dict:
    """Fits (and top-N when available) through a Spark Connect session: a local Connect
    server, in a fresh process (one per module; starting it takes ~20 s)."""
    for module in ("grpc", "grpc_status", "google.rpc", "zstandard"):
        pytest.importorskip(module, reason="Spark Connect needs pip install 'pyspark[connect]'")
    script = tmp_path_factory.mktemp("connect") / "connect_run.py"
    script.write_text(textwrap.dedent(_CONNECT_SCRIPT))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("@@")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][2:])


def test_fit_works_on_spark_connect(connect_run):
    result = connect_run
    assert result["session"].startswith("pyspark.sql.connect")
    assert result["one_equals_local"]
    assert result["two_equals_reference"]
    assert result["exported_users"] == result["n_users"]


def test_top_n_works_on_spark_connect(connect_run):
    assert connect_run["recommend_equals_local"]
    assert connect_run["similar_equals_local"]
