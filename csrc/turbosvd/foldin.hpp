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
//   <x_j, d> in fixed lanes (their four lane sums reduced side by side in vector
//   registers), then v += sum_j <x_j, d> x_j, in the model's type over chunks of kChunk
//   rows whose sums are added in float64; the CG vectors and scalars are float64. It stops
//   when ||r|| <= tol * ||X^T y|| (tol 1e-6 for float32 models, 1e-13 for float64: the
//   solve then agrees with a direct one to ~1e-6 / ~1e-12 relative; 1e-5 would leave
//   errors of ~5e-5, beyond the float32 reference tests' 2e-5) or after 4 K + 20 steps.
//   With the penalty of a trained model the system is well conditioned (its spectrum is
//   lam plus a few directions of the item factors): ~10 products of cost 2 n K each at
//   k = 100, against n K^2 / 2 + K^3 / 6 for forming and factoring the matrix.
// - Large batches (the caller decides: foldin.rotation_pays) are solved in a rotation V,
//   an orthogonal k x k matrix whose columns are the eigenvectors of the item factors'
//   second moment weighted by the batch's ratings (rotation_basis: the items' counts among
//   at most ~65k evenly spaced ratings, their weighted Gram matrix in the model's type,
//   Householder + QL in symeig.hpp; no BLAS, whose spinning threads would compete with
//   OpenMP's). The item factors are rotated once per batch, qr = qi V (all items, float64
//   sums rounded to the model's type once), and each user's CG runs on the rotated rows
//   [q_i V, 1]: the same system up to the orthogonal change of variables w = [V w'_f, w_b]
//   (Lam is lam_p I on the factors, so it is unchanged). In that basis the user's X^T X is
//   close to diagonal apart from the bias row and column, so the CG is preconditioned by
//   the arrow matrix M = [[diag(a), c], [c^T, n + lam_b]] of the user's own diagonal
//   (a_f = sum_j x'_jf^2 + lam_p) and bias column (c_f = sum_j x'_jf), both summed in the
//   pass that forms X^T y; M^{-1} r costs O(K) through the Schur complement of the bias
//   entry. On bench_foldin's batch (5,436 users, 165 ratings each, k = 100) this takes
//   ~42 % fewer row products (10.2M -> 5.8M) than plain CG (in the original basis the
//   same diagonal preconditioner, Jacobi, saves ~7 % of the steps). A user with
//   lam_p = 0 gets plain CG on the rotated rows.
// Parallel strategy: the rotation (foldin_rotation, before and apart from the solve, so a
// caller can compute it while it prepares the rest of the batch) computes its basis
// serially (~3 ms at k = 100), then rotates the item table in fixed blocks of kRotItems
// items spread statically over the threads. The solve is one OpenMP region, dynamic over
// users (each user is independent); every thread has its own slice of one scratch buffer
// allocated before the parallel region.
// Dispatch: one template for float32 and float64 models, SIMD-dispatched (common.hpp);
// foldin_users validates and allocates before the dispatched loop, which never throws.
// Determinism: a user's result depends only on its ratings, their order, the model and,
// when rotated, the batch's rotation (computed before the solve, the same for any number
// of threads: its basis serially, each rotated item by one thread): no
// sum crosses users or threads (each rotated item is summed in the order of the factors),
// and every sum runs in an order fixed in the source (fixed lanes, no reassociating
// reductions; the vector-register lane sums are the same tree as the portable loops), so
// results are bit-identical for any thread count. (The SIMD clones differ only by FMA
// contraction, as in sgd_blocked.hpp.) With and without a rotation the results agree to
// the CG tolerance, not bit for bit.
// Cost per user: O(n^2 K + n^3) dual, O(iterations n K + K^2) conjugate gradients (K^2:
// rotating the result back); per batch with a rotation O(n_items k^2 + k^3) for V and
// the rotated items. Scratch O(min(longest user, kGather) K + kDualMax K +
// kDualMax^2) per thread, and n_items k for the rotated items.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "common.hpp"
#include "symeig.hpp"

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
    double* vec;   // 8 * Kp (CG vectors; dual: y, w, a column)

    static index_t pad(index_t K) { return round_up(std::max<index_t>(K, 1), kLanes<Real>); }
    // `rows`: the most item rows gathered at once (the longest user, at most kGather).
    static index_t x_doubles(index_t K, index_t rows) {
        const index_t dual = K * round_up(kDualMax, kLanes<Real>);
        const index_t n = std::max(dual, (4 + rows) * pad(K) + kChunk);
        return (n * static_cast<index_t>(sizeof(Real)) + 63) / 64 * 8;  // 64-byte multiple
    }
    static index_t doubles(index_t K, index_t rows) {
        return x_doubles(K, rows) + kDualMax * kDualMax + 8 * std::max(pad(K), kDualMax) + 8;
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

// The CG product in GCC (>= 12) / clang vector extensions: one 64-byte vector of W lanes
// per accumulator (two AVX2 registers, one AVX-512 register), the four rows' lane sums run
// side by side (a 4 x W transpose-and-add) instead of one tree after the other through
// memory. The same sums in the same order as xtx_product's portable loops (lanes_sum's
// tree by halves), so the results are bit-identical to them.
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 12)
#define TURBOSVD_FOLDIN_VECTORS 1
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
typedef double vd4 __attribute__((vector_size(32)));

