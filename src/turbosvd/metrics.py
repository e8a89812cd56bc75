"""Ranking metrics for top-N recommendation: precision@k, recall@k, NDCG@k, MAP@k, hit rate
and catalogue coverage.

Every function accepts one of two inputs, ``top``:

**A list of predictions** (``algo.test(testset)``: ``(uid, iid, r_ui, est, details)``
tuples). Each user's predictions are ranked by ``est``, highest first; equal estimates keep
their order in the list (Python's stable sort, as in Surprise's FAQ). The top-k list of a
user is the first ``k`` of that ranking, and an item is *relevant* when its true rating
``r_ui >= threshold``. Every metric below uses the ranking alone (no estimate threshold),
over the users with at least one relevant prediction (for the others they are undefined).

Surprise's FAQ defines precision and recall differently, and has its own names here:
``precision_recall_at_k`` (the FAQ's per-user dicts) and ``faq_precision_at_k`` /
``faq_recall_at_k`` (their means over every user present in the predictions). In the FAQ
an item of the top-k list counts as *recommended* only if ``est >= threshold``:

- FAQ precision@k = #(relevant and recommended in top k) / #(recommended in top k), 0 if
  none is recommended;
- FAQ recall@k = #(relevant and recommended in top k) / #(relevant), 0 if none is relevant.

(``precision_at_k`` of earlier versions returned the FAQ's value for a predictions list and
the ranking value for a DataFrame; it now has the ranking definition for both.)

**A DataFrame of recommendations** (``algo.recommend_all(n)``: columns ``user``, ``item`` and
``rank``, or ``estimate`` to rank by, highest first), with ``truth``: the held-out
ratings, as a testset (``(uid, iid, r)`` tuples, or predictions) or a DataFrame with columns
``user``, ``item``, ``rating``. Relevant = a held-out rating ``>= threshold``; a
recommended item without a held-out rating is not relevant. The averages run over the
users having at least one relevant held-out item (a user without recommendations counts
with an empty list).

Definitions for both inputs (binary gains, ``rel(p)`` = 1 if the item at position ``p`` is relevant,
``n_rel`` = the user's number of relevant items):

- precision@k = #(relevant in top k) / k;  recall@k = #(relevant in top k) / #(relevant);
- NDCG@k = DCG / IDCG, DCG = sum_{p <= k} rel(p) / log2(p + 1), IDCG the same for the ideal
  list (min(k, n_rel) relevant items first);
- MAP@k = mean over users of AP@k = sum_{p <= k} rel(p) * precision@p / min(k, n_rel);
- hit rate@k = fraction of users with at least one relevant item in the top k;
- coverage@k = #(distinct items in any user's top k) / n_items (``n_items`` defaults, for
  predictions, to the number of distinct items in them; it is required for DataFrames).

The default ``threshold=3.5`` is the FAQ's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_int, check_real

__all__ = [
    "coverage",
    "faq_precision_at_k",
    "faq_recall_at_k",
    "hit_rate",
    "map_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "precision_recall_at_k",
    "ranking_metrics",
    "recall_at_k",
]


def precision_recall_at_k(predictions, k: int = 10, threshold: float = 3.5) -> tuple[dict, dict]:
    """Per-user precision@k and recall@k, exactly as Surprise's FAQ computes them.

    Returns
    -------
    (precisions, recalls) : tuple of dict
        Raw user id -> value, users in order of first appearance.
    """
    r = _from_predictions(predictions, k, threshold)
    users = r.user_ids.tolist()
    return (
        dict(zip(users, r.faq_precision().tolist(), strict=True)),
        dict(zip(users, r.faq_recall().tolist(), strict=True)),
    )


def faq_precision_at_k(predictions, k: int = 10, threshold: float = 3.5) -> float:
    """Mean of Surprise FAQ's per-user precision@k (``precision_recall_at_k``), all users.

    Predictions only: the FAQ's "recommended" needs ``est >= threshold``.
    """
    return _mean(_faq_ranking(predictions, k, threshold).faq_precision())


def faq_recall_at_k(predictions, k: int = 10, threshold: float = 3.5) -> float:
    """Mean of Surprise FAQ's per-user recall@k (``precision_recall_at_k``), all users."""
    return _mean(_faq_ranking(predictions, k, threshold).faq_recall())


def _faq_ranking(predictions, k, threshold) -> _Ranking:
    if isinstance(predictions, pd.DataFrame):
        raise ValueError(
            "the FAQ's precision/recall need predictions (est and r_ui), not a "
            "recommendation DataFrame: use precision_at_k / recall_at_k"
        )
    return _from_predictions(predictions, k, threshold)


def precision_at_k(top, k: int = 10, threshold: float = 3.5, *, truth=None) -> float:
    """Mean precision@k = #(relevant in top k) / k, over users with a relevant item.

    The same definition for a predictions list and a recommendation DataFrame (module
    docstring); Surprise FAQ's precision is :func:`faq_precision_at_k`.
    """
    r = _ranked(top, k, threshold, truth)
    return _mean(r.hits()[r.evaluated] / k)


