// svdpp.hpp: SVD++ (Koren 2008) trained by SGD: Surprise's exact epoch and the fast
// user-batched schedule.
//
// Model: est(u, i) = mu + bu[u] + bi[i] + <qi[i], pu[u] + z_u>, where the implicit vector
// z_u = |I_u|^-1/2 sum_{j in I_u} yj[j] sums the y rows of the items u rated.
//
// 1. svdpp_epoch_exact (schedule "exact"): Surprise's epoch, operation for operation. For
//    every rating (u, i, r) in Surprise's order (users in inner-id order, each user's
//    ratings in insertion order): z = sum_k (yj[j_k] / sqrt|I_u|) left to right; the dot
//    product left to right; err; the biases; then for every f from the old pu, qi:
//      pu += lr_pu (err qi - reg_pu pu); qi += lr_qi (err (pu + z) - reg_qi qi);
//      every yj[j] (j in I_u, repeats included) += lr_yj ((err qi) / sqrt|I_u| - reg_yj yj).
//    Surprise loops f outside and j inside; every (j, f) element depends only on itself
//    and on per-f constants, so this kernel loops j outside and f inside (rows streamed,
//    SIMD over f) and still performs the same operations on every element in the same
//    order: the result is bit-identical to scikit-surprise on x86-64. FMA contraction is
//    off (a fused multiply-add rounds differently); the elementwise loops are SIMD (IEEE
//    operations round alike in every lane), the dot product is summed left to right.
//    Cost O(sum_u |I_u|^2 k) per epoch, as Surprise's; one thread.
//
// 2. The user-batched schedule (schedule "fast"). Surprise's y update gives every y row of
//    u's items the same affine step per rating: y <- (1 - a) y + lr_yj c_r with
//    a = lr_yj reg_yj and c_r = err_r qi / sqrt|I_u|. So after u's n ratings each of these
//    rows is alpha_u y + beta_u (alpha_u = (1 - a)^n, beta_u <- (1 - a) beta_u + lr_yj c_r),
//    and z_u follows z <- (1 - a) z + lr_yj err qi, all in O(k) per rating. The schedule
//    computes z_u once per epoch from the y rows of the epoch's start
//    (svdpp_implicit_sums), runs SGD on (pu, qi, bu, bi) with z_u and beta_u tracked per
//    rating (svdpp_epoch_batched), and applies every user's affine map to the y rows of
//    its items at the end of the epoch (svdpp_apply_y). It is Surprise's update except
//    that z_u starts the epoch from y as it was at the epoch's start instead of after the
//    previous users' updates: O(|R| k) per epoch instead of O(sum_u |I_u|^2 k).
//    Parallel strategy: the SGD part runs on sgd_blocked.hpp's blocked layout (B x B grid
//    of user bins x item bins, conflict-free waves, the same wave scheduler); the implicit
//    sums run over user bins (each bin's users are one thread's), the y update over item
//    bins (each bin's items are one thread's, users applied in layout order).
//    Determinism: every row is updated by one thread in an order fixed by the layout, so
//    results are bit-identical for any number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "common.hpp"
#include "sgd.hpp"
#include "sgd_blocked.hpp"

