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
// 2. The parallel epoch (schedule "blocked", the default): the same sums, gathered per
//    row instead of scattered per rating, one call per epoch (nmf_fast_epoch; details,
//    parallel strategy and determinism at the "fast" section below). Results are
//    bit-identical for any number of threads; they differ from the exact schedule only by
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
//
// Working layout (built once per fit by turbosvd/train/nmf.py, checked once by
// nmf_fast_check_layout): the ratings grouped by user (indptr, items, ratings) and by item
// (item_ptr, item_users, item_ratings, item_pos = the rating's index in the user order);
// factors stored with a row stride kp >= k that is a multiple of the SIMD width W (zero
// padding: a zero factor stays zero under a multiplicative step), so every loop over the
// factors is whole vectors, with no scalar tail (k = 15 or 20 are the common sizes).
//
// One epoch is one call (nmf_fast_epoch), one OpenMP team:
//   biased only: est[r] = <qi, pu> for every rating (parallel over users), then the bias
//     SGD in Surprise's order on one thread (est[r] = mu + bu + bi + dot), O(|R|);
//   users (parallel, dynamic chunks): per user, num = sum qi r, den = sum qi est over its
//     ratings in trainset order (unbiased: est = <qi, pu> computed here and stored), then
//     pu_new = pu * num / (den + |I_u| reg pu) where pu != 0;
//   items (parallel, after the users' barrier): per item, the same sums of the OLD pu over
//     its ratings in user order, qi updated in place.
// Each row's two sums are held in registers when the stride is 1-4 vectors (RowSums;
// k <= 32 in float32, the common case), else in the thread's scratch: the same operations.
// Determinism: every sum belongs to one row, accumulated by one thread in a fixed order;
// the dot product's lanes are fixed by the source (W lanes, then a fixed tree), so the
// result is bit-identical for any number of threads. Cost O(|R| kp) per epoch; memory
// 2 |R| (index + value) per grouping plus |R| estimates.

namespace nmf_detail {

template <typename Real>
constexpr index_t kWidth = static_cast<index_t>(32 / sizeof(Real));  // one 256-bit register

template <typename Real>
TURBOSVD_INLINE Real padded_dot(const Real* TURBOSVD_RESTRICT a, const Real* TURBOSVD_RESTRICT b,
                                index_t kp) {
    constexpr index_t W = kWidth<Real>;
    alignas(64) Real acc[W] = {};
    for (index_t f0 = 0; f0 < kp; f0 += W) {
        TURBOSVD_NMF_SIMD
        for (index_t l = 0; l < W; ++l) acc[l] += a[f0 + l] * b[f0 + l];
    }
    for (index_t h = W / 2; h >= 1; h /= 2) {
        for (index_t l = 0; l < h; ++l) acc[l] += acc[l + h];
    }
    return acc[0];
}

// num += y rv; den += y ev over whole vectors.
template <typename Real>
TURBOSVD_INLINE void accumulate(Real* TURBOSVD_RESTRICT num, Real* TURBOSVD_RESTRICT den,
                                const Real* TURBOSVD_RESTRICT y, Real rv, Real ev, index_t kp) {
    TURBOSVD_NMF_SIMD
    for (index_t f = 0; f < kp; ++f) {
        num[f] += y[f] * rv;
        den[f] += y[f] * ev;
    }
}

// out = x * num / (den + n reg x) where x != 0; a row without ratings keeps x.
template <typename Real>
TURBOSVD_INLINE void step(const Real* x, Real* out, const Real* TURBOSVD_RESTRICT num,
                          const Real* TURBOSVD_RESTRICT den, std::int64_t n, Real reg,
                          index_t kp) {
    if (n == 0) {  // no ratings, nothing learnt (Surprise has no such rows)
        for (index_t f = 0; f < kp; ++f) out[f] = x[f];
        return;
    }
    const Real n_reg = static_cast<Real>(n) * reg;
    TURBOSVD_NMF_SIMD
    for (index_t f = 0; f < kp; ++f) {
        const Real v = x[f];
        out[f] = v != 0 ? v * (num[f] / (den[f] + n_reg * v)) : v;
    }
}

// The two sums (num, den) of one row over its ratings, as accumulate() computes them, and
// the step from them. NV > 0 (GCC/clang only): a stride of NV vectors known at compile
// time, the sums held in registers as 256-bit vector types (split in two on the baseline
// clone); the same products in the same order as accumulate(), so bit-identical results,
// about twice as fast as sums stored and reloaded at every rating. NV = 0: any stride,
// the sums in the thread's scratch.
template <typename Real, index_t NV>
struct RowSums;

template <typename Real>
struct RowSums<Real, 0> {
    Real* TURBOSVD_RESTRICT num;
    Real* TURBOSVD_RESTRICT den;
    index_t kp;

