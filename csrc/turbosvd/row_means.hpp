// row_means.hpp: the mean of every CSR row, bit-identical to numpy's `np.mean(row)`.
//
// Algorithm: numpy sums a contiguous float64 array with its pairwise summation (blocks of up
// to 128 values summed in 8 interleaved partial sums, halves above that), then divides by
// the count. Surprise computes its user and item means with `np.mean`, so exact mode needs
// the same additions in the same order; this reproduces numpy's `pairwise_sum_DOUBLE`.
// Parallel strategy: OpenMP static over rows; rows are independent. Empty rows give NaN
// (as np.mean of an empty list). Cost: O(nnz).
// row_means_truncated is np.mean of the ratings truncated toward zero (Surprise's
// CoClustering builds its means from ratings it declared `int`): an exact integer sum
// divided by the count, which is what numpy computes for integers below 2^53.
#pragma once

#include <cmath>

#include "common.hpp"

namespace turbosvd {

namespace row_means_detail {

inline double pairwise_sum(const double* a, index_t n) {
    if (n < 8) {
        double res = 0.0;
        for (index_t k = 0; k < n; ++k) res += a[k];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; ++j) r[j] = a[j];
        index_t k = 8;
        for (; k < n - (n % 8); k += 8)
            for (int j = 0; j < 8; ++j) r[j] += a[k + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; k < n; ++k) res += a[k];
        return res;
    }
    index_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

}  // namespace row_means_detail

inline void row_means(const std::int64_t* indptr, const double* values, index_t n_rows,
                      double* out, int n_threads) {
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows > 10000)
    for (index_t r = 0; r < n_rows; ++r) {
        const index_t n = indptr[r + 1] - indptr[r];
        out[r] = n ? row_means_detail::pairwise_sum(values + indptr[r], n) /
                               static_cast<double>(n)
                   : std::nan("");
    }
}

inline void row_means_truncated(const std::int64_t* indptr, const double* values,
                                index_t n_rows, double* out, int n_threads) {
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows > 10000)
    for (index_t r = 0; r < n_rows; ++r) {
        const index_t n = indptr[r + 1] - indptr[r];
        std::int64_t sum = 0;
        for (index_t k = indptr[r]; k < indptr[r + 1]; ++k)
            sum += static_cast<std::int64_t>(std::trunc(values[k]));
        out[r] = n ? static_cast<double>(sum) / static_cast<double>(n) : std::nan("");
    }
}

}  // namespace turbosvd