namespace turbosvd {

struct SvdppRates {
    double lr_bu, lr_bi, lr_pu, lr_qi, lr_yj;
    double reg_bu, reg_bi, reg_pu, reg_qi, reg_yj;
};

// ------------------------------------------------------------------------- exact epoch

namespace svdpp_exact_detail {

// The epoch body. Every loop over f is elementwise (each element gets the same operations
// as in Surprise, so vector width does not matter: IEEE division, product and sum round
// alike in every lane) except the dot product, summed left to right. It is SIMD-cloned with
// FMA contraction off (a fused multiply-add would round differently). Never throws: the
// ids are validated by the caller.
//
// A user's y rows are copied into a contiguous buffer for the user's ratings and written
// back after them (the same values, so the same results): the rows then stream, and the
// y update of one rating also sums the next rating's implicit vector in the same pass
// (Surprise's sum: (y_0 / s + y_1 / s) + ..., in I_u's order). A user who rated an item
// twice has that row twice in I_u, updated twice per rating: such users take the direct
// path on the shared rows.
TURBOSVD_DISPATCH TURBOSVD_NO_CONTRACT inline void users(
    const std::int64_t* TURBOSVD_RESTRICT indptr, const std::int32_t* TURBOSVD_RESTRICT items,
    const double* TURBOSVD_RESTRICT ratings, index_t k, double* pu, double* qi, double* yj,
    double* bu, double* bi, double mu, SvdppRates p, index_t user_begin, index_t user_end,
    double* TURBOSVD_RESTRICT impl, double* TURBOSVD_RESTRICT coef,
    double* TURBOSVD_RESTRICT buf, index_t* TURBOSVD_RESTRICT stamp) noexcept {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const double lr_bu = p.lr_bu, lr_bi = p.lr_bi, lr_pu = p.lr_pu, lr_qi = p.lr_qi;
    const double lr_yj = p.lr_yj, reg_bu = p.reg_bu, reg_bi = p.reg_bi, reg_pu = p.reg_pu;
    const double reg_qi = p.reg_qi, reg_yj = p.reg_yj;
    for (index_t u = user_begin; u < user_end; ++u) {
        const std::int64_t begin = indptr[u], end = indptr[u + 1];
        const index_t n = end - begin;
        if (n == 0) continue;
        const double sqrt_iu = std::sqrt(static_cast<double>(n));
        double* TURBOSVD_RESTRICT pu_u = pu + u * k;
        bool repeated = false;
        for (std::int64_t kk = begin; kk < end; ++kk) {
            repeated |= stamp[items[kk]] == u;
            stamp[items[kk]] = u;
        }
        // The y rows the ratings read and update: the buffer, or the shared rows.
        const auto row = [&](std::int64_t kk) -> double* {
            return repeated ? yj + static_cast<index_t>(items[begin + kk]) * k : buf + kk * k;
        };
        if (!repeated)
            for (index_t kk = 0; kk < n; ++kk) {
                const double* TURBOSVD_RESTRICT y = yj + static_cast<index_t>(items[begin + kk]) * k;
                double* TURBOSVD_RESTRICT b = buf + kk * k;
                for (index_t f = 0; f < k; ++f) b[f] = y[f];
            }
        for (index_t f = 0; f < k; ++f) impl[f] = 0.0;
        for (index_t kk = 0; kk < n; ++kk) {
            const double* TURBOSVD_RESTRICT y = row(kk);
            TURBOSVD_OMP_SIMD
            for (index_t f = 0; f < k; ++f) impl[f] += y[f] / sqrt_iu;
        }
        for (std::int64_t rr = begin; rr < end; ++rr) {
            const index_t i = items[rr];
            double* TURBOSVD_RESTRICT qi_i = qi + i * k;
            double dot = 0.0;
            for (index_t f = 0; f < k; ++f) dot += qi_i[f] * (pu_u[f] + impl[f]);
            const double err = ratings[rr] - (((mu + bu[u]) + bi[i]) + dot);
            bu[u] += lr_bu * (err - reg_bu * bu[u]);
            bi[i] += lr_bi * (err - reg_bi * bi[i]);
            TURBOSVD_OMP_SIMD
            for (index_t f = 0; f < k; ++f) {
                const double puf = pu_u[f];
                const double qif = qi_i[f];
                pu_u[f] = puf + lr_pu * (err * qif - reg_pu * puf);
                qi_i[f] = qif + lr_qi * (err * (puf + impl[f]) - reg_qi * qif);
                coef[f] = err * qif / sqrt_iu;
            }
            // Surprise: for f: for j in I_u: yj[j, f] += lr_yj * (coef[f] - reg_yj * yj[j, f]).
            // Each element sees the same operations in the same order with j outside.
            const bool next = rr + 1 < end && !repeated;
            if (next)
                for (index_t f = 0; f < k; ++f) impl[f] = 0.0;
            for (index_t kk = 0; kk < n; ++kk) {
                double* TURBOSVD_RESTRICT y = row(kk);
                if (next) {
                    TURBOSVD_OMP_SIMD
                    for (index_t f = 0; f < k; ++f) {
                        const double v = y[f] + lr_yj * (coef[f] - reg_yj * y[f]);
                        y[f] = v;
                        impl[f] += v / sqrt_iu;
                    }
                } else {
                    TURBOSVD_OMP_SIMD
                    for (index_t f = 0; f < k; ++f) y[f] = y[f] + lr_yj * (coef[f] - reg_yj * y[f]);
                }
            }
            if (repeated && rr + 1 < end) {  // the shared rows: the sum after all updates
                for (index_t f = 0; f < k; ++f) impl[f] = 0.0;
                for (index_t kk = 0; kk < n; ++kk) {
                    const double* TURBOSVD_RESTRICT y = row(kk);
                    TURBOSVD_OMP_SIMD
                    for (index_t f = 0; f < k; ++f) impl[f] += y[f] / sqrt_iu;
                }
            }
        }
        if (!repeated)
            for (index_t kk = 0; kk < n; ++kk) {
                double* TURBOSVD_RESTRICT y = yj + static_cast<index_t>(items[begin + kk]) * k;
                const double* TURBOSVD_RESTRICT b = buf + kk * k;
                for (index_t f = 0; f < k; ++f) y[f] = b[f];
            }
    }
}

}  // namespace svdpp_exact_detail

// Users [user_begin, user_end) of one Surprise epoch (a long epoch runs as several calls
// on consecutive user ranges, which is the same computation). indptr/items/ratings: the
// trainset grouped by user in Surprise's order. impl and coef: scratch of n_factors.
inline void svdpp_epoch_exact(const std::int64_t* indptr, const std::int32_t* items,
                              const double* ratings, index_t n_users, index_t n_items,
                              index_t n_factors, double* pu, double* qi, double* yj, double* bu,
                              double* bi, double global_mean, const SvdppRates& p,
                              index_t user_begin, index_t user_end, double* impl, double* coef) {
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "svdpp_epoch_exact: negative size");
    require(0 <= user_begin && user_begin <= user_end && user_end <= n_users,
            "svdpp_epoch_exact: user range out of bounds");
    index_t longest = 0;
    for (index_t u = user_begin; u < user_end; ++u) {
        require(indptr[u] <= indptr[u + 1], "svdpp_epoch_exact: indptr decreases");
        longest = std::max<index_t>(longest, indptr[u + 1] - indptr[u]);
    }
    for (index_t r = indptr[user_begin]; r < indptr[user_end]; ++r)
        require(items[r] >= 0 && items[r] < n_items, "svdpp_epoch_exact: item id out of range");
    std::vector<double> buf(static_cast<std::size_t>(longest * n_factors) + 1);
    std::vector<index_t> stamp(static_cast<std::size_t>(n_items) + 1, -1);
    svdpp_exact_detail::users(indptr, items, ratings, n_factors, pu, qi, yj, bu, bi, global_mean,
                              p, user_begin, user_end, impl, coef, buf.data(), stamp.data());
}

