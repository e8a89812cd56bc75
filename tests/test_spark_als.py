"""turbosvd.spark.fit_als in Spark local mode: the same numbers as the local ALS.

Skipped when pyspark (with pyarrow) or Java is missing. One ``local[2]`` session serves the
module. Rows are independent within a half-sweep, so the distributed fit must equal
``ALS.fit`` on the same data for any number of blocks.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'turbosvd[spark]')")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'turbosvd[spark]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java: no java on PATH and JAVA_HOME unset", allow_module_level=True)

from spark_helpers import local_session, string_id_ratings  # noqa: E402
from turbosvd import ALS, Dataset, Reader, accuracy  # noqa: E402
from turbosvd import spark as tspark  # noqa: E402
from turbosvd.exceptions import ModelFitError  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def spark():
    yield from local_session("turbosvd-als-tests")


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return string_id_ratings(120, 80, 3000)


@pytest.fixture(scope="module")
def small_df(spark, small):
    return spark.createDataFrame(small)


def local_fit(pdf, **params):
    trainset = Dataset.load_from_df(pdf, Reader(rating_scale=(1, 5))).build_full_trainset()
    return ALS(**params).fit(trainset)


def assert_same(a, b, atol=0.0):
    for name in ("pu", "qi", "bu", "bi"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        if atol:
            np.testing.assert_allclose(x, y, atol=atol, rtol=0, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_ml100k_u1_matches_the_local_als(spark, ml100k_dir):
    cols = ["user", "item", "rating", "timestamp"]
    train = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=cols).drop(columns="timestamp")
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", names=cols).drop(columns="timestamp")
    params = dict(n_factors=20, n_epochs=4, reg=0.1, random_state=0)
    model = tspark.fit_als(
        spark.createDataFrame(train), "user", "item", "rating", rating_scale=(1, 5),
        n_blocks=2, **params,
    )  # fmt: skip
    local = local_fit(train, **params)
    assert type(model) is ALS and model.n_factors == 20 and model.reg == 0.1
    np.testing.assert_array_equal(model.trainset.raw_user_ids, local.trainset.raw_user_ids)
    np.testing.assert_array_equal(model.trainset.raw_item_ids, local.trainset.raw_item_ids)
    assert model.trainset.global_mean == local.trainset.global_mean
    assert_same(model, local, atol=1e-6)
    testset = list(test.itertuples(index=False, name=None))
    rmse = accuracy.rmse(model.test(testset), verbose=False)
    local_rmse = accuracy.rmse(local.test(testset), verbose=False)
    assert abs(rmse - local_rmse) < 0.002
    assert rmse < 1.0


@pytest.mark.parametrize(
    ("params", "blocks"),
    [
        (dict(n_factors=5, n_epochs=3, reg=0.05, random_state=2, dtype=np.float64), (1, 3)),
        (dict(n_factors=4, n_epochs=2, biased=False, solver="cholesky", random_state=0), (2,)),
        (dict(n_factors=6, n_epochs=2, cg_steps=5, random_state=1, init_std_dev=0.3), (3,)),
    ],
)
def test_any_number_of_blocks_gives_the_local_fit(small_df, small, params, blocks):
    local = local_fit(small, **params)
    for n_blocks in blocks:
        model = tspark.fit_als(small_df, "user", "item", "rating", rating_scale=(1, 5),
                               n_blocks=n_blocks, **params)  # fmt: skip
        assert_same(model, local)
        np.testing.assert_array_equal(model.trainset.rating_arrays()[2],
                                      local.trainset.rating_arrays()[2])  # fmt: skip
    testset = list(small.head(100).itertuples(index=False, name=None))
    assert model.test(testset) == local.test(testset)


def test_result_works_with_topn_converters_and_fold_in(spark, small_df, small):
    params = dict(n_factors=4, n_epochs=2, random_state=0)
    model = tspark.fit_als(small_df, "user", "item", "rating", n_blocks=2, **params)
    assert model.trainset.rating_scale == (small["rating"].min(), small["rating"].max())
    recs = tspark.recommend_for_all_users(model, spark, n=3).toPandas()
    assert len(recs) == model.trainset.n_users
    row = recs.iloc[0]
    local = [i for i, _ in model.recommend(row["user"], n=3)]
    assert [r["item"] for r in row["recommendations"]] == local
    factors = tspark.to_spark_factors(model, spark)
    users = factors.users.toPandas()
    np.testing.assert_allclose(np.stack(users["features"]), model.pu, rtol=1e-6)
    assert factors.biased
    model.partial_fit_users([("newcomer", small["item"][0], 5.0)])
    assert model.predict("newcomer", small["item"][1]).details["was_impossible"] is False


def test_factors_stay_on_the_executors(monkeypatch, spark, small_df):
    """Two checkpoints per sweep, and nothing moves through the driver between them."""
    events = []
    frame, session = type(small_df), type(spark)
    for cls, name in ((frame, "toPandas"), (frame, "collect"), (frame, "localCheckpoint"),
                      (session, "createDataFrame")):  # fmt: skip
        original = getattr(cls, name)

        def logged(self, *args, _name=name, _original=original, **kwargs):
            events.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, logged)
    tspark.fit_als(small_df, "user", "item", "rating", n_blocks=2, n_factors=3, n_epochs=3,
                   keep_ratings=False, random_state=0)  # fmt: skip
    monkeypatch.undo()
    checkpoints = [k for k, e in enumerate(events) if e == "localCheckpoint"]
    assert len(checkpoints) == 2 * 3
    assert set(events[checkpoints[0] : checkpoints[-1] + 1]) == {"localCheckpoint"}


def test_divergence_names_the_sweep(spark):
    df = pd.DataFrame(
        {"u": [0, 0, 1, 1, 2], "i": [0, 1, 0, 2, 1], "r": [1e30, -1e30, 3e30, 1e30, -2e30]}
    )
    with pytest.raises(ModelFitError, match="sweep 0"):
        tspark.fit_als(spark.createDataFrame(df), "u", "i", "r", n_factors=2, n_epochs=3,
                       random_state=0, init_std_dev=1e20)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(n_factors=0), ValueError, "n_factors=0"),
        (dict(reg=-1.0), ValueError, "reg=-1.0"),
        (dict(solver="lu"), ValueError, "solver='lu'"),
        (dict(dtype=np.int8), ValueError, "dtype="),
        (dict(bogus=1), TypeError, "bogus"),
        (dict(n_blocks=0), ValueError, "n_blocks=0"),
        (dict(keep_ratings="yes"), TypeError, "keep_ratings"),
        (dict(rating_scale=(5, 1)), ValueError, "rating_scale"),
        (dict(max_side_bytes=1000), ValueError, "max_side_bytes=1000"),
    ],
)
def test_bad_arguments(small_df, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tspark.fit_als(small_df, "user", "item", "rating", **kwargs)


def test_bad_columns_and_ratings(spark, small_df):
    with pytest.raises(ValueError, match="user_col='who'"):
        tspark.fit_als(small_df, "who", "item", "rating")
    with pytest.raises(TypeError, match="must be numeric"):
        tspark.fit_als(small_df, "item", "user", "user")
    df = spark.createDataFrame(pd.DataFrame({"u": [1, 2], "i": [1, 1], "r": [3.0, float("nan")]}))
    with pytest.raises(ValueError, match="1 null, NaN or infinite"):
        tspark.fit_als(df, "u", "i", "r")