template <typename V, typename Real>
TURBOSVD_INLINE V vload(const Real* p) {
    V x;
    std::memcpy(&x, p, sizeof x);
    return x;
}
template <typename V, typename Real>
TURBOSVD_INLINE void vstore(Real* p, const V& x) {
    std::memcpy(p, &x, sizeof x);
}

// t[r] = lanes_sum<float, 16>(a_r), r < 4, for a_r given as its lanes 0-7 (l_r) and 8-15
// (h_r).
TURBOSVD_INLINE vf4 lanes_sum4(vf8 l0, vf8 h0, vf8 l1, vf8 h1, vf8 l2, vf8 h2, vf8 l3,
                               vf8 h3) {
    // y[l] = a[l] + a[l + 8]
    const vf8 y0 = l0 + h0, y1 = l1 + h1, y2 = l2 + h2, y3 = l3 + h3;
    // z[l] = y[l] + y[l + 4]: [z0 | z1], [z2 | z3]
    const vf8 z01 = __builtin_shufflevector(y0, y1, 0, 1, 2, 3, 8, 9, 10, 11) +
                    __builtin_shufflevector(y0, y1, 4, 5, 6, 7, 12, 13, 14, 15);
    const vf8 z23 = __builtin_shufflevector(y2, y3, 0, 1, 2, 3, 8, 9, 10, 11) +
                    __builtin_shufflevector(y2, y3, 4, 5, 6, 7, 12, 13, 14, 15);
    // h[l] = z[l] + z[l + 2]: [h0 h0 h2 h2 | h1 h1 h3 h3]
    const vf8 h = __builtin_shufflevector(z01, z23, 0, 1, 8, 9, 4, 5, 12, 13) +
                  __builtin_shufflevector(z01, z23, 2, 3, 10, 11, 6, 7, 14, 15);
    // t = h[0] + h[1]
    return __builtin_shufflevector(h, h, 0, 4, 2, 6) + __builtin_shufflevector(h, h, 1, 5, 3, 7);
}
// t[r] = lanes_sum<double, 8>(a_r), r < 4, for a_r given as its lanes 0-3 and 4-7.
TURBOSVD_INLINE vd4 lanes_sum4(vd4 l0, vd4 h0, vd4 l1, vd4 h1, vd4 l2, vd4 h2, vd4 l3,
                               vd4 h3) {
    // y[l] = a[l] + a[l + 4]
    const vd4 y0 = l0 + h0, y1 = l1 + h1, y2 = l2 + h2, y3 = l3 + h3;
    // z[l] = y[l] + y[l + 2]: [z0 z0 z1 z1], [z2 z2 z3 z3]
    const vd4 z01 =
        __builtin_shufflevector(y0, y1, 0, 1, 4, 5) + __builtin_shufflevector(y0, y1, 2, 3, 6, 7);
    const vd4 z23 =
        __builtin_shufflevector(y2, y3, 0, 1, 4, 5) + __builtin_shufflevector(y2, y3, 2, 3, 6, 7);
    // t = z[0] + z[1]
    return __builtin_shufflevector(z01, z23, 0, 2, 4, 6) +
           __builtin_shufflevector(z01, z23, 1, 3, 5, 7);
}