// ----------------------------------------------------------------------- user vectors

// out[u] = pu[u] + (sum_{j in I_u} yj[j]) / sqrt|I_u|, the sum left to right in the given
// order (users without ratings: pu[u]). This is Surprise's estimate-time implicit vector
// (a Python sum of rows, then one division), so its bits are Surprise's. Parallel over
// users (static), each row independent: any thread count gives the same bits.
template <typename Real>
void svdpp_user_vectors(const std::int64_t* indptr, const std::int32_t* items, index_t n_users,
                        index_t n_items, index_t n_factors, const Real* pu, const Real* yj,
                        double* out, int n_threads) {
    require(n_users >= 0 && n_factors >= 0, "svdpp_user_vectors: negative size");
    require(n_threads >= 1, "svdpp_user_vectors: n_threads must be >= 1");
    for (index_t r = 0; r < indptr[n_users]; ++r)
        require(items[r] >= 0 && items[r] < n_items, "svdpp_user_vectors: item id out of range");
    const index_t k = n_factors;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) if (indptr[n_users] * k > 1000000)
#endif
    for (index_t u = 0; u < n_users; ++u) {
        double* TURBOSVD_RESTRICT o = out + u * k;
        for (index_t f = 0; f < k; ++f) o[f] = 0.0;
        const std::int64_t begin = indptr[u], end = indptr[u + 1];
        for (std::int64_t r = begin; r < end; ++r) {
            const Real* TURBOSVD_RESTRICT y = yj + static_cast<index_t>(items[r]) * k;
            for (index_t f = 0; f < k; ++f) o[f] += static_cast<double>(y[f]);
        }
        const Real* TURBOSVD_RESTRICT p = pu + u * k;
        if (begin == end) {
            for (index_t f = 0; f < k; ++f) o[f] = static_cast<double>(p[f]);
            continue;
        }
        const double s = std::sqrt(static_cast<double>(end - begin));
        for (index_t f = 0; f < k; ++f) o[f] = static_cast<double>(p[f]) + o[f] / s;
    }
    (void)n_threads;
}

