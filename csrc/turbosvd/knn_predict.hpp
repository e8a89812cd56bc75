// knn_predict.hpp: Surprise's k-NN estimates (KNNBasic, KNNWithMeans, KNNWithZScore,
// KNNBaseline) for many (x, y) pairs whose x and y are both known.
//
// Algorithm, per pair (x, y): the candidates are the ratings (x2, r) of y in `yr` order,
// each with sim(x, x2). Surprise keeps the k largest similarities (heapq.nlargest: ties
// go to the earlier candidate) and aggregates those with sim > 0 in that order. Only
// positive candidates can contribute, and they come first in that order, so this kernel
// offers the positive candidates to a bounded heap of size k (topk.hpp, whose strict
// order is this one: similarity descending, then position in yr ascending; a rejected
// candidate costs one comparison), sorts it, and adds the kept ones up in that order in
// float64, with Surprise's expressions:
//   basic:    sum_sim += s; sum_r += s * r;                       est = sum_r / sum_sim
//   means:    sum_r += s * (r - mean[x2]);                        est = mean[x] + sum_r / sum_sim
//   zscore:   sum_r += s * (r - mean[x2]) / sigma[x2];            est = mean[x] + sum_r / sum_sim * sigma[x]
//   baseline: sum_r += s * (r - ((mu + bx[x2]) + by[y]));         est = b_ui + sum_r / sum_sim
// actual_k = the number of terms added. Below min_k, basic reports "not enough
// neighbours" (code 2), the others drop the neighbour term. So estimates, actual_k and
// the neighbours used are Surprise's, bit for bit given the same similarities.
// Similarities come from a dense matrix when the caller has one, otherwise they are
// computed on demand, per group of pairs sharing x, in one of two ways chosen by the caller
// per group (by_pairs; both give the same bits, see similarities.hpp): accumulate row x
// once (SimWorkspace: cost sum over y of x of |ratings of y|, scattered) and finalise only
// the candidates, or intersect x's ratings with those of each candidate (PairSims: cost
// sum over candidates of |ratings of x2|, sequential), cheaper when x's items are popular
// and the candidates few.
// Parallel strategy: OpenMP over groups (dynamic schedule); each thread owns a workspace
// and a candidate buffer. Pairs are independent: bit-identical for any thread count.
// Cost per group: the row's accumulation (on demand) + per pair O(|ratings of y|) for the
// candidates + O(k log k) for the sort.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common.hpp"
#include "similarities.hpp"
#include "topk.hpp"