// xtx_product's groups of kRows rows (the caller does the remaining rows), in vectors H of
// W / 2 lanes (32 bytes: wider vectors than the instruction set are split badly by GCC):
// Real is float (H = vf8) or double (H = vd4).
template <typename H, typename Real>
TURBOSVD_INLINE index_t xtx_product_vec(const Real* TURBOSVD_RESTRICT X, index_t rows,
                                        index_t Kp, const Real* TURBOSVD_RESTRICT d,
                                        Real* TURBOSVD_RESTRICT v) {
    constexpr index_t W = kLanes<Real>, B = W / 2;
    static_assert(sizeof(H) == B * sizeof(Real), "half of W lanes");
    // The dot products <x_r, d> of the rows j .. j + 3, in their W-lane sums.
    auto dots = [&](index_t j) {
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        const Real* TURBOSVD_RESTRICT x1 = x0 + Kp;
        const Real* TURBOSVD_RESTRICT x2 = x1 + Kp;
        const Real* TURBOSVD_RESTRICT x3 = x2 + Kp;
        H l0 = {}, h0 = {}, l1 = {}, h1 = {}, l2 = {}, h2 = {}, l3 = {}, h3 = {};
        for (index_t c = 0; c < Kp; c += W) {
            const H dl = vload<H>(d + c), dh = vload<H>(d + c + B);
            l0 += vload<H>(x0 + c) * dl;
            h0 += vload<H>(x0 + c + B) * dh;
            l1 += vload<H>(x1 + c) * dl;
            h1 += vload<H>(x1 + c + B) * dh;
            l2 += vload<H>(x2 + c) * dl;
            h2 += vload<H>(x2 + c + B) * dh;
            l3 += vload<H>(x3 + c) * dl;
            h3 += vload<H>(x3 + c + B) * dh;
        }
        return lanes_sum4(l0, h0, l1, h1, l2, h2, l3, h3);
    };
    const index_t groups = rows / kRows;
    if (groups == 0) return 0;
    // Software-pipelined: the next group's dot products are computed before this group's
    // update of v, so that their reduction's latency hides behind independent work.
    auto t = dots(0);
    for (index_t g = 0; g < groups; ++g) {
        const index_t j = g * kRows;
        const auto tn = g + 1 < groups ? dots(j + kRows) : t;
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        const Real* TURBOSVD_RESTRICT x1 = x0 + Kp;
        const Real* TURBOSVD_RESTRICT x2 = x1 + Kp;
        const Real* TURBOSVD_RESTRICT x3 = x2 + Kp;
        const H t0 = H{} + t[0], t1 = H{} + t[1], t2 = H{} + t[2], t3 = H{} + t[3];
        for (index_t c = 0; c < Kp; c += B) {
            H vc = vload<H>(v + c);
            vc += (t0 * vload<H>(x0 + c) + t1 * vload<H>(x1 + c)) +
                  (t2 * vload<H>(x2 + c) + t3 * vload<H>(x3 + c));
            vstore(v + c, vc);
        }
        t = tn;
    }
    const index_t j = groups * kRows;
    return j;
}
#endif

