"""turbosvd on Apache Spark: distributed training (DSGD), converters, distributed top-N.

Needs the optional extra ``pip install turbosvd[spark]`` (``pyspark>=3.5`` and ``pyarrow``;
the top-N of a model kept in Spark needs ``pyspark>=4.0``), and turbosvd installed on the
executors too (the tasks run its compiled kernels). Only the DataFrame API is used, so
every function works on a classic session and on Spark Connect.

One module per job: ``fitting`` (:func:`fit`, :func:`fit_distributed`; how DSGD runs on
Spark is described there), ``model`` (:class:`SparkSVD`, a model kept on the executors),
``convert`` (:func:`to_spark_factors`, :func:`from_als`), ``topn``
(:func:`recommend_for_all_users`, :func:`recommend_for_users`, :func:`similar_items_all`),
``_common`` (helpers shared by the jobs, and Spark's limits: every job sizes what it sends
before it runs and raises :class:`SparkLimitError` naming the setting to raise or the
parameter to change). The cost model is in ``bench/SPARK.md``.
"""

from ._common import (
    MIN_BLOCK_RATINGS,
    SparkLimitError,
    SparkLimits,
    _partition_keys,  # noqa: F401 (used by bench/bench_spark.py)
    default_n_blocks,
    session_limits,
    task_slots,
)
from .als import fit_als
from .convert import SparkFactors, from_als, to_spark_factors
from .fitting import fit, fit_distributed
from .model import SparkSVD
from .topn import recommend_for_all_users, recommend_for_users, similar_items_all

__all__ = [
    "MIN_BLOCK_RATINGS",
    "SparkFactors",
    "SparkLimitError",
    "SparkLimits",
    "SparkSVD",
    "default_n_blocks",
    "fit",
    "fit_als",
    "fit_distributed",
    "from_als",
    "recommend_for_all_users",
    "recommend_for_users",
    "session_limits",
    "similar_items_all",
    "task_slots",
    "to_spark_factors",
]
