// sgd.hpp: one epoch of SGD for biased matrix factorisation (Funk/Koren SVD).
//
// Algorithm: for each rating (u, i, r), in the order given,
//   err = r - (((mu + bu[u]) + bi[i]) + <qi[i], pu[u]>)
//   bu[u] += lr_bu * (err - reg_bu * bu[u]);  bi[i] += lr_bi * (err - reg_bi * bi[i])
//   then, for every factor f, from the old values of pu[u, f] and qi[i, f]:
//   pu[u, f] += lr_pu * (err * qi - reg_pu * pu);  qi[i, f] += lr_qi * (err * pu - reg_qi * qi)
// This is Surprise's update, operation for operation (same association order, the dot
// product summed in increasing f from 0), so with the same visiting order (users in
// inner-id order, each user's ratings in insertion order) the result is bit-identical
// to scikit-surprise on x86-64.
// Parallelism: none; every update depends on the previous one.
// Determinism: fully deterministic. The kernel is never SIMD-cloned and FMA contraction is
// switched off, because fusing a*b+c changes the rounding and breaks parity with Surprise.
// Cost: O(n_ratings * n_factors) per epoch, memory-bound on the factor rows.
#pragma once

#include "common.hpp"

namespace turbosvd {

struct SgdRates {
    double lr_bu, lr_bi, lr_pu, lr_qi;
    double reg_bu, reg_bi, reg_pu, reg_qi;
};

#if defined(__GNUC__) && !defined(__clang__)
#define TURBOSVD_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define TURBOSVD_NO_CONTRACT
#endif

template <typename Index>
TURBOSVD_NO_CONTRACT void sgd_epoch_exact(const Index* users, const Index* items,
                                          const double* ratings, index_t n_ratings, double* pu,
                                          double* qi, double* bu, double* bi, index_t n_users,
                                          index_t n_items, index_t n_factors, double global_mean,
                                          bool biased, const SgdRates& p) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    require(n_ratings >= 0 && n_factors >= 0, "sgd_epoch_exact: negative size");
    const double mu = biased ? global_mean : 0.0;
    for (index_t k = 0; k < n_ratings; ++k) {
        const index_t u = users[k];
        const index_t i = items[k];
        if (u < 0 || u >= n_users || i < 0 || i >= n_items)
            throw std::invalid_argument("sgd_epoch_exact: inner id out of range");
        double* TURBOSVD_RESTRICT pu_u = pu + u * n_factors;
        double* TURBOSVD_RESTRICT qi_i = qi + i * n_factors;
        double dot = 0.0;
        for (index_t f = 0; f < n_factors; ++f) dot += qi_i[f] * pu_u[f];
        const double err = ratings[k] - (((mu + bu[u]) + bi[i]) + dot);
        if (biased) {
            bu[u] += p.lr_bu * (err - p.reg_bu * bu[u]);
            bi[i] += p.lr_bi * (err - p.reg_bi * bi[i]);
        }
        for (index_t f = 0; f < n_factors; ++f) {
            const double puf = pu_u[f];
            const double qif = qi_i[f];
            pu_u[f] += p.lr_pu * (err * qif - p.reg_pu * puf);
            qi_i[f] += p.lr_qi * (err * puf - p.reg_qi * qif);
        }
    }
}

// sgd_epoch_ordered: Surprise's visiting order and update formula, with the dot product
// summed in SIMD lanes (reassociated) instead of strictly left to right. Each rating's
// prediction then differs from Surprise's by ~1e-16 relative; the factors stay within
// ~1e-14 of Surprise's after 20 epochs (tests bound it by 1e-10), and the dependency
// chain per rating shrinks from n_factors additions to about n_factors / 8.
// The SIMD-dispatched body never throws (common.hpp): ids are validated before it.
namespace ordered_detail {

TURBOSVD_DISPATCH
inline void epoch(const std::int32_t* users, const std::int32_t* items, const double* ratings,
                  index_t n_ratings, double* pu, double* qi, double* bu, double* bi,
                  index_t n_factors, double mu, bool biased, const SgdRates& p) noexcept {
    for (index_t k = 0; k < n_ratings; ++k) {
        const index_t u = users[k];
        const index_t i = items[k];
        double* TURBOSVD_RESTRICT pu_u = pu + u * n_factors;
        double* TURBOSVD_RESTRICT qi_i = qi + i * n_factors;
        double dot = 0.0;
        TURBOSVD_OMP(simd reduction(+ : dot))
        for (index_t f = 0; f < n_factors; ++f) dot += qi_i[f] * pu_u[f];
        const double err = ratings[k] - (((mu + bu[u]) + bi[i]) + dot);
        if (biased) {
            bu[u] += p.lr_bu * (err - p.reg_bu * bu[u]);
            bi[i] += p.lr_bi * (err - p.reg_bi * bi[i]);
        }
        TURBOSVD_OMP(simd)
        for (index_t f = 0; f < n_factors; ++f) {
            const double puf = pu_u[f];
            const double qif = qi_i[f];
            pu_u[f] = puf + p.lr_pu * (err * qif - p.reg_pu * puf);
            qi_i[f] = qif + p.lr_qi * (err * puf - p.reg_qi * qif);
        }
    }
}

}  // namespace ordered_detail

inline void sgd_epoch_ordered_f64(const std::int32_t* users, const std::int32_t* items,
                                  const double* ratings, index_t n_ratings, double* pu, double* qi,
                                  double* bu, double* bi, index_t n_users, index_t n_items,
                                  index_t n_factors, double global_mean, bool biased,
                                  const SgdRates& p) {
    require(n_ratings >= 0 && n_factors >= 0, "sgd_epoch_ordered: negative size");
    for (index_t k = 0; k < n_ratings; ++k)
        if (users[k] < 0 || users[k] >= n_users || items[k] < 0 || items[k] >= n_items)
            throw std::invalid_argument("sgd_epoch_ordered: inner id out of range");
    ordered_detail::epoch(users, items, ratings, n_ratings, pu, qi, bu, bi, n_factors,
                          biased ? global_mean : 0.0, biased, p);
}

}  // namespace turbosvd