// Copies the item rows of `rows` ratings into X (row-major, Kp entries per row: the k
// factors, then 1 when biased, then zeros). The rows are scattered over the item table
// (mostly cache misses the hardware cannot predict), so the row kAhead ratings on is
// prefetched: the whole solve's median time fell ~10 % on bench_foldin's batch (k = 100;
// interleaved runs on a noisy machine, 4 of 5 pairs faster, none slower by more than 4 %).
template <typename Real>
TURBOSVD_INLINE void gather_rows(const std::int32_t* TURBOSVD_RESTRICT items, index_t rows,
                                 const Real* TURBOSVD_RESTRICT qi, index_t k, bool biased,
                                 index_t Kp, Real* TURBOSVD_RESTRICT X) {
    constexpr index_t kAhead = 8;
    constexpr index_t kLine = 64 / static_cast<index_t>(sizeof(Real));  // entries per line
    for (index_t j = 0; j < rows; ++j) {
        if (j + kAhead < rows) {
            const Real* next = qi + static_cast<index_t>(items[j + kAhead]) * k;
            for (index_t f = 0; f < k; f += kLine) TURBOSVD_PREFETCH(next + f);
        }
        const Real* TURBOSVD_RESTRICT q = qi + static_cast<index_t>(items[j]) * k;
        Real* TURBOSVD_RESTRICT row = X + j * Kp;
        for (index_t f = 0; f < k; ++f) row[f] = q[f];
        for (index_t f = k; f < Kp; ++f) row[f] = 0;
        if (biased) row[k] = 1;
    }
}

