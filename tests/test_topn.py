"""The low-level top-k search (turbosvd.topn) against brute-force NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_ratings
from reference import assert_topk_valid, brute_topk, topk_score_matrix
from turbosvd import SVD, Dataset, Reader
from turbosvd.topn import cosine_topk, inner_product_topk

ATOL = {np.float32: 2e-5, np.float64: 1e-12}


def _data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _random_csr(rng, n_rows, n_cols, density=0.2):
    mask = rng.random((n_rows, n_cols)) < density
    indptr = np.concatenate(([0], np.cumsum(mask.sum(axis=1))))
    indices = np.concatenate([rng.permutation(np.flatnonzero(r)) for r in mask]).astype(np.int64)
    return indptr, indices


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cosine", [True, False])
@pytest.mark.parametrize(
    ("nq", "ni", "dim", "k"), [(1, 1, 1, 1), (5, 300, 17, 10), (203, 517, 37, 7), (64, 64, 100, 64)]
)
def test_matches_brute_force(dtype, cosine, nq, ni, dim, k):
    rng = np.random.default_rng(nq * 1000 + ni + dim)
    X, Y = _data(rng, (nq, dim), dtype), _data(rng, (ni, dim), dtype)
    search = cosine_topk if cosine else inner_product_topk
    idx, scores = search(X, k, Y=Y)
    assert idx.dtype == np.int64
    assert scores.dtype == dtype
    assert idx.shape == scores.shape == (nq, min(k, ni))
    S = topk_score_matrix(X, Y, cosine=cosine)
    assert_topk_valid(idx, scores, S, ATOL[dtype] * (1 if cosine else np.sqrt(dim)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_self_search_matches_brute_force_and_excludes_self(dtype):
    rng = np.random.default_rng(1)
    X = _data(rng, (300, 24), dtype)
    idx, scores = cosine_topk(X, 12)
    assert idx.shape == (300, 12)
    assert not (idx == np.arange(300)[:, None]).any()
    assert_topk_valid(idx, scores, topk_score_matrix(X, cosine=True), ATOL[dtype])
    # Y given as X itself is the same search.
    idx2, scores2 = cosine_topk(X, 12, Y=X)
    np.testing.assert_array_equal(idx2, idx)
    np.testing.assert_array_equal(scores2, scores)


def test_exclude_self_false_returns_self_first():
    rng = np.random.default_rng(2)
    X = _data(rng, (50, 8), np.float64)
    idx, scores = cosine_topk(X, 3, exclude_self=False)
    np.testing.assert_array_equal(idx[:, 0], np.arange(50))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-12)
    assert_topk_valid(idx, scores, topk_score_matrix(X, cosine=True, exclude_self=False), 1e-12)


def test_exact_ties_are_broken_by_smaller_index():
    # Small integers: every inner product is exact, and there are many equal scores.
    rng = np.random.default_rng(3)
    X = rng.integers(-2, 3, size=(40, 5)).astype(np.float64)
    Y = rng.integers(-2, 3, size=(700, 5)).astype(np.float64)
    for k in (1, 9, 100):
        got = inner_product_topk(X, k, Y=Y, num_threads=2, item_tile=64, strategy="items")
        want = brute_topk(topk_score_matrix(X, Y, cosine=False), k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_duplicate_rows_tie_in_index_order():
    rng = np.random.default_rng(4)
    base = _data(rng, (10, 6), np.float32)
    Y = np.repeat(base, 5, axis=0)  # rows 5j .. 5j+4 are identical
    idx, scores = cosine_topk(base[:3], 5, Y=Y)
    for q in range(3):
        np.testing.assert_array_equal(idx[q], np.arange(5 * q, 5 * q + 5))
        assert len(set(scores[q].tolist())) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cosine", [True, False])
def test_independent_of_tiles_threads_and_strategy(dtype, cosine):
    rng = np.random.default_rng(5)
    X, Y = _data(rng, (157, 33), dtype), _data(rng, (411, 33), dtype)
    # Quantise so that exact ties exist too.
    X, Y = np.round(X * 2) / 2, np.round(Y * 2) / 2
    search = cosine_topk if cosine else inner_product_topk
    ref_idx, ref_scores = search(X, 9, Y=Y, num_threads=1)
    for qt in (None, 1, 7, 64, 1000):
        for it in (None, 1, 33, 5000):
            for nt in (1, 2, 3):
                for strategy in ("auto", "queries", "items"):
                    idx, scores = search(
                        X, 9, Y=Y, num_threads=nt, query_tile=qt, item_tile=it, strategy=strategy
                    )
                    np.testing.assert_array_equal(idx, ref_idx)
                    np.testing.assert_array_equal(scores, ref_scores)


def test_seen_exclusion():
    rng = np.random.default_rng(6)
    X, Y = _data(rng, (60, 10), np.float64), _data(rng, (90, 10), np.float64)
    indptr, indices = _random_csr(rng, 60, 90, density=0.5)
    for strategy in ("queries", "items"):
        idx, scores = inner_product_topk(X, 15, Y=Y, exclude=(indptr, indices), strategy=strategy)
        S = topk_score_matrix(X, Y, cosine=False, exclude=(indptr, indices))
        assert_topk_valid(idx, scores, S, 1e-12)
        for q in range(60):
            assert not set(idx[q].tolist()) & set(indices[indptr[q] : indptr[q + 1]].tolist())


def test_exclusion_with_duplicates_unsorted_rows_and_csr_objects():
    rng = np.random.default_rng(7)
    X = _data(rng, (4, 3), np.float32)
    indptr = np.array([0, 3, 3, 5, 6])
    indices = np.array([9, 2, 9, 0, 1, 5], dtype=np.int32)

    class Csr:  # duck-typed like scipy.sparse.csr_matrix
        shape = (4, 10)

    csr = Csr()
    csr.indptr, csr.indices = indptr, indices
    Y = _data(rng, (10, 3), np.float32)
    a = cosine_topk(X, 10, Y=Y, exclude=(indptr, indices))
    b = cosine_topk(X, 10, Y=Y, exclude=csr)
    np.testing.assert_array_equal(a[0], b[0])
    S = topk_score_matrix(X, Y, cosine=True, exclude=(indptr, indices))
    assert_topk_valid(a[0], a[1], S, 2e-6)
    # Row 0 excludes 2 distinct items: 8 valid, then (-1, -inf) padding.
    assert (a[0][0, 8:] == -1).all()
    assert np.isneginf(a[1][0, 8:]).all()
    assert (a[0][1] >= 0).all()


def test_self_exclusion_combined_with_pairs():
    rng = np.random.default_rng(8)
    X = _data(rng, (30, 5), np.float64)
    indptr, indices = _random_csr(rng, 30, 30, density=0.3)
    idx, scores = cosine_topk(X, 29, exclude=(indptr, indices), strategy="items", num_threads=2)
    S = topk_score_matrix(X, cosine=True, exclude=(indptr, indices))
    assert_topk_valid(idx, scores, S, 1e-12)


def test_k_is_clamped_to_the_catalogue():
    rng = np.random.default_rng(9)
    X, Y = _data(rng, (3, 4), np.float64), _data(rng, (5, 4), np.float64)
    idx, scores = inner_product_topk(X, 100, Y=Y)
    assert idx.shape == (3, 5)
    assert (np.sort(idx, axis=1) == np.arange(5)).all()
    idx, _ = cosine_topk(Y, 100)  # self search: 4 other rows
    assert idx.shape == (5, 4)
    idx, _ = cosine_topk(Y[:1], 3)  # a single row has no other row
    assert idx.shape == (1, 0)


def test_zero_rows_have_cosine_zero_and_zero_features_work():
    X = np.zeros((3, 4), dtype=np.float32)
    Y = np.eye(4, dtype=np.float32)
    idx, scores = cosine_topk(X, 2, Y=Y)
    np.testing.assert_array_equal(idx, [[0, 1]] * 3)
    np.testing.assert_array_equal(scores, 0)
    idx, scores = inner_product_topk(np.zeros((2, 0)), 3, Y=np.zeros((5, 0)))
    np.testing.assert_array_equal(idx, [[0, 1, 2]] * 2)
    np.testing.assert_array_equal(scores, 0)


def test_empty_queries_and_items():
    idx, scores = cosine_topk(np.zeros((0, 3)), 5, Y=np.ones((4, 3)))
    assert idx.shape == scores.shape == (0, 4)
    idx, _ = cosine_topk(np.ones((2, 3)), 5, Y=np.zeros((0, 3)))
    assert idx.shape == (2, 0)


def test_extreme_values_are_normalised_without_overflow():
    X = np.array([[1e200, 1e200], [1e-200, -1e-200]])
    idx, scores = cosine_topk(X, 1, Y=X, exclude_self=False)
    np.testing.assert_array_equal(idx[:, 0], [0, 1])
    np.testing.assert_allclose(scores[:, 0], 1.0)


def test_real_svd_factors():
    data = Dataset.load_from_df(small_ratings(80, 120, 0.3, seed=3), Reader(rating_scale=(1, 5)))
    algo = SVD(n_factors=20, random_state=0).fit(data.build_full_trainset())
    for factors in (algo.qi, algo.pu):
        for dtype in (np.float64, np.float32):
            F = factors.astype(dtype)
            idx, scores = cosine_topk(F, 10)
            assert_topk_valid(idx, scores, topk_score_matrix(F, cosine=True), ATOL[dtype])


def test_readonly_and_non_contiguous_inputs():
    rng = np.random.default_rng(10)
    Y = _data(rng, (40, 12), np.float64)
    Y.setflags(write=False)
    Xf = np.asfortranarray(_data(rng, (7, 12), np.float64))
    idx, scores = cosine_topk(Xf, 4, Y=Y[:, :])
    assert_topk_valid(idx, scores, topk_score_matrix(Xf, Y, cosine=True), 1e-12)
    idx2, _ = cosine_topk(Xf[::1], 4, Y=Y[::-1][::-1])
    np.testing.assert_array_equal(idx, idx2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"X": np.ones(3)}, ValueError, r"X must be a 2-d array .* got shape \(3,\)"),
        ({"X": np.ones((2, 2, 2))}, ValueError, "X must be a 2-d"),
        ({"X": np.ones((2, 2), dtype=int)}, TypeError, "X has dtype int64"),
        ({"Y": np.ones((3, 2), dtype=np.float16)}, TypeError, "Y has dtype float16"),
        ({"Y": np.ones((3, 2), dtype=np.float32)}, TypeError, "same dtype"),
        ({"Y": np.ones((3, 5))}, ValueError, "X has 2 features .* Y has 5"),
        ({"X": np.array([[1.0, np.nan]])}, ValueError, "X contains NaN"),
        ({"Y": np.array([[1.0, np.inf]])}, ValueError, "Y contains NaN"),
        ({"k": 0}, ValueError, "k=0 is out of range"),
        ({"k": -2}, ValueError, "k=-2"),
        ({"k": 2.0}, TypeError, "k must be an integer"),
        ({"k": True}, TypeError, "k must be an integer"),
        ({"num_threads": 0}, ValueError, "num_threads=0"),
        ({"num_threads": 1.5}, TypeError, "num_threads must be"),
        ({"query_tile": 0}, ValueError, "query_tile=0"),
        ({"item_tile": -1}, ValueError, "item_tile=-1"),
        ({"strategy": "rows"}, ValueError, "strategy='rows'"),
        ({"exclude_self": "yes"}, TypeError, "exclude_self must be a bool"),
        ({"exclude": [1, 2]}, TypeError, "exclude must be a"),
        (
            {"exclude": (np.array([0, 1]), np.array([0]))},
            ValueError,
            r"has 2 entries, expected n_queries \+ 1 = 4",
        ),
        ({"exclude": (np.array([0, 1, 1, 2]), np.array([0, 3]))}, ValueError, "item index 3"),
        ({"exclude": (np.array([0, 1, 1, 2]), np.array([0, -1]))}, ValueError, "item index -1"),
        ({"exclude": (np.array([0, 2, 1, 2]), np.array([0, 1]))}, ValueError, "never decrease"),
        ({"exclude": (np.array([1, 1, 1, 2]), np.array([0, 1]))}, ValueError, "start at 0"),
        ({"exclude": (np.array([0, 1, 1, 2]), np.array([0.0, 1.0]))}, TypeError, "integers"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    args = {"X": np.ones((3, 2)), "k": 2, "Y": np.ones((3, 2))}
    args.update(kwargs)
    X, k, Y = args.pop("X"), args.pop("k"), args.pop("Y")
    with pytest.raises(error, match=match):
        cosine_topk(X, k, Y=Y, **args)


def test_exclude_shape_attribute_is_checked():
    class Csr:
        shape = (2, 9)
        indptr = np.array([0, 0, 0, 0])
        indices = np.array([], dtype=np.int64)

    with pytest.raises(ValueError, match=r"exclude has shape \(2, 9\), expected .*\(3, 3\)"):
        cosine_topk(np.ones((3, 2)), 1, Y=np.ones((3, 2)), exclude=Csr())
