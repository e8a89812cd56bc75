"""Ranking metrics (turbosvd.metrics) against pure-Python references and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import small_ratings
from reference import faq_precision_recall_at_k, list_metrics_ref, ranked_lists
from turbosvd import SVD, Dataset, Prediction, Reader, metrics
from turbosvd.model_selection import train_test_split


@pytest.fixture(scope="module")
def predictions():
    data = Dataset.load_from_df(small_ratings(60, 40, 0.4, seed=5), Reader(rating_scale=(1, 5)))
    trainset, testset = train_test_split(data, test_size=0.3, random_state=0)
    return SVD(n_factors=5, random_state=0).fit(trainset).test(testset)


def _tied_predictions():
    """Many equal estimates (rounded), to exercise the stable tie order."""
    rng = np.random.default_rng(0)
    out = []
    for u in range(25):
        for i in rng.choice(30, size=rng.integers(1, 15), replace=False):
            out.append(
                Prediction(
                    f"u{u}", f"i{i}", float(rng.integers(1, 6)), float(rng.integers(2, 5)), {}
                )
            )
    return out


@pytest.mark.parametrize("k", [1, 3, 10, 100])
@pytest.mark.parametrize("threshold", [3.5, 4.0])
def test_precision_recall_equal_surprise_faq(predictions, k, threshold):
    for preds in (predictions, _tied_predictions()):
        want_p, want_r = faq_precision_recall_at_k(preds, k, threshold)
        got_p, got_r = metrics.precision_recall_at_k(preds, k, threshold)
        assert got_p == want_p
        assert got_r == want_r
        assert list(got_p) == list(want_p)  # same user order
        assert metrics.faq_precision_at_k(preds, k, threshold) == pytest.approx(
            sum(want_p.values()) / len(want_p), rel=1e-12
        )
        assert metrics.faq_recall_at_k(preds, k, threshold) == pytest.approx(
            sum(want_r.values()) / len(want_r), rel=1e-12
        )


@pytest.mark.parametrize("k", [1, 2, 5, 50])
def test_ndcg_map_hit_rate_equal_reference(predictions, k):
    for preds in (predictions, _tied_predictions()):
        lists = ranked_lists(preds, 3.5)
        ndcg, ap, hit = list_metrics_ref(lists, k)
        users = [u for u, (_, n_rel, *_) in lists.items() if n_rel > 0]
        precision = np.mean([sum(lists[u][0][:k]) / k for u in users])
        recall = np.mean([sum(lists[u][0][:k]) / lists[u][1] for u in users])
        assert metrics.precision_at_k(preds, k) == pytest.approx(precision, rel=1e-12)
        assert metrics.recall_at_k(preds, k) == pytest.approx(recall, rel=1e-12)
        assert metrics.ndcg_at_k(preds, k) == pytest.approx(ndcg, rel=1e-12)
        assert metrics.map_at_k(preds, k) == pytest.approx(ap, rel=1e-12)
        assert metrics.hit_rate(preds, k) == pytest.approx(hit, rel=1e-12)


def test_hand_computed_example():
    # One user, ranking by est: a (rel), b (not), c (rel), d (not); 2 relevant.
    preds = [
        Prediction("u", "c", 4.0, 3.0, {}),
        Prediction("u", "a", 5.0, 4.5, {}),
        Prediction("u", "d", 2.0, 2.0, {}),
        Prediction("u", "b", 1.0, 4.0, {}),
    ]
    k = 3
    # FAQ: top 3 = a (4.5), b (4.0), c (3.0); recommended = est >= 3.5 -> a, b; a relevant.
    assert metrics.faq_precision_at_k(preds, k) == 0.5
    assert metrics.faq_recall_at_k(preds, k) == 0.5
    # Ranking: a and c relevant among the top 3; both relevant items found.
    assert metrics.precision_at_k(preds, k) == pytest.approx(2 / 3)
    assert metrics.recall_at_k(preds, k) == 1.0
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert metrics.ndcg_at_k(preds, k) == pytest.approx(dcg / idcg)
    assert metrics.map_at_k(preds, k) == pytest.approx((1 + 2 / 3) / 2)
    assert metrics.hit_rate(preds, k) == 1.0
    assert metrics.coverage(preds, k) == 3 / 4
    assert metrics.coverage(preds, 1, n_items=10) == 1 / 10


def test_recommendation_frame_metrics():
    recs = pd.DataFrame(
        {
            "user": ["u1"] * 3 + ["u2"] * 3 + ["u3"] * 2,
            "item": ["a", "b", "c", "a", "d", "e", "b", "c"],
            "estimate": [4.9, 4.5, 4.1, 4.8, 4.7, 4.0, 4.4, 4.3],
            "rank": [1, 2, 3, 1, 2, 3, 1, 2],
        }
    )
    truth = [  # u1: b relevant, z relevant but not recommended; u2: nothing relevant
        ("u1", "b", 5.0),
        ("u1", "z", 4.0),
        ("u1", "a", 2.0),
        ("u2", "a", 3.0),
        ("u3", "c", 4.0),
        ("u4", "q", 5.0),  # a user with no recommendation counts with an empty list
    ]
    k = 2
    # Evaluated users: u1 (n_rel 2), u3 (n_rel 1), u4 (n_rel 1).
    assert metrics.precision_at_k(recs, k, truth=truth) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert metrics.recall_at_k(recs, k, truth=truth) == pytest.approx((1 / 2 + 1 + 0) / 3)
    ndcg_u1 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_u3 = (1 / math.log2(3)) / 1
    assert metrics.ndcg_at_k(recs, k, truth=truth) == pytest.approx((ndcg_u1 + ndcg_u3) / 3)
    assert metrics.map_at_k(recs, k, truth=truth) == pytest.approx((0.5 / 2 + 0.5 / 1) / 3)
    assert metrics.hit_rate(recs, k, truth=truth) == pytest.approx(2 / 3)
    assert metrics.coverage(recs, k, n_items=10) == 4 / 10  # a, b, d, c
    # Same answers from a truth DataFrame, and when ranking by the estimate column.
    tdf = pd.DataFrame(truth, columns=["user", "item", "rating"])
    by_est = recs.drop(columns="rank")
    for top, t in ((recs, tdf), (by_est, truth)):
        assert metrics.ranking_metrics(top, k, truth=t, n_items=10) == pytest.approx(
            metrics.ranking_metrics(recs, k, truth=truth, n_items=10)
        )


def test_frame_metrics_agree_with_prediction_metrics_on_full_lists(predictions):
    """With every test item listed and ranked, NDCG/MAP/hit rate agree across inputs."""
    df = pd.DataFrame(
        [(p.uid, p.iid, p.est) for p in predictions], columns=["user", "item", "estimate"]
    )
    truth = [(p.uid, p.iid, p.r_ui) for p in predictions]
    for name in ("ndcg_at_k", "map_at_k", "hit_rate"):
        a = getattr(metrics, name)(predictions, 5)
        b = getattr(metrics, name)(df, 5, truth=truth)
        assert a == pytest.approx(b, rel=1e-12), name


def test_recommend_all_frame_is_accepted(predictions):
    data = Dataset.load_from_df(small_ratings(60, 40, 0.4, seed=5), Reader(rating_scale=(1, 5)))
    trainset, testset = train_test_split(data, test_size=0.3, random_state=0)
    algo = SVD(n_factors=5, random_state=0).fit(trainset)
    recs = algo.recommend_all(n=10)
    out = metrics.ranking_metrics(recs, 10, truth=testset, n_items=trainset.n_items)
    assert set(out) == {"precision", "recall", "ndcg", "map", "hit_rate", "coverage"}
    assert all(0 <= v <= 1 for v in out.values())


def test_errors(predictions):
    with pytest.raises(ValueError, match="Prediction list is empty"):
        metrics.precision_at_k([])
    with pytest.raises(TypeError, match="r_ui is None"):
        metrics.ndcg_at_k([Prediction("u", "i", None, 3.0, {})])
    with pytest.raises(ValueError, match="k=0 is out of range"):
        metrics.map_at_k(predictions, 0)
    with pytest.raises(TypeError, match="threshold must be a real number"):
        metrics.hit_rate(predictions, 3, threshold="4")
    recs = pd.DataFrame({"user": ["u"], "item": ["i"], "rank": [1]})
    with pytest.raises(ValueError, match="need truth="):
        metrics.precision_at_k(recs)
    with pytest.raises(ValueError, match="only used with a recommendation DataFrame"):
        metrics.precision_at_k(predictions, truth=[("u", "i", 4.0)])
    with pytest.raises(ValueError, match="needs n_items"):
        metrics.coverage(recs)
    with pytest.raises(ValueError, match="no user to evaluate"):
        metrics.ndcg_at_k(recs, truth=[("u", "i", 1.0)])
    with pytest.raises(ValueError, match="rank or an estimate column"):
        metrics.ndcg_at_k(recs.drop(columns="rank"), truth=[("u", "i", 5.0)])
    with pytest.raises(ValueError, match=r"lacks columns \['rating'\]"):
        metrics.ndcg_at_k(recs, truth=pd.DataFrame({"user": ["u"], "item": ["i"]}))


def test_one_definition_for_both_inputs(predictions):
    """precision_at_k/recall_at_k of a predictions list equal those of the same ranking
    given as a recommendation DataFrame with the predictions as truth (issue 17, item 5)."""
    k = 5
    rows = sorted(predictions, key=lambda p: -p.est)  # stable, as the ranking
    ranks: dict = {}
    recs = []
    for p in rows:
        ranks[p.uid] = ranks.get(p.uid, 0) + 1
        recs.append((p.uid, p.iid, p.est, ranks[p.uid]))
    frame = pd.DataFrame(recs, columns=["user", "item", "estimate", "rank"])
    truth = [(p.uid, p.iid, p.r_ui) for p in predictions]
    for name in ("precision_at_k", "recall_at_k"):
        f = getattr(metrics, name)
        assert f(predictions, k) == pytest.approx(f(frame, k, truth=truth), rel=1e-12)
    with pytest.raises(ValueError, match="FAQ"):
        metrics.faq_precision_at_k(frame)
