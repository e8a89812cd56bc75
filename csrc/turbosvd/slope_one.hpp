// slope_one.hpp: SlopeOne (Lemire & Maclachlan 2005) as Surprise computes it, without the
// dense n_items x n_items arrays.
//
// Algorithm. Surprise declares the ratings `int`, so every rating is truncated toward zero
// before the deviations are formed. For two items i != j rated by a common user,
//   freq(i, j) = |U_ij|,  dev(i, j) = (sum_{u in U_ij} trunc(r_ui) - trunc(r_uj)) / freq(i, j)
// and dev(i, i) = 0. The sums are integers (int64, exact), so the order in which users are
// visited does not matter and dev(i, j) = S_ij / F_ij is the same double Surprise stores
// (its dev[j, i] = -dev[i, j] is that same value, negation and division being exact in sign).
// The estimate for a known (u, i) is
//   mu_u + (dev(i, j1) + dev(i, j2) + ...) / count,
// summed left to right over the items j of u's ratings (in Surprise's `ur[u]` order) with
// freq(i, j) > 0, exactly as Surprise's Python generator does; mu_u comes from the caller.
//
// Storage: the co-rating pattern as CSR rows (one per item, columns sorted): column,
// freq (int32) and dev (float64), 16 bytes per co-rated pair instead of 16 bytes per pair
// of items. Built in two passes: count the distinct co-rated items of each row, then fill.
// Parallel strategy: OpenMP dynamic over item rows in both passes; each thread owns a dense
// scratch row (an int64 sum, an int32 count and a list of the touched columns), so a row is
// built by one thread and the result is independent of the thread count.
// Cost: O(sum_u |I_u|^2) integer additions to build (as Surprise); estimates: O(nnz of
// row i) once per distinct test item plus O(|I_u|) per query.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "common.hpp"

