// cosine_topn.hpp: exact (brute-force) top-k search by cosine similarity or inner product.
//
// Algorithm: for every query row x_q of X (n_queries x dim) find the k item rows y_i of Y
// (n_items x dim) with the largest score <x_q, y_i> (cosine: both rows scaled to unit norm
// first; zero rows stay zero and score 0 against everything), ties broken by the smaller
// item index, best first. Like scikit-learn's argkmin reduction, the score matrix is never
// materialised: queries x items are processed in tiles, and each tile's scores are reduced
// into per-query fixed-size heaps (topk.hpp) while still in registers / L1.
//  1. Packing: X is copied (scaled, for cosine) into panels of MQ rows stored
//     dimension-major ([dim][MQ]), Y into panels of NV rows ([dim][NV]), zero-padded. This is
//     done once, in parallel, and is the only extra memory besides the outputs:
//     (n_queries + n_items) * dim reals.
//  2. Micro-kernel: an MQ x NV block of scores held in MQ*NV/lanes vector accumulators; for
//     each dimension f, NV/lanes vector loads of the item panel and MQ broadcasts of the
//     query panel feed MQ*NV/lanes fused multiply-adds (the GEMM register-blocking idea; no
//     BLAS). Shapes: 8 x (2 zmm) on AVX-512, 6 x (2 ymm) otherwise, chosen at run time; the
//     search loop (topn_detail::search) is SIMD-dispatched (TURBOSVD_DISPATCH, common.hpp)
//     and never throws: topk_search validates, plans the tiles and allocates before it.
//  3. Selection: each row of the block is compared (vectorised) with its heap's current
//     worst score, giving a bit mask of the lanes at least that good (usually none); only
//     those lanes are visited, skipping padding, the query itself (exclude_diag) and
//     excluded pairs (a CSR of sorted item indices per query, looked up by binary search).
// Loop nest: query tile (query_tile rows) > item tile (item_tile rows, whose packed panels
// stay in L2) > query panel (MQ rows, in L1) > item panel (NV rows) > micro-kernel.
// Parallel strategy: OpenMP over query tiles (each thread owns the heaps of its tiles: they
// are the output rows) when there are at least 2 tiles per thread; otherwise (few queries)
// over item tiles, each thread filling private heaps for all queries, merged at the end.
// Floating point: scores are accumulated in the input type (float32 like BLAS sgemm): the
// product of dimension 0, then one multiply-add per dimension in increasing order.
// Determinism: every score is computed by the same sequence of operations whatever its
// position in a tile, and the heap order is strict and total, so the results are
// bit-identical for any tile sizes, thread count and strategy (on one machine: the AVX
// clones fuse multiply-adds, the baseline clone does not).
// Cost: O(n_queries * n_items * dim) flops, O(n_queries * k) output, heap work
// O(n_queries * k * log(k) * log(n_items / k)) expected on random data.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <new>

#include "common.hpp"
#include "topk.hpp"

namespace turbosvd {

// Which loop runs in parallel (0 = automatic).
enum TopkStrategy : int { kTopkAuto = 0, kTopkQueries = 1, kTopkItems = 2 };

// Default tile sizes (tested defaults; results never depend on them).
constexpr index_t kDefaultQueryTile = 256;
constexpr index_t kDefaultItemTileBytes = 256 * 1024;  // packed item tile, kept in L2

namespace topn_detail {

// 64-byte aligned scratch buffer (aligned operator new, C++17).
template <typename T>
class AlignedArray {
  public:
    explicit AlignedArray(std::size_t n) {
        if (n > 0) ptr_ = static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
    }
    ~AlignedArray() {
        if (ptr_ != nullptr) ::operator delete(ptr_, std::align_val_t{64});
    }
    AlignedArray(const AlignedArray&) = delete;
    AlignedArray& operator=(const AlignedArray&) = delete;
    T* get() const { return ptr_; }

