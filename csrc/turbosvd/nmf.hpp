// nmf.hpp: non-negative matrix factorisation by multiplicative updates (Luo et al. 2014),
// Surprise's NMF: Surprise's exact epoch and a parallel SIMD one.
//
// Algorithm (one epoch, Surprise's): for every rating (u, i, r) in Surprise's order
// (users in inner-id order, each user's ratings in insertion order)
//   est = mu + bu[u] + bi[i] + <qi[i], pu[u]>   (mu = bu = bi = 0 when unbiased);  err = r - est
//   biased only: bu[u] += lr_bu (err - reg_bu bu[u]);  bi[i] += lr_bi (err - reg_bi bi[i])
//   user_num[u] += qi[i] r;  user_den[u] += qi[i] est;  item_num[i] += pu[u] r;  item_den[i] += pu[u] est
// then, from these sums over the old factors, for every user (|I_u| ratings) and factor f
// with pu[u, f] != 0:  user_den += |I_u| reg_pu pu;  pu *= user_num / user_den
// and the same for the items with |U_i| and reg_qi.
//
// 1. nmf_accumulate_exact + nmf_update_exact (schedule "exact"): exactly that, operation
//    for operation and in the same order (dot products left to right, FMA contraction
//    off, no SIMD clones), so the result is bit-identical to scikit-surprise on x86-64.
//    One thread; O(|R| k) per epoch. The accumulation can run as several calls on
//    consecutive user ranges (Ctrl-C between them).
// 2. The parallel epoch (schedule "fast"): the same sums, gathered per row instead of
//    scattered per rating. nmf_fast_estimates computes every rating's estimate (parallel
//    over users; the biased variant then runs the bias SGD serially in Surprise's order,
//    O(|R|)); nmf_fast_users gathers each user's sums over its ratings and writes the new
//    user factors to a separate array (the item sums need the old ones); nmf_fast_items
//    gathers each item's sums over its ratings (an item-grouped index into the
//    user-ordered estimates) and updates the item factors in place.
//    Parallel strategy: OpenMP over users, then over items (dynamic chunks); SIMD over
//    the factors. Determinism: every sum belongs to one row and is accumulated by one
//    thread in a fixed order (the row's ratings in trainset order), so the result is
//    bit-identical for any number of threads. It differs from the exact schedule only by
//    the summation order (and float32 by default). Cost O(|R| k) per epoch.
#pragma once

#include <cmath>

#include "common.hpp"
#include "sgd.hpp"
#include "sgd_blocked.hpp"

#ifdef _OPENMP
#define TURBOSVD_NMF_SIMD _Pragma("omp simd")
#else
#define TURBOSVD_NMF_SIMD
#endif

namespace turbosvd {

struct NmfRates {
    double lr_bu, lr_bi, reg_bu, reg_bi, reg_pu, reg_qi;
};

// ---------------------------------------------------------------------------- exact

// Accumulate the sums of users [user_begin, user_end) (and update the biases) in place.
// The four sums must be zero at the start of the epoch.
TURBOSVD_NO_CONTRACT inline void nmf_accumulate_exact(
    const std::int64_t* indptr, const std::int32_t* items, const double* ratings, index_t n_users,
    index_t n_items, index_t n_factors, const double* pu, const double* qi, double* bu,
    double* bi, double global_mean, bool biased, const NmfRates& p, index_t user_begin,
    index_t user_end, double* user_num, double* user_den, double* item_num, double* item_den) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "nmf_accumulate_exact: negative size");
    require(0 <= user_begin && user_begin <= user_end && user_end <= n_users,
            "nmf_accumulate_exact: user range out of bounds");
    for (index_t r = indptr[user_begin]; r < indptr[user_end]; ++r)
        require(items[r] >= 0 && items[r] < n_items, "nmf_accumulate_exact: item id out of range");
    const index_t k = n_factors;
    const double mu = biased ? global_mean : 0.0;
    for (index_t u = user_begin; u < user_end; ++u) {
        const double* TURBOSVD_RESTRICT pu_u = pu + u * k;
        double* TURBOSVD_RESTRICT un = user_num + u * k;
        double* TURBOSVD_RESTRICT ud = user_den + u * k;
        for (std::int64_t rr = indptr[u]; rr < indptr[u + 1]; ++rr) {
            const index_t i = items[rr];
            const double r = ratings[rr];
            const double* TURBOSVD_RESTRICT qi_i = qi + i * k;
            double dot = 0.0;
            for (index_t f = 0; f < k; ++f) dot += qi_i[f] * pu_u[f];
            const double est = ((mu + bu[u]) + bi[i]) + dot;
            const double err = r - est;
            if (biased) {
                bu[u] += p.lr_bu * (err - p.reg_bu * bu[u]);
                bi[i] += p.lr_bi * (err - p.reg_bi * bi[i]);
            }
            double* TURBOSVD_RESTRICT in = item_num + i * k;
            double* TURBOSVD_RESTRICT id = item_den + i * k;
            for (index_t f = 0; f < k; ++f) {
                un[f] += qi_i[f] * r;
                ud[f] += qi_i[f] * est;
                in[f] += pu_u[f] * r;
                id[f] += pu_u[f] * est;
            }
        }
    }
}

