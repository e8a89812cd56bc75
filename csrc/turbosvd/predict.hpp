// predict.hpp: batch rating estimates for biased / unbiased matrix factorisation.
//
// Algorithm: for each query k with inner ids u = users[k], i = items[k] (-1 = unknown):
//   biased:   est = mu; if u known est += bu[u]; if i known est += bi[i];
//             if both known est += <qi[i], pu[u]>          (never impossible, as Surprise)
//   unbiased: est = <qi[i], pu[u]> if both known, else impossible[k] = 1 and est = mu.
// The dot product is accumulated in double (float32 factors are widened) over SIMD lanes.
// Its summation order is fixed by the source and the instruction set, so predict() on one
// pair and test() on many give the same bits; against Surprise's BLAS dot the difference
// is ~1e-16 relative.
// Parallelism: OpenMP static over queries (one thread below 20,000 queries); every query is
// independent, so results are bit-identical for any thread count.
// Dispatch: one template for float32 and float64 factors, SIMD-dispatched (common.hpp);
// predict_batch validates the ids before the dispatched loop, which never throws.
// predict_one: the same for one pair, without OpenMP (the single predict() call).
// Cost: O(n * n_factors).
#pragma once

#include "common.hpp"

namespace turbosvd {

namespace predict_detail {

template <typename Real>
TURBOSVD_INLINE double dot_f64(const Real* TURBOSVD_RESTRICT a, const Real* TURBOSVD_RESTRICT b,
                               index_t n) {
    double s = 0.0;
    TURBOSVD_OMP(simd reduction(+ : s))
    for (index_t f = 0; f < n; ++f) s += static_cast<double>(a[f]) * static_cast<double>(b[f]);
    return s;
}

template <typename Real>
TURBOSVD_INLINE void one(const std::int32_t* users, const std::int32_t* items, index_t k,
                         const Real* pu, const Real* qi, const Real* bu, const Real* bi,
                         index_t n_factors, double mu, bool biased, double* out,
                         std::uint8_t* impossible) {
    const index_t u = users[k];
    const index_t i = items[k];
    const bool ku = u >= 0, ki = i >= 0;
    impossible[k] = 0;
    if (biased) {
        double est = mu;
        if (ku) est += static_cast<double>(bu[u]);
        if (ki) est += static_cast<double>(bi[i]);
        if (ku && ki && n_factors > 0)
            est += dot_f64(qi + i * n_factors, pu + u * n_factors, n_factors);
        out[k] = est;
    } else if (ku && ki) {
        out[k] = dot_f64(qi + i * n_factors, pu + u * n_factors, n_factors);
    } else {
        out[k] = mu;
        impossible[k] = 1;
    }
}

// All queries, SIMD-dispatched. Never throws (ids are validated by predict_batch first);
// the `omp parallel` is in the dispatched body so that its outlined region is cloned too.
template <typename Real>
TURBOSVD_DISPATCH void run(const std::int32_t* users, const std::int32_t* items, index_t n,
                           const Real* pu, const Real* qi, const Real* bu, const Real* bi,
                           index_t n_factors, double mu, bool biased, double* out,
                           std::uint8_t* impossible, int n_threads) noexcept {
    TURBOSVD_OMP_PARALLEL_FOR(schedule(static) num_threads(n_threads) if (n > 20000))
    for (index_t k = 0; k < n; ++k)
        one(users, items, k, pu, qi, bu, bi, n_factors, mu, biased, out, impossible);
    (void)n_threads;
}

// One query, SIMD-dispatched like run() (same clones, same inlined `one`, so the same bits),
// without entering OpenMP: predict(uid, iid)'s direct path.
template <typename Real>
TURBOSVD_DISPATCH void run_one(std::int32_t u, std::int32_t i, const Real* pu, const Real* qi,
                               const Real* bu, const Real* bi, index_t n_factors, double mu,
                               bool biased, double* out, std::uint8_t* impossible) noexcept {
    one(&u, &i, 0, pu, qi, bu, bi, n_factors, mu, biased, out, impossible);
}

}  // namespace predict_detail

template <typename Real>
void predict_batch(const std::int32_t* users, const std::int32_t* items, index_t n, const Real* pu,
                   const Real* qi, const Real* bu, const Real* bi, index_t n_users, index_t n_items,
                   index_t n_factors, double global_mean, bool biased, double* out,
                   std::uint8_t* impossible, int n_threads) {
    require(n >= 0 && n_factors >= 0, "predict_batch: negative size");
    require(n_threads >= 1, "predict_batch: n_threads must be >= 1");
    for (index_t k = 0; k < n; ++k) {
        if (users[k] >= n_users || items[k] >= n_items || users[k] < -1 || items[k] < -1)
            throw std::invalid_argument("predict_batch: inner id out of range");
    }
    predict_detail::run<Real>(users, items, n, pu, qi, bu, bi, n_factors, global_mean, biased, out,
                              impossible, n_threads);
}

// One pair (inner ids, -1 = unknown): the same estimate as predict_batch on that pair.
template <typename Real>
void predict_one(std::int32_t u, std::int32_t i, const Real* pu, const Real* qi, const Real* bu,
                 const Real* bi, index_t n_users, index_t n_items, index_t n_factors,
                 double global_mean, bool biased, double* out, std::uint8_t* impossible) {
    if (u >= n_users || i >= n_items || u < -1 || i < -1 || n_factors < 0)
        throw std::invalid_argument("predict_one: inner id out of range");
    predict_detail::run_one<Real>(u, i, pu, qi, bu, bi, n_factors, global_mean, biased, out,
                                  impossible);
}

}  // namespace turbosvd
