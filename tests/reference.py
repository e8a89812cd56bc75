"""Slow, obvious NumPy / pure-Python reference implementations the compiled code is tested
against: plain loops written from the definitions, not from the C++ (float64 unless told).
Each section belongs to one feature; add new sections rather than editing others.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def blocked_order(users, items, user_bin, item_bin, n_bins):
    """Rating indices in the blocked schedule's visiting order.

    Wave w = 0..B-1 runs the blocks (b, (b + w) mod B) for b = 0..B-1; inside a block the
    users come in increasing id and each user's ratings in input order.
    """
    users = np.asarray(users)
    items = np.asarray(items)
    order = []
    for w in range(n_bins):
        for b in range(n_bins):
            ib = (b + w) % n_bins
            for u in sorted(set(np.flatnonzero(np.asarray(user_bin) == b).tolist())):
                for r in range(len(users)):
                    if users[r] == u and item_bin[items[r]] == ib:
                        order.append(r)
    return order


def sgd_step(u, i, r, pu, qi, bu, bi, mu, biased, rates):
    """One SGD update of Surprise's rule, in place (the dtype of the arrays is kept)."""
    lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi = rates
    dot = 0.0
    for f in range(pu.shape[1]):
        dot += qi[i, f] * pu[u, f]
    err = r - (((mu + bu[u]) + bi[i]) + dot)
    if biased:
        bu[u] += lr_bu * (err - reg_bu * bu[u])
        bi[i] += lr_bi * (err - reg_bi * bi[i])
    for f in range(pu.shape[1]):
        puf = pu[u, f]
        qif = qi[i, f]
        pu[u, f] += lr_pu * (err * qif - reg_pu * puf)
        qi[i, f] += lr_qi * (err * puf - reg_qi * qif)


def sgd_epoch_blocked(
    users, items, ratings, user_bin, item_bin, n_bins, pu, qi, bu, bi, global_mean, biased, rates
):
    """One epoch of the blocked schedule, in place, serially, in its visiting order."""
    mu = global_mean if biased else 0.0
    for r in blocked_order(users, items, user_bin, item_bin, n_bins):
        sgd_step(int(users[r]), int(items[r]), float(ratings[r]), pu, qi, bu, bi, mu, biased, rates)


# =====================================================================================
# Top-N search, recommendations and ranking metrics (issue 4)
# =====================================================================================


def topk_score_matrix(X, Y=None, *, cosine: bool, exclude_self: bool = True, exclude=None):
    """All query x item scores in float64, NaN where a pair is excluded.

    ``exclude`` is ``(indptr, indices)``. Cosine: rows scaled by their float64 norm, zero
    rows stay zero.
    """
    self_search = Y is None
    X = np.asarray(X, dtype=np.float64)
    Y = X if self_search else np.asarray(Y, dtype=np.float64)
    if cosine:
        X = _unit_rows(X)
        Y = _unit_rows(Y)
    S = X @ Y.T
    if self_search and exclude_self:
        np.fill_diagonal(S, np.nan)
    if exclude is not None:
        indptr, indices = exclude
        for q in range(S.shape[0]):
            S[q, indices[indptr[q] : indptr[q + 1]]] = np.nan
    return S


def _unit_rows(A):
    norms = np.sqrt((A * A).sum(axis=1))
    out = np.zeros_like(A)
    nz = norms > 0
    out[nz] = A[nz] / norms[nz, None]
    return out


def brute_topk(S, k: int):
    """(indices, scores) of the k best entries of each row of S (NaN = excluded):
    score descending, ties by smaller index, padded with -1 / -inf."""
    nq, ni = S.shape
    idx = np.full((nq, k), -1, dtype=np.int64)
    scores = np.full((nq, k), -np.inf)
    for q in range(nq):
        cand = np.flatnonzero(~np.isnan(S[q]))
        order = cand[np.lexsort((cand, -S[q, cand]))][:k]
        idx[q, : len(order)] = order
        scores[q, : len(order)] = S[q, order]
    return idx, scores


