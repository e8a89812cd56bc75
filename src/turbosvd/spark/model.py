"""A DSGD-trained model whose factors stay on the executors: ``SparkSVD``
(what ``turbosvd.spark.fit_distributed`` returns)."""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..prediction_algorithms.matrix_factorization import SVD
from ..trainset import Trainset
from . import _dsgd_jobs as jobs
from ._common import _Clock, check_batch, check_result
from ._dist_topn import recommend_distributed, similar_distributed

__all__ = ["KEEP_RATINGS_MAX", "SparkSVD"]

# fit(keep_ratings=None) collects the ratings up to this many (16 bytes each: 160 MB).
KEEP_RATINGS_MAX = 10_000_000


class SparkSVD:
    """A trained ``SVD`` held by Spark: ``2 d`` factor rows on the executors.

    Made by :func:`turbosvd.spark.fit_distributed`. Nothing proportional to users x
    factors or to the ratings is on the driver (only the id maps and the grid). Holds
    cached data on the executors (the factors and the packed ratings, used to exclude
    seen items): call :meth:`unpersist` when done.

    Attributes
    ----------
    n_users, n_items, n_factors, n_ratings : int
    global_mean : float
    biased : bool
    dtype : numpy.dtype
        The factors' type (float32 unless ``dtype=np.float64`` was given).
    trainset : Trainset
        The id maps, counts, rating scale and mean, without the ratings.
    """

    is_distributed = True

    def __init__(self, *, spark, factors, blocks, base, rated, id_frames, grid, trainset,
                 n_ratings, svd_params, dtype, keys, limits, keep_ratings=None):  # fmt: skip
        self._spark = spark
        self._factors = factors
        self._blocks = blocks
        self._base = base
        self._rated = rated
        self._id_frames = id_frames  # (user map, item map) DataFrames: raw id, inner, block, local
        self._grid = grid
        self.trainset = trainset
        self.n_ratings = int(n_ratings)
        self._svd_params = dict(svd_params)
        self.dtype = np.dtype(dtype)
        self._keys = keys
        self._limits = limits
        self._keep_ratings = keep_ratings
        self.n_users, self.n_items = trainset.n_users, trainset.n_items
        probe = SVD(**self._svd_params)
        self.n_factors, self.biased = int(probe.n_factors), bool(probe.biased)
        self.global_mean = float(trainset.global_mean)

    # ------------------------------------------------------------------ state
    def _check_alive(self, what: str) -> None:
        if self._factors is None:
            raise ValueError(f"{what}: this SparkSVD was unpersisted; fit it again")

    @property
    def factors(self) -> DataFrame:
        """The raw factor rows: ``side`` (0 users, 1 items), ``blk``, ``f`` and ``b`` (the
        block's factors and biases as raw bytes of ``dtype``, rows in block-local order),
        ``log`` (the tasks' timings)."""
        self._check_alive("factors")
        return self._factors

    def unpersist(self) -> None:
        """Free what the model holds on the executors (factors, packed ratings), now."""
        jobs.free_frame(self._factors, durable=True)
        for frame in (self._blocks, self._base):
            if frame is not None:
                frame.unpersist()
        self._factors = self._blocks = self._base = None

    # --------------------------------------------------------------- a local model
    def model_bytes(self) -> int:
        """Bytes of ``pu``, ``qi``, ``bu``, ``bi``: what :meth:`to_local` collects."""
        return (self.n_users + self.n_items) * (self.n_factors + 1) * self.dtype.itemsize

    def to_local(self, keep_ratings: bool = False, *, profile: list | None = None) -> SVD:
        """Collect the model to the driver as a fitted ``SVD`` (size-checked first).

        Parameters
        ----------
        keep_ratings : bool, default False
            Also collect the ratings (16 bytes each) into the trainset, read again from the
            training DataFrame's lineage, in its order (see ``fit``'s ``keep_ratings``).
        profile : list, optional
            ``{"phase": "setup", "step": "collect the factors", "s", "bytes"}`` (and
            ``"collect the ratings"``) are appended.

        Raises
        ------
        SparkLimitError
            If the factors, or the ratings, would pass ``spark.driver.maxResultSize``.
        """
        self._check_alive("to_local")
        if not isinstance(keep_ratings, bool):
            raise TypeError(f"keep_ratings must be a bool, got {keep_ratings!r}")
        fix = "keep the factors in Spark (this SparkSVD's top-N and factor DataFrames)"
        check_result(self._limits, "collecting the trained model", self.model_bytes(), fix)
        if keep_ratings:
            check_result(
                self._limits,
                f"collecting the {self.n_ratings:,} ratings into the trainset",
                self.n_ratings * 16,
                "pass keep_ratings=False (the ratings stay in Spark)",
            )
        clock = _Clock()
        k, dtype = self.n_factors, self.dtype
        pu = np.empty((self.n_users, k), dtype)
        qi = np.empty((self.n_items, k), dtype)
        bu, bi = np.empty(self.n_users, dtype), np.empty(self.n_items, dtype)
        _, received = jobs._collect_factors(self._factors, self._grid, (pu, qi, bu, bi))
        if profile is not None:
            step = {"phase": "setup", "step": "collect the factors", "s": clock.lap()}
            profile.append({**step, "bytes": received})
        ts = self.trainset
        trainset = Trainset.from_arrays(
            np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0),
            ts.raw_user_ids, ts.raw_item_ids, ts.rating_scale, global_mean=self.global_mean,
        )  # fmt: skip
        trainset.n_ratings = self.n_ratings  # the ratings stay in Spark unless keep_ratings
        if keep_ratings:
            full = self._rated.orderBy("pos").select("u", "i", "rating").toPandas()
            trainset = Trainset.from_arrays(
                full["u"].to_numpy(dtype=np.int32),
                full["i"].to_numpy(dtype=np.int32),
                full["rating"].to_numpy(dtype=np.float64),
                ts.raw_user_ids,
                ts.raw_item_ids,
                ts.rating_scale,
                global_mean=self.global_mean,
            )
            if profile is not None:
                profile.append({"phase": "setup", "step": "collect the ratings", "s": clock.lap()})
        return SVD._from_factors(trainset, pu, qi, bu, bi, **self._svd_params)

    # -------------------------------------------------------- distributed outputs
    def _ids(self, side: int) -> DataFrame:
        """One row per block of ``side``: ``blk``, ``ids`` (raw ids, block-local order) and
        ``inner`` (inner ids, the same order)."""
        frame = self._id_frames[side]
        raw, inner, blk, local = frame.columns[:4]
        extra = [c for c in frame.columns[4:] if c == "support"]
        return (
            frame.groupBy(F.col(blk).alias("blk"))
            .agg(F.sort_array(F.collect_list(F.struct(local, inner, raw, *extra))).alias("m"))
            .select(
                "blk",
                F.col("m." + raw).alias("ids"),
                F.col("m." + inner).alias("inner"),
                *[F.col("m." + c).alias(c) for c in extra],
            )  # fmt: skip
        )

    def _factor_frame(self, side: int) -> DataFrame:
        self._check_alive("user_factors / item_factors")
        id_type = self._id_frames[side].schema.fields[0].dataType
        k, dtype = self.n_factors, self.dtype.name
        row_bytes = 4 * k + 16 + 32
        grid = self._grid
        rows = max(
            [grid.n_users_in(b) for b in range(grid.n_blocks)]
            if side == 0
            else [grid.n_items_in(c) for c in range(grid.n_blocks)]
        )
        check_batch(self._limits, "the factor DataFrame", row_bytes, rows, "nothing else")
        batch = self._limits.arrow_records or rows
        schema = T.StructType(
            [
                T.StructField("id", id_type),
                T.StructField("features", T.ArrayType(T.FloatType())),
                T.StructField("bias", T.FloatType()),
            ]
        )

        def explode(batches):
            import pyarrow as pa

            for rb in batches:
                for r in range(rb.num_rows):
                    f = np.frombuffer(rb.column("f")[r].as_buffer(), dtype).reshape(-1, k)
                    b = np.frombuffer(rb.column("b")[r].as_buffer(), dtype)
                    ids = rb.column("ids")[r].values
                    f32 = np.ascontiguousarray(f, dtype=np.float32)
                    for start in range(0, len(b), batch):
                        stop = min(len(b), start + batch)
                        feats = pa.FixedSizeListArray.from_arrays(
                            pa.array(f32[start:stop].ravel()), k
                        ).cast(pa.list_(pa.float32()))
                        yield pa.RecordBatch.from_arrays(
                            [ids.slice(start, stop - start), feats,
                             pa.array(b[start:stop].astype(np.float32))],
                            names=["id", "features", "bias"],
                        )  # fmt: skip

        rows_df = self._factors.filter(F.col("side") == side).join(self._ids(side), "blk")
        return rows_df.select("f", "b", "ids").mapInArrow(explode, schema)

    def user_factors(self) -> DataFrame:
        """Users as ``ALSModel.userFactors`` plus ``bias``: ``id`` (raw), ``features``
        (array<float>), ``bias`` (float, 0 when unbiased), computed on the executors."""
        return self._factor_frame(0)

    def item_factors(self) -> DataFrame:
        """Items as ``ALSModel.itemFactors`` plus ``bias`` (see :meth:`user_factors`)."""
        return self._factor_frame(1)

    def recommend_for_all_users(
        self, n: int = 10, exclude_seen: bool = True, *, min_support: int = 0, clip: bool = True
    ) -> DataFrame:
        """The top ``n`` items of every user, computed on the executors from the factors
        where they are, seen items taken from the packed ratings on the same executors.

        Same output as :func:`turbosvd.spark.recommend_for_all_users` (``user``,
        ``recommendations`` array<struct<item, rating, rank>>), and the same rows as
        ``self.to_local(keep_ratings=True).recommend_all(n, exclude_seen,
        min_support=min_support, clip=clip)``: ``min_support`` keeps items with at least
        that many training ratings (0: all), ``clip`` shows estimates clipped to the
        rating scale (the ranking uses the unclipped ones). Each task scores in float32
        with a certificate that the rows are those of the float64 search (see
        ``RecommendMixin._top_n_single``).
        """
        self._check_alive("recommend_for_all_users")
        return recommend_distributed(self, n, exclude_seen, min_support=min_support, clip=clip)

    def recommend_for_users(
        self, users_df: DataFrame, n: int = 10, exclude_seen: bool = True, *,
        user_col: str = "user", min_support: int = 0, clip: bool = True,
    ) -> DataFrame:  # fmt: skip
        """The top ``n`` items of the users listed in ``users_df[user_col]``
        (``ALSModel.recommendForUserSubset``), as :meth:`recommend_for_all_users` gives
        them. The ids are matched to their blocks by a join on the executors (nothing is
        collected); ids not in the trainset are left out, as with ALS.
        """
        self._check_alive("recommend_for_users")
        return recommend_distributed(
            self, n, exclude_seen, min_support=min_support, clip=clip, users_df=users_df,
            user_col=user_col,
        )  # fmt: skip

    def similar_items_all(self, k: int = 10, *, min_support: int = 0) -> DataFrame:
        """For every item, the ``k`` items whose factors are most cosine-similar, on the
        executors (one task per item block, each with all item factors): ``item`` and
        ``similar`` (array<struct<item, similarity, rank>>), the same lists as
        ``self.to_local().similar_items(item, k, min_support=min_support)``."""
        self._check_alive("similar_items_all")
        return similar_distributed(self, k, min_support)