namespace turbosvd {

enum KnnKind : int { kKnnBasic = 0, kKnnMeans = 1, kKnnZScore = 2, kKnnBaseline = 3 };

// Result codes per pair.
enum KnnCode : std::int8_t { kKnnOk = 0, kKnnNotEnough = 2 };

struct KnnParams {
    int kind = kKnnBasic;
    std::int64_t k = 40;
    std::int64_t min_k = 1;
    bool user_based = true;
    const double* means = nullptr;   // per x (means, zscore)
    const double* sigmas = nullptr;  // per x (zscore)
    double global_mean = 0.0;        // baseline
    const double* bx = nullptr;      // per x (baseline)
    const double* by = nullptr;      // per y (baseline)
};

namespace knn_detail {

// One thread's bounded heap (topk.hpp) of (similarity, position in yr) pairs.
struct Heap {
    std::vector<double> s;
    std::vector<index_t> pos;
};

// One pair (x, y); `sim_of(x2)` gives sim(x, x2).
template <typename SimOf>
inline void predict_pair(const SimInput& in, const KnnParams& p, std::int64_t x, std::int64_t y,
                         SimOf sim_of, Heap& heap, double* est, std::int32_t* actual_k,
                         std::int8_t* code) {
    const std::int64_t lo = in.y_indptr[y], hi = in.y_indptr[y + 1];
    const index_t kk = std::min<index_t>(p.k, hi - lo);
    double* hs = heap.s.data();
    index_t* hp = heap.pos.data();
    topk_init(hs, hp, kk);
    std::int64_t n_pos = 0;
    for (std::int64_t q = lo; q < hi; ++q) {
        const double s = sim_of(in.y_x[q]);
        if (s > 0.0) {
            ++n_pos;
            topk_push(hs, hp, kk, s, q);
        }
    }
    topk_sort(hs, hp, kk);  // best first: similarity descending, then position ascending
    const std::int64_t n = std::min<std::int64_t>(n_pos, kk);
    double sum_sim = 0.0, sum_r = 0.0;
    for (std::int64_t e = 0; e < n; ++e) {
        const double s = hs[e], r = in.y_r[hp[e]];
        const std::int32_t x2 = in.y_x[hp[e]];
        sum_sim += s;
        switch (p.kind) {
            case kKnnBasic:
                sum_r += s * r;
                break;
            case kKnnMeans:
                sum_r += s * (r - p.means[x2]);
                break;
            case kKnnZScore:
                sum_r += s * (r - p.means[x2]) / p.sigmas[x2];
                break;
            default:
                sum_r += s * (r - ((p.global_mean + p.bx[x2]) + p.by[y]));
        }
    }
    *actual_k = static_cast<std::int32_t>(n);
    *code = kKnnOk;
    const bool enough = n >= p.min_k;
    switch (p.kind) {
        case kKnnBasic:
            // Surprise divides 0 by 0 (ZeroDivisionError) when min_k = 0 and no neighbour
            // is positive: here that is "not enough neighbours" too.
            if (!enough || n == 0) {
                *code = kKnnNotEnough;
                *est = 0.0;
            } else {
                *est = sum_r / sum_sim;
            }
            break;
        case kKnnMeans:
        case kKnnZScore: {
            double e = p.means[x];
            if (!enough) sum_r = 0.0;
            if (n > 0) {
                if (p.kind == kKnnMeans)
                    e += sum_r / sum_sim;
                else
                    e += sum_r / sum_sim * p.sigmas[x];
            }
            *est = e;
            break;
        }
        default: {
            // b_ui = (mu + bu[u]) + bi[i], in Surprise's order of the additions.
            double e = p.user_based ? (p.global_mean + p.bx[x]) + p.by[y]
                                    : (p.global_mean + p.by[y]) + p.bx[x];
            if (!enough) sum_r = 0.0;
            if (n > 0) e += sum_r / sum_sim;
            *est = e;
        }
    }
}

}  // namespace knn_detail

// Estimates for the pairs order[group_ptr[g] .. group_ptr[g + 1]) of every group g; all
// pairs of a group share the same x. sim_matrix is n_x x n_x or null (on demand: then
// by_pairs[g] != 0 asks for PairSims in group g; by_pairs may be null, meaning none).
inline void knn_predict(const SimInput& in, const double* sim_matrix, const KnnParams& p,
                        const std::int32_t* xs, const std::int32_t* ys, const std::int64_t* order,
                        const std::int64_t* group_ptr, std::int64_t n_groups, double* est,
                        std::int32_t* actual_k, std::int8_t* code, int n_threads,
                        const std::int8_t* by_pairs = nullptr) {
    check_sim_input(in);
    require(p.k >= 1 && p.min_k >= 0, "knn_predict: bad k or min_k");
    require(p.kind >= kKnnBasic && p.kind <= kKnnBaseline, "knn_predict: unknown kind");
    std::int64_t max_cands = 0;
    for (std::int64_t g = 0; g < n_groups; ++g) {
        for (std::int64_t t = group_ptr[g]; t < group_ptr[g + 1]; ++t) {
            const std::int64_t j = order[t];
            const std::int64_t x = xs[j], y = ys[j];
            require(x >= 0 && x < in.n_x && y >= 0 && y < in.n_y, "knn_predict: id out of range");
            require(x == xs[order[group_ptr[g]]], "knn_predict: group with several x");
            max_cands = std::max(max_cands, in.y_indptr[y + 1] - in.y_indptr[y]);
        }
    }
    if (n_groups == 0) return;
    const int threads = static_cast<int>(std::max<std::int64_t>(
        1, std::min<std::int64_t>(n_threads < 1 ? 1 : n_threads, n_groups)));
    // Allocations happen here, never inside the parallel region.
    std::vector<SimWorkspace> spaces;
    std::vector<PairSims> pair_spaces;
    std::vector<knn_detail::Heap> heaps(static_cast<std::size_t>(threads));
    bool any_rows = false, any_pairs = false;
    if (sim_matrix == nullptr) {
        for (std::int64_t g = 0; g < n_groups; ++g) {
            if (by_pairs != nullptr && by_pairs[g] != 0)
                any_pairs = true;
            else
                any_rows = true;
        }
    }
    if (any_rows) {
        spaces.reserve(static_cast<std::size_t>(threads));
        for (int t = 0; t < threads; ++t) spaces.emplace_back(in);
    }
    if (any_pairs) {
        pair_spaces.reserve(static_cast<std::size_t>(threads));
        for (int t = 0; t < threads; ++t) pair_spaces.emplace_back(in);
    }
    for (auto& h : heaps) {
        h.s.resize(static_cast<std::size_t>(std::min(max_cands, p.k)));
        h.pos.resize(static_cast<std::size_t>(std::min(max_cands, p.k)));
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (std::int64_t g = 0; g < n_groups; ++g) {
        const std::size_t tid = static_cast<std::size_t>(thread_id());
        const std::int64_t x = xs[order[group_ptr[g]]];
        if (sim_matrix != nullptr) {
            const double* row = sim_matrix + x * in.n_x;
            for (std::int64_t t = group_ptr[g]; t < group_ptr[g + 1]; ++t) {
                const std::int64_t j = order[t];
                knn_detail::predict_pair(
                    in, p, x, ys[j], [row](std::int32_t x2) { return row[x2]; }, heaps[tid],
                    est + j, actual_k + j, code + j);
            }
        } else if (by_pairs != nullptr && by_pairs[g] != 0) {
            PairSims& ps = pair_spaces[tid];
            ps.set_row(x);
            for (std::int64_t t = group_ptr[g]; t < group_ptr[g + 1]; ++t) {
                const std::int64_t j = order[t];
                if (in.ys_x != nullptr) {  // visit the candidates in memory order first
                    for (std::int64_t q = in.y_indptr[ys[j]]; q < in.y_indptr[ys[j] + 1]; ++q)
                        ps.sim(in.ys_x[q]);
                }
                knn_detail::predict_pair(
                    in, p, x, ys[j], [&ps](std::int32_t x2) { return ps.sim(x2); }, heaps[tid],
                    est + j, actual_k + j, code + j);
            }
            ps.clear();
        } else {
            SimWorkspace& ws = spaces[tid];
            ws.accumulate(x);
            for (std::int64_t t = group_ptr[g]; t < group_ptr[g + 1]; ++t) {
                const std::int64_t j = order[t];
                knn_detail::predict_pair(
                    in, p, x, ys[j], [&ws](std::int32_t x2) { return ws.sim(x2); }, heaps[tid],
                    est + j, actual_k + j, code + j);
            }
            ws.clear();
        }
    }
}

}  // namespace turbosvd
