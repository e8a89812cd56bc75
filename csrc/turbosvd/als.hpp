// als.hpp: one half-sweep of explicit-feedback alternating least squares (ALS-WR) with
// biases.
//
// Model: r_ui ~ mu + b_u + b_i + <p_u, q_i>. Each side is stored as an n x s factor matrix
// F whose rows are [factors (k), 1, 0 ...] when biased ([factors, 0 ...] otherwise) plus a
// bias vector B; the row stride s = stride(m) pads the m = k + 1 (biased) or k columns to
// whole SIMD lane groups, so no loop has a tail. A half-sweep solves the rows of one side
// X with the other side Y fixed: for row u with ratings (i, t_ui), t_ui = r_ui - mu (the
// caller centres the ratings),
//   x = [p_u, b_u] (m unknowns; just p_u when unbiased)
//   y_i = Y's factor row i = [q_i, 1]; offset o_i = Y's bias b_i (0 when unbiased)
//   minimise sum_i (t_ui - o_i - <y_i, x>)^2 + reg * n_u * |x|^2     (ALS-WR: reg scaled
//   by the row's rating count, biases included, as Spark's regParam and cmfrec's
//   scale_lam=True)
// so the bias of a row is solved jointly with its factors (the augmented system of
// cmfrec), and the same kernel serves both sides. Normal equations:
//   (sum_i y_i y_i^T + reg n_u I) x = sum_i (t_ui - o_i) y_i.
// Solvers (per row, in a thread-private scratch):
//  - CHOLESKY: build the lower triangle of the m x m matrix (ratings taken four at a time,
//    so each pass over the triangle adds four rank-1 terms), factorise, solve.
//  - CG: `cg_steps` conjugate-gradient steps warm-started from the row's current value,
//    never forming the matrix (each step is one pass over the row's ratings: A p =
//    sum_i <y_i, p> y_i + reg n_u p). Stops early once |r| <= 10 m eps |r0| (converged to
//    rounding) or when the curvature p.Ap is not positive.
// Singular systems (reg = 0 and fewer ratings than unknowns, or collinear y_i): CHOLESKY
// detects a pivot <= m * eps * the largest diagonal entry and solves that row by CG from
// the warm start for up to 2m steps instead. CG on a positive semi-definite system stays
// in the range of the matrix, so both solvers give the least-squares solution nearest
// the warm start (exactly so in exact arithmetic; a one-rating row converges in one step).
// A row with no ratings keeps its value. A row whose residual overflows becomes NaN (the
// Python loop then raises ModelFitError naming the sweep).
// Parallel strategy: OpenMP over rows (dynamic chunks); a row is solved by one thread in a
// fixed order, reading only Y and writing only its own row of X.
// Determinism: every row's arithmetic is written in a fixed order (dot products in the
// 256-bit lanes of row_dot()), so the result is bit-identical for any thread count.
// Cost per half-sweep: CHOLESKY O(nnz m^2 / 2 + rows m^3 / 6); CG O(nnz m (cg_steps + 1)).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.hpp"
#include "sgd_blocked.hpp"