// v[0..Kp) += sum over the rows j of X of y_j x_j (4 rows per pass over v; no reduction).
// With Moments, also sq[c] += sum_j x_j[c]^2 and sm[c] += sum_j x_j[c] (the diagonal and
// the bias column of X^T X, for the preconditioner) in the same pass over the rows; v's
// sums are the same either way.
template <bool Moments, typename Real>
TURBOSVD_INLINE void xt_times(const Real* TURBOSVD_RESTRICT X, index_t rows, index_t Kp,
                              const Real* TURBOSVD_RESTRICT y, Real* TURBOSVD_RESTRICT v,
                              Real* TURBOSVD_RESTRICT sq = nullptr,
                              Real* TURBOSVD_RESTRICT sm = nullptr) {
    index_t j = 0;
    for (; j + kRows <= rows; j += kRows) {
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        const Real* TURBOSVD_RESTRICT x1 = x0 + Kp;
        const Real* TURBOSVD_RESTRICT x2 = x1 + Kp;
        const Real* TURBOSVD_RESTRICT x3 = x2 + Kp;
        const Real t0 = y[j], t1 = y[j + 1], t2 = y[j + 2], t3 = y[j + 3];
        TURBOSVD_OMP(simd)
        for (index_t c = 0; c < Kp; ++c) {
            v[c] += (t0 * x0[c] + t1 * x1[c]) + (t2 * x2[c] + t3 * x3[c]);
            if constexpr (Moments) {
                sq[c] += (x0[c] * x0[c] + x1[c] * x1[c]) + (x2[c] * x2[c] + x3[c] * x3[c]);
                sm[c] += (x0[c] + x1[c]) + (x2[c] + x3[c]);
            }
        }
    }
    for (; j < rows; ++j) {
        const Real* TURBOSVD_RESTRICT x0 = X + j * Kp;
        const Real t0 = y[j];
        TURBOSVD_OMP(simd)
        for (index_t c = 0; c < Kp; ++c) {
            v[c] += t0 * x0[c];
            if constexpr (Moments) {
                sq[c] += x0[c] * x0[c];
                sm[c] += x0[c];
            }
        }
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
#ifdef TURBOSVD_FOLDIN_VECTORS
    if constexpr (std::is_same_v<Real, float>)
        j = xtx_product_vec<vf8>(X, rows, Kp, d, v);
    else
        j = xtx_product_vec<vd4>(X, rows, Kp, d, v);
#endif
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

// The batch's rotation (header comment): V (k x k, row-major, orthogonal: its columns are
// the eigenvectors of the item factors' rating-weighted second moment) and the item factors
// rotated into them, qr = qi V (n_items x k, from foldin_rotation). Null: no rotation, plain
// conjugate gradients.
template <typename Real>
struct Precond {
    const Real* qr = nullptr;
    const double* V = nullptr;
};

// Sum of a[t] * b[t] for t < n in 8 fixed lanes (dot_lanes) or a plain sum of squares.
TURBOSVD_INLINE double norm2(const double* a, index_t n) { return dot_lanes(a, a, n); }

// One user by conjugate gradients on (X^T X + Lam) w = X^T y, from w = 0 (header comment),
// preconditioned when pc.qr is set and lam_p > 0 (then in the rotated coordinates, w
// rotated back at the end). Writes w[0..K) to `w`. Returns false if a search direction has
// no positive curvature (a zero penalty with a singular X^T X) or the numbers stop being
// finite.
template <typename Real>
TURBOSVD_INLINE bool cg_user(const std::int32_t* items, const double* ratings, index_t n,
                             const Real* qi, const Real* bi, index_t k, double mu, bool biased,
                             double lam_p, double lam_b, double* w, const Scratch<Real>& s,
                             const Precond<Real>& pc) {
    const index_t K = k + (biased ? 1 : 0);
    const index_t Kp = Scratch<Real>::pad(K);
    double* r = s.vec;       // residual X^T y - A w
    double* p = r + Kp;      // search direction
    double* q = p + Kp;      // A p
    double* z = w + Kp;      // preconditioned residual (w is s.vec + 3 Kp)
    double* inv_a = z + Kp;  // preconditioner: 1 / a on the factors
    double* u = inv_a + Kp;  // ... and its coupling to the bias, c / a
    const bool precond = pc.qr != nullptr && lam_p > 0 && k > 0;
    if (precond) qi = pc.qr;  // the rows are gathered in the rotated coordinates
    Real* pr = s.x;           // p in Real, for the product
    Real* vr = s.x + Kp;      // a chunk's X^T X p in Real
    Real* sqr = s.x + 2 * Kp;  // a chunk's sums of squares and sums of the rows, in Real
    Real* smr = s.x + 3 * Kp;
    Real* yr = s.x + 4 * Kp;  // a chunk's targets in Real
    Real* X = yr + kChunk;    // the rows (all of them, gathered once, if n <= kGather)
    const bool once = n <= kGather;
    for (index_t f = 0; f < K; ++f) {
        w[f] = 0.0;
        r[f] = 0.0;
    }
    // r = X^T y, chunk by chunk: in Real within a chunk (as the products), float64 across.
    if (precond)
        for (index_t f = 0; f < k; ++f) {
            inv_a[f] = 0.0;  // sums of squares, then 1 / (that + lam_p)
            u[f] = 0.0;      // sums, then the coupling c / a
        }
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
        if (precond) {
            for (index_t f = 0; f < Kp; ++f) sqr[f] = smr[f] = 0;
            xt_times<true>(Xc, rows, Kp, yr, vr, sqr, smr);
            for (index_t f = 0; f < k; ++f) {
                inv_a[f] += static_cast<double>(sqr[f]);
                u[f] += static_cast<double>(smr[f]);
            }
        } else {
            xt_times<false>(Xc, rows, Kp, yr, vr);
        }
        for (index_t f = 0; f < K; ++f) r[f] += static_cast<double>(vr[f]);
    }
    // The preconditioner M = [[diag(a), c], [c^T, n + lam_b]]: the diagonal a of the
    // rotated system (sums of squares + lam_p) and its bias row and column c (the sums of
    // the rotated rows), an arrow matrix. M^{-1} r in O(K) by the Schur complement of its
    // bias entry (the coupling dropped if that is not clearly positive: M stays positive
    // definite).
    double schur = 0.0;
    if (precond) {
        const double gamma = static_cast<double>(n) + lam_b;
        double cu = 0.0;
        for (index_t f = 0; f < k; ++f) {
            inv_a[f] = 1.0 / (inv_a[f] + lam_p);
            cu += u[f] * u[f] * inv_a[f];
            u[f] *= inv_a[f];
        }
        schur = gamma - cu;
        if (!(schur > 1e-6 * gamma) || !std::isfinite(schur)) {
            for (index_t f = 0; f < k; ++f) u[f] = 0.0;
            schur = gamma;
        }
    }
    auto apply_precond = [&](const double* v, double* out) {
        if (biased) {
            double ur = 0.0;
            for (index_t f = 0; f < k; ++f) ur += u[f] * v[f];
            const double zb = (v[k] - ur) / schur;
            for (index_t f = 0; f < k; ++f) out[f] = inv_a[f] * v[f] - u[f] * zb;
            out[k] = zb;
        } else {
            for (index_t f = 0; f < k; ++f) out[f] = inv_a[f] * v[f];
        }
    };
    double rr = norm2(r, K);
    double rz = rr;  // <r, z>, z = M^{-1} r (z = r without the preconditioner)
    if (precond) {
        apply_precond(r, z);
        rz = dot_lanes(r, z, K);
        for (index_t f = 0; f < K; ++f) p[f] = z[f];
    } else {
        for (index_t f = 0; f < K; ++f) p[f] = r[f];
    }
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
        const double alpha = rz / curvature;
        TURBOSVD_OMP(simd)
        for (index_t f = 0; f < K; ++f) {
            w[f] += alpha * p[f];
            r[f] -= alpha * q[f];
        }
        rr = norm2(r, K);
        if (precond) {
            if (!(rr > stop)) break;
            apply_precond(r, z);
            const double rz_next = dot_lanes(r, z, K);
            const double beta = rz_next / rz;
            rz = rz_next;
            TURBOSVD_OMP(simd)
            for (index_t f = 0; f < K; ++f) p[f] = z[f] + beta * p[f];
        } else {
            const double beta = rr / rz;
            rz = rr;
            TURBOSVD_OMP(simd)
            for (index_t f = 0; f < K; ++f) p[f] = r[f] + beta * p[f];
        }
    }
    if (precond) {  // back from the rotated coordinates: w = V w' on the factors
        for (index_t f = 0; f < k; ++f) z[f] = dot_lanes(pc.V + f * k, w, k);
        for (index_t f = 0; f < k; ++f) w[f] = z[f];
    }
    return std::isfinite(rr);
}

