"""Shim over the SlopeOne and CoClustering kernels (csrc/turbosvd/slope_one.hpp,
co_clustering.hpp) and the numpy-exact row means (row_means.hpp).

Checks shapes, allocates the outputs with numpy and makes one C++ call with the GIL
released. Validation of user-facing parameters lives in the Python modules
(turbosvd/neighbors/slope_one.py, turbosvd/train/co_clustering.py).
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t

from turbosvd._kernels cimport (
    co_clustering_assign as _co_assign,
    co_clustering_averages as _co_averages,
    co_clustering_predict as _co_predict,
    row_means as _row_means,
    row_means_truncated as _row_means_truncated,
    slope_one_count as _so_count,
    slope_one_densify as _so_densify,
    slope_one_fill as _so_fill,
    slope_one_predict as _so_predict,
)


cdef inline void _check_csr(const int64_t[::1] indptr, Py_ssize_t nnz, str name) except *:
    if indptr.shape[0] < 1 or indptr[0] != 0 or indptr[indptr.shape[0] - 1] != nnz:
        raise ValueError(f"{name}: indptr does not describe {nnz} entries")


def row_means(const int64_t[::1] indptr, const double[::1] values, int n_threads,
              bint truncate=False):
    """np.mean of every CSR row (bit for bit); NaN for empty rows. With ``truncate``, of
    the values truncated toward zero."""
    _check_csr(indptr, values.shape[0], "row_means")
    cdef int64_t n_rows = indptr.shape[0] - 1
    out = np.empty(n_rows, dtype=np.float64)
    cdef double[::1] o = out
    cdef const double* v = &values[0] if values.shape[0] else NULL
    cdef double* op = &o[0] if n_rows else NULL
    with nogil:
        if truncate:
            _row_means_truncated(&indptr[0], v, n_rows, op, n_threads)
        else:
            _row_means(&indptr[0], v, n_rows, op, n_threads)
    return out


def slope_one_count(
    const int64_t[::1] u_indptr,
    const int32_t[::1] u_items,
    const int64_t[::1] i_indptr,
    const int32_t[::1] i_users,
    int n_threads,
):
    """Number of distinct co-rated items of every item (int64, length n_items)."""
    _check_csr(u_indptr, u_items.shape[0], "slope_one_count (users)")
    _check_csr(i_indptr, i_users.shape[0], "slope_one_count (items)")
    cdef int64_t n_items = i_indptr.shape[0] - 1
    counts = np.zeros(n_items, dtype=np.int64)
    cdef int64_t[::1] c = counts
    if n_items == 0 or u_items.shape[0] == 0:
        return counts
    with nogil:
        _so_count(&u_indptr[0], &u_items[0], &i_indptr[0], &i_users[0], n_items, &c[0],
                  n_threads)
    return counts


def slope_one_fill(
    const int64_t[::1] u_indptr,
    const int32_t[::1] u_items,
    const double[::1] u_ratings,
    const int64_t[::1] i_indptr,
    const int32_t[::1] i_users,
    const double[::1] i_ratings,
    const int64_t[::1] row_ptr,
    int n_threads,
):
    """The co-rating rows: (cols int32, freq int32, dev float64), laid out by row_ptr."""
    _check_csr(u_indptr, u_items.shape[0], "slope_one_fill (users)")
    _check_csr(i_indptr, i_users.shape[0], "slope_one_fill (items)")
    if u_ratings.shape[0] != u_items.shape[0] or i_ratings.shape[0] != i_users.shape[0]:
        raise ValueError("slope_one_fill: ratings and ids differ in length")
    cdef int64_t n_items = i_indptr.shape[0] - 1
    if row_ptr.shape[0] != n_items + 1:
        raise ValueError("slope_one_fill: row_ptr must have n_items + 1 entries")
    cdef int64_t nnz = row_ptr[n_items]
    cols = np.empty(nnz, dtype=np.int32)
    freq = np.empty(nnz, dtype=np.int32)
    dev = np.empty(nnz, dtype=np.float64)
    cdef int32_t[::1] cv = cols
    cdef int32_t[::1] fv = freq
    cdef double[::1] dv = dev
    if nnz == 0:
        return cols, freq, dev
    with nogil:
        _so_fill(&u_indptr[0], &u_items[0], &u_ratings[0], u_indptr.shape[0] - 1, &i_indptr[0],
                 &i_users[0], &i_ratings[0], n_items, &row_ptr[0], &cv[0], &fv[0], &dv[0],
                 n_threads)
    return cols, freq, dev


def slope_one_predict(
    const int32_t[::1] users,
    const int32_t[::1] items,
    const int64_t[::1] u_indptr,
    const int32_t[::1] u_items,
    const double[::1] user_mean,
    const int64_t[::1] row_ptr,
    const int32_t[::1] cols,
    const double[::1] dev,
    double mu,
    int n_threads,
):
    """Estimates and impossibility flags (bool) of the queries (-1 = unknown id)."""
    cdef int64_t n = users.shape[0]
    if items.shape[0] != n:
        raise ValueError("slope_one_predict: users and items differ in length")
    cdef int64_t n_users = u_indptr.shape[0] - 1
    cdef int64_t n_items = row_ptr.shape[0] - 1
    if user_mean.shape[0] != n_users or cols.shape[0] != dev.shape[0]:
        raise ValueError("slope_one_predict: inconsistent model arrays")
    if n and (np.asarray(users).max() >= n_users or np.asarray(items).max() >= n_items):
        raise ValueError("slope_one_predict: inner id out of range")
    est = np.empty(n, dtype=np.float64)
    impossible = np.empty(n, dtype=np.bool_)
    if n == 0:
        return est, impossible
    cdef double[::1] ev = est
    cdef uint8_t[::1] iv = impossible.view(np.uint8)
    cdef const int32_t* ui = &u_items[0] if u_items.shape[0] else NULL
    cdef const int32_t* cp = &cols[0] if cols.shape[0] else NULL
    cdef const double* dp = &dev[0] if dev.shape[0] else NULL
    cdef const double* mp = &user_mean[0] if n_users else NULL
    with nogil:
        _so_predict(&users[0], &items[0], n, &u_indptr[0], ui, mp, &row_ptr[0], cp, dp,
                    n_items, mu, &ev[0], &iv[0], n_threads)
    return est, impossible


def slope_one_densify(
    const int64_t[::1] row_ptr,
    const int32_t[::1] cols,
    const int32_t[::1] freq,
    const double[::1] dev,
    int n_threads,
):
    """Surprise's dense (freq int64, dev float64) n_items x n_items arrays."""
    cdef int64_t n_items = row_ptr.shape[0] - 1
    if cols.shape[0] != row_ptr[n_items] or freq.shape[0] != cols.shape[0] \
            or dev.shape[0] != cols.shape[0]:
        raise ValueError("slope_one_densify: inconsistent CSR arrays")
    freq_out = np.empty((n_items, n_items), dtype=np.int64)
    dev_out = np.empty((n_items, n_items), dtype=np.float64)
    if n_items == 0:
        return freq_out, dev_out
    cdef int64_t[:, ::1] fo = freq_out
    cdef double[:, ::1] do = dev_out
    cdef const int32_t* cp = &cols[0] if cols.shape[0] else NULL
    cdef const int32_t* fp = &freq[0] if freq.shape[0] else NULL
    cdef const double* dp = &dev[0] if dev.shape[0] else NULL
    with nogil:
        _so_densify(&row_ptr[0], cp, fp, dp, n_items, &fo[0, 0], &do[0, 0], n_threads)
    return freq_out, dev_out


