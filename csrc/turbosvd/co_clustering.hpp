// co_clustering.hpp: the epoch body and the estimates of CoClustering (George & Merugu
// 2005), as Surprise computes them.
//
// Algorithm. Surprise declares the ratings `int` in its loops, so the cluster sums and the
// squared errors use ratings truncated toward zero; the user and item means (mu_u, mu_i)
// are float means computed by the caller. One epoch:
//   1. averages: integer sums and counts of ratings per user cluster, item cluster and
//      co-cluster (exact in int64, so any order), average = sum / count, or the global mean
//      for an empty cluster;
//   2. every user u takes the cluster uc minimising sum over u's ratings (in `ur[u]` order)
//      of (r - est)^2 with est = ((((A[uc, ic] + mu_u) - Au[uc]) + mu_i) - Ai[ic]) and
//      ic = the item's cluster (first minimum wins, like np.argmin);
//   3. every item i likewise over its ratings (in `ir[i]` order), with the users' new
//      clusters and the same averages.
// The arithmetic and its order are Surprise's, so the clusters match Surprise's exactly.
// Parallel strategy: OpenMP static over users (step 2) and over items (step 3): each writes
// only its own cluster, reading the other side's, so the result does not depend on the
// thread count. The averages are a serial O(|R|) pass. Small epochs run on one thread.
// Cost: O(|R| (n_cltr_u + n_cltr_i)) per epoch.
#pragma once

#include <cmath>
#include <vector>

#include "common.hpp"

