// foldin.hpp: fold users into a trained factor model by a regularised least-squares solve.
//
// Algorithm: the item factors qi and biases bi stay fixed. For each user of the batch, with
// ratings r_j on items i_j (j = 1..n), the bias b and factors p minimise
//     sum_j (y_j - b - <q_{i_j}, p>)^2 + lam_b * b^2 + lam_p * ||p||^2,
//     y_j = r_j - mu - bi[i_j]                      (biased; unbiased: y_j = r_j, no b),
// with lam_p = lam_p0 + lam_p1 * n and lam_b = lam_b0 + lam_b1 * n. With x_j = [q_{i_j}, 1]
// (the rows of X) and Lam = diag(lam_p, ..., lam_p, lam_b), the solution is
//     primal: w = (X^T X + Lam)^{-1} X^T y                      a K x K system, K = k (+1),
//     dual:   w = Lam^{-1} X^T (X Lam^{-1} X^T + I)^{-1} y      an n x n system,
// the same vector (push-through identity).
// - Few ratings (n <= kDualMax, and n < K): the dual system, formed explicitly (its Gram
//   product summed in the model's type over register tiles) and solved by Cholesky in
//   float64: O(n^2 K + n^3), cheaper than anything that touches a K x K matrix.
// - Otherwise: conjugate gradients on the primal system without forming it. One product
//   (X^T X + Lam) d is one pass over the user's item rows, copied into padded contiguous
//   rows [q_i, 1, 0...] (once for all steps when the user has at most kGather ratings,
//   else a chunk at a time at every step): for 4 rows at a time, the dot products
//   <x_j, d> in fixed lanes, then
//   v += sum_j <x_j, d> x_j, in the model's type over chunks of kChunk rows whose sums are
//   added in float64; the CG vectors and scalars are float64. It stops when
//   ||r|| <= tol * ||X^T y|| (tol 1e-6 for float32 models, 1e-13 for float64: the solve then
//   agrees with a direct one to ~1e-6 / ~1e-12 relative) or after 4 K + 20 iterations.
//   With the penalty of a trained model the system is well conditioned (its spectrum is
//   lam plus a few directions of the item factors), so this takes ~10-20 products of cost
//   2 n K each, against n K^2 / 2 + K^3 / 6 for forming and factoring the matrix: at
//   k = 100 and 165 ratings, ~3x fewer operations, all of them streaming (measured: ~6x
//   less CPU time per user than the Gram + Cholesky kernel it replaced).
// Parallel strategy: OpenMP dynamic over users (each user is independent); every thread
// has its own slice of one scratch buffer allocated before the parallel region.
// Dispatch: one template for float32 and float64 models, SIMD-dispatched (common.hpp);
// foldin_users validates and allocates before the dispatched loop, which never throws.
// Determinism: a user's result depends only on its ratings, their order and the model: no
// sum crosses users or threads, and every sum runs in an order fixed in the source (fixed
// lanes, no reassociating reductions), so results are bit-identical for any thread count.
// (The SIMD clones differ only by FMA contraction, as in sgd_blocked.hpp.)
// Cost per user: O(n^2 K + n^3) dual, O(iterations n K) conjugate gradients;
// scratch O(min(longest user, kGather) K + kDualMax K + kDualMax^2) per thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>

#include "common.hpp"

