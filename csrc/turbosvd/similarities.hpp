// similarities.hpp: Surprise's four similarity measures (cosine, msd, pearson,
// pearson_baseline) between "x" rows (users, or items when item-based), one row at a time.
//
// Algorithm: sparse co-rating accumulation. To get row x, walk x's ratings (y, r_xy) in
// increasing y, and for each of them every rating (x2, r_x2y) of y; add the measure's
// terms into dense per-x2 accumulators (the co-rating count and up to five float64 sums,
// interleaved so that one x2 is one cache line), remembering which x2 were touched.
// pearson_baseline is the cosine of the baseline residuals r_xy - b_xy, with its own
// shrinkage: the caller passes the residuals (computed once per rating with Surprise's
// expression, so the same bits) as the similarity values. A similarity is then finalised from the
// accumulators of one x2 only when it is asked for (a full row, or the few candidates of
// a prediction), and the touched entries are cleared. The n x n matrix is never needed:
// a caller materialises the rows it wants, one block at a time. PairSims computes single
// similarities sim(x, x2) instead, by intersecting the two rating lists (for predictions
// whose candidates are few compared with the row's cost).
// Exactness: Surprise adds the terms of a pair (x, x2) while iterating `yr` by increasing
// y, in float64; walking x's ratings in increasing y adds the same terms in the same
// order (duplicate ratings included), so every sum has Surprise's bits. The finalising
// formulas are Surprise's, with the operands in an order whose result does not depend on
// which of x and x2 is the row (products and sums of two terms commute exactly), so the
// matrix is symmetric bit for bit. Where Surprise divides by zero (it raises
// ZeroDivisionError: cosine of all-zero co-ratings, pearson_baseline when every
// co-rating equals its baseline, msd/cosine with min_support = 0 and no co-rating) the
// similarity is 0, pearson's own convention.
// Parallel strategy: OpenMP over rows (dynamic schedule, the rows' costs vary a lot);
// each thread owns one accumulator workspace. Rows are independent, so results are
// bit-identical for any thread count.
// Cost: row x costs sum over y rated by x of |ratings of y|, plus the touched entries;
// workspace memory per thread: n_x * (8 + 8 * sums) bytes (sums: msd 1, cosine and
// pearson_baseline 3, pearson 5).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common.hpp"