namespace turbosvd {

namespace co_clustering_detail {

TURBOSVD_INLINE double trunc_rating(double r) { return std::trunc(r); }

TURBOSVD_INLINE double cluster_average(std::int64_t sum, std::int64_t count, double mu) {
    return count ? static_cast<double>(sum) / static_cast<double>(count) : mu;
}

}  // namespace co_clustering_detail

// Averages of the user clusters (n_u), item clusters (n_i) and co-clusters (n_u x n_i,
// row-major) for the given assignment. Ratings are visited in any order (integer sums).
inline void co_clustering_averages(const std::int32_t* users, const std::int32_t* items,
                                   const double* ratings, index_t n_ratings,
                                   const std::int64_t* cltr_u, const std::int64_t* cltr_i,
                                   index_t n_cltr_u, index_t n_cltr_i, double global_mean,
                                   double* avg_u, double* avg_i, double* avg_co) {
    using co_clustering_detail::cluster_average;
    const auto nu = static_cast<std::size_t>(n_cltr_u);
    const auto ni = static_cast<std::size_t>(n_cltr_i);
    std::vector<std::int64_t> cu(nu, 0), su(nu, 0), ci(ni, 0), si(ni, 0), cc(nu * ni, 0),
        sc(nu * ni, 0);
    for (index_t k = 0; k < n_ratings; ++k) {
        const index_t uc = cltr_u[users[k]];
        const index_t ic = cltr_i[items[k]];
        const auto r = static_cast<std::int64_t>(co_clustering_detail::trunc_rating(ratings[k]));
        ++cu[uc];
        su[uc] += r;
        ++ci[ic];
        si[ic] += r;
        ++cc[uc * n_cltr_i + ic];
        sc[uc * n_cltr_i + ic] += r;
    }
    for (index_t uc = 0; uc < n_cltr_u; ++uc) avg_u[uc] = cluster_average(su[uc], cu[uc], global_mean);
    for (index_t ic = 0; ic < n_cltr_i; ++ic) avg_i[ic] = cluster_average(si[ic], ci[ic], global_mean);
    for (index_t c = 0; c < n_cltr_u * n_cltr_i; ++c)
        avg_co[c] = cluster_average(sc[c], cc[c], global_mean);
}

namespace co_clustering_detail {

// One reassignment pass over the rows of one side (users or items): each row takes the
// cluster (lowest index on ties) whose estimates give the least squared error over the
// row's ratings. est(row, cluster, other, other_cluster) is the co-clustering estimate
// with the arguments in the side's roles; errors: scratch of n_cltr. Runs inside a
// parallel region (the rows are shared out; the implicit barrier publishes them).
template <typename Estimate>
void reassign(const std::int64_t* indptr, const std::int32_t* others, const double* ratings,
              index_t n_rows, const std::int64_t* other_cltr, index_t n_cltr, Estimate est,
              double* errors, std::int64_t* cltr) {
#pragma omp for schedule(static)
    for (index_t row = 0; row < n_rows; ++row) {
        for (index_t c = 0; c < n_cltr; ++c) {
            double err = 0.0;
            for (index_t p = indptr[row]; p < indptr[row + 1]; ++p) {
                const index_t other = others[p];
                const double e = trunc_rating(ratings[p]) - est(row, c, other, other_cltr[other]);
                err += e * e;
            }
            errors[c] = err;
        }
        index_t best = 0;
        for (index_t c = 1; c < n_cltr; ++c)
            if (errors[c] < errors[best]) best = c;
        cltr[row] = best;
    }
}

}  // namespace co_clustering_detail

// Steps 2 and 3 of an epoch: reassign users (from their CSR rows, items and ratings in
// `ur` order), then items (from the item CSR, in `ir` order), in place. Both passes sum
// Surprise's estimate in its order: avg_co + user_mean - avg_u + item_mean - avg_i.
inline void co_clustering_assign(const std::int64_t* u_indptr, const std::int32_t* u_items,
                                 const double* u_ratings, index_t n_users,
                                 const std::int64_t* i_indptr, const std::int32_t* i_users,
                                 const double* i_ratings, index_t n_items,
                                 const double* user_mean, const double* item_mean,
                                 const double* avg_u, const double* avg_i, const double* avg_co,
                                 index_t n_cltr_u, index_t n_cltr_i, std::int64_t* cltr_u,
                                 std::int64_t* cltr_i, int n_threads) {
    using co_clustering_detail::reassign;
    const auto est = [=](index_t u, index_t uc, index_t i, index_t ic) {
        return avg_co[uc * n_cltr_i + ic] + user_mean[u] - avg_u[uc] + item_mean[i] - avg_i[ic];
    };
    // One epoch costs ~|R| (n_cltr_u + n_cltr_i) flops: below ~1M the threads' start-up
    // and barrier cost more than they save.
    const bool parallel = u_indptr[n_users] * (n_cltr_u + n_cltr_i) > 1000000;
#pragma omp parallel num_threads(n_threads) if (parallel)
    {
        std::vector<double> errors(static_cast<std::size_t>(std::max(n_cltr_u, n_cltr_i)));
        reassign(u_indptr, u_items, u_ratings, n_users, cltr_i, n_cltr_u, est, errors.data(),
                 cltr_u);
        // The implicit barrier of the users' `omp for` published the new user clusters.
        reassign(
            i_indptr, i_users, i_ratings, n_items, cltr_u, n_cltr_i,
            [&](index_t i, index_t ic, index_t u, index_t uc) { return est(u, uc, i, ic); },
            errors.data(), cltr_i);
    }
}

// Estimates: the co-cluster formula when both ids are known (>= 0), else the global mean
// (Surprise returns global_mean as soon as either id is unknown; never impossible).
inline void co_clustering_predict(const std::int32_t* users, const std::int32_t* items, index_t n,
                                  const std::int64_t* cltr_u, const std::int64_t* cltr_i,
                                  const double* user_mean, const double* item_mean,
                                  const double* avg_u, const double* avg_i, const double* avg_co,
                                  index_t n_cltr_i, double global_mean, double* out,
                                  int n_threads) {
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n > 20000)
    for (index_t k = 0; k < n; ++k) {
        const index_t u = users[k];
        const index_t i = items[k];
        if (u < 0 || i < 0) {
            out[k] = global_mean;
            continue;
        }
        const index_t uc = cltr_u[u];
        const index_t ic = cltr_i[i];
        out[k] = avg_co[uc * n_cltr_i + ic] + user_mean[u] - avg_u[uc] + item_mean[i] - avg_i[ic];
    }
}

}  // namespace turbosvd