def recall_at_k(top, k: int = 10, threshold: float = 3.5, *, truth=None) -> float:
    """Mean recall@k = #(relevant in top k) / #(relevant), over users with a relevant item.

    Surprise FAQ's recall is :func:`faq_recall_at_k`.
    """
    r = _ranked(top, k, threshold, truth)
    return _mean(r.hits()[r.evaluated] / r.n_rel[r.evaluated])


def ndcg_at_k(top, k: int = 10, threshold: float = 3.5, *, truth=None) -> float:
    """Mean NDCG@k with binary relevance, over users with a relevant item."""
    r = _ranked(top, k, threshold, truth)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = np.bincount(r.top_user, weights=r.top_rel * discount[r.top_pos], minlength=r.n_users)
    ideal = np.concatenate(([0.0], np.cumsum(discount)))[np.minimum(r.n_rel, k)]
    ev = r.evaluated
    return _mean(dcg[ev] / ideal[ev])


def map_at_k(top, k: int = 10, threshold: float = 3.5, *, truth=None) -> float:
    """Mean average precision at k, over users with a relevant item."""
    r = _ranked(top, k, threshold, truth)
    # precision@p at each relevant position p: (relevant items up to p) / p.
    rel = r.top_rel.astype(np.float64)
    order = np.lexsort((r.top_pos, r.top_user))
    user, pos, rel = r.top_user[order], r.top_pos[order], rel[order]
    cum = np.cumsum(rel)
    start = np.concatenate(([0], np.cumsum(np.bincount(user, minlength=r.n_users))))[user]
    before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    prec_at_p = (cum - before) / (pos + 1)
    ap = np.bincount(user, weights=rel * prec_at_p, minlength=r.n_users)
    ev = r.evaluated
    return _mean(ap[ev] / np.minimum(r.n_rel[ev], k))


def hit_rate(top, k: int = 10, threshold: float = 3.5, *, truth=None) -> float:
    """Fraction of users (with a relevant item) having a relevant item in their top k."""
    r = _ranked(top, k, threshold, truth)
    return _mean((r.hits()[r.evaluated] > 0).astype(np.float64))


def coverage(top, k: int = 10, *, n_items: int | None = None) -> float:
    """Fraction of the catalogue (``n_items`` items) appearing in some user's top k."""
    r = _ranked(top, k, 0.0, _NO_TRUTH if isinstance(top, pd.DataFrame) else None)
    if n_items is None:
        if r.n_catalogue is None:
            raise ValueError(
                "coverage of a recommendation DataFrame needs n_items (e.g. trainset.n_items)"
            )
        n_items = r.n_catalogue
    n_items = check_int("n_items", n_items, min_value=1)
    return len(np.unique(r.top_item)) / n_items


def ranking_metrics(
    top, k: int = 10, threshold: float = 3.5, *, truth=None, n_items: int | None = None
) -> dict:
    """All the metrics above at once, as a dict (``coverage`` only when computable)."""
    out = {
        "precision": precision_at_k(top, k, threshold, truth=truth),
        "recall": recall_at_k(top, k, threshold, truth=truth),
        "ndcg": ndcg_at_k(top, k, threshold, truth=truth),
        "map": map_at_k(top, k, threshold, truth=truth),
        "hit_rate": hit_rate(top, k, threshold, truth=truth),
    }
    if n_items is not None or not isinstance(top, pd.DataFrame):
        out["coverage"] = coverage(top, k, n_items=n_items)
    return out


# ----------------------------------------------------------------------- internals
_NO_TRUTH = object()


class _Ranking:
    """The top-k entries of every user, as flat arrays (user code, position, relevance)."""

    def __init__(
        self, user_ids, n_rel, top_user, top_pos, top_rel, top_item, top_rec=None, n_catalogue=None
    ):
        self.user_ids = user_ids
        self.n_users = len(user_ids)
        self.n_rel = n_rel
        self.top_user = top_user
        self.top_pos = top_pos
        self.top_rel = top_rel
        self.top_item = top_item
        self.top_rec = top_rec
        self.faq = top_rec is not None
        self.n_catalogue = n_catalogue
        self.evaluated = n_rel > 0

    def hits(self) -> np.ndarray:
        return np.bincount(self.top_user, weights=self.top_rel, minlength=self.n_users)

    def faq_precision(self) -> np.ndarray:
        n_rec = np.bincount(self.top_user, weights=self.top_rec, minlength=self.n_users)
        both = np.bincount(
            self.top_user, weights=self.top_rec & self.top_rel, minlength=self.n_users
        )
        return np.divide(both, n_rec, out=np.zeros(self.n_users), where=n_rec != 0)

    def faq_recall(self) -> np.ndarray:
        both = np.bincount(
            self.top_user, weights=self.top_rec & self.top_rel, minlength=self.n_users
        )
        return np.divide(both, self.n_rel, out=np.zeros(self.n_users), where=self.n_rel != 0)


def _mean(values: np.ndarray) -> float:
    if len(values) == 0:
        raise ValueError("no user to evaluate: no user has a relevant item (rating >= threshold)")
    return float(np.mean(values))


def _check_k_threshold(k, threshold):
    k = check_int("k", k, min_value=1)
    threshold = check_real("threshold", threshold)
    return k, threshold


