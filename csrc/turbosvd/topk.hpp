// topk.hpp: keep the k best (score, index) pairs of a stream, then sort them best first.
//
// Algorithm: a binary heap of fixed size k stored in two parallel arrays (scores, indices)
// whose root is the *worst* pair kept so far. A candidate enters only if it ranks before
// the root; it then replaces the root and is sifted down. The order is strict and total:
//   (s, i) ranks before (t, j)  <=>  s > t, or s == t and i < j   (ties: smaller index first)
// so the k pairs kept are the same whatever order the candidates arrive in, which is what
// lets the tiled/parallel search (cosine_topn.hpp) give results that do not depend on tile
// sizes or thread counts. NaN scores never rank before anything, so they are never kept.
// Empty slots hold (-inf, kEmptySlot): any real candidate, even one scoring -inf, beats them;
// the final sort turns them into index -1 (score stays -inf).
// Parallelism: none here (one heap belongs to one thread at a time).
// Determinism: fully deterministic (strict total order).
// Cost: push O(1) when rejected (one comparison), O(log k) when accepted; sort O(k log k).
#pragma once

#include <limits>
#include <utility>

#include "common.hpp"

namespace turbosvd {

// Index of an empty heap slot: larger than any real index, so real candidates win ties.
constexpr index_t kEmptySlot = std::numeric_limits<index_t>::max();

template <typename Real>
TURBOSVD_INLINE bool ranks_before(Real s, index_t i, Real t, index_t j) {
    return s > t || (s == t && i < j);
}

// Fill a heap of size k with empty slots.
template <typename Real>
inline void topk_init(Real* scores, index_t* indices, index_t k) {
    for (index_t e = 0; e < k; ++e) {
        scores[e] = -std::numeric_limits<Real>::infinity();
        indices[e] = kEmptySlot;
    }
}

// Put (s, i) at the root of the heap of size n, whose root slot is free, and sift it down:
// the worse child moves up while it is worse than (s, i).
template <typename Real>
TURBOSVD_INLINE void topk_sift_down(Real* TURBOSVD_RESTRICT scores,
                                    index_t* TURBOSVD_RESTRICT indices, index_t n, Real s,
                                    index_t i) {
    index_t pos = 0;
    for (;;) {
        const index_t left = 2 * pos + 1;
        if (left >= n) break;
        index_t worse = left;
        const index_t right = left + 1;
        if (right < n && ranks_before(scores[left], indices[left], scores[right], indices[right]))
            worse = right;
        if (!ranks_before(s, i, scores[worse], indices[worse])) break;
        scores[pos] = scores[worse];
        indices[pos] = indices[worse];
        pos = worse;
    }
    scores[pos] = s;
    indices[pos] = i;
}

// Offer (s, i) to the heap; returns whether it was kept.
template <typename Real>
TURBOSVD_INLINE bool topk_push(Real* TURBOSVD_RESTRICT scores, index_t* TURBOSVD_RESTRICT indices,
                               index_t k, Real s, index_t i) {
    if (k <= 0 || !ranks_before(s, i, scores[0], indices[0])) return false;
    topk_sift_down(scores, indices, k, s, i);  // replaces the root, the worst kept pair
    return true;
}

// Sort a heap in place, best first (heapsort: the root, the worst pair, goes to the end),
// and turn empty slots into index -1.
template <typename Real>
inline void topk_sort(Real* scores, index_t* indices, index_t k) {
    for (index_t n = k; n > 1; --n) {
        const Real s = scores[n - 1];
        const index_t i = indices[n - 1];
        scores[n - 1] = scores[0];
        indices[n - 1] = indices[0];
        topk_sift_down(scores, indices, n - 1, s, i);  // re-insert into the smaller heap
    }
    for (index_t e = 0; e < k; ++e)
        if (indices[e] == kEmptySlot) indices[e] = -1;
}

}  // namespace turbosvd
