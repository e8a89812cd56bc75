"""CoClustering's training loop: Surprise's epochs, each epoch body one C++ call.

Surprise draws the initial clusters with ``rng.randint(n_cltr_u, size=n_users)`` then
``rng.randint(n_cltr_i, size=n_items)``; the loop does the same draws in the same order, so
a seed gives Surprise's clusters. Each epoch recomputes the cluster averages, then moves
every user, then every item, to its best cluster (csrc/turbosvd/co_clustering.hpp).
``KeyboardInterrupt`` is handled between epochs by Python; nothing is published until the
loop ends, so an interrupted fit leaves the caller's model as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _cluster

__all__ = ["CoClusteringState", "averages", "train", "user_item_means"]


@dataclass
class CoClusteringState:
    """Everything a fitted CoClustering predicts from (Surprise's attribute names)."""

    cltr_u: np.ndarray
    cltr_i: np.ndarray
    user_mean: np.ndarray
    item_mean: np.ndarray
    avg_cltr_u: np.ndarray
    avg_cltr_i: np.ndarray
    avg_cocltr: np.ndarray


def user_item_means(trainset, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Every user's and every item's mean rating, of the ratings truncated toward zero:
    Surprise's ``np.mean([r for (_, r) in ur[u]])`` reads ``r`` as the ``int`` its Cython
    declares (3.5 counts as 3), bit for bit."""
    u_indptr, _, u_ratings = trainset.user_csr()
    i_indptr, _, i_ratings = trainset.item_csr()
    return (
        _cluster.row_means(u_indptr, u_ratings, n_threads, truncate=True),
        _cluster.row_means(i_indptr, i_ratings, n_threads, truncate=True),
    )


def averages(trainset, cltr_u, cltr_i, n_cltr_u: int, n_cltr_i: int):
    """Averages of the user clusters, item clusters and co-clusters (Surprise's
    ``compute_averages``): ratings truncated to integers, the global mean for empty clusters.
    """
    users, items, ratings = trainset.rating_arrays()
    return _cluster.co_clustering_averages(
        users,
        items,
        ratings,
        np.ascontiguousarray(cltr_u, dtype=np.int64),
        np.ascontiguousarray(cltr_i, dtype=np.int64),
        n_cltr_u,
        n_cltr_i,
        float(trainset.global_mean),
    )


def train(
    trainset,
    n_cltr_u: int,
    n_cltr_i: int,
    n_epochs: int,
    rng: np.random.RandomState,
    verbose: bool,
    n_threads: int,
) -> CoClusteringState:
    """Run Surprise's CoClustering optimisation on ``trainset`` (parameters validated)."""
    cltr_u = rng.randint(n_cltr_u, size=trainset.n_users).astype(np.int64, copy=False)
    cltr_i = rng.randint(n_cltr_i, size=trainset.n_items).astype(np.int64, copy=False)
    user_mean, item_mean = user_item_means(trainset, n_threads)
    u_indptr, u_items, u_ratings = trainset.user_csr()
    i_indptr, i_users, i_ratings = trainset.item_csr()
    for epoch in range(n_epochs):
        if verbose:
            print(f"Processing epoch {epoch}")
        avg_u, avg_i, avg_co = averages(trainset, cltr_u, cltr_i, n_cltr_u, n_cltr_i)
        _cluster.co_clustering_assign(
            u_indptr,
            u_items,
            u_ratings,
            i_indptr,
            i_users,
            i_ratings,
            user_mean,
            item_mean,
            avg_u,
            avg_i,
            avg_co,
            cltr_u,
            cltr_i,
            n_threads,
        )
    avg_u, avg_i, avg_co = averages(trainset, cltr_u, cltr_i, n_cltr_u, n_cltr_i)
    return CoClusteringState(cltr_u, cltr_i, user_mean, item_mean, avg_u, avg_i, avg_co)