def co_clustering_averages(
    const int32_t[::1] users,
    const int32_t[::1] items,
    const double[::1] ratings,
    const int64_t[::1] cltr_u,
    const int64_t[::1] cltr_i,
    int64_t n_cltr_u,
    int64_t n_cltr_i,
    double global_mean,
):
    """Averages of the user clusters, item clusters and co-clusters."""
    cdef int64_t n = ratings.shape[0]
    if users.shape[0] != n or items.shape[0] != n:
        raise ValueError("co_clustering_averages: users, items and ratings differ in length")
    if n_cltr_u < 1 or n_cltr_i < 1:
        raise ValueError("co_clustering_averages: cluster counts must be >= 1")
    avg_u = np.empty(n_cltr_u, dtype=np.float64)
    avg_i = np.empty(n_cltr_i, dtype=np.float64)
    avg_co = np.empty((n_cltr_u, n_cltr_i), dtype=np.float64)
    cdef double[::1] au = avg_u
    cdef double[::1] ai = avg_i
    cdef double[:, ::1] ac = avg_co
    cdef const int32_t* up = &users[0] if n else NULL
    cdef const int32_t* ip = &items[0] if n else NULL
    cdef const double* rp = &ratings[0] if n else NULL
    cdef const int64_t* cup = &cltr_u[0] if cltr_u.shape[0] else NULL
    cdef const int64_t* cip = &cltr_i[0] if cltr_i.shape[0] else NULL
    with nogil:
        _co_averages(up, ip, rp, n, cup, cip, n_cltr_u, n_cltr_i, global_mean, &au[0], &ai[0],
                     &ac[0, 0])
    return avg_u, avg_i, avg_co