namespace turbosvd {

namespace slope_one_detail {

// Surprise's `cdef int r_ui` conversion of a Python float: truncation toward zero.
TURBOSVD_INLINE std::int64_t trunc_rating(double r) {
    return static_cast<std::int64_t>(std::trunc(r));
}

}  // namespace slope_one_detail

// Pass 1: out_count[i] = number of distinct items j co-rated with item i (i itself
// included when some user rated i). Returns the total.
inline index_t slope_one_count(const std::int64_t* u_indptr, const std::int32_t* u_items,
                               const std::int64_t* i_indptr, const std::int32_t* i_users,
                               index_t n_items, std::int64_t* out_count, int n_threads) {
    index_t total = 0;
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
    {
        std::vector<std::int32_t> stamp(static_cast<std::size_t>(n_items), -1);
        std::vector<std::int32_t> cnt(static_cast<std::size_t>(n_items), 0);
#pragma omp for schedule(dynamic, 16)
        for (index_t i = 0; i < n_items; ++i) {
            index_t work = 0;
            for (index_t p = i_indptr[i]; p < i_indptr[i + 1]; ++p) {
                const index_t u = i_users[p];
                work += u_indptr[u + 1] - u_indptr[u];
            }
            index_t n = 0;
            if (work * 4 > n_items) {  // dense row: branch-free marks, then one scan
                for (index_t p = i_indptr[i]; p < i_indptr[i + 1]; ++p) {
                    const index_t u = i_users[p];
                    for (index_t q = u_indptr[u]; q < u_indptr[u + 1]; ++q) cnt[u_items[q]] = 1;
                }
                for (index_t j = 0; j < n_items; ++j) {
                    n += cnt[j];
                    cnt[j] = 0;
                }
            } else {
                for (index_t p = i_indptr[i]; p < i_indptr[i + 1]; ++p) {
                    const index_t u = i_users[p];
                    for (index_t q = u_indptr[u]; q < u_indptr[u + 1]; ++q) {
                        const std::int32_t j = u_items[q];
                        if (stamp[j] != static_cast<std::int32_t>(i)) {
                            stamp[j] = static_cast<std::int32_t>(i);
                            ++n;
                        }
                    }
                }
            }
            out_count[i] = n;
            total += n;
        }
    }
    return total;
}

// Pass 2: fill row i of the CSR (row_ptr from the counts of pass 1) with sorted columns,
// freq and dev. Rows with at least n_items / 4 co-ratings are emitted by a scan of the
// scratch row (already in column order), sparser rows by sorting their touched columns.
inline void slope_one_fill(const std::int64_t* u_indptr, const std::int32_t* u_items,
                           const double* u_ratings, index_t n_users, const std::int64_t* i_indptr,
                           const std::int32_t* i_users, const double* i_ratings, index_t n_items,
                           const std::int64_t* row_ptr, std::int32_t* cols, std::int32_t* freq,
                           double* dev, int n_threads) {
    using slope_one_detail::trunc_rating;
    // Truncated ratings in user order, once (the inner loop reads each many times).
    std::vector<std::int64_t> u_trunc(static_cast<std::size_t>(u_indptr[n_users]));
    for (std::size_t q = 0; q < u_trunc.size(); ++q) u_trunc[q] = trunc_rating(u_ratings[q]);
#pragma omp parallel num_threads(n_threads)
    {
        std::vector<std::int64_t> sum(static_cast<std::size_t>(n_items), 0);
        std::vector<std::int32_t> cnt(static_cast<std::size_t>(n_items), 0);
        std::vector<std::int32_t> touched;
#pragma omp for schedule(dynamic, 16)
        for (index_t i = 0; i < n_items; ++i) {
            // Rows whose co-ratings visit many items are accumulated without tracking the
            // touched columns (a branch-free inner loop) and emitted by a scan.
            index_t work = 0;
            for (index_t p = i_indptr[i]; p < i_indptr[i + 1]; ++p) {
                const index_t u = i_users[p];
                work += u_indptr[u + 1] - u_indptr[u];
            }
            const bool dense = work * 4 > n_items;
            touched.clear();
            for (index_t p = i_indptr[i]; p < i_indptr[i + 1]; ++p) {
                const index_t u = i_users[p];
                const std::int64_t r_ui = trunc_rating(i_ratings[p]);
                if (dense) {
                    for (index_t q = u_indptr[u]; q < u_indptr[u + 1]; ++q) {
                        const std::int32_t j = u_items[q];
                        ++cnt[j];
                        sum[j] += r_ui - u_trunc[q];
                    }
                } else {
                    for (index_t q = u_indptr[u]; q < u_indptr[u + 1]; ++q) {
                        const std::int32_t j = u_items[q];
                        if (cnt[j] == 0) touched.push_back(j);
                        ++cnt[j];
                        sum[j] += r_ui - u_trunc[q];
                    }
                }
            }
            index_t out = row_ptr[i];
            auto emit = [&](std::int32_t j) {
                cols[out] = j;
                freq[out] = cnt[j];
                dev[out] = (j == i) ? 0.0
                                    : static_cast<double>(sum[j]) / static_cast<double>(cnt[j]);
                ++out;
                sum[j] = 0;
                cnt[j] = 0;
            };
            if (dense) {
                for (index_t j = 0; j < n_items; ++j)
                    if (cnt[j] != 0) emit(static_cast<std::int32_t>(j));
            } else {
                std::sort(touched.begin(), touched.end());
                for (const std::int32_t j : touched) emit(j);
            }
        }
    }
}

// Estimates for queries (users[k], items[k]); -1 marks an unknown id, which makes the
// query impossible (est = mu there). user_mean is Surprise's mu_u. Queries are grouped by
// item (order/group_ptr: a counting sort by the caller); each thread scatters row i into a
// dense scratch row once, then each of the item's queries reads it in u's rating order.
inline void slope_one_predict(const std::int32_t* users, const std::int32_t* items, index_t n,
                              const std::int64_t* u_indptr, const std::int32_t* u_items,
                              const double* user_mean, const std::int64_t* row_ptr,
                              const std::int32_t* cols, const double* dev, index_t n_items,
                              double mu, double* out, std::uint8_t* impossible, int n_threads) {
    // Counting sort of the known queries by item.
    std::vector<index_t> group_ptr(static_cast<std::size_t>(n_items) + 1, 0);
    for (index_t k = 0; k < n; ++k) {
        if (users[k] < 0 || items[k] < 0) {
            out[k] = mu;
            impossible[k] = 1;
        } else {
            impossible[k] = 0;
            ++group_ptr[items[k] + 1];
        }
    }
    for (index_t i = 0; i < n_items; ++i) group_ptr[i + 1] += group_ptr[i];
    std::vector<index_t> order(static_cast<std::size_t>(group_ptr[n_items]));
    {
        std::vector<index_t> fill(group_ptr.begin(), group_ptr.end() - 1);
        for (index_t k = 0; k < n; ++k)
            if (!impossible[k]) order[fill[items[k]]++] = k;
    }
#pragma omp parallel num_threads(n_threads) if (n > 2000)
    {
        std::vector<double> row(static_cast<std::size_t>(n_items), 0.0);
        std::vector<std::int32_t> stamp(static_cast<std::size_t>(n_items), -1);
#pragma omp for schedule(dynamic, 8)
        for (index_t i = 0; i < n_items; ++i) {
            if (group_ptr[i] == group_ptr[i + 1]) continue;
            for (index_t p = row_ptr[i]; p < row_ptr[i + 1]; ++p) {
                row[cols[p]] = dev[p];
                stamp[cols[p]] = static_cast<std::int32_t>(i);
            }
            for (index_t g = group_ptr[i]; g < group_ptr[i + 1]; ++g) {
                const index_t k = order[g];
                const index_t u = users[k];
                double total = 0.0;
                index_t count = 0;
                for (index_t q = u_indptr[u]; q < u_indptr[u + 1]; ++q) {
                    const std::int32_t j = u_items[q];
                    if (stamp[j] == static_cast<std::int32_t>(i)) {
                        total += row[j];
                        ++count;
                    }
                }
                double est = user_mean[u];
                if (count > 0) est += total / static_cast<double>(count);
                out[k] = est;
            }
        }
    }
}

// Surprise's dense `freq` and `dev` arrays (n_items x n_items, row-major) from the CSR:
// dev(i, j) is NaN where freq(i, j) == 0 and i != j (Surprise divides 0 by 0 there).
inline void slope_one_densify(const std::int64_t* row_ptr, const std::int32_t* cols,
                              const std::int32_t* freq, const double* dev, index_t n_items,
                              std::int64_t* freq_out, double* dev_out, int n_threads) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (index_t i = 0; i < n_items; ++i) {
        std::int64_t* f = freq_out + i * n_items;
        double* d = dev_out + i * n_items;
        for (index_t j = 0; j < n_items; ++j) {
            f[j] = 0;
            d[j] = (i == j) ? 0.0 : std::nan("");
        }
        for (index_t p = row_ptr[i]; p < row_ptr[i + 1]; ++p) {
            f[cols[p]] = freq[p];
            d[cols[p]] = dev[p];
        }
    }
}

}  // namespace turbosvd