def assert_topk_valid(got_idx, got_scores, S, atol: float):
    """Tie-tolerant check of a top-k answer against the full score matrix S (NaN = excluded).

    Valid means: the right number of distinct, allowed items; their scores match S within
    ``atol`` and never increase along the row; every item scoring more than ``atol`` above
    the k-th best score is present, and none scores more than ``atol`` below it; padding is
    (-1, -inf).
    """
    nq, k = got_idx.shape
    assert got_scores.shape == (nq, k)
    for q in range(nq):
        row = S[q]
        valid = ~np.isnan(row)
        m = min(k, int(valid.sum()))
        assert (got_idx[q, m:] == -1).all(), (q, got_idx[q])
        assert np.isneginf(got_scores[q, m:]).all(), (q, got_scores[q])
        idx = got_idx[q, :m]
        assert len(np.unique(idx)) == m, (q, idx)
        assert (idx >= 0).all(), (q, idx)
        assert valid[idx].all(), (q, idx)
        np.testing.assert_allclose(got_scores[q, :m], row[idx], rtol=0, atol=atol)
        assert (np.diff(got_scores[q, :m]) <= 0).all(), (q, got_scores[q])
        if m:
            kth = np.sort(row[valid])[::-1][m - 1]
            assert (row[idx] >= kth - atol).all(), q
            must = np.flatnonzero(valid & (row > kth + atol))
            assert set(must.tolist()) <= set(idx.tolist()), (q, must, idx)


def faq_get_top_n(predictions, n=10):
    """Surprise FAQ's ``get_top_n``, verbatim in behaviour: raw uid -> [(raw iid, est)]."""
    top_n = defaultdict(list)
    for uid, iid, _true_r, est, _ in predictions:
        top_n[uid].append((iid, est))
    for uid, user_ratings in top_n.items():
        user_ratings.sort(key=lambda x: x[1], reverse=True)
        top_n[uid] = user_ratings[:n]
    return top_n


def faq_precision_recall_at_k(predictions, k=10, threshold=3.5):
    """Surprise FAQ's ``precision_recall_at_k``, verbatim in behaviour."""
    user_est_true = defaultdict(list)
    for uid, _, true_r, est, _ in predictions:
        user_est_true[uid].append((est, true_r))
    precisions = dict()
    recalls = dict()
    for uid, user_ratings in user_est_true.items():
        user_ratings.sort(key=lambda x: x[0], reverse=True)
        n_rel = sum((true_r >= threshold) for (_, true_r) in user_ratings)
        n_rec_k = sum((est >= threshold) for (est, _) in user_ratings[:k])
        n_rel_and_rec_k = sum(
            ((true_r >= threshold) and (est >= threshold)) for (est, true_r) in user_ratings[:k]
        )
        precisions[uid] = n_rel_and_rec_k / n_rec_k if n_rec_k != 0 else 0
        recalls[uid] = n_rel_and_rec_k / n_rel if n_rel != 0 else 0
    return precisions, recalls


def ranked_lists(predictions, threshold=3.5):
    """Per user: relevance flags (0/1) in ranking order (est desc, stable) and n_rel."""
    by_user = defaultdict(list)
    for uid, iid, true_r, est, _ in predictions:
        by_user[uid].append((est, true_r, iid))
    out = {}
    for uid, rows in by_user.items():
        rows.sort(key=lambda x: x[0], reverse=True)
        rels = [1 if r >= threshold else 0 for (_, r, _) in rows]
        out[uid] = (rels, sum(rels), [iid for (_, _, iid) in rows])
    return out


def ndcg_ref(rels, n_rel, k):
    dcg = sum(r / np.log2(p + 2) for p, r in enumerate(rels[:k]))
    idcg = sum(1 / np.log2(p + 2) for p in range(min(k, n_rel)))
    return dcg / idcg


def ap_ref(rels, n_rel, k):
    hits, total = 0, 0.0
    for p, r in enumerate(rels[:k]):
        if r:
            hits += 1
            total += hits / (p + 1)
    return total / min(k, n_rel)