namespace turbosvd {

namespace foldin_detail {

// Output tile of the Gram kernel: kLanes<T> consecutive entries of a row of C (64 bytes:
// one AVX-512 or two AVX2 registers) times kR rows, all held in registers over the sum.
template <typename T>
constexpr index_t kLanes = static_cast<index_t>(64 / sizeof(T));
constexpr index_t kR = 4;

inline index_t round_up(index_t n, index_t to) { return (n + to - 1) / to * to; }

// C += A^T A on the lower triangle of C's leading `valid` x `valid` block (C[a * ldc + b],
// b <= a), for a row-major A of `rows` x `cols` (cols a multiple of kLanes<T>, at least
// round_up(valid, kLanes<T>)). Each entry is summed over the rows in order in T, then
// added to C in double.
template <typename T>
TURBOSVD_INLINE void gram_lower_add(const T* TURBOSVD_RESTRICT A, index_t rows, index_t cols,
                                    double* TURBOSVD_RESTRICT C, index_t ldc, index_t valid) {
    constexpr index_t W = kLanes<T>;
    (void)cols;
    // Tile (b0 + j, a0 + l): rows b of C in [b0, b0 + kR), columns a in [a0, a0 + W), kept
    // where a <= b (the lower triangle, read as C[b][a]).
    for (index_t b0 = 0; b0 < valid; b0 += kR) {
        for (index_t a0 = 0; a0 <= std::min(b0 + kR - 1, valid - 1); a0 += W) {
            alignas(64) T acc[kR][W] = {};
            for (index_t r = 0; r < rows; ++r) {
                const T* TURBOSVD_RESTRICT row = A + r * cols;
                for (index_t j = 0; j < kR; ++j) {
                    const T s = row[b0 + j];
                    TURBOSVD_OMP(simd)
                    for (index_t l = 0; l < W; ++l) acc[j][l] += row[a0 + l] * s;
                }
            }
            for (index_t j = 0; j < kR; ++j) {
                const index_t b = b0 + j;
                if (b >= valid) break;
                const index_t end = std::min(W, b - a0 + 1);
                for (index_t l = 0; l < end; ++l)
                    C[b * ldc + a0 + l] += static_cast<double>(acc[j][l]);
            }
        }
    }
}

// In-place Cholesky C = L L^T of the lower triangle of the m x m row-major matrix C
// (leading dimension ldc), right-looking: after column j is scaled, every later row i
// takes away L[i][j] times column j (copied to `col`, contiguous), an update without
// reductions that vectorises. Returns false if C is not positive definite (to rounding).
TURBOSVD_INLINE bool cholesky(double* TURBOSVD_RESTRICT C, index_t m, index_t ldc,
                              double* TURBOSVD_RESTRICT col) {
    for (index_t j = 0; j < m; ++j) {
        const double d = C[j * ldc + j];
        if (!(d > 0.0)) return false;
        const double root = std::sqrt(d);
        C[j * ldc + j] = root;
        const double inv = 1.0 / root;
        for (index_t i = j + 1; i < m; ++i) {
            C[i * ldc + j] *= inv;
            col[i] = C[i * ldc + j];
        }
        for (index_t i = j + 1; i < m; ++i) {
            double* TURBOSVD_RESTRICT ci = C + i * ldc;
            const double lij = col[i];
            TURBOSVD_OMP(simd)
            for (index_t c = j + 1; c <= i; ++c) ci[c] -= lij * col[c];
        }
    }
    return true;
}

// Sum of a[t] * b[t] in 8 fixed lanes (then added pairwise): vectorisable without
// reassociation, the same order on every instruction set.
TURBOSVD_INLINE double dot_lanes(const double* TURBOSVD_RESTRICT a,
                                 const double* TURBOSVD_RESTRICT b, index_t n) {
    alignas(64) double acc[8] = {};
    index_t t = 0;
    for (; t + 8 <= n; t += 8) {
        TURBOSVD_OMP(simd)
        for (int l = 0; l < 8; ++l) acc[l] += a[t + l] * b[t + l];
    }
    double tail = 0.0;
    for (; t < n; ++t) tail += a[t] * b[t];
    return (((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))) +
           tail;
}

// Solve L L^T x = b in place (b becomes x): L z = b by rows (dot products), then
// L^T x = z by columns of L^T, i.e. rows of L (updates without reductions).
TURBOSVD_INLINE void cholesky_solve(const double* TURBOSVD_RESTRICT L, index_t m, index_t ldc,
                                    double* TURBOSVD_RESTRICT b) {
    for (index_t i = 0; i < m; ++i) b[i] = (b[i] - dot_lanes(L + i * ldc, b, i)) / L[i * ldc + i];
    for (index_t i = m - 1; i >= 0; --i) {
        const double* TURBOSVD_RESTRICT li = L + i * ldc;
        const double x = b[i] / li[i];
        b[i] = x;
        TURBOSVD_OMP(simd)
        for (index_t t = 0; t < i; ++t) b[t] -= li[t] * x;
    }
}

// Rows whose products are summed in the model's type before they are added in float64 (a
// float sum then runs over at most this many terms).
constexpr index_t kChunk = 256;
// Users with at most this many ratings have their item rows gathered once for all the CG
// steps (kGather * Kp entries of scratch per thread: 460 KB at k = 100 in float32); longer
// users are gathered again, a chunk at a time, at every step.
constexpr index_t kGather = 4 * kChunk;
// Users with at most this many ratings (and fewer than K) take the dual solve.
constexpr index_t kDualMax = 32;
// Rows handled together by the CG product: their dot products share the loads of d, and
// their updates of v share its loads and stores.
constexpr index_t kRows = 4;

template <typename Real>
constexpr double cg_tolerance = sizeof(Real) == 4 ? 1e-6 : 1e-13;

// Scratch of one thread, carved from one buffer allocated before the parallel region
// (nothing allocates, so nothing throws, inside the dispatched code). Sizes in doubles.
template <typename Real>
struct Scratch {
    Real* x;       // dual: X^T, K rows of round_up(kDualMax) entries; CG: d, v, rows
    double* gram;  // dual: kDualMax^2
    double* vec;   // 6 * Kp (CG vectors; dual: y, w, a column)

