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
// 2. The user-batched schedule (schedule "blocked", the default). Surprise's y update gives
//    every y row of u's items the same affine step per rating: y <- (1 - a) y + lr_yj c_r
//    with a = lr_yj reg_yj and c_r = err_r qi / sqrt|I_u|. So after u's n ratings each of
//    these rows is alpha_u y + beta_u (alpha_u = (1 - a)^n, beta_u <- (1 - a) beta_u +
//    lr_yj c_r), and the implicit vector follows z <- (1 - a) z + lr_yj err qi: O(k) per
//    rating. svdpp_epoch_batched visits the users in Surprise's order; for each it sums z
//    once from the current y rows, runs the user's ratings with z and beta tracked, then
//    applies the user's map to its y rows once. With distinct (user, item) pairs this is
//    Surprise's algorithm, reorganised (the same accuracy; other roundings); a pair rated
//    twice gets the map once per occurrence. O(|R| k) per epoch instead of
//    O(sum_u |I_u|^2 k).
//    Parallel strategy: none inside an epoch. Every user's implicit sum reads the y rows
//    the previous users just updated (that freshness is what keeps Surprise's accuracy:
//    a popular item's y row takes tens of thousands of steps per epoch); the users run in
//    order on one thread, SIMD over the factors. Determinism: fully deterministic; the
//    thread count does not enter. A parallel alternative was measured and removed
//    (commit 54fda4e, "SVD++ grid schedule measured": the user-batched update on SVD's
//    grid of user x item bins in waves, implicit sums from the epoch's start, y maps
//    applied per item after the waves; bench/results/bench_svdpp_grid.md): ML-100k u1's
//    test RMSE at the default parameters went from Surprise's 0.9330 to 0.9480
//    (ml-latest-small: 0.8693 vs 0.8694), and on 2 threads of the shared machine it fitted
//    4-5x slower than this schedule on one (1.4x slower on synthetic 1M, k=20): the waves
//    wait for preempted threads, and the two extra passes (z, the y maps) cost more than
//    the threads gain.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "common.hpp"
#include "sgd.hpp"
#include "sgd_blocked.hpp"  // the fixed-lane dot product

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
            TURBOSVD_OMP(simd)
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
            TURBOSVD_OMP(simd)
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
                    TURBOSVD_OMP(simd)
                    for (index_t f = 0; f < k; ++f) {
                        const double v = y[f] + lr_yj * (coef[f] - reg_yj * y[f]);
                        y[f] = v;
                        impl[f] += v / sqrt_iu;
                    }
                } else {
                    TURBOSVD_OMP(simd)
                    for (index_t f = 0; f < k; ++f) y[f] = y[f] + lr_yj * (coef[f] - reg_yj * y[f]);
                }
            }
            if (repeated && rr + 1 < end) {  // the shared rows: the sum after all updates
                for (index_t f = 0; f < k; ++f) impl[f] = 0.0;
                for (index_t kk = 0; kk < n; ++kk) {
                    const double* TURBOSVD_RESTRICT y = row(kk);
                    TURBOSVD_OMP(simd)
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
    TURBOSVD_OMP_PARALLEL_FOR(schedule(static) num_threads(n_threads) if (indptr[n_users] * k > 1000000))
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

namespace svdpp_batched_detail {

template <typename Real>
struct Job {
    const std::int64_t* indptr;
    const std::int32_t* items;
    const Real* ratings;
    Real *pu, *qi, *yj, *bu, *bi;
    index_t k;
    Real mu;
    Real lr_bu, lr_bi, lr_pu, lr_qi, lr_yj, reg_bu, reg_bi, reg_pu, reg_qi, decay;
};

// <q, p + z> in sgd_blocked.hpp's fixed lanes (the order is in the source: every SIMD clone
// sums alike and no reassociation is needed).
template <typename Real>
TURBOSVD_INLINE Real dot_sum(const Real* TURBOSVD_RESTRICT q, const Real* TURBOSVD_RESTRICT p,
                             const Real* TURBOSVD_RESTRICT z, index_t n) {
    constexpr int W = blocked_detail::kLanes<Real>;
    if (n < W) {
        Real t = 0;
        for (index_t f = 0; f < n; ++f) t += q[f] * (p[f] + z[f]);
        return t;
    }
    alignas(64) Real acc[W] = {};
    index_t f0 = 0;
    for (; f0 + W <= n; f0 += W) {
        TURBOSVD_OMP(simd)
        for (int l = 0; l < W; ++l) acc[l] += q[f0 + l] * (p[f0 + l] + z[f0 + l]);
    }
    Real t = 0;
    for (index_t f = f0; f < n; ++f) t += q[f] * (p[f] + z[f]);
    return blocked_detail::lane_sum<W>(acc) + t;
}

// Users [u0, u1), in order. z and beta: scratch of k.
template <typename Real>
TURBOSVD_INLINE void users(const Job<Real>& j, index_t u0, index_t u1, Real* TURBOSVD_RESTRICT z,
                           Real* TURBOSVD_RESTRICT beta) {
    const index_t k = j.k;
    const Real mu = j.mu, lr_bu = j.lr_bu, lr_bi = j.lr_bi, reg_bu = j.reg_bu, reg_bi = j.reg_bi;
    const Real lr_pu = j.lr_pu, lr_qi = j.lr_qi, reg_pu = j.reg_pu, reg_qi = j.reg_qi;
    const Real lr_yj = j.lr_yj, decay = j.decay;
    const std::int32_t* TURBOSVD_RESTRICT items = j.items;
    Real* const yj = j.yj;
    Real* const qi = j.qi;
    Real* const bi = j.bi;
    for (index_t u = u0; u < u1; ++u) {
        const std::int64_t begin = j.indptr[u], end = j.indptr[u + 1];
        if (begin == end) continue;
        const Real inv_sqrt = static_cast<Real>(1.0 / std::sqrt(static_cast<double>(end - begin)));
        for (index_t f = 0; f < k; ++f) z[f] = beta[f] = 0;
        for (std::int64_t r = begin; r < end; ++r) {
            const Real* TURBOSVD_RESTRICT y = yj + static_cast<index_t>(items[r]) * k;
            TURBOSVD_OMP(simd)
            for (index_t f = 0; f < k; ++f) z[f] += y[f];
        }
        TURBOSVD_OMP(simd)
        for (index_t f = 0; f < k; ++f) z[f] *= inv_sqrt;
        Real* TURBOSVD_RESTRICT pu_u = j.pu + u * k;
        Real bu_u = j.bu[u];
        Real alpha = 1;
        const Real scale = lr_yj * inv_sqrt;
        for (std::int64_t r = begin; r < end; ++r) {
            const index_t i = items[r];
            Real* TURBOSVD_RESTRICT qi_i = qi + i * k;
            const Real d = dot_sum(qi_i, pu_u, z, k);
            const Real err = j.ratings[r] - (((mu + bu_u) + bi[i]) + d);
            bu_u += lr_bu * (err - reg_bu * bu_u);
            bi[i] += lr_bi * (err - reg_bi * bi[i]);
            alpha *= decay;
            TURBOSVD_OMP(simd)
            for (index_t f = 0; f < k; ++f) {
                const Real p = pu_u[f];
                const Real q = qi_i[f];
                const Real zf = z[f];
                pu_u[f] = p + lr_pu * (err * q - reg_pu * p);
                qi_i[f] = q + lr_qi * (err * (p + zf) - reg_qi * q);
                z[f] = decay * zf + lr_yj * (err * q);
                beta[f] = decay * beta[f] + scale * (err * q);
            }
        }
        j.bu[u] = bu_u;
        for (std::int64_t r = begin; r < end; ++r) {
            Real* TURBOSVD_RESTRICT y = yj + static_cast<index_t>(items[r]) * k;
            TURBOSVD_OMP(simd)
            for (index_t f = 0; f < k; ++f) y[f] = alpha * y[f] + beta[f];
        }
    }
}

// The dispatched entry point (never throws: ids are validated by the wrapper).
template <typename Real>
TURBOSVD_DISPATCH void run(const Job<Real>& j, index_t u0, index_t u1, Real* z,
                           Real* beta) noexcept {
    users(j, u0, u1, z, beta);
}

}  // namespace svdpp_batched_detail

// Users [user_begin, user_end) of one user-batched epoch, in place (consecutive ranges in
// order make the whole epoch). indptr/items/ratings: the trainset grouped by user.
template <typename Real>
void svdpp_epoch_batched(const std::int64_t* indptr, const std::int32_t* items,
                         const Real* ratings, index_t n_users, index_t n_items, index_t n_factors,
                         Real* pu, Real* qi, Real* yj, Real* bu, Real* bi, double global_mean,
                         const SvdppRates& p, index_t user_begin, index_t user_end) {
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "svdpp_epoch_batched: negative size");
    require(0 <= user_begin && user_begin <= user_end && user_end <= n_users,
            "svdpp_epoch_batched: user range out of bounds");
    for (index_t u = user_begin; u < user_end; ++u)
        require(indptr[u] <= indptr[u + 1], "svdpp_epoch_batched: indptr decreases");
    for (index_t r = indptr[user_begin]; r < indptr[user_end]; ++r)
        require(items[r] >= 0 && items[r] < n_items, "svdpp_epoch_batched: item id out of range");
    svdpp_batched_detail::Job<Real> j;
    j.indptr = indptr;
    j.items = items;
    j.ratings = ratings;
    j.pu = pu;
    j.qi = qi;
    j.yj = yj;
    j.bu = bu;
    j.bi = bi;
    j.k = n_factors;
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
    std::vector<Real> scratch(2 * static_cast<std::size_t>(n_factors) + 2);
    svdpp_batched_detail::run<Real>(j, user_begin, user_end, scratch.data(),
                              scratch.data() + n_factors + 1);
}

}  // namespace turbosvd