// ------------------------------------------------------------------ batched schedule

namespace svdpp_detail {

// The fields one block needs, read from the blocked layout (sgd_blocked.hpp).
template <typename Real>
struct Job {
    const std::int64_t* block_ptr;
    index_t n_bins;
    const std::int32_t* run_user;
    const std::int64_t* run_ptr;
    const std::int32_t* items;
    const Real* ratings;
    Real *pu, *qi, *bu, *bi;
    Real* z;      // (n_users, k): the user's implicit vector, tracked through the epoch
    Real* beta;   // (n_users, k): the additive part of the user's y map
    Real* alpha;  // (n_users,): the multiplicative part of the user's y map
    const Real* inv_sqrt;  // (n_users,): |I_u|^-1/2
    index_t k, n_items;
    Real mu;
    Real lr_bu, lr_bi, lr_pu, lr_qi, lr_yj, reg_bu, reg_bi, reg_pu, reg_qi, decay;
};

// <q, p + z> in sgd_blocked.hpp's fixed lanes (the order is in the source: every SIMD clone
// sums alike and no reassociation is needed).
template <typename Real>
TURBOSVD_INLINE Real dot_sum(const Real* TURBOSVD_RESTRICT q, const Real* TURBOSVD_RESTRICT p,
                             const Real* TURBOSVD_RESTRICT z, index_t n) {
    constexpr int W = blocked_detail::kLanes<Real>;
    alignas(64) Real acc[W] = {};
    index_t f0 = 0;
    for (; f0 + W <= n; f0 += W) {
        TURBOSVD_OMP_SIMD
        for (int l = 0; l < W; ++l) acc[l] += q[f0 + l] * (p[f0 + l] + z[f0 + l]);
    }
    Real t = 0;
    for (index_t f = f0; f < n; ++f) t += q[f] * (p[f] + z[f]);
    return blocked_detail::lane_sum<W>(acc) + t;
}

// One block, serially: every run (one user), every rating of the run in order. Returns
// false if an item id is out of range (the rest of the block is skipped).
template <typename Real>
TURBOSVD_INLINE bool block(const Job<Real>& j, index_t blk) {
    const index_t k = j.k;
    const Real mu = j.mu, lr_bu = j.lr_bu, lr_bi = j.lr_bi, reg_bu = j.reg_bu, reg_bi = j.reg_bi;
    const Real lr_pu = j.lr_pu, lr_qi = j.lr_qi, reg_pu = j.reg_pu, reg_qi = j.reg_qi;
    const Real lr_yj = j.lr_yj, decay = j.decay;
    const std::int32_t* TURBOSVD_RESTRICT items = j.items;
    const Real* TURBOSVD_RESTRICT ratings = j.ratings;
    for (std::int64_t run = j.block_ptr[blk]; run < j.block_ptr[blk + 1]; ++run) {
        const index_t u = j.run_user[run];
        Real* TURBOSVD_RESTRICT pu_u = j.pu + u * k;
        Real* TURBOSVD_RESTRICT z_u = j.z + u * k;
        Real* TURBOSVD_RESTRICT b_u = j.beta + u * k;
        const Real scale = lr_yj * j.inv_sqrt[u];
        Real bu_u = j.bu[u];
        Real alpha_u = j.alpha[u];
        for (std::int64_t r = j.run_ptr[run]; r < j.run_ptr[run + 1]; ++r) {
            const index_t i = items[r];
            if (i < 0 || i >= j.n_items) return false;
            Real* TURBOSVD_RESTRICT qi_i = j.qi + i * k;
            const Real d = dot_sum(qi_i, pu_u, z_u, k);
            const Real err = ratings[r] - (((mu + bu_u) + j.bi[i]) + d);
            bu_u += lr_bu * (err - reg_bu * bu_u);
            j.bi[i] += lr_bi * (err - reg_bi * j.bi[i]);
            alpha_u *= decay;
            TURBOSVD_OMP_SIMD
            for (index_t f = 0; f < k; ++f) {
                const Real p = pu_u[f];
                const Real q = qi_i[f];
                const Real zf = z_u[f];
                pu_u[f] = p + lr_pu * (err * q - reg_pu * p);
                qi_i[f] = q + lr_qi * (err * (p + zf) - reg_qi * q);
                z_u[f] = decay * zf + lr_yj * (err * q);
                b_u[f] = decay * b_u[f] + scale * (err * q);
            }
        }
        j.bu[u] = bu_u;
        j.alpha[u] = alpha_u;
    }
    return true;
}

template <typename Real>
TURBOSVD_INLINE void waves(const Job<Real>& j, const index_t* order,
                           blocked_detail::Progress* p) {
    blocked_detail::run_waves(j.n_bins, order, p, [&](index_t blk) { return block(j, blk); });
}

#ifdef _OPENMP
#define TURBOSVD_OMP_PARALLEL_NT _Pragma("omp parallel num_threads(nt)")
#else
#define TURBOSVD_OMP_PARALLEL_NT
#endif

TURBOSVD_DISPATCH inline int run_epoch_f32(const Job<float>& job, const index_t* order,
                                            index_t first_wave, index_t last_wave,
                                            int nt) noexcept {
    blocked_detail::Progress progress(job.n_bins, first_wave, last_wave);
    TURBOSVD_OMP_PARALLEL_NT
    waves(job, order, &progress);
    (void)nt;
    return progress.bad.load();
}

TURBOSVD_DISPATCH inline int run_epoch_f64(const Job<double>& job, const index_t* order,
                                            index_t first_wave, index_t last_wave,
                                            int nt) noexcept {
    blocked_detail::Progress progress(job.n_bins, first_wave, last_wave);
    TURBOSVD_OMP_PARALLEL_NT
    waves(job, order, &progress);
    (void)nt;
    return progress.bad.load();
}

inline int run_epoch(const Job<float>& job, const index_t* order, index_t first_wave,
                     index_t last_wave, int nt) {
    return run_epoch_f32(job, order, first_wave, last_wave, nt);
}

inline int run_epoch(const Job<double>& job, const index_t* order, index_t first_wave,
                     index_t last_wave, int nt) {
    return run_epoch_f64(job, order, first_wave, last_wave, nt);
}

// z[u] = inv_sqrt[u] * sum of yj over u's ratings (blocks of the user bin in item-bin
// order, runs in layout order); one thread per user bin.
template <typename Real>
TURBOSVD_INLINE int implicit_sums(const std::int64_t* block_ptr, index_t B,
                                  const std::int32_t* run_user, const std::int64_t* run_ptr,
                                  const std::int32_t* items, index_t n_items, const Real* yj,
                                  const std::int64_t* user_ptr, const Real* inv_sqrt, Real* z,
                                  index_t k, index_t ub) {
    int bad = 0;
    {
        for (index_t u = user_ptr[ub]; u < user_ptr[ub + 1]; ++u) {
            Real* TURBOSVD_RESTRICT zu = z + u * k;
            for (index_t f = 0; f < k; ++f) zu[f] = 0;
        }
        for (index_t ib = 0; ib < B; ++ib) {
            const index_t blk = ub * B + ib;
            for (std::int64_t run = block_ptr[blk]; run < block_ptr[blk + 1]; ++run) {
                Real* TURBOSVD_RESTRICT zu = z + static_cast<index_t>(run_user[run]) * k;
                for (std::int64_t r = run_ptr[run]; r < run_ptr[run + 1]; ++r) {
                    if (items[r] < 0 || items[r] >= n_items) {
                        bad = 1;
                        continue;
                    }
                    const Real* TURBOSVD_RESTRICT y = yj + static_cast<index_t>(items[r]) * k;
                    TURBOSVD_OMP_SIMD
                    for (index_t f = 0; f < k; ++f) zu[f] += y[f];
                }
            }
        }
        for (index_t u = user_ptr[ub]; u < user_ptr[ub + 1]; ++u) {
            Real* TURBOSVD_RESTRICT zu = z + u * k;
            const Real s = inv_sqrt[u];
            TURBOSVD_OMP_SIMD
            for (index_t f = 0; f < k; ++f) zu[f] *= s;
        }
    }
    return bad;
}

// yj[j] <- alpha[u] yj[j] + beta[u] for every rating (u, j), blocks of an item bin in
// user-bin order, runs in layout order; one thread per item bin.
template <typename Real>
TURBOSVD_INLINE int apply_y(const std::int64_t* block_ptr, index_t B,
                            const std::int32_t* run_user, const std::int64_t* run_ptr,
                            const std::int32_t* items, index_t n_items, Real* yj,
                            const Real* alpha, const Real* beta, index_t k, index_t ib) {
    int bad = 0;
    {
        for (index_t ub = 0; ub < B; ++ub) {
            const index_t blk = ub * B + ib;
            for (std::int64_t run = block_ptr[blk]; run < block_ptr[blk + 1]; ++run) {
                const index_t u = run_user[run];
                const Real a = alpha[u];
                const Real* TURBOSVD_RESTRICT b = beta + u * k;
                for (std::int64_t r = run_ptr[run]; r < run_ptr[run + 1]; ++r) {
                    if (items[r] < 0 || items[r] >= n_items) {
                        bad = 1;
                        continue;
                    }
                    Real* TURBOSVD_RESTRICT y = yj + static_cast<index_t>(items[r]) * k;
                    TURBOSVD_OMP_SIMD
                    for (index_t f = 0; f < k; ++f) y[f] = a * y[f] + b[f];
                }
            }
        }
    }
    return bad;
}

// Dispatched entry points, one bin per iteration (never throw; a bad item id makes them
// return 1). The `omp parallel` sits in the dispatched function so that its outlined body
// is cloned with it (see sgd_blocked.hpp).
#ifdef _OPENMP
#define TURBOSVD_OMP_BINS _Pragma("omp parallel for schedule(dynamic, 1) num_threads(nt) reduction(| : bad)")
#else
#define TURBOSVD_OMP_BINS
#endif
#define TURBOSVD_SVDPP_SUMS(T, NAME)                                                          \
    TURBOSVD_DISPATCH inline int NAME(const std::int64_t* bp, index_t B, const std::int32_t* ru, \
                                      const std::int64_t* rp, const std::int32_t* it,         \
                                      index_t n_items, const T* yj, const std::int64_t* up,    \
                                      const T* is, T* z, index_t k, int nt) noexcept {          \
        int bad = 0;                                                                           \
        TURBOSVD_OMP_BINS                                                                      \
        for (index_t b = 0; b < B; ++b)                                                        \
            bad |= implicit_sums(bp, B, ru, rp, it, n_items, yj, up, is, z, k, b);             \
        (void)nt;                                                                              \
        return bad;                                                                            \
    }
#define TURBOSVD_SVDPP_APPLY(T, NAME)                                                         \
    TURBOSVD_DISPATCH inline int NAME(const std::int64_t* bp, index_t B, const std::int32_t* ru, \
                                      const std::int64_t* rp, const std::int32_t* it,         \
                                      index_t n_items, T* yj, const T* a, const T* b,          \
                                      index_t k, int nt) noexcept {                            \
        int bad = 0;                                                                           \
        TURBOSVD_OMP_BINS                                                                      \
        for (index_t ib = 0; ib < B; ++ib)                                                     \
            bad |= apply_y(bp, B, ru, rp, it, n_items, yj, a, b, k, ib);                       \
        (void)nt;                                                                              \
        return bad;                                                                            \
    }
TURBOSVD_SVDPP_SUMS(float, implicit_sums_f32)
TURBOSVD_SVDPP_SUMS(double, implicit_sums_f64)
TURBOSVD_SVDPP_APPLY(float, apply_y_f32)
TURBOSVD_SVDPP_APPLY(double, apply_y_f64)
#undef TURBOSVD_SVDPP_SUMS
#undef TURBOSVD_SVDPP_APPLY
#undef TURBOSVD_OMP_BINS

inline int implicit_sums_any(const std::int64_t* bp, index_t B, const std::int32_t* ru,
                             const std::int64_t* rp, const std::int32_t* it, index_t n_items,
                             const float* yj, const std::int64_t* up, const float* is, float* z,
                             index_t k, int nt) {
    return implicit_sums_f32(bp, B, ru, rp, it, n_items, yj, up, is, z, k, nt);
}
inline int implicit_sums_any(const std::int64_t* bp, index_t B, const std::int32_t* ru,
                             const std::int64_t* rp, const std::int32_t* it, index_t n_items,
                             const double* yj, const std::int64_t* up, const double* is,
                             double* z, index_t k, int nt) {
    return implicit_sums_f64(bp, B, ru, rp, it, n_items, yj, up, is, z, k, nt);
}
inline int apply_y_any(const std::int64_t* bp, index_t B, const std::int32_t* ru,
                       const std::int64_t* rp, const std::int32_t* it, index_t n_items, float* yj,
                       const float* a, const float* b, index_t k, int nt) {
    return apply_y_f32(bp, B, ru, rp, it, n_items, yj, a, b, k, nt);
}
inline int apply_y_any(const std::int64_t* bp, index_t B, const std::int32_t* ru,
                       const std::int64_t* rp, const std::int32_t* it, index_t n_items,
                       double* yj, const double* a, const double* b, index_t k, int nt) {
    return apply_y_f64(bp, B, ru, rp, it, n_items, yj, a, b, k, nt);
}

#undef TURBOSVD_OMP_PARALLEL_NT

// The layout's structure and ids, checked serially before any parallel work. user_ptr[b]
// is the first user of user bin b (user bins are contiguous id ranges).
inline void check_layout(const std::int64_t* block_ptr, index_t B, const std::int32_t* run_user,
                         const std::int64_t* run_ptr, index_t n_runs, const std::int32_t* items,
                         index_t n_ratings, const std::int64_t* user_ptr, index_t n_users,
                         index_t n_items) {
    require(B >= 1 && n_runs >= 0 && n_ratings >= 0, "svdpp: bad layout sizes");
    require(block_ptr[0] == 0 && block_ptr[B * B] == n_runs, "svdpp: block_ptr does not span the runs");
    require(run_ptr[0] == 0 && run_ptr[n_runs] == n_ratings, "svdpp: run_ptr does not span the ratings");
    require(user_ptr[0] == 0 && user_ptr[B] == n_users, "svdpp: user_ptr does not span the users");
    for (index_t b = 0; b < B; ++b)
        require(user_ptr[b] <= user_ptr[b + 1], "svdpp: user_ptr decreases");
    for (index_t b = 0; b < B * B; ++b) {
        require(block_ptr[b] <= block_ptr[b + 1], "svdpp: block_ptr decreases");
        const index_t ub = b / B;
        for (std::int64_t run = block_ptr[b]; run < block_ptr[b + 1]; ++run)
            require(run_user[run] >= user_ptr[ub] && run_user[run] < user_ptr[ub + 1],
                    "svdpp: run user outside its user bin");
    }
    for (index_t r = 0; r < n_runs; ++r)
        require(run_ptr[r] <= run_ptr[r + 1], "svdpp: run_ptr decreases");
    (void)items;
    (void)n_items;
}

}  // namespace svdpp_detail