    RowSums(Real* scratch, index_t kp_) : num(scratch), den(scratch + kp_), kp(kp_) {}
    TURBOSVD_INLINE void clear() {
        for (index_t f = 0; f < kp; ++f) num[f] = den[f] = 0;
    }
    TURBOSVD_INLINE void add(const Real* TURBOSVD_RESTRICT y, Real rv, Real ev) {
        accumulate(num, den, y, rv, ev, kp);
    }
    TURBOSVD_INLINE void step(const Real* x, Real* out, std::int64_t n, Real reg) const {
        nmf_detail::step(x, out, num, den, n, reg, kp);
    }
};

#if defined(__GNUC__)
#define TURBOSVD_NMF_REGISTER_SUMS 1
template <typename Real, index_t NV>
struct RowSums {
    typedef Real vec __attribute__((vector_size(32)));
    static constexpr index_t W = kWidth<Real>;
    vec num[NV], den[NV];

    RowSums(Real*, index_t) {}
    TURBOSVD_INLINE void clear() {
        for (index_t v = 0; v < NV; ++v) num[v] = den[v] = vec{};
    }
    TURBOSVD_INLINE void add(const Real* TURBOSVD_RESTRICT y, Real rv, Real ev) {
        for (index_t v = 0; v < NV; ++v) {
            vec yv;
            __builtin_memcpy(&yv, y + v * W, sizeof yv);
            num[v] += yv * rv;
            den[v] += yv * ev;
        }
    }
    TURBOSVD_INLINE void step(const Real* x, Real* out, std::int64_t n, Real reg) const {
        alignas(32) Real nu[NV * W], de[NV * W];
        __builtin_memcpy(nu, num, sizeof num);
        __builtin_memcpy(de, den, sizeof den);
        nmf_detail::step(x, out, nu, de, n, reg, NV * W);
    }
};
#else
#define TURBOSVD_NMF_REGISTER_SUMS 0
#endif

}  // namespace nmf_detail

// Everything one fast epoch reads and writes (pointers into numpy arrays, sizes).
template <typename Real>
struct NmfFastJob {
    const std::int64_t* indptr;      // n_users + 1
    const std::int32_t* items;       // |R|, user order
    const Real* ratings;             // |R|, user order
    const std::int64_t* item_ptr;    // n_items + 1
    const std::int32_t* item_users;  // |R|, item order
    const Real* item_ratings;        // |R|, item order
    const std::int64_t* item_pos;    // |R|: index in the user order of each item-order rating
    index_t n_users, n_items, kp;
    const Real* pu;  // n_users x kp, this epoch's user factors (read)
    Real* pu_new;    // n_users x kp, the next ones (written)
    Real* qi;        // n_items x kp, updated in place
    Real* bu;        // n_users (biased only)
    Real* bi;        // n_items (biased only)
    Real* est;       // |R| estimates, user order (scratch)
    Real* scratch;   // 2 kp per thread
    Real mu, lr_bu, lr_bi, reg_bu, reg_bi, reg_pu, reg_qi;
    bool biased;
};