namespace turbosvd {

enum SimKind : int { kSimCosine = 0, kSimMsd = 1, kSimPearson = 2, kSimPearsonBaseline = 3 };

// The ratings in both groupings, plus the measure's settings. Values are float64 (the
// exactness needs Surprise's float64 sums); ids are int32, offsets int64.
struct SimInput {
    std::int64_t n_x = 0;
    std::int64_t n_y = 0;
    // yr: the ratings of y are entries y_indptr[y] .. y_indptr[y + 1] (x id, rating).
    const std::int64_t* y_indptr = nullptr;
    const std::int32_t* y_x = nullptr;
    const double* y_r = nullptr;  // the ratings (the k-NN estimates use them)
    const double* y_v = nullptr;  // the similarity's values: ratings, or residuals (pb)
    // Optional, for upper-triangle rows: yr with each y's ratings sorted by x (stable).
    const std::int32_t* ys_x = nullptr;
    const double* ys_v = nullptr;
    // xr: the ratings of x, by increasing y (stable: duplicates in yr order).
    const std::int64_t* x_indptr = nullptr;
    const std::int32_t* x_y = nullptr;
    const double* x_v = nullptr;
    int kind = kSimMsd;
    std::int64_t min_support = 1;
    double shrinkage = 100.0;
};

inline void check_sim_input(const SimInput& in) {
    require(in.n_x >= 0 && in.n_y >= 0, "similarities: negative size");
    require(in.kind >= kSimCosine && in.kind <= kSimPearsonBaseline,
            "similarities: unknown similarity kind");
    require(in.min_support >= 0, "similarities: min_support must be >= 0");
    require(in.shrinkage >= 0, "similarities: shrinkage must be >= 0");
}

// Accumulator slots per pair: the co-rating count, then the measure's float64 sums.
inline int sim_stride(int kind) {
    return kind == kSimMsd ? 2 : (kind == kSimPearson ? 6 : 4);
}

// The smallest support giving a non-zero similarity (pearson_baseline needs 2 co-ratings).
inline std::int64_t sim_min_support(const SimInput& in) {
    return in.kind == kSimPearsonBaseline ? std::max<std::int64_t>(2, in.min_support)
                                          : in.min_support;
}

// A similarity from its accumulators a[0] (count, as a double) and a[1..]: Surprise's
// formulas, 0 below the support and where Surprise would divide by zero.
inline double finalize_sim(const SimInput& in, std::int64_t min_sprt, const double* a) {
    const std::int64_t f = static_cast<std::int64_t>(a[0]);
    if (f == 0 || f < min_sprt) return 0.0;
    const double* s = a + 1;
    switch (in.kind) {
        case kSimCosine: {
            const double den = std::sqrt(s[1] * s[2]);
            return den == 0.0 ? 0.0 : s[0] / den;
        }
        case kSimMsd:
            return 1.0 / (s[0] / static_cast<double>(f) + 1.0);
        case kSimPearson: {
            const double n = static_cast<double>(f);
            const double num = n * s[0] - s[3] * s[4];
            const double den = std::sqrt((n * s[1] - s[3] * s[3]) * (n * s[2] - s[4] * s[4]));
            return den == 0.0 ? 0.0 : num / den;
        }
        default: {
            const double den = std::sqrt(s[1] * s[2]);
            double v = den == 0.0 ? 0.0 : s[0] / den;
            const double fm1 = static_cast<double>(f - 1);
            v *= fm1 / (fm1 + in.shrinkage);
            return v;
        }
    }
}

// The terms of one co-rating (vi: x's value, vj: x2's value) added to the accumulators a.
TURBOSVD_INLINE void add_sim_terms(int kind, double* TURBOSVD_RESTRICT a, double vi, double vj) {
    a[0] += 1.0;
    switch (kind) {
        case kSimMsd: {
            const double d = vi - vj;
            a[1] += d * d;
            break;
        }
        case kSimPearson:
            a[1] += vi * vj;
            a[2] += vi * vi;
            a[3] += vj * vj;
            a[4] += vi;
            a[5] += vj;
            break;
        default:  // cosine, and pearson_baseline on residuals
            a[1] += vi * vj;
            a[2] += vi * vi;
            a[3] += vj * vj;
    }
}

// One thread's accumulators over all x2 of one row x.
class SimWorkspace {
  public:
    explicit SimWorkspace(const SimInput& in)
        : in_(in),
          stride_(sim_stride(in.kind)),
          acc_(static_cast<std::size_t>(in.n_x) * stride_, 0.0) {
        // Every x2 is touched at most once per row: no reallocation inside parallel loops.
        touched_.reserve(static_cast<std::size_t>(in.n_x));
        min_sprt_ = sim_min_support(in);
    }

    // Add the co-ratings of row x (its accumulators must be clear). With `upper`, only
    // those of x2 > x, read from the x-sorted copy of yr (each y's ratings of x2 > x are
    // a suffix found by binary search): half the work when the whole matrix is built.
    void accumulate(std::int64_t x, bool upper = false) {
        row_ = x;
        const SimInput& in = in_;
        const std::int32_t* yx = upper ? in.ys_x : in.y_x;
        const double* yv = upper ? in.ys_v : in.y_v;
        for (std::int64_t p = in.x_indptr[x]; p < in.x_indptr[x + 1]; ++p) {
            const std::int64_t y = in.x_y[p];
            std::int64_t lo = in.y_indptr[y];
            const std::int64_t hi = in.y_indptr[y + 1];
            if (upper)
                lo = std::upper_bound(yx + lo, yx + hi, static_cast<std::int32_t>(x)) - yx;
            add_terms(in.x_v[p], yx, yv, lo, hi);
        }
    }

    // sim(row, x2) from the accumulators (the row given to accumulate()).
    double sim(std::int64_t x2) const {
        if (x2 == row_) return 1.0;
        return finalize_sim(in_, min_sprt_, acc_.data() + x2 * stride_);
    }

    // The whole row: out[x2] = sim(row, x2) for every x2 (with `upper`, for x2 >= row
    // only, after accumulate(row, true); the rest of `out` is left as it is).
    void fill_row(double* TURBOSVD_RESTRICT out, bool upper = false) const {
        for (std::int64_t x2 = upper ? row_ : 0; x2 < in_.n_x; ++x2) out[x2] = 0.0;
        for (const std::int32_t x2 : touched_) out[x2] = sim(x2);
        if (row_ >= 0 && row_ < in_.n_x) out[row_] = 1.0;
    }