def list_metrics_ref(lists, k):
    """Mean NDCG, MAP and hit rate over lists ``{user: (rels, n_rel, ...)}`` with n_rel > 0."""
    users = [u for u, (_, n_rel, *_) in lists.items() if n_rel > 0]
    ndcg = np.mean([ndcg_ref(lists[u][0], lists[u][1], k) for u in users])
    ap = np.mean([ap_ref(lists[u][0], lists[u][1], k) for u in users])
    hit = np.mean([1.0 if any(lists[u][0][:k]) else 0.0 for u in users])
    return ndcg, ap, hit


# =====================================================================================
# SVD++ and NMF (issue 12): the fast schedules, written from their definitions
# =====================================================================================


def svdpp_epoch_batched(indptr, items, ratings, pu, qi, yj, bu, bi, mu, rates):
    """One epoch of the user-batched SVD++ schedule, in place, float64, written literally.

    Users in order; each takes a private copy of the y rows of its items (from the current
    rows, which its predecessors updated), runs Surprise's per-rating update on it (the
    implicit sum recomputed from the copy at every rating, every row of the copy updated at
    every rating), and writes the copy back. The ratings are grouped by user (``indptr``).
    Assumes distinct (user, item) pairs.
    """
    lr_bu, lr_bi, lr_pu, lr_qi, lr_yj, reg_bu, reg_bi, reg_pu, reg_qi, reg_yj = rates
    for u in range(len(indptr) - 1):
        js = [int(j) for j in items[indptr[u] : indptr[u + 1]]]
        if not js:
            continue
        local = {j: yj[j].astype(np.float64) for j in js}
        s = np.sqrt(len(js))
        for i, rating in zip(js, ratings[indptr[u] : indptr[u + 1]], strict=True):
            z = sum(local[j] for j in js) / s
            err = float(rating) - (mu + bu[u] + bi[i] + qi[i] @ (pu[u] + z))
            bu[u] += lr_bu * (err - reg_bu * bu[u])
            bi[i] += lr_bi * (err - reg_bi * bi[i])
            p, q = pu[u].copy(), qi[i].copy()
            pu[u] = p + lr_pu * (err * q - reg_pu * p)
            qi[i] = q + lr_qi * (err * (p + z) - reg_qi * q)
            for j in js:
                local[j] = local[j] + lr_yj * (err * q / s - reg_yj * local[j])
        for j in js:
            yj[j] = local[j]


def nmf_epoch(users, items, ratings, pu, qi, bu, bi, mu, biased, rates):
    """One NMF epoch (Surprise's definition), in place, float64, ratings grouped by user.

    ``users``, ``items``, ``ratings`` must be in Surprise's order (grouped by user).
    ``rates`` = (lr_bu, lr_bi, reg_bu, reg_bi, reg_pu, reg_qi).
    """
    lr_bu, lr_bi, reg_bu, reg_bi, reg_pu, reg_qi = rates
    mu = mu if biased else 0.0
    user_num, user_den = np.zeros_like(pu), np.zeros_like(pu)
    item_num, item_den = np.zeros_like(qi), np.zeros_like(qi)
    for u, i, r in zip(
        np.asarray(users).tolist(), np.asarray(items).tolist(), ratings, strict=True
    ):
        est = mu + bu[u] + bi[i] + qi[i] @ pu[u]
        err = r - est
        if biased:
            bu[u] += lr_bu * (err - reg_bu * bu[u])
            bi[i] += lr_bi * (err - reg_bi * bi[i])
        user_num[u] += qi[i] * r
        user_den[u] += qi[i] * est
        item_num[i] += pu[u] * r
        item_den[i] += pu[u] * est
    for x, num, den, counts, reg in (
        (pu, user_num, user_den, np.bincount(users, minlength=len(pu)), reg_pu),
        (qi, item_num, item_den, np.bincount(items, minlength=len(qi)), reg_qi),
    ):
        nz = x != 0
        step = np.ones_like(x)
        full = den + counts[:, None] * reg * x
        step[nz] = num[nz] / full[nz]
        x *= step


