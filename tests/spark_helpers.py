"""What the local-mode Spark test files share: their session and their ratings.

Imported only after ``pytest.importorskip("pyspark")``.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from turbosvd.datasets import make_ratings


def local_session(app_name: str):
    """A small ``local[2]`` session for a module fixture: yields it, stops it after."""
    # Workers must run this interpreter (the one with pyarrow and turbosvd).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def string_id_ratings(n_users: int, n_items: int, n_ratings: int) -> pd.DataFrame:
    """Synthetic ratings with string ids, rows shuffled (ids numbered by first appearance)."""
    df = make_ratings(n_users, n_items, n_ratings, random_state=5)
    df = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    return pd.DataFrame(
        {
            "user": "u" + df["user"].astype(str),
            "item": "i" + df["item"].astype(str),
            "rating": df["rating"].astype(np.float64),
        }
    )
