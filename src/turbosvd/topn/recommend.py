"""Top-N methods for fitted factor models: similar items and users, and recommendations for
one user or for every user.

``RecommendMixin`` works for any model whose estimate has the form
``c[u] + b[i] + x[u] . y[i]`` (``c[u]`` not depending on the item). The model gives, once
fitted (the *top-N protocol*, see CONTRIBUTING.md):

- ``_user_vectors()``: ``x``, shape (n_users, k), float32 or float64 (SVD: ``pu``; SVD++:
  ``pu + |I_u|^-1/2 sum y_j``);
- ``_item_vectors()``: ``y``, shape (n_items, k) (SVD: ``qi``);
- ``_item_biases()``: ``b``, shape (n_items,), or None when the estimate has no item term
  (SVD: ``bi`` when ``biased``, else None);
- ``_estimate_batch(users, items)``: the model's own batch estimator (every ``AlgoBase``
  model has one), ``trainset``, ``_check_fitted`` and ``n_jobs`` (from ``AlgoBase``).

Ranking rule for recommendations: the *unclipped* estimate; what is shown is clipped to the
rating scale by default (``clip=True``, what ``predict`` shows), unclipped with
``clip=False``. For a fixed user, ``c[u]`` is a constant, so the ranking is the inner
product of ``[x[u], 1]`` with ``[y[i], b[i]]``: the inner-product top-k kernel runs on
these augmented vectors in float64 (float32 factors are widened exactly), and the reported
estimates are then recomputed by the model's own ``_estimate_batch``, so each equals
``algo.predict(uid, iid, clip=False).est`` bit for bit (and, clipped,
``algo.predict(uid, iid).est``). Rows are finally ordered by the unclipped estimate
(ties: smaller inner item id first). Similar items and users are the cosine of the item and
user vectors.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np
import pandas as pd

from .._validation import check_int
from . import search as topn
from .search import cosine_topk, inner_product_topk

__all__ = ["RecommendMixin", "candidates", "restrict_exclusions", "support_counts"]

_COLD_START = ("error", "bias")

# Per trainset: the items each user rated, as a CSR (indptr, sorted indices), with the
# trainset's revision (fold-in changes a model's trainset in place and bumps it).
_SEEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _seen_items(trainset) -> tuple[np.ndarray, np.ndarray]:
    revision = getattr(trainset, "revision", 0)
    with contextlib.suppress(KeyError, TypeError):
        cached_revision, csr = _SEEN[trainset]
        if cached_revision == revision:
            return csr
    indptr, items, _ = trainset.user_csr()
    # Each row sorted: one sort of the keys row * n_items + item (the rows are already in
    # order), a tenth of the time of a two-key lexsort.
    n_items = max(1, trainset.n_items)
    rows = np.repeat(np.arange(trainset.n_users, dtype=np.int64), np.diff(indptr))
    keys = np.sort(rows * n_items + items)
    items = keys - rows * n_items
    csr = (np.ascontiguousarray(indptr, dtype=np.int64), np.ascontiguousarray(items))
    with contextlib.suppress(TypeError):  # a trainset class without weak references
        _SEEN[trainset] = (revision, csr)
    return csr


def _twin_hint(trainset, raw_id, kind: str) -> str:
    """``" (but '196' is: ids are matched exactly)"`` when the str/int twin is known."""
    twin = trainset.id_twin(raw_id, kind) if hasattr(trainset, "id_twin") else None
    if twin is None:
        return ""
    return f" (but {twin!r} is: ids are matched exactly, pass {type(twin).__name__} ids)"


def support_counts(trainset, kind: str) -> np.ndarray:
    """Number of training ratings of every inner item (``kind='item'``) or user (int64)."""
    users, items, _ = trainset.rating_arrays()
    ids, n = (items, trainset.n_items) if kind == "item" else (users, trainset.n_users)
    return np.bincount(np.asarray(ids, dtype=np.int64), minlength=n)


def candidates(trainset, kind: str, min_support) -> np.ndarray | None:
    """Inner ids with at least ``min_support`` training ratings (None: no filter).

    Raises ``ValueError`` for a negative or non-integer ``min_support``, and when
    ``min_support > 0`` but the trainset holds no ratings (a model loaded without them).
    """
    min_support = check_int("min_support", min_support, min_value=0)
    if min_support == 0:
        return None
    if trainset.n_ratings == 0:
        raise ValueError(
            f"min_support={min_support} needs the training ratings, but the trainset holds none"
        )
    return np.flatnonzero(support_counts(trainset, kind) >= min_support)


def restrict_exclusions(ptr: np.ndarray, idx: np.ndarray, cand: np.ndarray, n: int):
    """A CSR of excluded ids renumbered to positions in ``cand`` (ids not in it dropped)."""
    pos = np.full(n, -1, dtype=np.int64)
    pos[cand] = np.arange(len(cand))
    mapped = pos[idx]
    keep = mapped >= 0
    rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    counts = np.bincount(rows[keep], minlength=len(ptr) - 1)
    new_ptr = np.zeros(len(ptr), dtype=np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    return new_ptr, np.ascontiguousarray(mapped[keep])


class RecommendMixin:
    """Similar items/users and top-N recommendations for factor models (see the module notes)."""

    # ------------------------------------------------------------------ similarity
    def similar_items(
        self, raw_iid, k: int = 10, *, min_support: int = 0
    ) -> list[tuple[object, float]]:
        """The ``k`` items whose factor vectors ``qi`` are most cosine-similar to an item's.

        Parameters
        ----------
        raw_iid : hashable
            Raw id of an item of the trainset.
        k : int, default 10
            Number of neighbours (>= 1); clamped to the number of other items.
        min_support : int, default 0
            Only items with at least this many training ratings are candidates (the query
            item itself may have fewer). The default 0 keeps every item. Rarely rated items
            have factors close to their random start and can dominate cosine lists; 5 to 20
            is a sensible value on MovieLens.

        Returns
        -------
        list of (raw item id, cosine similarity)
            Best first, ties broken by the smaller inner id; the item itself is excluded.

        Raises
        ------
        ValueError
            If ``raw_iid`` is not an item of the trainset.
        """
        self._check_fitted("similar_items")
        inner = self._inner_id(raw_iid, "item")
        cand = candidates(self.trainset, "item", min_support)
        return self._similar(self._item_vectors(), inner, k, self.trainset.raw_item_ids, cand)

    def similar_users(
        self, raw_uid, k: int = 10, *, min_support: int = 0
    ) -> list[tuple[object, float]]:
        """The ``k`` users whose factor vectors ``pu`` are most cosine-similar to a user's.

        Same conventions as :meth:`similar_items`, over users (``min_support``: minimum
        number of training ratings of a candidate user).
        """
        self._check_fitted("similar_users")
        inner = self._inner_id(raw_uid, "user")
        cand = candidates(self.trainset, "user", min_support)
        return self._similar(self._user_vectors(), inner, k, self.trainset.raw_user_ids, cand)

    def _similar(self, factors, inner: int, k, raw_ids, cand=None) -> list[tuple[object, float]]:
        k = check_int("k", k, min_value=1)
        factors = np.ascontiguousarray(factors)
        exclude_ptr, exclude_idx = np.array([0, 1]), np.array([inner])
        Y = factors
        if cand is not None:
            exclude_ptr, exclude_idx = restrict_exclusions(
                exclude_ptr, exclude_idx, cand, len(factors)
            )
            Y = np.ascontiguousarray(factors[cand])
        idx, scores = cosine_topk(
            factors[inner : inner + 1],
            k,
            Y=Y,
            exclude=(exclude_ptr, exclude_idx),
            num_threads=self._topn_threads(),
        )
        valid = idx[0] >= 0
        found = idx[0][valid] if cand is None else cand[idx[0][valid]]
        return list(zip(raw_ids[found].tolist(), scores[0][valid].tolist(), strict=True))

    # ------------------------------------------------------------- recommendations
    def recommend(
        self,
        raw_uid,
        n: int = 10,
        exclude_seen: bool = True,
        *,
        cold_start: str = "error",
        min_support: int = 0,
        clip: bool = True,
    ) -> list[tuple[object, float]]:
        """The ``n`` items with the highest estimated rating for one user.

        Parameters
        ----------
        raw_uid : hashable
            Raw user id.
        n : int, default 10
            Number of recommendations (>= 1); clamped to the number of candidate items.
        exclude_seen : bool, default True
            Leave out the items the user rated in the trainset.
        cold_start : {'error', 'bias'}, default 'error'
            What to do for a user who is not in the trainset. ``'error'`` raises
            ``ValueError``. ``'bias'`` ranks items by ``mu + bi[i]``, which is exactly what
            ``predict`` estimates for an unknown user (biased models only: an unbiased
            model cannot estimate anything for an unknown user, so it raises).
        min_support : int, default 0
            Only items with at least this many training ratings are recommended. The
            default 0 keeps every item.
        clip : bool, default True
            Show estimates clipped to the rating scale, as ``predict`` does (the ranking
            always uses the unclipped estimate, so items estimated above the scale keep
            their order). False shows the unclipped estimates.

        Returns
        -------
        list of (raw item id, estimate)
            Best first (by the unclipped estimate). The estimate equals
            ``self.predict(raw_uid, raw_iid, clip=clip).est``.
        """
        self._check_fitted("recommend")
        n = check_int("n", n, min_value=1)
        if cold_start not in _COLD_START:
            raise ValueError(f"cold_start={cold_start!r} is not one of {_COLD_START}")
        trainset = self.trainset
        cand = candidates(trainset, "item", min_support)
        inner = int(trainset.inner_uids([raw_uid])[0])
        if inner < 0:
            if cold_start == "error":
                hint = _twin_hint(trainset, raw_uid, "user")
                raise ValueError(
                    f"user {raw_uid!r} is not part of the trainset{hint}; "
                    "pass cold_start='bias' to rank items by mu + bi (the estimate predict() "
                    "gives an unknown user)"
                )
            items, est = self._cold_start(n, cand)
        else:
            users = np.array([inner])
            _, items, est = self._top_n(users, n, exclude_seen, cand=cand)
            items, est = items[0], est[0]
        valid = items >= 0
        est = self._shown(est[valid], clip)
        return list(zip(trainset.raw_item_ids[items[valid]].tolist(), est.tolist(), strict=True))

    def recommend_all(
        self,
        n: int = 10,
        exclude_seen: bool = True,
        *,
        min_support: int = 0,
        clip: bool = True,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """The top ``n`` recommendations of every user of the trainset, as one table.

        Computed by one compiled top-k search over all users (no Python loop over users).

        Parameters
        ----------
        n : int, default 10
            Recommendations per user (>= 1); clamped to the number of items.
        exclude_seen : bool, default True
            Leave out the items each user rated in the trainset.
        min_support : int, default 0
            Only items with at least this many training ratings are recommended (0: all).
        clip : bool, default True
            ``estimate`` clipped to the rating scale, as ``predict`` shows it; the ranking
            uses the unclipped estimate either way. False: the unclipped estimates.
        progress : bool or None, default None
            A progress bar on stderr while searching. None: when stderr is a terminal or
            ``verbose`` is set, for searches lasting over a second. True: always. False:
            never.

        Returns
        -------
        pandas.DataFrame
            Columns ``user`` and ``item`` (raw ids), ``estimate`` (equal to
            ``predict(user, item, clip=clip).est``) and ``rank`` (1 = best, by the
            unclipped estimate). Users in inner-id
            order, then by rank. A user with fewer than ``n`` unseen items gets fewer rows.
        """
        self._check_fitted("recommend_all")
        n = check_int("n", n, min_value=1)
        trainset = self.trainset
        cand = candidates(trainset, "item", min_support)
        users = np.arange(trainset.n_users)
        rows, items, est = self._top_n(users, n, exclude_seen, progress=progress, cand=cand)
        valid = items >= 0
        ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape)
        # Raw ids gathered through an Index: pandas infers the column's dtype once per id,
        # not once per row (a third of the call on MovieLens 100k's string ids).
        user_ids, item_ids = pd.Index(trainset.raw_user_ids), pd.Index(trainset.raw_item_ids)
        return pd.DataFrame(
            {
                "user": user_ids.take(np.broadcast_to(rows[:, None], items.shape)[valid]),
                "item": item_ids.take(items[valid]),
                "estimate": self._shown(est[valid], clip),
                "rank": ranks[valid].astype(np.int64),
            }
        )

    # ------------------------------------------------------------------ internals
    def _topn_threads(self):
        """The searches' ``num_threads``: the model's ``n_jobs`` as given, so that with the
        default (None) the search sizes its team by the work (see ``topn.search``)."""
        return getattr(self, "n_jobs", None)

    def _shown(self, est: np.ndarray, clip) -> np.ndarray:
        """The estimates shown to users: clipped to the rating scale unless ``clip`` is False."""
        if not isinstance(clip, (bool, np.bool_)):
            raise TypeError(f"clip must be a bool, got {clip!r}")
        if not clip:
            return est
        lo, hi = self.trainset.rating_scale
        return np.minimum(np.maximum(est, float(lo)), float(hi))

    def _inner_id(self, raw_id, kind: str) -> int:
        ts = self.trainset
        inner = int((ts.inner_iids if kind == "item" else ts.inner_uids)([raw_id])[0])
        if inner < 0:
            raise ValueError(
                f"{kind} {raw_id!r} is not part of the trainset{_twin_hint(ts, raw_id, kind)}"
            )
        return inner

    def _augmented(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """User and item vectors whose inner product ranks items like the estimate."""
        pu = np.asarray(self._user_vectors(), dtype=np.float64)[users]
        qi = np.asarray(self._item_vectors(), dtype=np.float64)
        bi = self._item_biases()
        if bi is None:
            return np.ascontiguousarray(pu), np.ascontiguousarray(qi)
        x = np.empty((len(users), pu.shape[1] + 1))
        x[:, :-1] = pu
        x[:, -1] = 1.0
        y = np.empty((qi.shape[0], qi.shape[1] + 1))
        y[:, :-1] = qi
        y[:, -1] = np.asarray(bi, dtype=np.float64)
        return x, y

    def _top_n(self, users: np.ndarray, n: int, exclude_seen: bool, progress=False, cand=None):
        """(users, items, estimates) of shape (len(users), n') for known inner users.

        ``cand``: the candidate inner items (None: all).
        """
        x, y = self._augmented(users)
        exclude = None
        if exclude_seen:
            indptr, indices = _seen_items(self.trainset)
            if len(users) == self.trainset.n_users:
                exclude = (indptr, indices)
            else:  # the rows of some users: gather their slices
                starts, lengths = indptr[users], indptr[users + 1] - indptr[users]
                sub_ptr = np.concatenate(([0], np.cumsum(lengths)))
                take = np.repeat(starts - sub_ptr[:-1], lengths) + np.arange(sub_ptr[-1])
                exclude = (sub_ptr, indices[take])
        if cand is not None:
            y = np.ascontiguousarray(y[cand])
            if exclude is not None:
                exclude = restrict_exclusions(*exclude, cand, self.trainset.n_items)
        verbose = bool(getattr(self, "verbose", False))
        items, _ = topn._topk(
            x, n, y, normalize=False, exclude=exclude, num_threads=self._topn_threads(),
            progress=progress, verbose=verbose,
        )  # fmt: skip
        if cand is not None:
            items = np.where(items >= 0, cand[np.maximum(items, 0)], -1)
        items, est = self._exact_estimates(users, items)
        return users, items, est

    def _top_n_single(self, users: np.ndarray, n: int, exclude_seen: bool, cand=None):
        """``_top_n`` with the search scored in float32, same results bit for bit.

        For float32 factors (else this is ``_top_n``): the compiled search runs on float32
        augmented vectors (no float64 copy of the items; half the bytes streamed) for the
        best ``n' = 2 n + 16`` items of every user; their estimates are then computed by
        ``_estimate_batch`` (float64) and sorted as ``_top_n`` sorts them. A user's rows are
        kept only when rounding provably cannot change them: with ``e32`` and ``e64``
        bounds on the float32 and float64 scores' errors (``gamma_m * ||x_u|| * max ||y||``
        with ``m`` the vector length, and the estimate's own additions), the ``n``-th
        estimate must beat the ``(n + 1)``-th by more than ``2 (e64 + e_est)`` (so the float64
        search ``_top_n`` runs would rank the same ``n`` first), and every kept item's
        float32 score must beat the ``n'``-th one by more than ``2 (e32 + e64)`` (so no item
        the float32 search left out could enter). Users that fail (ties, near-ties, non
        finite values) are searched again by ``_top_n`` itself. Used by the Spark top-N.
        """
        x = np.asarray(self._user_vectors())
        y = np.asarray(self._item_vectors())
        n_cand = y.shape[0] if cand is None else len(cand)
        if x.dtype != np.float32 or y.dtype != np.float32 or len(users) == 0 or n_cand == 0:
            return self._top_n(users, n, exclude_seen, cand=cand)
        bi = self._item_biases()
        exclude = None
        if exclude_seen:
            indptr, indices = _seen_items(self.trainset)
            starts, lengths = indptr[users], indptr[users + 1] - indptr[users]
            sub_ptr = np.concatenate(([0], np.cumsum(lengths)))
            take = np.repeat(starts - sub_ptr[:-1], lengths) + np.arange(sub_ptr[-1])
            exclude = (sub_ptr, indices[take])
        y_aug = y if cand is None else y[cand]
        bi_c = None if bi is None else np.asarray(bi, dtype=np.float32)
        if bi_c is not None:
            bi_c = bi_c if cand is None else bi_c[cand]
            y_aug = np.concatenate((y_aug, bi_c[:, None]), axis=1)
            x_aug = np.empty((len(users), x.shape[1] + 1), dtype=np.float32)
            x_aug[:, :-1] = x[users]
            x_aug[:, -1] = 1.0
        else:
            x_aug = x[users]
        y_aug = np.ascontiguousarray(y_aug)
        if exclude is not None and cand is not None:
            exclude = restrict_exclusions(*exclude, cand, self.trainset.n_items)
        width = min(n, n_cand)
        wide = min(2 * n + 16, n_cand)
        idx, s32 = topn._topk(
            x_aug, wide, y_aug, normalize=False, exclude=exclude,
            num_threads=self._topn_threads(), progress=False,
        )  # fmt: skip
        if cand is not None:
            idx = np.where(idx >= 0, cand[np.maximum(idx, 0)], -1)
        items, est, order = self._exact_estimates(users, idx, with_order=True)
        s32 = s32.astype(np.float64)
        s_sorted = np.where(items >= 0, np.take_along_axis(s32, order, 1), np.inf)
        # Error bounds (generous: twice the classical gamma_m bounds).
        m = x_aug.shape[1]
        u32, u64 = 2.0**-24, 2.0**-53
        gamma32 = (m + 1) * u32 / (1 - (m + 1) * u32)
        gamma64 = (m + 4) * u64 / (1 - (m + 4) * u64)
        norm_x = np.linalg.norm(x_aug.astype(np.float64), axis=1)
        norm_y = float(np.linalg.norm(y_aug.astype(np.float64), axis=1).max(initial=0.0))
        dots = norm_x * norm_y * (1 + 1e-6)
        valid = items >= 0
        top_est = np.where(valid, np.abs(est), 0.0).max(axis=1, initial=0.0)
        e32 = 2 * gamma32 * dots
        e64 = 2 * gamma64 * (top_est + 2 * dots)  # the search's and the estimate's
        n_valid = valid.sum(axis=1)
        ok = np.isfinite(norm_x) & np.isfinite(norm_y) & np.isfinite(top_est)
        if width < wide:
            # The n-th and (n + 1)-th estimates (both valid when n_valid > width).
            more = n_valid > width
            gap = np.where(more, est[:, width - 1] - np.where(more, est[:, width], 0.0), 1.0)
            ok &= ~more | (gap > 2 * e64)
        # Items left out of the float32 search (when it returned `wide` of them): each
        # scored at most the last kept one's float32 score.
        kept_min = np.where(valid[:, :width], s_sorted[:, :width], np.inf).min(axis=1)
        if wide < n_cand:
            last = np.where(n_valid >= wide, s32[:, wide - 1], -np.inf)
            ok &= (n_valid < wide) | (kept_min - last > 2 * (e32 + e64))
        items, est = items[:, :width].copy(), est[:, :width].copy()
        redo = np.flatnonzero(~ok)
        if len(redo):
            _, items[redo], est[redo] = self._top_n(users[redo], n, exclude_seen, cand=cand)
        return users, items, est

    def _exact_estimates(self, users: np.ndarray, items: np.ndarray, with_order=False):
        """(items, estimates): predict()'s unclipped estimates, each row re-sorted by them
        (and the permutation of each row, with ``with_order``)."""
        est = np.full(items.shape, -np.inf)
        valid = items >= 0
        u = np.broadcast_to(np.asarray(users)[:, None], items.shape)
        if valid.any():
            e, _ = self._estimate_batch(u[valid].astype(np.int32), items[valid].astype(np.int32))
            est[valid] = e
        # The kernel ranked by a sum in another order: differences are last-bit rounding,
        # re-sort so that the reported estimates never increase along a row.
        order = np.lexsort((np.where(valid, items, np.iinfo(np.int64).max), -est), axis=-1)
        out = np.take_along_axis(items, order, -1), np.take_along_axis(est, order, -1)
        return (*out, order) if with_order else out

    def _cold_start(self, n: int, cand=None):
        bi = self._item_biases()
        if bi is None:
            raise ValueError(
                "cannot recommend to an unknown user with an unbiased model: "
                "every estimate is impossible (biased=False)"
            )
        bi = np.asarray(bi, dtype=np.float64)[:, None]
        bi = np.ascontiguousarray(bi if cand is None else bi[cand])
        items, _ = inner_product_topk(np.ones((1, 1)), n, Y=bi, num_threads=self._topn_threads())
        if cand is not None:
            items = np.where(items >= 0, cand[np.maximum(items, 0)], -1)
        users = np.array([-1])
        items, est = self._exact_estimates(users, items)
        return items[0], est[0]