  private:
    T* ptr_ = nullptr;
};

// Whether the running CPU has 32 512-bit registers (then the wide micro-kernel fits).
inline bool wide_vectors() {
#if TURBOSVD_DISPATCH_ENABLED
    return __builtin_cpu_supports("x86-64-v4");
#elif defined(__AVX512F__)
    return true;
#else
    return false;
#endif
}

// Micro-kernel shapes: MQ query rows x NV item rows, NV = two vector registers.
template <typename Real, bool Wide>
struct Shape {
    static constexpr int mq = Wide ? 8 : 6;
    static constexpr int nv = (Wide ? 64 : 32) / static_cast<int>(sizeof(Real)) * 2;
};

inline index_t ceil_div(index_t a, index_t b) {
    return (a + b - 1) / b;
}
inline index_t round_up(index_t a, index_t b) {
    return ceil_div(a, b) * b;
}

template <typename Real>
struct Problem {
    const Real* X;
    index_t n_queries;
    const Real* Y;
    index_t n_items;
    index_t dim;   // columns of X and Y
    index_t pdim;  // rows of a packed panel: max(dim, 1)
    index_t k;
    bool normalize;
    bool exclude_diag;
    index_t diag_offset;               // query q's own item is q + diag_offset
    const std::int64_t* excl_indptr;   // nullptr: no excluded pairs
    const std::int64_t* excl_indices;  // sorted within each query's row
};

// Copy rows [r0, r0 + W) of A (n x dim) into a panel P[f * W + r], scaled to unit norm when
// `normalize`; rows past the end are zero (with dim == 0 the panel is one zero row). The
// norm is computed in double with max-abs scaling, so it neither overflows nor underflows
// for any finite row.
template <typename Real, int W>
TURBOSVD_INLINE void pack_panel(const Real* TURBOSVD_RESTRICT A, index_t n, index_t dim, index_t r0,
                                bool normalize, Real* TURBOSVD_RESTRICT P) {
    for (int r = 0; r < W; ++r) {
        const index_t row = r0 + r;
        if (row >= n || dim == 0) {
            for (index_t f = 0; f < std::max<index_t>(dim, 1); ++f) P[f * W + r] = Real(0);
            continue;
        }
        const Real* a = A + row * dim;
        double scale = 1.0;
        if (normalize) {
            double m = 0.0;
            for (index_t f = 0; f < dim; ++f) m = std::max(m, std::fabs(static_cast<double>(a[f])));
            if (m > 0.0) {
                double ss = 0.0;
                for (index_t f = 0; f < dim; ++f) {
                    const double v = static_cast<double>(a[f]) / m;
                    ss += v * v;
                }
                scale = 1.0 / (m * std::sqrt(ss));
            } else {
                scale = 0.0;
            }
        }
        for (index_t f = 0; f < dim; ++f)
            P[f * W + r] = static_cast<Real>(static_cast<double>(a[f]) * scale);
    }
}

// acc[r][j] = sum_f xp[f * MQ + r] * yp[f * NV + j] for f = 0 .. dim - 1 (dim >= 1), accumulated
// in Real in increasing f. The first product initialises the sum (x*y equals 0 + x*y), so
// the accumulators never go through memory.
template <typename Real, int MQ, int NV>
TURBOSVD_INLINE void micro_kernel(const Real* TURBOSVD_RESTRICT xp,
                                  const Real* TURBOSVD_RESTRICT yp, index_t dim,
                                  Real (&acc)[MQ][NV]) {
#pragma GCC unroll 16
    for (int r = 0; r < MQ; ++r) {
        const Real xr = xp[r];
        TURBOSVD_OMP(simd)
        for (int j = 0; j < NV; ++j) acc[r][j] = xr * yp[j];
    }
    for (index_t f = 1; f < dim; ++f) {
        const Real* y = yp + f * NV;
        const Real* x = xp + f * MQ;
#pragma GCC unroll 16
        for (int r = 0; r < MQ; ++r) {
            const Real xr = x[r];
            TURBOSVD_OMP(simd)
            for (int j = 0; j < NV; ++j) acc[r][j] += xr * y[j];
        }
    }
}

// Bit j of a row mask (NV <= 32): a vectorisable way to get "which lanes passed".
alignas(64) constexpr std::uint32_t kLaneBit[32] = {
    1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,  1u << 7,
    1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15,
    1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23,
    1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31};

inline int lowest_bit(std::uint32_t m) {
#if defined(__GNUC__)
    return __builtin_ctz(m);
#else
    int j = 0;
    while (!(m & 1u)) {
        m >>= 1;
        ++j;
    }
    return j;
#endif
}

template <typename Real>
TURBOSVD_INLINE bool is_excluded(const Problem<Real>& p, index_t q, index_t item) {
    if (p.exclude_diag && item == q + p.diag_offset) return true;
    if (p.excl_indptr != nullptr) {
        const std::int64_t* b = p.excl_indices + p.excl_indptr[q];
        const std::int64_t* e = p.excl_indices + p.excl_indptr[q + 1];
        return std::binary_search(b, e, static_cast<std::int64_t>(item));
    }
    return false;
}

// Scores of query panel `xpanel` (queries qb .. qb + MQ - 1) against items [i0, i1), reduced
// into the heaps hs/hi of those queries (hs + r * k is the heap of query qb + r).
template <typename Real, int MQ, int NV>
TURBOSVD_INLINE void scan_items(const Problem<Real>& p, const Real* xpanel, index_t qb,
                                const Real* yp, index_t i0, index_t i1, Real* hs, index_t* hi) {
    static_assert(NV <= 32, "row masks are 32 bits");
    alignas(64) Real acc[MQ][NV];
    const index_t k = p.k;
    const int mq = static_cast<int>(std::min<index_t>(MQ, p.n_queries - qb));
    for (index_t ib = i0; ib < i1; ib += NV) {
        micro_kernel<Real, MQ, NV>(xpanel, yp + (ib / NV) * p.pdim * NV, p.pdim, acc);
        const index_t nj = std::min<index_t>(NV, p.n_items - ib);
        for (int r = 0; r < mq; ++r) {
            Real* s = hs + r * k;
            index_t* ix = hi + r * k;
            // Lanes scoring at least the heap's worst (NaN never passes): usually none.
            const Real worst = s[0];
            std::uint32_t mask = 0;
            TURBOSVD_OMP(simd reduction(+ : mask))
            for (int j = 0; j < NV; ++j) mask += acc[r][j] >= worst ? kLaneBit[j] : 0u;
            const index_t q = qb + r;
            while (mask != 0) {
                const int j = lowest_bit(mask);
                mask &= mask - 1;
                const index_t item = ib + j;
                if (j >= nj || is_excluded(p, q, item)) continue;  // padding or excluded
                topk_push(s, ix, k, acc[r][j], item);
            }
        }
    }
}

// The per-thread body of the parallel region (inlined into each clone's outlined region).
template <typename Real, int MQ, int NV>
TURBOSVD_INLINE void search_body(const Problem<Real>& p, index_t query_tile, index_t item_tile,
                                 bool on_items, Real* xp, Real* yp, Real* out_scores,
                                 index_t* out_indices, Real* th_scores, index_t* th_indices) {
    const index_t nq = p.n_queries, ni = p.n_items, dim = p.dim, pd = p.pdim, k = p.k;
    const index_t nqp = ceil_div(nq, MQ), nip = ceil_div(ni, NV);

    TURBOSVD_OMP_FOR(schedule(static) nowait)
    for (index_t b = 0; b < nqp; ++b)
        pack_panel<Real, MQ>(p.X, nq, dim, b * MQ, p.normalize, xp + b * pd * MQ);
    TURBOSVD_OMP_FOR(schedule(static))
    for (index_t b = 0; b < nip; ++b)
        pack_panel<Real, NV>(p.Y, ni, dim, b * NV, p.normalize, yp + b * pd * NV);

    if (!on_items) {
        // Each query tile is owned by one thread: its heaps are the output rows.
        const index_t n_tiles = ceil_div(nq, query_tile);
        TURBOSVD_OMP_FOR(schedule(dynamic, 1))
        for (index_t t = 0; t < n_tiles; ++t) {
            const index_t q0 = t * query_tile, q1 = std::min(nq, q0 + query_tile);
            for (index_t q = q0; q < q1; ++q) topk_init(out_scores + q * k, out_indices + q * k, k);
            for (index_t i0 = 0; i0 < ni; i0 += item_tile) {
                const index_t i1 = std::min(ni, i0 + item_tile);
                for (index_t qb = q0; qb < q1; qb += MQ)
                    scan_items<Real, MQ, NV>(p, xp + (qb / MQ) * pd * MQ, qb, yp, i0, i1,
                                             out_scores + qb * k, out_indices + qb * k);
            }
            for (index_t q = q0; q < q1; ++q) topk_sort(out_scores + q * k, out_indices + q * k, k);
        }
    } else {
        // Few queries: split the items; private heaps per thread, merged per query.
        const int team = team_size();
        Real* hs = th_scores + static_cast<index_t>(thread_id()) * nq * k;
        index_t* hi = th_indices + static_cast<index_t>(thread_id()) * nq * k;
        topk_init(hs, hi, nq * k);
        const index_t n_tiles = ceil_div(ni, item_tile);
        TURBOSVD_OMP_FOR(schedule(dynamic, 1))
        for (index_t t = 0; t < n_tiles; ++t) {
            const index_t i0 = t * item_tile, i1 = std::min(ni, i0 + item_tile);
            for (index_t qb = 0; qb < nq; qb += MQ)
                scan_items<Real, MQ, NV>(p, xp + (qb / MQ) * pd * MQ, qb, yp, i0, i1, hs + qb * k,
                                         hi + qb * k);
        }
        TURBOSVD_OMP_FOR(schedule(static))
        for (index_t q = 0; q < nq; ++q) {
            Real* s = out_scores + q * k;
            index_t* ix = out_indices + q * k;
            topk_init(s, ix, k);
            for (int th = 0; th < team; ++th) {
                const Real* ts = th_scores + (static_cast<index_t>(th) * nq + q) * k;
                const index_t* ti = th_indices + (static_cast<index_t>(th) * nq + q) * k;
                for (index_t e = 0; e < k; ++e)
                    if (ti[e] != kEmptySlot) topk_push(s, ix, k, ts[e], ti[e]);
            }
            topk_sort(s, ix, k);
        }
    }
}

// Every check of topk_search, before anything runs (the search itself must not throw).
template <typename Real>
void check_problem(const Problem<Real>& p, std::int64_t excl_nnz) {
    require(p.n_queries >= 0 && p.n_items >= 0 && p.dim >= 0 && p.k >= 0,
            "topk_search: negative size");
    require(p.n_queries == 0 || p.dim == 0 || p.X != nullptr, "topk_search: X is null");
    require(p.n_items == 0 || p.dim == 0 || p.Y != nullptr, "topk_search: Y is null");
    if (p.excl_indptr == nullptr) return;
    require(p.excl_indptr[0] == 0 && p.excl_indptr[p.n_queries] == excl_nnz,
            "topk_search: exclusion indptr must start at 0 and end at nnz (" +
                std::to_string(excl_nnz) + "), got " + std::to_string(p.excl_indptr[0]) + " and " +
                std::to_string(p.excl_indptr[p.n_queries]));
    require(excl_nnz == 0 || p.excl_indices != nullptr, "topk_search: exclusion indices are null");
    for (index_t q = 0; q < p.n_queries; ++q) {
        const std::int64_t b = p.excl_indptr[q], e = p.excl_indptr[q + 1];
        if (b > e)
            throw std::invalid_argument(
                "topk_search: exclusion indptr must be non-decreasing, got " + std::to_string(b) +
                " then " + std::to_string(e) + " at query " + std::to_string(q));
        for (std::int64_t t = b; t < e; ++t) {
            const std::int64_t v = p.excl_indices[t];
            if (v < 0 || v >= p.n_items)
                throw std::invalid_argument(
                    "topk_search: excluded item " + std::to_string(v) + " of query " +
                    std::to_string(q) + " is out of range [0, " + std::to_string(p.n_items) + ")");
            if (t > b && p.excl_indices[t - 1] > v)
                throw std::invalid_argument(
                    "topk_search: excluded items must be sorted within each query, "
                    "query " +
                    std::to_string(q) + " has " + std::to_string(p.excl_indices[t - 1]) +
                    " before " + std::to_string(v));
        }
    }
}

// Tile sizes, thread count and strategy of one search (chosen by topk_search).
struct Plan {
    index_t query_tile, item_tile;
    int n_threads;
    bool on_items, wide;
};

// The search itself, SIMD-dispatched: one clone per ISA, the parallel region written here so
// that GCC clones its outlined body too (common.hpp). Never throws: topk_search validates
// the problem and allocates the buffers (xp, yp, and th_* when on_items) before the call.
template <typename Real>
TURBOSVD_DISPATCH void search(const Problem<Real>& p, const Plan& plan, Real* xp, Real* yp,
                              Real* th_scores, index_t* th_indices, Real* out_scores,
                              index_t* out_indices) noexcept {
    TURBOSVD_OMP(parallel num_threads(plan.n_threads))
    {
        if (plan.wide)
            search_body<Real, Shape<Real, true>::mq, Shape<Real, true>::nv>(
                p, plan.query_tile, plan.item_tile, plan.on_items, xp, yp, out_scores, out_indices,
                th_scores, th_indices);
        else
            search_body<Real, Shape<Real, false>::mq, Shape<Real, false>::nv>(
                p, plan.query_tile, plan.item_tile, plan.on_items, xp, yp, out_scores, out_indices,
                th_scores, th_indices);
    }
}

}  // namespace topn_detail

// Top-k search. X: n_queries x dim, Y: n_items x dim, both row-major (Y may be X).
// normalize: cosine similarity instead of inner product. exclude_diag: skip item q + diag_offset
// for query q (the self-pairs when Y is X, or when X is the slab of Y's rows starting at
// diag_offset). excl_indptr / excl_indices (nullable): CSR of item indices to skip
// per query, sorted within each row. Tiles of 0 pick the defaults. strategy: TopkStrategy. Outputs
// (n_queries x k, row-major): scores best first and their item indices; slots with no candidate
// hold index -1 and score -inf.
template <typename Real>
void topk_search(const Real* X, index_t n_queries, const Real* Y, index_t n_items, index_t dim,
                 index_t k, bool normalize, bool exclude_diag, index_t diag_offset,
                 const std::int64_t* excl_indptr, const std::int64_t* excl_indices,
                 std::int64_t excl_nnz, index_t query_tile, index_t item_tile, int n_threads,
                 int strategy, Real* out_scores, std::int64_t* out_indices) {
    using namespace topn_detail;
    const Problem<Real> p{X,           n_queries,   Y,
                          n_items,     dim,         std::max<index_t>(dim, 1),
                          k,           normalize,   exclude_diag,
                          diag_offset, excl_indptr, excl_indices};
    check_problem(p, excl_nnz);
    require(query_tile >= 0, "topk_search: query_tile=" + std::to_string(query_tile) +
                                 " is out of range: must be >= 0 (0: the default)");
    require(item_tile >= 0, "topk_search: item_tile=" + std::to_string(item_tile) +
                                " is out of range: must be >= 0 (0: the default)");
    require(strategy == kTopkAuto || strategy == kTopkQueries || strategy == kTopkItems,
            "topk_search: strategy=" + std::to_string(strategy) +
                " is not 0 (auto), 1 (queries) or 2 (items)");
    const index_t nq = n_queries, ni = n_items;
    if (nq == 0 || k == 0) return;
    if (ni == 0) {
        for (index_t q = 0; q < nq; ++q) {
            topk_init(out_scores + q * k, out_indices + q * k, k);
            topk_sort(out_scores + q * k, out_indices + q * k, k);
        }
        return;
    }
    Plan plan;
    plan.wide = wide_vectors();
    const index_t mq = plan.wide ? Shape<Real, true>::mq : Shape<Real, false>::mq;
    const index_t nv = plan.wide ? Shape<Real, true>::nv : Shape<Real, false>::nv;

    // Tiny problems are not worth waking a team for.
    int nt = std::max(1, n_threads);
    if (static_cast<double>(nq) * static_cast<double>(ni) * static_cast<double>(dim + 1) < 2e6)
        nt = 1;
    // Tiles are whole numbers of panels.
    if (query_tile == 0) query_tile = kDefaultQueryTile;
    if (item_tile == 0)
        item_tile = std::max<index_t>(
            1, kDefaultItemTileBytes /
                   (std::max<index_t>(dim, 1) * static_cast<index_t>(sizeof(Real))));
    query_tile = round_up(std::max<index_t>(query_tile, 1), mq);
    item_tile = round_up(std::max<index_t>(item_tile, 1), nv);
    bool on_items;
    if (strategy == kTopkAuto)
        on_items = nt > 1 && ceil_div(nq, query_tile) < 2 * static_cast<index_t>(nt);
    else
        on_items = strategy == kTopkItems;
    if (on_items && strategy == kTopkAuto) {
        // Enough item tiles for the team to share (the results do not depend on it).
        const index_t want = round_up(ceil_div(ni, 4 * static_cast<index_t>(nt)), nv);
        item_tile = std::max(nv, std::min(item_tile, want));
    }
    plan.query_tile = query_tile;
    plan.item_tile = item_tile;
    plan.n_threads = nt;
    plan.on_items = on_items;

    AlignedArray<Real> xp(static_cast<std::size_t>(ceil_div(nq, mq) * mq * p.pdim));
    AlignedArray<Real> yp(static_cast<std::size_t>(ceil_div(ni, nv) * nv * p.pdim));
    const std::size_t th_size = on_items ? static_cast<std::size_t>(nt) * nq * k : 0;
    AlignedArray<Real> th_scores(th_size);
    AlignedArray<index_t> th_indices(th_size);
    search<Real>(p, plan, xp.get(), yp.get(), th_scores.get(), th_indices.get(), out_scores,
                 out_indices);
}

// The micro-kernel shape used on this CPU, for reports: {query rows, item rows}.
inline void topk_kernel_shape(bool is_double, int* mq, int* nv) {
    const bool wide = topn_detail::wide_vectors();
    if (is_double) {
        *mq = wide ? topn_detail::Shape<double, true>::mq : topn_detail::Shape<double, false>::mq;
        *nv = wide ? topn_detail::Shape<double, true>::nv : topn_detail::Shape<double, false>::nv;
    } else {
        *mq = wide ? topn_detail::Shape<float, true>::mq : topn_detail::Shape<float, false>::mq;
        *nv = wide ? topn_detail::Shape<float, true>::nv : topn_detail::Shape<float, false>::nv;
    }
}

}  // namespace turbosvd
