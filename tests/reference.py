"""Slow, obvious NumPy/Python references of the compiled kernels, for equivalence tests.

Written from the definitions, not from the C++: plain loops, float64 unless told.
"""

from __future__ import annotations

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