    // Reset the touched accumulators (cost proportional to the row, not to n_x).
    void clear() {
        for (const std::int32_t x2 : touched_) {
            double* a = acc_.data() + static_cast<std::int64_t>(x2) * stride_;
            for (int t = 0; t < stride_; ++t) a[t] = 0.0;
        }
        touched_.clear();
        row_ = -1;
    }

  private:
    // The terms of the values yx/yv[lo, hi) of one y against x's value vi. The count is
    // kept as a double in slot 0 (exact below 2^53).
    void add_terms(double vi, const std::int32_t* yx, const double* yv, std::int64_t lo,
                   std::int64_t hi) {
        double* TURBOSVD_RESTRICT acc = acc_.data();
        switch (in_.kind) {
            case kSimMsd:
                for (std::int64_t q = lo; q < hi; ++q) {
                    const std::int32_t x2 = yx[q];
                    double* a = acc + static_cast<std::int64_t>(x2) * 2;
                    if (a[0] == 0.0) touched_.push_back(x2);
                    a[0] += 1.0;
                    const double d = vi - yv[q];
                    a[1] += d * d;
                }
                break;
            case kSimPearson:
                for (std::int64_t q = lo; q < hi; ++q) {
                    const std::int32_t x2 = yx[q];
                    const double vj = yv[q];
                    double* a = acc + static_cast<std::int64_t>(x2) * 6;
                    if (a[0] == 0.0) touched_.push_back(x2);
                    a[0] += 1.0;
                    a[1] += vi * vj;
                    a[2] += vi * vi;
                    a[3] += vj * vj;
                    a[4] += vi;
                    a[5] += vj;
                }
                break;
            default:  // cosine, and pearson_baseline on residuals
                for (std::int64_t q = lo; q < hi; ++q) {
                    const std::int32_t x2 = yx[q];
                    const double vj = yv[q];
                    double* a = acc + static_cast<std::int64_t>(x2) * 4;
                    if (a[0] == 0.0) touched_.push_back(x2);
                    a[0] += 1.0;
                    a[1] += vi * vj;
                    a[2] += vi * vi;
                    a[3] += vj * vj;
                }
        }
    }

    const SimInput& in_;
    int stride_;
    std::vector<double> acc_;
    std::vector<std::int32_t> touched_;
    std::int64_t min_sprt_ = 1;
    std::int64_t row_ = -1;
};

// One thread's similarities of one row x with chosen x2 only, by list intersection: x's
// ratings are marked in a dense per-y table, then each asked-for x2 walks its own ratings
// (increasing y) against the marks. The terms of the pair are added in Surprise's order
// (increasing y; at a y both rated, x's ratings outer, x2's inner, each in yr order), in
// float64, so sim(x2) equals SimWorkspace's bit for bit. Results are memoised per x2.
// Cost: |ratings of x2| per new x2, sequential reads plus one lookup in an n_y table
// (which stays in cache), where a row costs sum over y of x of |ratings of y| scattered
// updates: the cheaper way when few x2 are asked for, or when x's items are popular.
// Memory: n_y * 12 + n_x * 9 bytes.
class PairSims {
  public:
    explicit PairSims(const SimInput& in)
        : in_(in),
          first_(static_cast<std::size_t>(in.n_y), -1),
          count_(static_cast<std::size_t>(in.n_y), 0),
          value_(static_cast<std::size_t>(in.n_x), 0.0),
          known_(static_cast<std::size_t>(in.n_x), 0) {
        done_.reserve(static_cast<std::size_t>(in.n_x));
        min_sprt_ = sim_min_support(in);
    }

    // Mark x's ratings (the previous row must have been cleared).
    void set_row(std::int64_t x) {
        row_ = x;
        for (std::int64_t p = in_.x_indptr[x]; p < in_.x_indptr[x + 1]; ++p) {
            const std::int32_t y = in_.x_y[p];
            if (count_[y]++ == 0) first_[y] = p;
        }
    }