// The multiplicative step of one side (users or items) from the epoch's sums:
// for every row and f with x != 0: den += count * reg * x; x *= num / den.
TURBOSVD_NO_CONTRACT inline void nmf_update_exact(const std::int64_t* counts, index_t n_rows,
                                                  index_t n_factors, double reg, double* x,
                                                  const double* num, double* den) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    require(n_rows >= 0 && n_factors >= 0, "nmf_update_exact: negative size");
    const index_t k = n_factors;
    for (index_t u = 0; u < n_rows; ++u) {
        if (counts[u] == 0) continue;  // no ratings, nothing learnt (Surprise has no such rows)
        const double n = static_cast<double>(counts[u]);
        for (index_t f = 0; f < k; ++f) {
            const index_t e = u * k + f;
            if (x[e] != 0) {
                den[e] += n * reg * x[e];
                x[e] *= num[e] / den[e];
            }
        }
    }
}

// ----------------------------------------------------------------------------- fast

namespace nmf_detail {

// est[r] for every rating of user u: <qi, pu> (unbiased: the estimate; biased: the dot
// product, completed by the serial bias pass). The dot product is sgd_blocked.hpp's, summed
// in lanes fixed by the source, so every SIMD clone gives the same bits.
template <typename Real>
TURBOSVD_INLINE void user_dots(const std::int64_t* indptr, const std::int32_t* items,
                               const Real* pu, const Real* qi, index_t k, index_t u, Real* est) {
    const Real* p = pu + u * k;
    for (std::int64_t r = indptr[u]; r < indptr[u + 1]; ++r)
        est[r] = blocked_detail::dot(qi + static_cast<index_t>(items[r]) * k, p, k);
}

// One row's multiplicative step: gathers num = sum x_other r and den = sum x_other est over
// the row's ratings (in the given order), then out = x * num / (den + n reg x) where x != 0.
// `other(r)` is the row of the other side, `pos(r)` the rating's index in ratings/est.
template <typename Real, typename Other, typename Pos>
TURBOSVD_INLINE void row_update(std::int64_t begin, std::int64_t end, const Real* x_other,
                                const Real* ratings, const Real* est, index_t k, Real reg,
                                const Real* x, Real* out, Real* num, Real* den, Other other,
                                Pos pos) {
    TURBOSVD_NMF_SIMD
    for (index_t f = 0; f < k; ++f) num[f] = den[f] = 0;
    for (std::int64_t r = begin; r < end; ++r) {
        const Real* TURBOSVD_RESTRICT y = x_other + other(r) * k;
        const std::int64_t t = pos(r);
        const Real rv = ratings[t], ev = est[t];
        TURBOSVD_NMF_SIMD
        for (index_t f = 0; f < k; ++f) {
            num[f] += y[f] * rv;
            den[f] += y[f] * ev;
        }
    }
    if (begin == end) {  // no ratings: nothing to learn from (Surprise has no such rows)
        for (index_t f = 0; f < k; ++f) out[f] = x[f];
        return;
    }
    const Real n_reg = static_cast<Real>(end - begin) * reg;
    TURBOSVD_NMF_SIMD
    for (index_t f = 0; f < k; ++f) {
        const Real v = x[f];
        out[f] = v != 0 ? v * (num[f] / (den[f] + n_reg * v)) : v;
    }
}

}  // namespace nmf_detail

#ifdef _OPENMP
#define TURBOSVD_NMF_PARALLEL _Pragma("omp parallel for schedule(dynamic, 64) num_threads(nt)")
#else
#define TURBOSVD_NMF_PARALLEL
#endif