# ----------------------------------------------------------------------------- fold-in
def foldin_solve(items, ratings, qi, bi, mu, biased, lam_p, lam_b):
    """One user's (pu, bu): the ridge solve written from its definition, in float64.

    Minimises ``sum_j (r_j - mu - bi[i_j] - bu - qi[i_j] . pu)^2 + lam_b bu^2 + lam_p |pu|^2``
    (unbiased: ``sum_j (r_j - qi[i_j] . pu)^2 + lam_p |pu|^2``) by the normal equations.
    """
    items = np.asarray(items, dtype=np.int64)
    Q = np.asarray(qi, dtype=np.float64)[items]
    r = np.asarray(ratings, dtype=np.float64)
    k = Q.shape[1]
    if biased:
        X = np.hstack([Q, np.ones((len(r), 1))])
        y = r - mu - np.asarray(bi, dtype=np.float64)[items]
        lam = np.r_[np.full(k, lam_p), lam_b]
    else:
        X, y, lam = Q, r, np.full(k, lam_p)
    w = np.linalg.solve(X.T @ X + np.diag(lam), X.T @ y)
    return w[:k], (w[k] if biased else 0.0)


# =====================================================================================
# ALS (issue 15): explicit ALS-WR with biases, written from the definition
# =====================================================================================


def als_row_system(cols, targets, Y, k, biased, reg):
    """Normal equations ``(A, b)`` of one row against the other side ``Y`` (float64).

    ``Y`` rows are ``[factors, 1, bias]`` when biased; the unknowns are ``[p, b]``, the
    design rows ``[q, 1]``, the targets minus the other side's bias; ``reg`` is scaled by
    the row's rating count and applies to every unknown.
    """
    m = k + 1 if biased else k
    D = np.asarray(Y, dtype=np.float64)[cols, :m]
    t = np.asarray(targets, dtype=np.float64)
    if biased:
        t = t - np.asarray(Y, dtype=np.float64)[cols, k + 1]
    A = D.T @ D + reg * len(cols) * np.eye(m)
    return A, D.T @ t


def als_row_cg(A, b, x0, steps):
    """``steps`` conjugate-gradient steps on ``A x = b`` from ``x0``; stops once
    |r| <= 10 m eps |r0| or on non-positive curvature (the kernel's rule)."""
    x = np.array(x0, dtype=np.float64)
    r = b - A @ x
    p = r.copy()
    rr = r @ r
    if not np.isfinite(rr):
        return np.full_like(x, np.nan)
    tol = 10 * len(b) * np.finfo(np.float64).eps
    stop = rr * tol * tol
    for _ in range(steps):
        if not rr > stop:
            break
        ap = A @ p
        pap = p @ ap
        if not pap > 0:
            break
        alpha = rr / pap
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def als_nearest_solution(A, b, x0):
    """The least-squares solution of ``A x = b`` nearest ``x0``: x0 + pinv(A) (b - A x0)."""
    return x0 + np.linalg.pinv(A, rcond=1e-10, hermitian=True) @ (b - A @ x0)


def als_half_sweep(indptr, cols, targets, X, Y, k, biased, reg, solver, cg_steps):
    """Solve every row of ``X`` (in place, float64) against ``Y``, row by row."""
    for row in range(len(indptr) - 1):
        lo, hi = indptr[row], indptr[row + 1]
        if hi == lo:
            continue
        A, b = als_row_system(cols[lo:hi], targets[lo:hi], Y, k, biased, reg)
        x0 = np.concatenate([X[row, :k], X[row, k + 1 :]]) if biased else X[row, :k].copy()
        if solver == "cg":
            x = als_row_cg(A, b, x0, cg_steps)
        elif np.linalg.eigvalsh(A).min() > 1e-9 * np.abs(A).max():
            x = np.linalg.solve(A, b)
        else:
            x = als_nearest_solution(A, b, x0)
        X[row, :k] = x[:k]
        if biased:
            X[row, k] = 1.0
            X[row, k + 1] = x[k]