    static index_t pad(index_t K) { return round_up(std::max<index_t>(K, 1), kLanes<Real>); }
    // `rows`: the most item rows gathered at once (the longest user, at most kGather).
    static index_t x_doubles(index_t K, index_t rows) {
        const index_t dual = K * round_up(kDualMax, kLanes<Real>);
        const index_t n = std::max(dual, (2 + rows) * pad(K) + kChunk);
        return (n * static_cast<index_t>(sizeof(Real)) + 63) / 64 * 8;  // 64-byte multiple
    }
    static index_t doubles(index_t K, index_t rows) {
        return x_doubles(K, rows) + kDualMax * kDualMax + 6 * std::max(pad(K), kDualMax) + 8;
    }
    Scratch(double* base, index_t K, index_t rows) {
        x = reinterpret_cast<Real*>(base);
        gram = base + x_doubles(K, rows);
        vec = gram + kDualMax * kDualMax;
    }
};

// Sum of the W lanes of acc by halves (a fixed tree: the same order on every instruction
// set), written so that every step is a fixed-size vector add.
template <typename Real, index_t W>
TURBOSVD_INLINE Real lanes_sum(const Real* acc) {
    if constexpr (W == 1) {
        return acc[0];
    } else {
        Real half[W / 2];
        for (index_t l = 0; l < W / 2; ++l) half[l] = acc[l] + acc[l + W / 2];
        return lanes_sum<Real, W / 2>(half);
    }
}

// Copies the item rows of `rows` ratings into X (row-major, Kp entries per row: the k
// factors, then 1 when biased, then zeros).
template <typename Real>
TURBOSVD_INLINE void gather_rows(const std::int32_t* TURBOSVD_RESTRICT items, index_t rows,
                                 const Real* TURBOSVD_RESTRICT qi, index_t k, bool biased,
                                 index_t Kp, Real* TURBOSVD_RESTRICT X) {
    for (index_t j = 0; j < rows; ++j) {
        const Real* TURBOSVD_RESTRICT q = qi + static_cast<index_t>(items[j]) * k;
        Real* TURBOSVD_RESTRICT row = X + j * Kp;
        for (index_t f = 0; f < k; ++f) row[f] = q[f];
        for (index_t f = k; f < Kp; ++f) row[f] = 0;
        if (biased) row[k] = 1;
    }
}

// v[0..Kp) += sum over the rows j of X of y_j x_j (4 rows per pass over v; no reduction).
template <typename Real>
TURBOSVD_INLINE void xt_times(const Real* TURBOSVD_RESTRICT X, index_t rows, index_t Kp,
                              const Real* TURBOSVD_RESTRICT y, Real* TURBOSVD_RESTRICT v) {
    index_t j = 0;
    for (; j + kRows <= rows; j += kRows) {
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        const Real* TURBOSVD_RESTRICT x1 = x0 + Kp;
        const Real* TURBOSVD_RESTRICT x2 = x1 + Kp;
        const Real* TURBOSVD_RESTRICT x3 = x2 + Kp;
        const Real t0 = y[j], t1 = y[j + 1], t2 = y[j + 2], t3 = y[j + 3];
        TURBOSVD_OMP(simd)
        for (index_t c = 0; c < Kp; ++c)
            v[c] += (t0 * x0[c] + t1 * x1[c]) + (t2 * x2[c] + t3 * x3[c]);
    }
    for (; j < rows; ++j) {
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        const Real t0 = y[j];
        TURBOSVD_OMP(simd)
        for (index_t c = 0; c < Kp; ++c) v[c] += t0 * x0[c];
    }
}

// v[0..Kp) += sum over the rows j of X of <x_j, d> x_j, for `rows` rows of Kp entries (a
// multiple of kLanes). Each dot product is summed in kLanes fixed lanes then by halves;
// v's update has no reduction. d and v in Real; v is not cleared.
template <typename Real>
TURBOSVD_INLINE void xtx_product(const Real* TURBOSVD_RESTRICT X, index_t rows, index_t Kp,
                                 const Real* TURBOSVD_RESTRICT d, Real* TURBOSVD_RESTRICT v) {
    constexpr index_t W = kLanes<Real>;
    index_t j = 0;
    for (; j + kRows <= rows; j += kRows) {
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        const Real* TURBOSVD_RESTRICT x1 = x0 + Kp;
        const Real* TURBOSVD_RESTRICT x2 = x1 + Kp;
        const Real* TURBOSVD_RESTRICT x3 = x2 + Kp;
        alignas(64) Real a0[W] = {}, a1[W] = {}, a2[W] = {}, a3[W] = {};
        for (index_t c = 0; c < Kp; c += W) {
            TURBOSVD_OMP(simd)
            for (index_t l = 0; l < W; ++l) {
                const Real dl = d[c + l];
                a0[l] += x0[c + l] * dl;
                a1[l] += x1[c + l] * dl;
                a2[l] += x2[c + l] * dl;
                a3[l] += x3[c + l] * dl;
            }
        }
        const Real t0 = lanes_sum<Real, W>(a0), t1 = lanes_sum<Real, W>(a1);
        const Real t2 = lanes_sum<Real, W>(a2), t3 = lanes_sum<Real, W>(a3);
        TURBOSVD_OMP(simd)
        for (index_t c = 0; c < Kp; ++c)
            v[c] += (t0 * x0[c] + t1 * x1[c]) + (t2 * x2[c] + t3 * x3[c]);
    }
    for (; j < rows; ++j) {
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        alignas(64) Real a0[W] = {};
        for (index_t c = 0; c < Kp; c += W) {
            TURBOSVD_OMP(simd)
            for (index_t l = 0; l < W; ++l) a0[l] += x0[c + l] * d[c + l];
        }
        const Real t0 = lanes_sum<Real, W>(a0);
        TURBOSVD_OMP(simd)
        for (index_t c = 0; c < Kp; ++c) v[c] += t0 * x0[c];
    }
}

// Sum of a[t] * b[t] for t < n in 8 fixed lanes (dot_lanes) or a plain sum of squares.
TURBOSVD_INLINE double norm2(const double* a, index_t n) { return dot_lanes(a, a, n); }

// One user by conjugate gradients on (X^T X + Lam) w = X^T y, from w = 0 (header comment).
// Writes w[0..K) to `w`. Returns false if a search direction has no positive curvature
// (a zero penalty with a singular X^T X) or the numbers stop being finite.
template <typename Real>
TURBOSVD_INLINE bool cg_user(const std::int32_t* items, const double* ratings, index_t n,
                             const Real* qi, const Real* bi, index_t k, double mu, bool biased,
                             double lam_p, double lam_b, double* w, const Scratch<Real>& s) {
    const index_t K = k + (biased ? 1 : 0);
    const index_t Kp = Scratch<Real>::pad(K);
    double* r = s.vec;       // residual X^T y - A w
    double* p = r + Kp;      // search direction
    double* q = p + Kp;      // A p
    Real* pr = s.x;           // p in Real, for the product
    Real* vr = s.x + Kp;      // a chunk's X^T X p in Real
    Real* yr = s.x + 2 * Kp;  // a chunk's targets in Real
    Real* X = yr + kChunk;    // the rows (all of them, gathered once, if n <= kGather)
    const bool once = n <= kGather;
    for (index_t f = 0; f < K; ++f) {
        w[f] = 0.0;
        r[f] = 0.0;
    }
    // r = X^T y, chunk by chunk: in Real within a chunk (as the products), float64 across.
    for (index_t c0 = 0; c0 < n; c0 += kChunk) {
        const index_t rows = std::min(kChunk, n - c0);
        Real* Xc = once ? X + c0 * Kp : X;
        gather_rows(items + c0, rows, qi, k, biased, Kp, Xc);
        for (index_t j = 0; j < rows; ++j) {
            const index_t jj = c0 + j;
            yr[j] = static_cast<Real>(
                biased ? (ratings[jj] - mu) - static_cast<double>(bi[items[jj]]) : ratings[jj]);
        }
        for (index_t f = 0; f < Kp; ++f) vr[f] = 0;
        xt_times(Xc, rows, Kp, yr, vr);
        for (index_t f = 0; f < K; ++f) r[f] += static_cast<double>(vr[f]);
    }
    for (index_t f = 0; f < K; ++f) p[f] = r[f];
    double rr = norm2(r, K);
    const double stop = cg_tolerance<Real> * cg_tolerance<Real> * rr;
    const index_t max_iter = 4 * K + 20;
    for (index_t it = 0; it < max_iter && rr > stop; ++it) {
        for (index_t f = 0; f < K; ++f) {
            pr[f] = static_cast<Real>(p[f]);
            q[f] = (f < k ? lam_p : lam_b) * p[f];
        }
        for (index_t f = K; f < Kp; ++f) pr[f] = 0;
        for (index_t c0 = 0; c0 < n; c0 += kChunk) {
            const index_t rows = std::min(kChunk, n - c0);
            Real* Xc = once ? X + c0 * Kp : X;
            if (!once) gather_rows(items + c0, rows, qi, k, biased, Kp, Xc);
            for (index_t f = 0; f < Kp; ++f) vr[f] = 0;
            xtx_product(Xc, rows, Kp, pr, vr);
            for (index_t f = 0; f < K; ++f) q[f] += static_cast<double>(vr[f]);
        }
        const double curvature = dot_lanes(p, q, K);
        if (!(curvature > 0.0) || !std::isfinite(curvature)) return false;
        const double alpha = rr / curvature;
        TURBOSVD_OMP(simd)
        for (index_t f = 0; f < K; ++f) {
            w[f] += alpha * p[f];
            r[f] -= alpha * q[f];
        }
        const double rr_next = norm2(r, K);
        const double beta = rr_next / rr;
        rr = rr_next;
        TURBOSVD_OMP(simd)
        for (index_t f = 0; f < K; ++f) p[f] = r[f] + beta * p[f];
    }
    return std::isfinite(rr);
}

// One user: n ratings. Writes out_pu[0..k) and *out_bu. Returns false if the system is not
// positive definite (possible only with a zero regularisation).
template <typename Real>
TURBOSVD_INLINE bool one_user(const std::int32_t* items, const double* ratings, index_t n,
                              const Real* qi, const Real* bi, index_t k, double mu, bool biased,
                              double lam_p, double lam_b, Real* out_pu, Real* out_bu,
                              const Scratch<Real>& s) {
    const index_t K = k + (biased ? 1 : 0);
    if (n == 0 || K == 0) {
        for (index_t f = 0; f < k; ++f) out_pu[f] = 0;
        *out_bu = 0;
        return true;
    }
    const bool positive = lam_p > 0 && (!biased || lam_b > 0);
    if (n < K && !positive) return false;  // rank <= n < K: singular without a penalty
    if (n >= K || n > kDualMax) {
        double* w = s.vec + 3 * Scratch<Real>::pad(K);
        if (!cg_user(items, ratings, n, qi, bi, k, mu, biased, lam_p, lam_b, w, s)) return false;
        for (index_t f = 0; f < k; ++f) out_pu[f] = static_cast<Real>(w[f]);
        *out_bu = biased ? static_cast<Real>(w[k]) : Real(0);
        return true;
    }
    // Dual (n < K, n <= kDualMax): Xs = X Lam^{-1/2}, stored transposed (K rows of np
    // entries); M = Xs Xs^T + I; w = Lam^{-1/2} Xs^T M^{-1} y.
    auto target = [&](index_t j) {
        return biased ? (ratings[j] - mu) - static_cast<double>(bi[items[j]]) : ratings[j];
    };
    const index_t np_ = round_up(n, kLanes<Real>);
    const double sp = 1.0 / std::sqrt(lam_p), sb = biased ? 1.0 / std::sqrt(lam_b) : 0.0;
    Real* XT = s.x;
    double* y = s.vec;
    double* col = s.vec + 2 * std::max(K, kDualMax);
    for (index_t t = 0; t < K * np_; ++t) XT[t] = 0;
    for (index_t j = 0; j < n; ++j) {
        const Real* q = qi + static_cast<index_t>(items[j]) * k;
        for (index_t f = 0; f < k; ++f) XT[f * np_ + j] = static_cast<Real>(q[f] * sp);
        if (biased) XT[k * np_ + j] = static_cast<Real>(sb);
        y[j] = target(j);
    }
    double* M = s.gram;
    for (index_t t = 0; t < n * n; ++t) M[t] = 0.0;
    gram_lower_add(XT, K, np_, M, n, n);
    for (index_t j = 0; j < n; ++j) M[j * n + j] += 1.0;
    if (!cholesky(M, n, n, col)) return false;
    cholesky_solve(M, n, n, y);
    double* w = s.vec + std::max(K, kDualMax);
    for (index_t f = 0; f < K; ++f) w[f] = 0.0;
    for (index_t j = 0; j < n; ++j) {
        const double yj = y[j];
        for (index_t f = 0; f < K; ++f) w[f] += static_cast<double>(XT[f * np_ + j]) * yj;
    }
    for (index_t f = 0; f < k; ++f) out_pu[f] = static_cast<Real>(w[f] * sp);
    *out_bu = biased ? static_cast<Real>(w[k] * sb) : Real(0);
    return true;
}

// All users, SIMD-dispatched. Never throws (arguments are validated and the scratch
// allocated by foldin_users first); the `omp parallel` is in the dispatched body.
template <typename Real>
TURBOSVD_DISPATCH void run(const std::int64_t* indptr, index_t n_users, const std::int32_t* items,
                           const double* ratings, const Real* qi, const Real* bi, index_t k,
                           double mu, bool biased, double lam_p0, double lam_p1, double lam_b0,
                           double lam_b1, Real* out_pu, Real* out_bu, double* scratch,
                           index_t rows, std::uint8_t* bad, int n_threads) noexcept {
    const index_t K = k + (biased ? 1 : 0);
    const index_t per_thread = Scratch<Real>::doubles(K, rows);
    TURBOSVD_OMP_PARALLEL_FOR(schedule(dynamic, 1) num_threads(n_threads) if (n_users > 1))
    for (index_t u = 0; u < n_users; ++u) {
        const Scratch<Real> s(scratch + static_cast<index_t>(thread_id()) * per_thread, K,
                               rows);
        const index_t lo = indptr[u], n = indptr[u + 1] - lo;
        const double lp = lam_p0 + lam_p1 * static_cast<double>(n);
        const double lb = lam_b0 + lam_b1 * static_cast<double>(n);
        Real bu_u = 0;
        const bool ok = one_user<Real>(items + lo, ratings + lo, n, qi, bi, k, mu, biased, lp, lb,
                                       out_pu + u * k, &bu_u, s);
        out_bu[u] = bu_u;
        bad[u] = ok ? 0 : 1;
    }
    (void)n_threads;
}

}  // namespace foldin_detail

// Fold in n_users users. User u's ratings are items[indptr[u] .. indptr[u+1]) (inner item
// ids) with ratings[...]. Writes out_pu (n_users x n_factors, row-major) and out_bu
// (n_users; zeros when unbiased). Regularisation as in the header comment (every lam >= 0).
// bad[u] is set to 1 for a user whose system is singular (a zero regularisation with too
// few ratings; its output is then unspecified), else 0.
template <typename Real>
void foldin_users(const std::int64_t* indptr, index_t n_users, const std::int32_t* items,
                  const double* ratings, const Real* qi, const Real* bi, index_t n_items,
                  index_t n_factors, double global_mean, bool biased, double lam_p0,
                  double lam_p1, double lam_b0, double lam_b1, Real* out_pu, Real* out_bu,
                  std::uint8_t* bad, int n_threads) {
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "foldin_users: negative size");
    require(n_threads >= 1, "foldin_users: n_threads must be >= 1");
    auto ok = [](double a, double b) {
        return std::isfinite(a) && std::isfinite(b) && a >= 0 && b >= 0;
    };
    require(ok(lam_p0, lam_p1) && ok(lam_b0, lam_b1),
            "foldin_users: regularisation must be finite and >= 0");
    require(indptr[0] == 0, "foldin_users: indptr must start at 0");
    index_t longest = 0;
    for (index_t u = 0; u < n_users; ++u) {
        require(indptr[u + 1] >= indptr[u], "foldin_users: indptr decreases");
        longest = std::max(longest, indptr[u + 1] - indptr[u]);
    }
    const index_t nnz = indptr[n_users];
    for (index_t j = 0; j < nnz; ++j)
        require(items[j] >= 0 && items[j] < n_items && std::isfinite(ratings[j]),
                "foldin_users: item id out of range or rating not finite");
    if (n_users == 0) return;
    const index_t K = n_factors + (biased ? 1 : 0);
    const int threads = static_cast<int>(std::min<index_t>(n_threads, n_users));
    // Scratch sized by the longest user (one user of 100 ratings: ~50 KB, not the ~0.5 MB
    // of kGather rows), uninitialised: the kernel writes every entry before reading it.
    const index_t rows = std::min(longest, foldin_detail::kGather);
    const auto size = static_cast<std::size_t>(foldin_detail::Scratch<Real>::doubles(K, rows) *
                                               threads);
    std::unique_ptr<double[]> scratch(new double[size]);
    foldin_detail::run<Real>(indptr, n_users, items, ratings, qi, bi, n_factors, global_mean,
                             biased, lam_p0, lam_p1, lam_b0, lam_b1, out_pu, out_bu,
                             scratch.get(), rows, bad, threads);
}

}  // namespace turbosvd