// Dispatched bodies (never throw: ids are validated by the wrappers).
#define TURBOSVD_NMF_BODIES(T, SUFFIX)                                                           \
    TURBOSVD_DISPATCH inline void nmf_dots_##SUFFIX(const std::int64_t* indptr,                  \
                                                    const std::int32_t* items, index_t n_users,  \
                                                    const T* pu, const T* qi, index_t k, T* est, \
                                                    int nt) noexcept {                           \
        TURBOSVD_NMF_PARALLEL                                                                    \
        for (index_t u = 0; u < n_users; ++u)                                                    \
            nmf_detail::user_dots(indptr, items, pu, qi, k, u, est);                             \
        (void)nt;                                                                                \
    }                                                                                            \
    TURBOSVD_DISPATCH inline void nmf_users_##SUFFIX(                                            \
        const std::int64_t* indptr, const std::int32_t* items, const T* ratings, const T* est,   \
        index_t n_users, const T* pu, const T* qi, index_t k, T reg, T* pu_new, T* scratch,      \
        int nt) noexcept {                                                                       \
        TURBOSVD_NMF_PARALLEL                                                                    \
        for (index_t u = 0; u < n_users; ++u) {                                                  \
            T* s = scratch + static_cast<index_t>(thread_id()) * 2 * k;                          \
            nmf_detail::row_update(                                                              \
                indptr[u], indptr[u + 1], qi, ratings, est, k, reg, pu + u * k, pu_new + u * k,  \
                s, s + k, [&](std::int64_t r) { return static_cast<index_t>(items[r]); },        \
                [](std::int64_t r) { return r; });                                               \
        }                                                                                        \
        (void)nt;                                                                                \
    }                                                                                            \
    TURBOSVD_DISPATCH inline void nmf_items_##SUFFIX(                                            \
        const std::int64_t* item_ptr, const std::int64_t* item_pos, const std::int32_t* users,   \
        const T* ratings, const T* est, index_t n_items, const T* pu, T* qi, index_t k, T reg,   \
        T* scratch, int nt) noexcept {                                                           \
        TURBOSVD_NMF_PARALLEL                                                                    \
        for (index_t i = 0; i < n_items; ++i) {                                                  \
            T* s = scratch + static_cast<index_t>(thread_id()) * 2 * k;                          \
            nmf_detail::row_update(                                                              \
                item_ptr[i], item_ptr[i + 1], pu, ratings, est, k, reg, qi + i * k, qi + i * k,  \
                s, s + k, [&](std::int64_t r) { return static_cast<index_t>(users[item_pos[r]]); }, \
                [&](std::int64_t r) { return item_pos[r]; });                                    \
        }                                                                                        \
        (void)nt;                                                                                \
    }

TURBOSVD_NMF_BODIES(float, f32)
TURBOSVD_NMF_BODIES(double, f64)
#undef TURBOSVD_NMF_BODIES
#undef TURBOSVD_NMF_PARALLEL

namespace nmf_detail {
inline void dots(const std::int64_t* a, const std::int32_t* b, index_t c, const float* d,
                 const float* e, index_t k, float* est, int nt) {
    nmf_dots_f32(a, b, c, d, e, k, est, nt);
}
inline void dots(const std::int64_t* a, const std::int32_t* b, index_t c, const double* d,
                 const double* e, index_t k, double* est, int nt) {
    nmf_dots_f64(a, b, c, d, e, k, est, nt);
}
inline void users(const std::int64_t* a, const std::int32_t* b, const float* r, const float* e,
                  index_t n, const float* pu, const float* qi, index_t k, float reg, float* out,
                  float* s, int nt) {
    nmf_users_f32(a, b, r, e, n, pu, qi, k, reg, out, s, nt);
}
inline void users(const std::int64_t* a, const std::int32_t* b, const double* r, const double* e,
                  index_t n, const double* pu, const double* qi, index_t k, double reg,
                  double* out, double* s, int nt) {
    nmf_users_f64(a, b, r, e, n, pu, qi, k, reg, out, s, nt);
}
inline void items_(const std::int64_t* a, const std::int64_t* p, const std::int32_t* u,
                   const float* r, const float* e, index_t n, const float* pu, float* qi,
                   index_t k, float reg, float* s, int nt) {
    nmf_items_f32(a, p, u, r, e, n, pu, qi, k, reg, s, nt);
}
inline void items_(const std::int64_t* a, const std::int64_t* p, const std::int32_t* u,
                   const double* r, const double* e, index_t n, const double* pu, double* qi,
                   index_t k, double reg, double* s, int nt) {
    nmf_items_f64(a, p, u, r, e, n, pu, qi, k, reg, s, nt);
}
}  // namespace nmf_detail