// z[u] = |I_u|^-1/2 sum_{j in I_u} yj[j] over the blocked layout (one thread per user bin).
template <typename Real>
void svdpp_implicit_sums(const std::int64_t* block_ptr, index_t n_bins,
                         const std::int32_t* run_user, const std::int64_t* run_ptr,
                         index_t n_runs, const std::int32_t* items, index_t n_ratings,
                         const std::int64_t* user_ptr, index_t n_users, index_t n_items,
                         index_t n_factors, const Real* yj, const Real* inv_sqrt, Real* z,
                         int n_threads) {
    require(n_threads >= 1 && n_factors >= 0, "svdpp_implicit_sums: bad arguments");
    svdpp_detail::check_layout(block_ptr, n_bins, run_user, run_ptr, n_runs, items, n_ratings,
                               user_ptr, n_users, n_items);
    const int nt = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_bins)));
    if (svdpp_detail::implicit_sums_any(block_ptr, n_bins, run_user, run_ptr, items, n_items, yj,
                                        user_ptr, inv_sqrt, z, n_factors, nt))
        throw std::invalid_argument("svdpp_implicit_sums: item id out of range");
}

// Waves [first_wave, last_wave) of one batched SGD epoch over the blocked layout.
template <typename Real>
void svdpp_epoch_batched(const std::int64_t* block_ptr, index_t n_bins,
                         const std::int32_t* run_user, const std::int64_t* run_ptr,
                         index_t n_runs, const std::int32_t* items, const Real* ratings,
                         index_t n_ratings, const std::int64_t* user_ptr, index_t n_users,
                         index_t n_items, index_t n_factors, Real* pu, Real* qi, Real* bu,
                         Real* bi, Real* z, Real* beta, Real* alpha, const Real* inv_sqrt,
                         double global_mean, const SvdppRates& p, int n_threads,
                         index_t first_wave, index_t last_wave) {
    require(n_threads >= 1 && n_factors >= 0, "svdpp_epoch_batched: bad arguments");
    require(0 <= first_wave && first_wave <= last_wave && last_wave <= n_bins,
            "svdpp_epoch_batched: waves must satisfy 0 <= first_wave <= last_wave <= n_bins");
    svdpp_detail::check_layout(block_ptr, n_bins, run_user, run_ptr, n_runs, items, n_ratings,
                               user_ptr, n_users, n_items);
    svdpp_detail::Job<Real> j;
    j.block_ptr = block_ptr;
    j.n_bins = n_bins;
    j.run_user = run_user;
    j.run_ptr = run_ptr;
    j.items = items;
    j.ratings = ratings;
    j.pu = pu;
    j.qi = qi;
    j.bu = bu;
    j.bi = bi;
    j.z = z;
    j.beta = beta;
    j.alpha = alpha;
    j.inv_sqrt = inv_sqrt;
    j.k = n_factors;
    j.n_items = n_items;
    j.mu = static_cast<Real>(global_mean);
    j.lr_bu = static_cast<Real>(p.lr_bu);
    j.lr_bi = static_cast<Real>(p.lr_bi);
    j.lr_pu = static_cast<Real>(p.lr_pu);
    j.lr_qi = static_cast<Real>(p.lr_qi);
    j.lr_yj = static_cast<Real>(p.lr_yj);
    j.reg_bu = static_cast<Real>(p.reg_bu);
    j.reg_bi = static_cast<Real>(p.reg_bi);
    j.reg_pu = static_cast<Real>(p.reg_pu);
    j.reg_qi = static_cast<Real>(p.reg_qi);
    j.decay = static_cast<Real>(1.0 - p.lr_yj * p.reg_yj);
    const std::vector<index_t> order =
        blocked_detail::wave_order_by_size(block_ptr, n_bins, run_ptr);
    const int nt = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_bins)));
    if (svdpp_detail::run_epoch(j, order.data(), first_wave, last_wave, nt))
        throw std::invalid_argument("svdpp_epoch_batched: item id out of range");
}

// yj[j] <- alpha[u] yj[j] + beta[u] for every rating (u, j) (one thread per item bin).
template <typename Real>
void svdpp_apply_y(const std::int64_t* block_ptr, index_t n_bins, const std::int32_t* run_user,
                   const std::int64_t* run_ptr, index_t n_runs, const std::int32_t* items,
                   index_t n_ratings, const std::int64_t* user_ptr, index_t n_users,
                   index_t n_items, index_t n_factors, Real* yj, const Real* alpha,
                   const Real* beta, int n_threads) {
    require(n_threads >= 1 && n_factors >= 0, "svdpp_apply_y: bad arguments");
    svdpp_detail::check_layout(block_ptr, n_bins, run_user, run_ptr, n_runs, items, n_ratings,
                               user_ptr, n_users, n_items);
    const int nt = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_bins)));
    if (svdpp_detail::apply_y_any(block_ptr, n_bins, run_user, run_ptr, items, n_items, yj, alpha,
                                  beta, n_factors, nt))
        throw std::invalid_argument("svdpp_apply_y: item id out of range");
}

}  // namespace turbosvd