    double sim(std::int64_t x2) {
        if (x2 == row_) return 1.0;
        if (known_[x2]) return value_[x2];
        double a[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        const int kind = in_.kind;
        const std::int64_t end = in_.x_indptr[x2 + 1];
        for (std::int64_t q = in_.x_indptr[x2]; q < end;) {
            const std::int32_t y = in_.x_y[q];
            std::int64_t q_end = q + 1;
            while (q_end < end && in_.x_y[q_end] == y) ++q_end;  // x2's duplicates of y
            const std::int32_t c = count_[y];
            if (c != 0) {
                const std::int64_t p0 = first_[y];
                for (std::int64_t p = p0; p < p0 + c; ++p)
                    for (std::int64_t r = q; r < q_end; ++r)
                        add_sim_terms(kind, a, in_.x_v[p], in_.x_v[r]);
            }
            q = q_end;
        }
        const double v = finalize_sim(in_, min_sprt_, a);
        value_[x2] = v;
        known_[x2] = 1;
        done_.push_back(static_cast<std::int32_t>(x2));
        return v;
    }

    // Unmark the row and forget the memoised values (cost proportional to the work done).
    void clear() {
        if (row_ >= 0) {
            for (std::int64_t p = in_.x_indptr[row_]; p < in_.x_indptr[row_ + 1]; ++p)
                count_[in_.x_y[p]] = 0;
        }
        for (const std::int32_t x2 : done_) known_[x2] = 0;
        done_.clear();
        row_ = -1;
    }

  private:
    const SimInput& in_;
    std::vector<std::int64_t> first_;
    std::vector<std::int32_t> count_;
    std::vector<double> value_;
    std::vector<std::uint8_t> known_;
    std::vector<std::int32_t> done_;
    std::int64_t min_sprt_ = 1;
    std::int64_t row_ = -1;
};

// Similarity rows rows[0 .. n_rows) into out (n_rows x n_x, row-major).
// With `upper`, only the entries x2 >= rows[k] of each row are written (see
// mirror_upper); it needs the x-sorted copy of yr.
inline void similarity_rows(const SimInput& in, const std::int64_t* rows, std::int64_t n_rows,
                            double* out, bool upper, int n_threads) {
    check_sim_input(in);
    require(!upper || in.n_x == 0 || in.y_indptr[in.n_y] == 0 || in.ys_x != nullptr,
            "similarity_rows: upper rows need the x-sorted ratings");
    for (std::int64_t k = 0; k < n_rows; ++k)
        require(rows[k] >= 0 && rows[k] < in.n_x, "similarity_rows: row out of range");
    if (n_rows == 0 || in.n_x == 0) return;
    const int threads = static_cast<int>(std::max<std::int64_t>(
        1, std::min<std::int64_t>(n_threads < 1 ? 1 : n_threads, n_rows)));
    // Workspaces are allocated here, outside the parallel region (an allocation failure
    // then surfaces as std::bad_alloc -> MemoryError instead of terminating).
    std::vector<SimWorkspace> spaces;
    spaces.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) spaces.emplace_back(in);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (std::int64_t k = 0; k < n_rows; ++k) {
        SimWorkspace& ws = spaces[static_cast<std::size_t>(thread_id())];
        ws.accumulate(rows[k], upper);
        ws.fill_row(out + k * in.n_x, upper);
        ws.clear();
    }
    (void)threads;
}

// Copy the upper triangle of the n x n matrix `m` onto its lower triangle, by tiles
// (parallel over tile rows; every entry is written once: any thread count, same matrix).
inline void mirror_upper(double* m, std::int64_t n, int n_threads) {
    constexpr std::int64_t kTile = 64;
    const std::int64_t n_tiles = (n + kTile - 1) / kTile;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads < 1 ? 1 : n_threads)
#endif
    for (std::int64_t ti = 0; ti < n_tiles; ++ti) {
        const std::int64_t i0 = ti * kTile, i1 = std::min(n, i0 + kTile);
        for (std::int64_t j0 = 0; j0 <= i0; j0 += kTile) {
            const std::int64_t j1 = std::min(n, j0 + kTile);
            for (std::int64_t i = i0; i < i1; ++i)
                for (std::int64_t j = j0; j < std::min(j1, i); ++j) m[i * n + j] = m[j * n + i];
        }
    }
    (void)n_threads;
}

}  // namespace turbosvd
