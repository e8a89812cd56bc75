"""turbosvd on Apache Spark: distributed training (DSGD), converters, distributed top-N.

Needs the optional extra ``pip install turbosvd[spark]`` (``pyspark>=3.5`` and ``pyarrow``),
and turbosvd installed on the executors too (the tasks run its compiled kernels). Only
the DataFrame API is used (no RDD, no ``SparkContext``, no broadcast variables), so every
function works on a classic session and on Spark Connect.

Training (:func:`fit`) is DSGD (Gemulla et al., KDD 2011) over a ``d x d`` grid of user
blocks x item blocks, see ``turbosvd.train.dsgd``:

1. The ratings get inner ids numbered by first appearance (as ``Dataset.load_from_df``
   numbers them) and are cut into the grid. Each block is packed **once** into one row
   (its ratings as the compiled kernel's blocked layout, raw bytes), and the packed blocks
   are repartitioned so that the ``d`` blocks of user block ``b`` live in partition ``b``,
   then persisted. They never move again.
2. The model lives on the executors. The driver draws the initial factors (the same draws
   as ``SVD``) and ships them **once** as ``2 d`` factor rows: one per user block (its
   ``pu``, ``bu`` as raw bytes) and one per item block (``qi``, ``bi``).
3. Sub-epoch ``s`` trains the stratum ``{(b, (b + s) mod d)}``: every item-factor row is
   keyed by the user block it meets, the factor rows are cogrouped with the stratum's
   packed blocks by that key (the packed side is already partitioned that way, so only
   the ``2 d`` factor rows are shuffled), each task runs one block through the compiled
   blocked kernel (multi-threaded with the task's ``spark.task.cpus``) and returns its two
   factor rows, trained. The result is cut from its lineage with
   ``localCheckpoint(eager=True)`` (one job per sub-epoch, plans do not grow) and the
   driver drops its reference to the previous checkpoint, which Spark then frees (a
   checkpoint is not released by ``unpersist``: on a classic session its context
   cleaner frees it after the driver's JVM collects it, on Spark Connect the server
   does once the client's DataFrame is gone).
4. After the last epoch the driver collects the ``2 d`` rows once, checks that every block
   came back exactly once, and assembles ``pu``, ``qi``, ``bu``, ``bi``.

Per epoch every packed block is read once from the executors' cache (so the ratings
once in all), ``d`` jobs run, and no factor passes through the driver: each sub-epoch
moves the item factors (``|qi|`` in all) from executor to executor, while a user block's
factors are written and read back by the executor that holds its ratings. The cost model
and its limits at scale are in ``bench/SPARK.md``.
"""

from ._common import (
    MIN_BLOCK_RATINGS,
    _partition_keys,  # noqa: F401 (used by bench/bench_spark.py)
    default_n_blocks,
)
from .als import fit_als
from .convert import SparkFactors, from_als, to_spark_factors
from .fitting import fit
from .topn import recommend_for_all_users, recommend_for_users, similar_items_all

__all__ = [
    "MIN_BLOCK_RATINGS",
    "SparkFactors",
    "default_n_blocks",
    "fit",
    "fit_als",
    "from_als",
    "recommend_for_all_users",
    "recommend_for_users",
    "similar_items_all",
    "to_spark_factors",
]