def als_fit(
    users,
    items,
    ratings,
    n_users,
    n_items,
    k,
    n_epochs,
    reg,
    biased,
    std,
    seed,
    solver="cg",
    cg_steps=3,
):
    """ALS from scratch: pu then qi ~ N(0, std) from RandomState(seed), zero biases; each
    sweep solves all users, then all items. Returns (bu, bi, pu, qi, mu)."""
    users = np.asarray(users)
    items = np.asarray(items)
    ratings = np.asarray(ratings, dtype=np.float64)
    mu = ratings.mean() if biased else 0.0
    rng = np.random.RandomState(seed)
    d = k + 2 if biased else k
    U = np.zeros((n_users, d))
    V = np.zeros((n_items, d))
    U[:, :k] = rng.normal(0, std, (n_users, k))
    V[:, :k] = rng.normal(0, std, (n_items, k))
    if biased:
        U[:, k] = V[:, k] = 1.0

    def csr(rows, cols, n):
        order = np.argsort(rows, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        return indptr, cols[order], ratings[order] - mu

    by_user = csr(users, items, n_users)
    by_item = csr(items, users, n_items)
    for _ in range(n_epochs):
        als_half_sweep(*by_user, U, V, k, biased, reg, solver, cg_steps)
        als_half_sweep(*by_item, V, U, k, biased, reg, solver, cg_steps)
    zeros_u, zeros_i = np.zeros(n_users), np.zeros(n_items)
    bu = U[:, k + 1] if biased else zeros_u
    bi = V[:, k + 1] if biased else zeros_i
    return bu, bi, U[:, :k], V[:, :k], mu


# =====================================================================================
# AdaGrad learning rates of the blocked schedule (issue 14): LIBMF's per-vector AdaGrad
# =====================================================================================


def sgd_step_adagrad(u, i, r, pu, qi, bu, bi, g_pu, g_qi, g_bu, g_bi, mu, biased, rates):
    """One SGD update with per-vector AdaGrad rates, in place (float64 loops).

    Surprise's gradients (``err * other - reg * own``; a bias: ``err - reg * bias``); each
    user vector, item vector, user bias and item bias has an accumulator ``G`` and steps by
    ``lr / sqrt(G)`` times its gradient; then ``G`` grows by the mean of the squared entries
    of that gradient (a bias: the squared gradient). Everything from the old values.
    """
    lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi = rates
    k = pu.shape[1]
    dot = 0.0
    for f in range(k):
        dot += qi[i, f] * pu[u, f]
    err = r - (((mu + bu[u]) + bi[i]) + dot)
    if biased:
        gbu = err - reg_bu * bu[u]
        gbi = err - reg_bi * bi[i]
        bu[u] += lr_bu / np.sqrt(g_bu[u]) * gbu
        bi[i] += lr_bi / np.sqrt(g_bi[i]) * gbi
        g_bu[u] += gbu * gbu
        g_bi[i] += gbi * gbi
    grad_p = [err * qi[i, f] - reg_pu * pu[u, f] for f in range(k)]
    grad_q = [err * pu[u, f] - reg_qi * qi[i, f] for f in range(k)]
    step_p = lr_pu / np.sqrt(g_pu[u])
    step_q = lr_qi / np.sqrt(g_qi[i])
    for f in range(k):
        pu[u, f] += step_p * grad_p[f]
        qi[i, f] += step_q * grad_q[f]
    if k:
        g_pu[u] += sum(g * g for g in grad_p) / k
        g_qi[i] += sum(g * g for g in grad_q) / k


def sgd_epoch_blocked_adagrad(
    users, items, ratings, user_bin, item_bin, n_bins, model, accumulators, global_mean,
    biased, rates,
):  # fmt: skip
    """One AdaGrad epoch of the blocked schedule, in place, serially, in its visiting order.

    ``model`` is ``(pu, qi, bu, bi)``, ``accumulators`` ``(g_pu, g_qi, g_bu, g_bi)``.
    """
    mu = global_mean if biased else 0.0
    for r in blocked_order(users, items, user_bin, item_bin, n_bins):
        sgd_step_adagrad(
            int(users[r]), int(items[r]), float(ratings[r]), *model, *accumulators, mu, biased,
            rates,
        )  # fmt: skip