// One user: n ratings. Writes out_pu[0..k) and *out_bu. Returns false if the system is not
// positive definite (possible only with a zero regularisation).
template <typename Real>
TURBOSVD_INLINE bool one_user(const std::int32_t* items, const double* ratings, index_t n,
                              const Real* qi, const Real* bi, index_t k, double mu, bool biased,
                              double lam_p, double lam_b, Real* out_pu, Real* out_bu,
                              const Scratch<Real>& s, const Precond<Real>& pc) {
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
        if (!cg_user(items, ratings, n, qi, bi, k, mu, biased, lam_p, lam_b, w, s, pc))
            return false;
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

// Items rotated together by rotate_items (their rows share the loads of V).
constexpr index_t kRotItems = 4;

// out[i] = V^T q[i] for `items` (<= kRotItems) rows of k factors: entry j is
// sum_f q[i][f] V[f][j] in float64 over f in order (no sum crosses items), rounded to Real
// once. Register tiles of kRotItems items x 8 entries.
template <typename Real>
TURBOSVD_INLINE void rotate_items(const Real* TURBOSVD_RESTRICT q, index_t items, index_t k,
                                  const double* TURBOSVD_RESTRICT V,
                                  Real* TURBOSVD_RESTRICT out) {
    constexpr index_t J = 8;
    alignas(64) double qd[kRotItems];
    for (index_t j0 = 0; j0 < k; j0 += J) {
        const index_t nj = std::min(J, k - j0);
        alignas(64) double acc[kRotItems][J] = {};
        if (items == kRotItems && nj == J) {
            for (index_t f = 0; f < k; ++f) {
                for (index_t r = 0; r < kRotItems; ++r) qd[r] = static_cast<double>(q[r * k + f]);
                const double* TURBOSVD_RESTRICT vf = V + f * k + j0;
                for (index_t r = 0; r < kRotItems; ++r) {
                    TURBOSVD_OMP(simd)
                    for (index_t l = 0; l < J; ++l) acc[r][l] += qd[r] * vf[l];
                }
            }
        } else {
            for (index_t f = 0; f < k; ++f) {
                const double* TURBOSVD_RESTRICT vf = V + f * k + j0;
                for (index_t r = 0; r < items; ++r) {
                    const double qf = static_cast<double>(q[r * k + f]);
                    for (index_t l = 0; l < nj; ++l) acc[r][l] += qf * vf[l];
                }
            }
        }
        for (index_t r = 0; r < items; ++r)
            for (index_t l = 0; l < nj; ++l) out[r * k + j0 + l] = static_cast<Real>(acc[r][l]);
    }
}

// The batch's rotation (header comment), SIMD-dispatched: V (k x k, row-major: column j
// is an eigenvector) of C = sum_i c_i q_i q_i^T, c_i the count of item i among the
// ratings items[0], items[step], items[2 step], ... (at most ~65k of them). C is summed in
// the model's type over blocks of kChunk rows sqrt(c_i) q_i (gram_lower_add), added in
// float64. Scratch: a (k x k), d and e (k), counts (n_items), block (kChunk x
// round_up(k, kLanes) of Real). Never throws.
template <typename Real>
TURBOSVD_DISPATCH void rotation_basis(const std::int32_t* items, index_t nnz, const Real* qi,
                                      index_t n_items, index_t k, double* V, double* a,
                                      double* d, double* e, double* counts,
                                      Real* block) noexcept {
    const index_t step = std::max<index_t>(1, nnz / 65536);
    for (index_t i = 0; i < n_items; ++i) counts[i] = 0.0;
    for (index_t j = 0; j < nnz; j += step) counts[items[j]] += 1.0;
    const index_t cols = round_up(k, kLanes<Real>);
    for (index_t t = 0; t < k * k; ++t) a[t] = 0.0;
    index_t rows = 0;
    for (index_t i = 0; i < n_items; ++i) {
        if (counts[i] == 0.0) continue;
        const double w = std::sqrt(counts[i]);
        const Real* TURBOSVD_RESTRICT q = qi + i * k;
        Real* TURBOSVD_RESTRICT row = block + rows * cols;
        for (index_t f = 0; f < k; ++f) row[f] = static_cast<Real>(w * static_cast<double>(q[f]));
        for (index_t f = k; f < cols; ++f) row[f] = 0;
        if (++rows == kChunk) {
            gram_lower_add(block, rows, cols, a, k, k);
            rows = 0;
        }
    }
    if (rows > 0) gram_lower_add(block, rows, cols, a, k, k);
    for (index_t i = 0; i < k; ++i)
        for (index_t j = 0; j < i; ++j) a[j * k + i] = a[i * k + j];
    symmetric_eigenvectors(a, k, d, e);  // rows of a: the eigenvectors
    for (index_t f = 0; f < k; ++f)
        for (index_t j = 0; j < k; ++j) V[f * k + j] = a[j * k + f];
}

// The rotated item table qr[i] = V^T qi[i] (rotate_items), SIMD-dispatched: fixed blocks
// of kRotItems items spread statically over the threads (each item's sums are its own, so
// the table does not depend on the number of threads). Never throws.
template <typename Real>
TURBOSVD_DISPATCH void rotate_table(const Real* qi, index_t n_items, index_t k, const double* V,
                                    Real* qr, int n_threads) noexcept {
    const index_t blocks = (n_items + kRotItems - 1) / kRotItems;
    TURBOSVD_OMP(parallel for schedule(static) num_threads(n_threads) if (blocks > 1))
    for (index_t b = 0; b < blocks; ++b) {
        const index_t i0 = b * kRotItems;
        rotate_items(qi + i0 * k, std::min(kRotItems, n_items - i0), k, V, qr + i0 * k);
    }
    (void)n_threads;
}

// All users, SIMD-dispatched. Never throws (arguments are validated and the scratch
// allocated by foldin_users first); the `omp parallel` is in the dispatched body. With a
// rotation, qr is the complete rotated item table (foldin_rotation).
template <typename Real>
TURBOSVD_DISPATCH void run(const std::int64_t* indptr, index_t n_users, const std::int32_t* items,
                           const double* ratings, const Real* qi, const Real* bi, index_t k,
                           double mu, bool biased, double lam_p0, double lam_p1, double lam_b0,
                           double lam_b1, Real* out_pu, Real* out_bu, double* scratch,
                           index_t rows, std::uint8_t* bad, const double* V, const Real* qr,
                           int n_threads) noexcept {
    const index_t K = k + (biased ? 1 : 0);
    const index_t per_thread = Scratch<Real>::doubles(K, rows);
    Precond<Real> pc;
    if (qr != nullptr) pc = Precond<Real>{qr, V};
    TURBOSVD_OMP(parallel num_threads(n_threads) if (n_users > 1))
    {
        TURBOSVD_OMP_FOR(schedule(dynamic, 1))
        for (index_t u = 0; u < n_users; ++u) {
            const Scratch<Real> s(scratch + static_cast<index_t>(thread_id()) * per_thread, K,
                                   rows);
            const index_t lo = indptr[u], n = indptr[u + 1] - lo;
            const double lp = lam_p0 + lam_p1 * static_cast<double>(n);
            const double lb = lam_b0 + lam_b1 * static_cast<double>(n);
            Real bu_u = 0;
            const bool ok = one_user<Real>(items + lo, ratings + lo, n, qi, bi, k, mu, biased, lp,
                                           lb, out_pu + u * k, &bu_u, s, pc);
            out_bu[u] = bu_u;
            bad[u] = ok ? 0 : 1;
        }
    }
    (void)n_threads;
}

}  // namespace foldin_detail