namespace turbosvd {

enum AlsSolver : int { ALS_CHOLESKY = 0, ALS_CG = 1 };

namespace als_detail {

using blocked_detail::dot;

// Lanes of the padded rows: one 256-bit vector (8 floats, 4 doubles). Rows padded to 32
// floats (sgd_blocked's kLanes) would waste 13 of every 64 entries at k = 50.
template <typename Real>
constexpr int kRowLanes = static_cast<int>(32 / sizeof(Real));

// <a, b> over n entries, n a multiple of kRowLanes: lane-wise partial sums in a fixed
// order, then a fixed pairwise reduction (same bits on every thread and dispatch target).
template <typename Real>
TURBOSVD_INLINE Real row_dot(const Real* TURBOSVD_RESTRICT a, const Real* TURBOSVD_RESTRICT b,
                             index_t n) {
    constexpr int W = kRowLanes<Real>;
    alignas(32) Real acc[W] = {};
    for (index_t f0 = 0; f0 < n; f0 += W) {
        TURBOSVD_OMP(simd)
        for (int l = 0; l < W; ++l) acc[l] += a[f0 + l] * b[f0 + l];
    }
    return blocked_detail::lane_sum<W>(acc);
}

template <typename Real>
struct Job {
    const std::int64_t* indptr;  // rows' ratings: indptr[r] .. indptr[r + 1]
    const std::int32_t* cols;    // the other side's row of each rating
    const Real* targets;         // r - mu (biased) or r
    index_t first, last;         // rows to solve
    Real* X;                     // n_rows x d factor rows, solved in place
    Real* Xb;                    // n_rows biases (biased only)
    const Real* Y;               // n_cols x d
    const Real* Yb;              // n_cols biases (biased only)
    index_t n_cols, k, d, m;     // d: the padded stride (>= m, a multiple of kRowLanes)
    bool biased;
    Real reg;
    int solver, cg_steps;
    Real* scratch;  // per thread: scratch_size() entries
    index_t scratch_stride;
};


// Solve (A + lam I) x = rhs by CG from x, A = sum y y^T over the row; in place on x.
// r, p, ap: scratch of m entries. Returns nothing; stops early on a zero residual/curvature.
// A row's ratings as the passes read them: either gathered into thread-private scratch
// (rows y_e contiguous, targets with the offsets subtracted) or, for rows longer than
// kGatherRows, read in place through the column ids.
template <typename Real>
struct RowView {
    const Real* Y;              // gathered: n x d; in place: the other side's factor rows
    const Real* t;              // gathered: n targets minus offsets; in place: targets
    const std::int32_t* cols;   // in place only
    const Real* Yb;             // in place only (biased)
    index_t n, d;
    bool gathered, biased;
    TURBOSVD_INLINE const Real* y(index_t e) const {
        return gathered ? Y + e * d : Y + static_cast<index_t>(cols[e]) * d;
    }
    TURBOSVD_INLINE Real target(index_t e) const {
        return gathered ? t[e] : (biased ? t[e] - Yb[cols[e]] : t[e]);
    }
};

constexpr index_t kGatherRows = 4096;

inline index_t scratch_size(index_t m, index_t d, bool gather) {
    return m * m + m + 4 * d + 16 + (gather ? kGatherRows * (d + 1) : 0);
}

// One pass over a row's ratings: out += sum_e c_e y_e, where c_e = <y_e, v> (Residual =
// false: the product A v without the ridge) or c_e = t_e - o_e - <y_e, v> (Residual = true:
// the residual b - A v without the ridge). Four ratings at a time: their dot products are
// independent (latency overlaps) and out is loaded and stored once per four.
template <bool Residual, typename Real>
TURBOSVD_INLINE void row_pass(const RowView<Real>& w, const Real* TURBOSVD_RESTRICT v,
                              Real* TURBOSVD_RESTRICT out) {
    const index_t d = w.d;
    auto coef = [&](index_t e, const Real* y) {
        const Real yv = row_dot(y, v, d);
        if constexpr (Residual) {
            return w.target(e) - yv;
        } else {
            return yv;
        }
    };
    index_t e = 0;
    for (; e + 4 <= w.n; e += 4) {
        const Real* y0 = w.y(e);
        const Real* y1 = w.y(e + 1);
        const Real* y2 = w.y(e + 2);
        const Real* y3 = w.y(e + 3);
        const Real c0 = coef(e, y0), c1 = coef(e + 1, y1), c2 = coef(e + 2, y2),
                   c3 = coef(e + 3, y3);
TURBOSVD_OMP(simd)
        for (index_t a = 0; a < d; ++a)
            out[a] += ((c0 * y0[a] + c1 * y1[a]) + c2 * y2[a]) + c3 * y3[a];
    }
    for (; e < w.n; ++e) {
        const Real* y = w.y(e);
        const Real c = coef(e, y);
TURBOSVD_OMP(simd)
        for (index_t a = 0; a < d; ++a) out[a] += c * y[a];
    }
}

template <typename Real>
TURBOSVD_INLINE void row_cg(const Job<Real>& j, const RowView<Real>& w, Real lam, Real* x,
                            Real* r, Real* p, Real* ap, int steps) {
    // Vectors of d entries: the pad entries of y are zero, so those of x, r, p stay zero
    // and the arithmetic on the first m entries is that of an m-dimensional CG.
    const index_t d = j.d;
    // r = b - A x = sum (t - o - <y, x>) y - lam x
TURBOSVD_OMP(simd)
    for (index_t a = 0; a < d; ++a) r[a] = -lam * x[a];
    row_pass<true>(w, x, r);
    for (index_t a = 0; a < d; ++a) p[a] = r[a];
    Real rr = row_dot(r, r, d);
    if (!std::isfinite(rr)) {  // overflow: report it (NaN row) instead of keeping x silently
        for (index_t a = 0; a < d; ++a) x[a] = std::numeric_limits<Real>::quiet_NaN();
        return;
    }
    // Converged when |r| <= 10 m eps |r0|: past that point rounding noise would drive the
    // steps (on a singular system, along the null space).
    const Real tol = static_cast<Real>(10 * j.m) * std::numeric_limits<Real>::epsilon();
    const Real stop = rr * tol * tol;
    for (int s = 0; s < steps; ++s) {
        if (!(rr > stop)) break;
TURBOSVD_OMP(simd)
        for (index_t a = 0; a < d; ++a) ap[a] = lam * p[a];
        row_pass<false>(w, p, ap);
        const Real pap = row_dot(p, ap, d);
        if (!(pap > 0)) break;
        const Real alpha = rr / pap;
TURBOSVD_OMP(simd)
        for (index_t a = 0; a < d; ++a) {
            x[a] += alpha * p[a];
            r[a] -= alpha * ap[a];
        }
        const Real rr_new = row_dot(r, r, d);
        const Real beta = rr_new / rr;
TURBOSVD_OMP(simd)
        for (index_t a = 0; a < d; ++a) p[a] = r[a] + beta * p[a];
        rr = rr_new;
    }
}

// Normal equations of one row (lower triangle of A, row-major, and b), Cholesky in place,
// then the two triangular solves into x. Returns false (x untouched) if A + lam I is not
// numerically positive definite.
template <typename Real>
TURBOSVD_INLINE bool row_cholesky(const Job<Real>& j, index_t row, Real lam, Real* A, Real* b,
                                  Real* x) {
    const index_t m = j.m, d = j.d;
    const std::int64_t lo = j.indptr[row], hi = j.indptr[row + 1];
    for (index_t a = 0; a < m * m; ++a) A[a] = 0;
    for (index_t a = 0; a < m; ++a) b[a] = 0;
    std::int64_t e = lo;
    for (; e + 4 <= hi; e += 4) {
        const Real* y0 = j.Y + static_cast<index_t>(j.cols[e]) * d;
        const Real* y1 = j.Y + static_cast<index_t>(j.cols[e + 1]) * d;
        const Real* y2 = j.Y + static_cast<index_t>(j.cols[e + 2]) * d;
        const Real* y3 = j.Y + static_cast<index_t>(j.cols[e + 3]) * d;
        const Real t0 = j.targets[e] - (j.biased ? j.Yb[j.cols[e]] : Real(0));
        const Real t1 = j.targets[e + 1] - (j.biased ? j.Yb[j.cols[e + 1]] : Real(0));
        const Real t2 = j.targets[e + 2] - (j.biased ? j.Yb[j.cols[e + 2]] : Real(0));
        const Real t3 = j.targets[e + 3] - (j.biased ? j.Yb[j.cols[e + 3]] : Real(0));
        for (index_t a = 0; a < m; ++a) {
            const Real a0 = y0[a], a1 = y1[a], a2 = y2[a], a3 = y3[a];
            Real* Aa = A + a * m;
TURBOSVD_OMP(simd)
            for (index_t c = 0; c <= a; ++c)
                Aa[c] += ((a0 * y0[c] + a1 * y1[c]) + a2 * y2[c]) + a3 * y3[c];
            b[a] += ((t0 * a0 + t1 * a1) + t2 * a2) + t3 * a3;
        }
    }
    for (; e < hi; ++e) {
        const Real* y = j.Y + static_cast<index_t>(j.cols[e]) * d;
        const Real t = j.targets[e] - (j.biased ? j.Yb[j.cols[e]] : Real(0));
        for (index_t a = 0; a < m; ++a) {
            const Real ya = y[a];
            Real* Aa = A + a * m;
TURBOSVD_OMP(simd)
            for (index_t c = 0; c <= a; ++c) Aa[c] += ya * y[c];
            b[a] += t * ya;
        }
    }
    Real max_diag = 0;
    for (index_t a = 0; a < m; ++a) {
        A[a * m + a] += lam;
        max_diag = std::max(max_diag, A[a * m + a]);
    }
    const Real tol = static_cast<Real>(m) * std::numeric_limits<Real>::epsilon() * max_diag;
    // Cholesky A = L L^T, L in the lower triangle (row-major, so L's rows are contiguous).
    for (index_t a = 0; a < m; ++a) {
        Real* La = A + a * m;
        for (index_t c = 0; c < a; ++c) {
            const Real* Lc = A + c * m;
            La[c] = (La[c] - dot(La, Lc, c)) / Lc[c];
        }
        const Real piv = La[a] - dot(La, La, a);
        if (!(piv > tol)) return false;
        La[a] = std::sqrt(piv);
    }
    // L z = b (z in b), then L^T x = z.
    for (index_t a = 0; a < m; ++a) {
        const Real* La = A + a * m;
        b[a] = (b[a] - dot(La, b, a)) / La[a];
    }
    for (index_t a = m - 1; a >= 0; --a) {
        Real s = b[a];
        for (index_t c = a + 1; c < m; ++c) s -= A[c * m + a] * x[c];
        x[a] = s / A[a * m + a];
    }
    return true;
}

template <typename Real>
TURBOSVD_INLINE void solve_row(const Job<Real>& j, index_t row, Real* scratch) {
    const index_t m = j.m, k = j.k, d = j.d;
    Real* A = scratch;
    Real* b = A + m * m;
    Real* x = b + m;
    Real* r = x + d;
    Real* p = r + d;
    Real* ap = p + d;
    Real* gathered = ap + d;  // kGatherRows x d, then kGatherRows targets
    Real* xr = j.X + row * d;
    const std::int64_t lo = j.indptr[row];
    const index_t n = j.indptr[row + 1] - lo;
    if (n == 0) return;
    const Real lam = j.reg * static_cast<Real>(n);
    // The warm start (CG) and fallback start: the row's current [p, b, 0 ...].
    for (index_t a = 0; a < d; ++a) x[a] = 0;
    for (index_t a = 0; a < k; ++a) x[a] = xr[a];
    if (j.biased) x[k] = j.Xb[row];
    RowView<Real> w;
    w.cols = j.cols + lo;
    w.Yb = j.Yb;
    w.n = n;
    w.d = d;
    w.biased = j.biased;
    w.gathered = j.solver == ALS_CG && n <= kGatherRows;
    if (w.gathered) {
        // Several CG passes read the row's y_e: copy them once, contiguous.
        Real* Yg = gathered;
        Real* tg = gathered + kGatherRows * d;
        for (index_t e = 0; e < n; ++e) {
            const index_t col = j.cols[lo + e];
            const Real* src = j.Y + col * d;
            Real* dst = Yg + e * d;
TURBOSVD_OMP(simd)
            for (index_t a = 0; a < d; ++a) dst[a] = src[a];
            tg[e] = j.biased ? j.targets[lo + e] - j.Yb[col] : j.targets[lo + e];
        }
        w.Y = Yg;
        w.t = tg;
    } else {
        w.Y = j.Y;
        w.t = j.targets + lo;
    }
    if (j.solver == ALS_CG) {
        row_cg(j, w, lam, x, r, p, ap, j.cg_steps);
    } else if (!row_cholesky(j, row, lam, A, b, x)) {
        row_cg(j, w, lam, x, r, p, ap, static_cast<int>(2 * m));
    }
    for (index_t a = 0; a < k; ++a) xr[a] = x[a];
    if (j.biased) {
        xr[k] = 1;
        j.Xb[row] = x[k];
    }
}

template <typename Real>
TURBOSVD_INLINE int solve_rows(const Job<Real>& j) {
    int bad = 0;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
    for (index_t row = j.first; row < j.last; ++row) {
        const std::int64_t lo = j.indptr[row], hi = j.indptr[row + 1];
        bool ok = lo <= hi;
        for (std::int64_t e = lo; ok && e < hi; ++e) ok = j.cols[e] >= 0 && j.cols[e] < j.n_cols;
        if (!ok) {
            bad = 1;
            continue;
        }
        solve_row(j, row, j.scratch + thread_id() * j.scratch_stride);
    }
    return bad;
}

#ifdef _OPENMP
#define TURBOSVD_OMP_PARALLEL_NT _Pragma("omp parallel num_threads(nt)")
#else
#define TURBOSVD_OMP_PARALLEL_NT
#endif

// The `omp parallel` sits in the dispatched functions (see sgd_blocked.hpp); they never
// throw and report bad column ids through their return value.
TURBOSVD_DISPATCH inline int run_f32(const Job<float>& job, int nt) noexcept {
    int bad = 0;
    TURBOSVD_OMP_PARALLEL_NT
    {
        const int b = solve_rows(job);
#ifdef _OPENMP
#pragma omp atomic
#endif
        bad |= b;
    }
    (void)nt;
    return bad;
}

TURBOSVD_DISPATCH inline int run_f64(const Job<double>& job, int nt) noexcept {
    int bad = 0;
    TURBOSVD_OMP_PARALLEL_NT
    {
        const int b = solve_rows(job);
#ifdef _OPENMP
#pragma omp atomic
#endif
        bad |= b;
    }
    (void)nt;
    return bad;
}

#undef TURBOSVD_OMP_PARALLEL_NT

inline int run(const Job<float>& job, int nt) { return run_f32(job, nt); }
inline int run(const Job<double>& job, int nt) { return run_f64(job, nt); }

}  // namespace als_detail

// The padded row stride for m unknowns: whole groups of kRowLanes (row_dot()).
template <typename Real>
index_t als_stride(index_t m) {
    const index_t L = als_detail::kRowLanes<Real>;
    return (m + L - 1) / L * L;
}

// Solve rows [first, last) of X (factor rows Xf, n_rows x stride, and biases Xb) against Y
// (Yf, n_cols x stride, and Yb), in place. indptr has n_rows + 1 entries; cols/targets hold
// the ratings of every row. stride = als_stride(m); factor rows are [factors, 1, 0 ...]
// when biased, [factors, 0 ...] otherwise (Xb, Yb unused then and may be null). Throws
// std::invalid_argument on bad sizes or column ids (rows before the bad one may already
// be solved).
template <typename Real>
void als_half_sweep(const std::int64_t* indptr, const std::int32_t* cols, const Real* targets,
                    index_t n_rows, index_t first, index_t last, Real* Xf, Real* Xb,
                    const Real* Yf, const Real* Yb, index_t n_cols, index_t n_factors,
                    index_t stride, bool biased, double reg, int solver, int cg_steps,
                    int n_threads) {
    require(n_rows >= 0 && n_cols >= 0 && n_factors >= 0, "als_half_sweep: negative size");
    require(0 <= first && first <= last && last <= n_rows,
            "als_half_sweep: rows must satisfy 0 <= first <= last <= n_rows");
    require(solver == ALS_CHOLESKY || solver == ALS_CG, "als_half_sweep: unknown solver");
    require(cg_steps >= 0, "als_half_sweep: cg_steps must be >= 0");
    require(reg >= 0 && std::isfinite(reg), "als_half_sweep: reg must be finite and >= 0");
    require(indptr[0] >= 0, "als_half_sweep: indptr must start at a non-negative offset");
    const index_t m = biased ? n_factors + 1 : n_factors;
    require(stride == als_stride<Real>(m), "als_half_sweep: stride must be als_stride(m)");
    require(!biased || ((Xb != nullptr || n_rows == 0) && (Yb != nullptr || n_cols == 0)),
            "als_half_sweep: biases missing");
    const index_t nt =
        std::max<index_t>(1, std::min<index_t>(n_threads, std::max<index_t>(1, last - first)));
    als_detail::Job<Real> j;
    j.indptr = indptr;
    j.cols = cols;
    j.targets = targets;
    j.first = first;
    j.last = last;
    j.X = Xf;
    j.Xb = Xb;
    j.Y = Yf;
    j.Yb = Yb;
    j.n_cols = n_cols;
    j.k = n_factors;
    j.d = stride;
    j.m = m;
    j.biased = biased;
    j.reg = static_cast<Real>(reg);
    j.solver = solver;
    j.cg_steps = cg_steps;
    if (j.m == 0 || first == last) return;
    // Scratch rows padded to 64 bytes so threads never share a cache line.
    const index_t line = 64 / static_cast<index_t>(sizeof(Real));
    j.scratch_stride =
        (als_detail::scratch_size(m, stride, solver == ALS_CG) + line - 1) / line * line;
    std::vector<Real> scratch(static_cast<std::size_t>(j.scratch_stride * nt));
    j.scratch = scratch.data();
    if (als_detail::run(j, static_cast<int>(nt)))
        throw std::invalid_argument("als_half_sweep: column id out of range or indptr decreases");
}

}  // namespace turbosvd
