// group.hpp: stable grouping of rows by an integer key (counting sort).
//
// Algorithm: count the rows of every key, prefix-sum the counts into `indptr`, then place
// the row numbers in key order, keeping the original order inside each key (stable).
// This gives Surprise's visiting orders: `ur` is the ratings grouped by user with each
// user's ratings in insertion order, `ir` the same by item.
// Parallelism: none (memory-bound, already O(n)).
// Determinism: fully deterministic.
// Cost: O(n + n_keys) time, no memory beyond the outputs.
#pragma once

#include "common.hpp"

namespace turbosvd {

template <typename Key, typename Out>
void stable_group(const Key* keys, index_t n, index_t n_keys, Out* perm, std::int64_t* indptr) {
    require(n >= 0 && n_keys >= 0, "stable_group: negative size");
    for (index_t k = 0; k <= n_keys; ++k) indptr[k] = 0;
    for (index_t r = 0; r < n; ++r) {
        const index_t key = keys[r];
        if (key < 0 || key >= n_keys) throw std::invalid_argument("stable_group: key out of range");
        ++indptr[key + 1];
    }
    for (index_t k = 0; k < n_keys; ++k) indptr[k + 1] += indptr[k];
    // Fill using a running cursor per key; indptr[k] is restored at the end.
    for (index_t r = 0; r < n; ++r) perm[indptr[keys[r]]++] = static_cast<Out>(r);
    for (index_t k = n_keys; k > 0; --k) indptr[k] = indptr[k - 1];
    indptr[0] = 0;
}

}  // namespace turbosvd