// Fold in n_users users. User u's ratings are items[indptr[u] .. indptr[u+1]) (inner item
// ids) with ratings[...]. Writes out_pu (n_users x n_factors, row-major) and out_bu
// (n_users; zeros when unbiased). Regularisation as in the header comment (every lam >= 0).
// bad[u] is set to 1 for a user whose system is singular (a zero regularisation with too
// few ratings; its output is then unspecified), else 0. V and qr, when given, are a
// rotation from foldin_rotation (for any batch of ratings on these items: it changes the
// path of the conjugate gradients, not the solution they converge to).
template <typename Real>
void foldin_users(const std::int64_t* indptr, index_t n_users, const std::int32_t* items,
                  const double* ratings, const Real* qi, const Real* bi, index_t n_items,
                  index_t n_factors, double global_mean, bool biased, double lam_p0,
                  double lam_p1, double lam_b0, double lam_b1, Real* out_pu, Real* out_bu,
                  std::uint8_t* bad, int n_threads, const double* V = nullptr,
                  const Real* qr = nullptr) {
    require(n_users >= 0 && n_items >= 0 && n_factors >= 0, "foldin_users: negative size");
    require(n_threads >= 1, "foldin_users: n_threads must be >= 1");
    require((V == nullptr) == (qr == nullptr) && (V == nullptr || n_factors > 0),
            "foldin_users: a rotation needs both V and qr, and factors");
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
                             scratch.get(), rows, bad, V, qr, threads);
}