def co_clustering_assign(
    const int64_t[::1] u_indptr,
    const int32_t[::1] u_items,
    const double[::1] u_ratings,
    const int64_t[::1] i_indptr,
    const int32_t[::1] i_users,
    const double[::1] i_ratings,
    const double[::1] user_mean,
    const double[::1] item_mean,
    const double[::1] avg_u,
    const double[::1] avg_i,
    const double[:, ::1] avg_co,
    int64_t[::1] cltr_u,
    int64_t[::1] cltr_i,
    int n_threads,
):
    """One epoch's reassignment of users then items (cltr_u, cltr_i updated in place)."""
    cdef int64_t n_users = u_indptr.shape[0] - 1
    cdef int64_t n_items = i_indptr.shape[0] - 1
    _check_csr(u_indptr, u_items.shape[0], "co_clustering_assign (users)")
    _check_csr(i_indptr, i_users.shape[0], "co_clustering_assign (items)")
    if (cltr_u.shape[0] != n_users or user_mean.shape[0] != n_users
            or cltr_i.shape[0] != n_items or item_mean.shape[0] != n_items):
        raise ValueError("co_clustering_assign: inconsistent array lengths")
    cdef int64_t n_cltr_u = avg_u.shape[0]
    cdef int64_t n_cltr_i = avg_i.shape[0]
    if avg_co.shape[0] != n_cltr_u or avg_co.shape[1] != n_cltr_i or n_cltr_u < 1 \
            or n_cltr_i < 1:
        raise ValueError("co_clustering_assign: inconsistent cluster averages")
    if n_users == 0 or n_items == 0 or u_items.shape[0] == 0:
        return
    with nogil:
        _co_assign(&u_indptr[0], &u_items[0], &u_ratings[0], n_users, &i_indptr[0],
                   &i_users[0], &i_ratings[0], n_items, &user_mean[0], &item_mean[0],
                   &avg_u[0], &avg_i[0], &avg_co[0, 0], n_cltr_u, n_cltr_i, &cltr_u[0],
                   &cltr_i[0], n_threads)


def co_clustering_predict(
    const int32_t[::1] users,
    const int32_t[::1] items,
    const int64_t[::1] cltr_u,
    const int64_t[::1] cltr_i,
    const double[::1] user_mean,
    const double[::1] item_mean,
    const double[::1] avg_u,
    const double[::1] avg_i,
    const double[:, ::1] avg_co,
    double global_mean,
    int n_threads,
):
    """Estimates of the queries (-1 = unknown id: the global mean)."""
    cdef int64_t n = users.shape[0]
    if items.shape[0] != n:
        raise ValueError("co_clustering_predict: users and items differ in length")
    if n and (np.asarray(users).max() >= cltr_u.shape[0]
              or np.asarray(items).max() >= cltr_i.shape[0]):
        raise ValueError("co_clustering_predict: inner id out of range")
    if avg_co.shape[0] != avg_u.shape[0] or avg_co.shape[1] != avg_i.shape[0]:
        raise ValueError("co_clustering_predict: inconsistent cluster averages")
    est = np.empty(n, dtype=np.float64)
    if n == 0:
        return est
    cdef double[::1] ev = est
    cdef const int64_t* cup = &cltr_u[0] if cltr_u.shape[0] else NULL
    cdef const int64_t* cip = &cltr_i[0] if cltr_i.shape[0] else NULL
    cdef const double* ump = &user_mean[0] if user_mean.shape[0] else NULL
    cdef const double* imp = &item_mean[0] if item_mean.shape[0] else NULL
    with nogil:
        _co_predict(&users[0], &items[0], n, cup, cip, ump, imp, &avg_u[0], &avg_i[0],
                    &avg_co[0, 0], avg_i.shape[0], global_mean, &ev[0], n_threads)
    return est
