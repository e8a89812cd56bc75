"""turbosvd.spark on a scaled-down cluster: ``local-cluster[2,1,1024]`` (two executor JVMs),
with Spark's limits lowered in proportion to the data, so that every object that would
cross a limit at 1B ratings (issue 18; bench/SPARK.md) crosses it here.

At 1B ratings, 20M users and k=100 the user factors take 8 GB against a 128 MB RPC limit
and a 1 GB result limit; here 3M ratings over 100k users with k=100 take 40 MB against
``spark.rpc.message.maxSize=1`` (MB) and ``spark.driver.maxResultSize=5m``, with Arrow
batches of 10,000 rows. Each scenario runs in a fresh process (one Spark application,
everything bound to 127.0.0.1) that prints its results as JSON; the process and its
executor JVMs end with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'turbosvd[spark]')")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'turbosvd[spark]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java: no java on PATH and JAVA_HOME unset", allow_module_level=True)

_SCRIPT = r"""
import json, os, signal, subprocess, sys, threading, time, warnings
os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
warnings.simplefilter("ignore")
import numpy as np
from pyspark.sql import SparkSession, functions as F
from turbosvd import spark as tspark
from turbosvd.datasets import make_ratings

cfg = json.loads(sys.argv[1])
work = cfg["work"]
spark = (
    SparkSession.builder.master("local-cluster[2,1,1024]")
    .appName("turbosvd-cluster-" + cfg["scenario"])
    .config("spark.ui.enabled", "false")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.executor.memory", "900m")
    .config("spark.rpc.message.maxSize", "1")
    .config("spark.driver.maxResultSize", "5m")
    .config("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
    # Joins broadcast what Spark estimates under 10 MB, through the driver: scaled with the
    # result limit (1 GB -> 5 MB), that is 50 KB (else the checks' own joins below would
    # broadcast the 8 MB ratings against the 5 MB limit).
    .config("spark.sql.autoBroadcastJoinThreshold", "50k")
    .config("spark.sql.shuffle.partitions", "4")
    .config("spark.task.maxFailures", "8")
    .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
    .getOrCreate()
)
sc = spark.sparkContext
sc.setLogLevel("ERROR")
sc.setCheckpointDir(os.path.join(work, "checkpoints"))
result = {"slots": tspark.task_slots(spark)}

# The ratings go to the executors through Parquet, as a cluster reads them (a pandas
# frame of 3M ratings would be one 48 MB task: over the 1 MB RPC limit).
pdf = make_ratings(cfg["users"], cfg["items"], cfg["ratings"], random_state=0)
path = os.path.join(work, "ratings.parquet")
pdf.to_parquet(path, row_group_size=200_000)
df = spark.read.parquet(path)
params = dict(n_factors=cfg["k"], n_epochs=cfg["epochs"], random_state=0, rating_scale=(1, 5),
              n_blocks=cfg.get("n_blocks"))


def fingerprint(model):
    rows = model.factors.select(
        "side", "blk", F.sha2("f", 256).alias("f"), F.sha2("b", 256).alias("b")
    ).collect()
    return sorted((r.side, r.blk, r.f, r.b) for r in rows)


def errors(**kw):
    try:
        tspark.fit(df, "user", "item", "rating", **{**params, "n_epochs": 1, **kw})
    except tspark.SparkLimitError as exc:
        return str(exc)
    return None


if cfg["scenario"] == "fit":
    t = time.time()
    model = tspark.fit_distributed(df, "user", "item", "rating", **params)
    result["fit_s"] = time.time() - t
    result["n_blocks"] = model.factors.filter("side = 0").count()
    recs = os.path.join(work, "recs.parquet")
    t = time.time()
    tspark.recommend_for_all_users(model, n=10).write.mode("overwrite").parquet(recs)
    result["recommend_s"] = time.time() - t
    out = spark.read.parquet(recs)
    result["rec_users"] = out.count()
    result["rec_lengths"] = sorted(
        {r[0] for r in out.select(F.size("recommendations")).distinct().collect()}
    )
    seen = df.select("user", "item")
    flat = out.select("user", F.explode("recommendations.item").alias("item"))
    result["recommended_seen"] = flat.join(seen, ["user", "item"]).count()
    result["user_factor_rows"] = model.user_factors().count()
    result["n_users"] = model.n_users
    # The limits, as set: a local collect of the model (over 5m), initial factors drawn on
    # the driver (a factor row over the 1 MB task limit).
    result["collect_error"] = errors()
    result["driver_init_error"] = errors(init="driver")
    try:
        model.to_local()
    except tspark.SparkLimitError as exc:
        result["to_local_error"] = str(exc)
    model.unpersist()

elif cfg["scenario"] == "kill":
    kw = dict(params, checkpoint_interval=1)
    ref = tspark.fit_distributed(df, "user", "item", "rating", **kw)
    result["reference"] = fingerprint(ref)
    ref.unpersist()
    state = {"fitting": True, "killed": None, "during_fit": None}

    def executors():
        out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        return [int(line.split()[0]) for line in out.splitlines()
                if "CoarseGrainedExecutorBackend" in line and sc.applicationId in line]

    def killer():
        start = len(sc.statusTracker().getJobIdsForGroup(None))
        while state["fitting"]:
            done = len(sc.statusTracker().getJobIdsForGroup(None)) - start
            if done >= cfg["kill_after_jobs"]:
                pids = executors()
                if pids:
                    os.kill(pids[0], signal.SIGKILL)  # one executor JVM of this application
                    state["killed"], state["during_fit"] = pids[0], state["fitting"]
                return
            time.sleep(0.2)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    model = tspark.fit_distributed(df, "user", "item", "rating", **kw)
    state["fitting"] = False
    thread.join()
    result["killed"], result["during_fit"] = state["killed"], state["during_fit"]
    result["survivor"] = fingerprint(model)
    model.unpersist()

print("@@" + json.dumps(result))
spark.stop()
"""


def _run(tmp_path, **cfg) -> dict:
    script = tmp_path / "cluster_run.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    # Its own process group: the driver and executor JVMs it starts end with it, even if
    # this test is interrupted or times out.
    proc = subprocess.Popen(
        [sys.executable, str(script), json.dumps({**cfg, "work": str(tmp_path)})],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=1500)
    finally:
        with contextlib.suppress(ProcessLookupError):  # JVMs left of its group
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [x for x in stdout.splitlines() if x.startswith("@@")]
    assert proc.returncode == 0 and lines, stderr[-4000:]
    return json.loads(lines[-1][2:])


def _check_fit(result, users):
    assert result["slots"] == 2  # two executors of one core: n_blocks defaults to 2
    assert result["n_blocks"] == 2
    assert result["rec_users"] == result["n_users"] == result["user_factor_rows"] == users
    assert result["rec_lengths"] == [10]
    assert result["recommended_seen"] == 0
    assert "spark.driver.maxResultSize" in result["collect_error"]
    assert "fit_distributed" in result["collect_error"]
    assert "spark.rpc.message.maxSize" in result["driver_init_error"]
    assert "init='executors'" in result["driver_init_error"]
    assert "spark.driver.maxResultSize" in result["to_local_error"]


def test_a_scaled_down_cluster_fits_and_recommends(tmp_path):
    """120k ratings over 20k users, k=64 (a user-factor block of 10k users takes 2.6 MB
    against the 1 MB task limit; the model 5.7 MB against the 5 MB result limit):
    fit_distributed, recommend_for_all_users to Parquet, and the size checks, on two
    executor JVMs."""
    result = _run(
        tmp_path,
        scenario="fit",
        users=20_000,
        items=2_000,
        ratings=120_000,
        k=64,
        epochs=2,
        n_blocks=2,  # by default this would be one block (blocks of >= 100k ratings)
    )
    _check_fit(result, 20_000)


@pytest.mark.slow
def test_the_issue_scale_cluster_fits_and_recommends(tmp_path):
    """The issue's scaled-down run: 3M ratings over 100k users, k=100 (user factors 40 MB)."""
    result = _run(
        tmp_path, scenario="fit", users=100_000, items=10_000, ratings=3_000_000, k=100, epochs=3
    )
    _check_fit(result, 100_000)


@pytest.mark.slow
def test_a_fit_with_durable_checkpoints_survives_a_killed_executor(tmp_path):
    """One executor JVM is killed mid-fit (after the first epoch's checkpoint); the fit
    recomputes what it held and ends with the same factors, bit for bit."""
    result = _run(
        tmp_path,
        scenario="kill",
        users=30_000,
        items=3_000,
        ratings=300_000,
        k=50,
        epochs=3,
        n_blocks=2,
        kill_after_jobs=6,
    )
    assert result["killed"] is not None and result["during_fit"] is True
    assert result["survivor"] == result["reference"]