// The batch's rotation (header comment) from the ratings' items (any order; at most ~65k
// evenly spaced ones are counted): writes V (n_factors x n_factors, row-major, orthogonal)
// and qr = qi V (n_items x n_factors), for foldin_users. The basis is computed serially,
// the table on n_threads threads; both are independent of the thread count.
template <typename Real>
void foldin_rotation(const std::int32_t* items, index_t nnz, const Real* qi, index_t n_items,
                     index_t n_factors, double* V, Real* qr, int n_threads) {
    require(nnz >= 0 && n_items >= 0 && n_factors > 0, "foldin_rotation: bad size");
    require(n_threads >= 1, "foldin_rotation: n_threads must be >= 1");
    for (index_t j = 0; j < nnz; ++j)
        require(items[j] >= 0 && items[j] < n_items, "foldin_rotation: item id out of range");
    using foldin_detail::kChunk;
    const index_t k = n_factors;
    const index_t cols = foldin_detail::round_up(k, foldin_detail::kLanes<Real>);
    const index_t block_doubles = (kChunk * cols * static_cast<index_t>(sizeof(Real)) + 7) / 8;
    std::unique_ptr<double[]> work(
        new double[static_cast<std::size_t>(k * k + 2 * k + n_items + block_doubles)]);
    double* a = work.get();
    double* d = a + k * k;
    double* e = d + k;
    double* counts = e + k;
    Real* block = reinterpret_cast<Real*>(counts + n_items);
    foldin_detail::rotation_basis<Real>(items, nnz, qi, n_items, k, V, a, d, e, counts, block);
    foldin_detail::rotate_table<Real>(qi, n_items, k, V, qr, n_threads);
}

}  // namespace turbosvd