// est[r] for every rating of the user-grouped trainset (indptr, items, ratings). Unbiased:
// <qi, pu>. Biased: mu + bu + bi + <qi, pu>, with the bias SGD of the epoch run serially in
// Surprise's order (the biases are updated in place).
template <typename Real>
void nmf_fast_estimates(const std::int64_t* indptr, const std::int32_t* items,
                        const Real* ratings, index_t n_users, index_t n_items, index_t n_factors,
                        const Real* pu, const Real* qi, Real* bu, Real* bi, double global_mean,
                        bool biased, const NmfRates& p, Real* est, int n_threads) {
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "nmf_fast_estimates: negative size");
    require(n_threads >= 1, "nmf_fast_estimates: n_threads must be >= 1");
    require(indptr[0] == 0, "nmf_fast_estimates: indptr must start at 0");
    for (index_t u = 0; u < n_users; ++u)
        require(indptr[u] <= indptr[u + 1], "nmf_fast_estimates: indptr decreases");
    for (index_t r = 0; r < indptr[n_users]; ++r)
        require(items[r] >= 0 && items[r] < n_items, "nmf_fast_estimates: item id out of range");
    nmf_detail::dots(indptr, items, n_users, pu, qi, n_factors, est, n_threads);
    if (!biased) return;
    const Real mu = static_cast<Real>(global_mean);
    const Real lr_bu = static_cast<Real>(p.lr_bu), lr_bi = static_cast<Real>(p.lr_bi);
    const Real reg_bu = static_cast<Real>(p.reg_bu), reg_bi = static_cast<Real>(p.reg_bi);
    for (index_t u = 0; u < n_users; ++u) {
        Real b = bu[u];
        for (std::int64_t r = indptr[u]; r < indptr[u + 1]; ++r) {
            const index_t i = items[r];
            const Real e = ((mu + b) + bi[i]) + est[r];
            const Real err = ratings[r] - e;
            b += lr_bu * (err - reg_bu * b);
            bi[i] += lr_bi * (err - reg_bi * bi[i]);
            est[r] = e;
        }
        bu[u] = b;
    }
}

// pu_new[u] = the multiplicative step of user u from its ratings' estimates (pu unchanged).
// scratch: 2 * n_factors * n_threads entries.
template <typename Real>
void nmf_fast_users(const std::int64_t* indptr, const std::int32_t* items, const Real* ratings,
                    const Real* est, index_t n_users, index_t n_items, index_t n_factors,
                    const Real* pu, const Real* qi, double reg_pu, Real* pu_new, Real* scratch,
                    int n_threads) {
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "nmf_fast_users: negative size");
    require(n_threads >= 1, "nmf_fast_users: n_threads must be >= 1");
    require(indptr[0] == 0, "nmf_fast_users: indptr must start at 0");
    for (index_t u = 0; u < n_users; ++u)
        require(indptr[u] <= indptr[u + 1], "nmf_fast_users: indptr decreases");
    for (index_t r = 0; r < indptr[n_users]; ++r)
        require(items[r] >= 0 && items[r] < n_items, "nmf_fast_users: item id out of range");
    nmf_detail::users(indptr, items, ratings, est, n_users, pu, qi, n_factors,
                      static_cast<Real>(reg_pu), pu_new, scratch, n_threads);
}

// qi[i] <- the multiplicative step of item i, in place. item_ptr groups item_pos by item;
// item_pos[s] is the rating's index in the user-grouped arrays (users = its user).
template <typename Real>
void nmf_fast_items(const std::int64_t* item_ptr, const std::int64_t* item_pos,
                    const std::int32_t* users, index_t n_ratings, const Real* ratings,
                    const Real* est, index_t n_users, index_t n_items, index_t n_factors,
                    const Real* pu, Real* qi, double reg_qi, Real* scratch, int n_threads) {
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "nmf_fast_items: negative size");
    require(n_threads >= 1, "nmf_fast_items: n_threads must be >= 1");
    require(item_ptr[0] == 0 && item_ptr[n_items] == n_ratings,
            "nmf_fast_items: item_ptr does not span the ratings");
    for (index_t i = 0; i < n_items; ++i)
        require(item_ptr[i] <= item_ptr[i + 1], "nmf_fast_items: item_ptr decreases");
    for (index_t s = 0; s < n_ratings; ++s) {
        require(item_pos[s] >= 0 && item_pos[s] < n_ratings, "nmf_fast_items: position out of range");
        require(users[item_pos[s]] >= 0 && users[item_pos[s]] < n_users,
                "nmf_fast_items: user id out of range");
    }
    nmf_detail::items_(item_ptr, item_pos, users, ratings, est, n_items, pu, qi, n_factors,
                       static_cast<Real>(reg_qi), scratch, n_threads);
}

}  // namespace turbosvd

#undef TURBOSVD_NMF_SIMD