def _ranked(top, k, threshold, truth) -> _Ranking:
    if isinstance(top, pd.DataFrame):
        if truth is None:
            raise ValueError(
                "metrics of a recommendation DataFrame need truth=: the held-out ratings "
                "(a testset or a DataFrame with columns user, item, rating)"
            )
        return _from_frame(top, k, threshold, None if truth is _NO_TRUTH else truth)
    if truth is not None:
        raise ValueError("truth= is only used with a recommendation DataFrame")
    return _from_predictions(top, k, threshold)


def _from_predictions(predictions, k, threshold) -> _Ranking:
    k, threshold = _check_k_threshold(k, threshold)
    if isinstance(predictions, (pd.DataFrame, str)):
        raise TypeError("predictions must be a list of predictions, e.g. from algo.test()")
    predictions = list(predictions)
    if not predictions:
        raise ValueError("Prediction list is empty.")
    uids, iids, true, est = [], [], [], []
    for p in predictions:
        uids.append(p[0])
        iids.append(p[1])
        true.append(p[2])
        est.append(p[3])
    if any(t is None for t in true):
        raise TypeError(
            "a prediction has no true rating (r_ui is None): ranking metrics need predictions "
            "made with r_ui, e.g. from algo.test(testset)"
        )
    codes, user_ids = pd.factorize(pd.Series(uids, dtype=object), sort=False)
    item_codes, item_ids = pd.factorize(pd.Series(iids, dtype=object), sort=False)
    true = np.asarray(true, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    n = len(codes)
    # Group by user, est descending, ties in list order (a stable sort, like the FAQ's).
    order = np.lexsort((np.arange(n), -est, codes))
    sorted_codes = codes[order]
    group_start = np.searchsorted(sorted_codes, sorted_codes, side="left")
    pos = np.arange(n) - group_start
    keep = order[pos < k]
    rel = true >= threshold
    return _Ranking(
        np.asarray(user_ids, dtype=object),
        np.bincount(codes, weights=rel, minlength=len(user_ids)).astype(np.int64),
        codes[keep],
        pos[pos < k],
        rel[keep],
        item_codes[keep],
        top_rec=est[keep] >= threshold,
        n_catalogue=len(item_ids),
    )


def _truth_frame(truth) -> pd.DataFrame:
    if isinstance(truth, pd.DataFrame):
        missing = {"user", "item", "rating"} - set(truth.columns)
        if missing:
            raise ValueError(f"truth DataFrame lacks columns {sorted(missing)}")
        return truth[["user", "item", "rating"]]
    rows = [(t[0], t[1], t[2]) for t in truth]
    if not rows:
        raise ValueError("truth is empty")
    return pd.DataFrame(rows, columns=["user", "item", "rating"])


def _from_frame(recs: pd.DataFrame, k, threshold, truth) -> _Ranking:
    k, threshold = _check_k_threshold(k, threshold)
    missing = {"user", "item"} - set(recs.columns)
    if missing:
        raise ValueError(f"the recommendation DataFrame lacks columns {sorted(missing)}")
    if "rank" in recs.columns:
        rank = recs["rank"].to_numpy()
        if len(rank) and (not np.issubdtype(rank.dtype, np.integer) or rank.min() < 1):
            raise ValueError("the rank column must hold integers >= 1")
        pos = rank.astype(np.int64) - 1
    elif "estimate" in recs.columns:
        codes = pd.factorize(recs["user"])[0]
        est = recs["estimate"].to_numpy(dtype=np.float64)
        order = np.lexsort((np.arange(len(recs)), -est, codes))
        group_start = np.searchsorted(codes[order], codes[order], side="left")
        pos = np.empty(len(recs), dtype=np.int64)
        pos[order] = np.arange(len(recs)) - group_start
    else:
        raise ValueError("the recommendation DataFrame needs a rank or an estimate column")
    top = recs.loc[pos < k, ["user", "item"]]
    top_pos = pos[pos < k]
    if truth is None:  # coverage only
        item_codes = pd.factorize(top["item"])[0]
        z = np.zeros(len(top), dtype=np.int64)
        return _Ranking(
            np.array([None], dtype=object),
            np.zeros(1, np.int64),
            z,
            top_pos,
            z.astype(bool),
            item_codes,
        )
    t = _truth_frame(truth)
    relevant = t.loc[t["rating"].to_numpy(dtype=np.float64) >= threshold, ["user", "item"]]
    relevant = relevant.drop_duplicates()
    users, user_ids = pd.factorize(
        pd.concat([relevant["user"], top["user"]], ignore_index=True), sort=False
    )
    rel_users, top_users = users[: len(relevant)], users[len(relevant) :]
    rel_index = pd.MultiIndex.from_frame(relevant)
    top_rel = pd.MultiIndex.from_frame(top).isin(rel_index)
    return _Ranking(
        np.asarray(user_ids, dtype=object),
        np.bincount(rel_users, minlength=len(user_ids)).astype(np.int64),
        top_users,
        top_pos,
        top_rel,
        pd.factorize(top["item"])[0],
    )
