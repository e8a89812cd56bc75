// predict.hpp: batch rating estimates for biased / unbiased matrix factorisation.
//
// Algorithm: for each query k with inner ids u = users[k], i = items[k] (-1 = unknown):
//   biased:   est = mu; if u known est += bu[u]; if i known est += bi[i];
//             if both known est += <qi[i], pu[u]>          (never impossible, as Surprise)
//   unbiased: est = <qi[i], pu[u]> if both known, else impossible[k] = 1 and est = mu.
// The dot product is accumulated in double in increasing f whatever the storage type, so
// predict() on one pair and test() on many give the same bits.
// Parallelism: OpenMP static over queries; every query is independent, so results are
// bit-identical for any thread count.
// Cost: O(n * n_factors).
#pragma once

#include "common.hpp"

namespace turbosvd {

template <typename Real>
TURBOSVD_INLINE double dot_f64(const Real* TURBOSVD_RESTRICT a, const Real* TURBOSVD_RESTRICT b,
                               index_t n) {
    double s = 0.0;
    for (index_t f = 0; f < n; ++f) s += static_cast<double>(a[f]) * static_cast<double>(b[f]);
    return s;
}

template <typename Real, typename Index>
void predict_batch(const Index* users, const Index* items, index_t n, const Real* pu,
                   const Real* qi, const Real* bu, const Real* bi, index_t n_users,
                   index_t n_items, index_t n_factors, double global_mean, bool biased,
                   double* out, std::uint8_t* impossible, int n_threads) {
    require(n >= 0 && n_factors >= 0, "predict_batch: negative size");
    for (index_t k = 0; k < n; ++k) {
        // Validate first so the parallel loop below cannot throw.
        if (users[k] >= n_users || items[k] >= n_items)
            throw std::invalid_argument("predict_batch: inner id out of range");
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n > 20000)
#endif
    for (index_t k = 0; k < n; ++k) {
        const index_t u = users[k];
        const index_t i = items[k];
        const bool ku = u >= 0, ki = i >= 0;
        impossible[k] = 0;
        if (biased) {
            double est = global_mean;
            if (ku) est += static_cast<double>(bu[u]);
            if (ki) est += static_cast<double>(bi[i]);
            if (ku && ki && n_factors > 0)
                est += dot_f64(qi + i * n_factors, pu + u * n_factors, n_factors);
            out[k] = est;
        } else if (ku && ki) {
            out[k] = dot_f64(qi + i * n_factors, pu + u * n_factors, n_factors);
        } else {
            out[k] = global_mean;
            impossible[k] = 1;
        }
    }
    (void)n_threads;
}

}  // namespace turbosvd