// One epoch (the three passes above); NV: the stride in vectors when known at compile
// time (RowSums), else 0.
template <typename Real, index_t NV>
TURBOSVD_DISPATCH void nmf_fast_epoch_body(const NmfFastJob<Real>& j, int nt) noexcept {
    const index_t kp = NV > 0 ? NV * nmf_detail::kWidth<Real> : j.kp;
    TURBOSVD_OMP(parallel num_threads(nt))
    {
        nmf_detail::RowSums<Real, NV> sums(j.scratch + thread_id() * 2 * j.kp, j.kp);
        if (j.biased) {
            TURBOSVD_OMP_FOR(schedule(dynamic, 64))
            for (index_t u = 0; u < j.n_users; ++u) {
                const Real* p = j.pu + u * kp;
                for (std::int64_t r = j.indptr[u]; r < j.indptr[u + 1]; ++r)
                    j.est[r] = nmf_detail::padded_dot(j.qi + j.items[r] * kp, p, kp);
            }
            TURBOSVD_OMP(single)
            for (index_t u = 0; u < j.n_users; ++u) {
                Real b = j.bu[u];
                for (std::int64_t r = j.indptr[u]; r < j.indptr[u + 1]; ++r) {
                    const index_t i = j.items[r];
                    const Real e = ((j.mu + b) + j.bi[i]) + j.est[r];
                    const Real err = j.ratings[r] - e;
                    b += j.lr_bu * (err - j.reg_bu * b);
                    j.bi[i] += j.lr_bi * (err - j.reg_bi * j.bi[i]);
                    j.est[r] = e;
                }
                j.bu[u] = b;
            }
        }
        TURBOSVD_OMP_FOR(schedule(dynamic, 32))
        for (index_t u = 0; u < j.n_users; ++u) {
            const Real* p = j.pu + u * kp;
            sums.clear();
            if (j.biased) {
                for (std::int64_t r = j.indptr[u]; r < j.indptr[u + 1]; ++r)
                    sums.add(j.qi + j.items[r] * kp, j.ratings[r], j.est[r]);
            } else {
                for (std::int64_t r = j.indptr[u]; r < j.indptr[u + 1]; ++r) {
                    const Real* y = j.qi + j.items[r] * kp;
                    const Real e = nmf_detail::padded_dot(y, p, kp);
                    j.est[r] = e;
                    sums.add(y, j.ratings[r], e);
                }
            }
            sums.step(p, j.pu_new + u * kp, j.indptr[u + 1] - j.indptr[u], j.reg_pu);
        }
        // (the implicit barrier: every estimate is written before the items read them)
        TURBOSVD_OMP_FOR(schedule(dynamic, 32))
        for (index_t i = 0; i < j.n_items; ++i) {
            sums.clear();
            for (std::int64_t s = j.item_ptr[i]; s < j.item_ptr[i + 1]; ++s)
                sums.add(j.pu + static_cast<index_t>(j.item_users[s]) * kp, j.item_ratings[s],
                         j.est[j.item_pos[s]]);
            sums.step(j.qi + i * kp, j.qi + i * kp, j.item_ptr[i + 1] - j.item_ptr[i], j.reg_qi);
        }
    }
    (void)nt;
}

// Checks a fast layout once per fit (the epochs then trust it): pointers monotone and
// spanning the ratings, every id in range, item_pos a map into the ratings whose user and
// rating agree with the user grouping. O(|R|).
inline void nmf_fast_check_layout(const std::int64_t* indptr, const std::int32_t* items,
                                  const std::int64_t* item_ptr, const std::int32_t* item_users,
                                  const std::int64_t* item_pos, index_t n_users, index_t n_items,
                                  index_t n_ratings) {
    require(n_users >= 0 && n_items >= 0 && n_ratings >= 0, "nmf layout: negative size");
    require(indptr[0] == 0 && indptr[n_users] == n_ratings,
            "nmf layout: indptr does not span the ratings");
    require(item_ptr[0] == 0 && item_ptr[n_items] == n_ratings,
            "nmf layout: item_ptr does not span the ratings");
    for (index_t u = 0; u < n_users; ++u)
        require(indptr[u] <= indptr[u + 1], "nmf layout: indptr decreases");
    for (index_t i = 0; i < n_items; ++i)
        require(item_ptr[i] <= item_ptr[i + 1], "nmf layout: item_ptr decreases");
    for (index_t r = 0; r < n_ratings; ++r)
        require(items[r] >= 0 && items[r] < n_items, "nmf layout: item id out of range");
    for (index_t i = 0; i < n_items; ++i) {
        for (std::int64_t s = item_ptr[i]; s < item_ptr[i + 1]; ++s) {
            const std::int64_t r = item_pos[s];
            require(r >= 0 && r < n_ratings && items[r] == i, "nmf layout: item_pos is not a grouping");
            const std::int32_t u = item_users[s];
            require(u >= 0 && u < n_users && indptr[u] <= r && r < indptr[u + 1],
                    "nmf layout: item_users disagrees with indptr");
        }
    }
}

// One fast epoch over a checked layout (see above); sizes of the job's arrays are checked
// by the caller. n_threads >= 1.
template <typename Real>
void nmf_fast_epoch(const NmfFastJob<Real>& job, int n_threads) {
    require(n_threads >= 1, "nmf_fast_epoch: n_threads must be >= 1");
    require(job.kp % nmf_detail::kWidth<Real> == 0, "nmf_fast_epoch: kp must be a multiple of the SIMD width");
#if TURBOSVD_NMF_REGISTER_SUMS
    switch (job.kp / nmf_detail::kWidth<Real>) {  // the common strides: sums in registers
        case 1: nmf_fast_epoch_body<Real, 1>(job, n_threads); return;
        case 2: nmf_fast_epoch_body<Real, 2>(job, n_threads); return;
        case 3: nmf_fast_epoch_body<Real, 3>(job, n_threads); return;
        case 4: nmf_fast_epoch_body<Real, 4>(job, n_threads); return;
        default: break;
    }
#endif
    nmf_fast_epoch_body<Real, 0>(job, n_threads);
}

}  // namespace turbosvd

#undef TURBOSVD_NMF_SIMD
#undef TURBOSVD_NMF_REGISTER_SUMS
