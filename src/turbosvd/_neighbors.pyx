"""Shim over the similarity and k-NN kernels (csrc/turbosvd/similarities.hpp, knn_predict.hpp).

Checks shapes, allocates outputs with numpy and makes one C++ call with the GIL released.
The ratings arrive in both groupings: ``yr`` (``y_indptr``, ``y_x``, ``y_r``) and ``xr``
sorted by y (``x_indptr``, ``x_y``, ``x_r``). Validation of user-facing parameters lives
in turbosvd/neighbors/.
"""
import numpy as np

from libc.stdint cimport int8_t, int32_t, int64_t

from turbosvd._kernels cimport (
    KnnParams,
    SimInput,
    knn_predict,
    mirror_upper,
    similarity_rows,
)


cdef const double* dptr(const double[::1] a) noexcept nogil:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


cdef int _fill(
    SimInput* s, int64_t n_x, int64_t n_y,
    const int64_t[::1] y_indptr, const int32_t[::1] y_x, const double[::1] y_r,
    const int64_t[::1] x_indptr, const int32_t[::1] x_y, const double[::1] x_r,
    int kind, int64_t min_support, double shrinkage,
    const double[::1] y_v, const double[::1] x_v,
) except -1:
    if y_indptr.shape[0] != n_y + 1 or x_indptr.shape[0] != n_x + 1:
        raise ValueError("indptr sizes do not match n_x / n_y")
    cdef int64_t nnz = y_x.shape[0]
    if y_r.shape[0] != nnz or x_y.shape[0] != nnz or x_r.shape[0] != nnz:
        raise ValueError("rating arrays of different lengths")
    if y_indptr[n_y] != nnz or x_indptr[n_x] != nnz:
        raise ValueError("indptr does not end at the number of ratings")
    if (y_v is None) != (x_v is None):
        raise ValueError("y_v and x_v must both be given or both be None")
    if y_v is not None and (y_v.shape[0] != nnz or x_v.shape[0] != nnz):
        raise ValueError("similarity values of the wrong length")
    s.n_x = n_x
    s.n_y = n_y
    s.y_indptr = &y_indptr[0]
    s.x_indptr = &x_indptr[0]
    if nnz > 0:
        s.y_x = &y_x[0]
        s.y_r = &y_r[0]
        s.x_y = &x_y[0]
        s.y_v = &y_v[0] if y_v is not None else &y_r[0]
        s.x_v = &x_v[0] if x_v is not None else &x_r[0]
    s.kind = kind
    s.min_support = min_support
    s.shrinkage = shrinkage
    return 0


def sim_rows(
    int64_t n_x, int64_t n_y,
    const int64_t[::1] y_indptr, const int32_t[::1] y_x, const double[::1] y_r,
    const int64_t[::1] x_indptr, const int32_t[::1] x_y, const double[::1] x_r,
    int kind, int64_t min_support, double shrinkage,
    const double[::1] y_v, const double[::1] x_v,
    const int64_t[::1] rows, double[:, ::1] out, int n_threads,
    const int32_t[::1] ys_x=None, const double[::1] ys_v=None,
):
    """Write the similarity rows ``rows`` into ``out`` (shape ``(len(rows), n_x)``).

    ``y_v``/``x_v`` are the values the similarity compares (None: the ratings;
    pearson_baseline: the baseline residuals). With ``ys_x``/``ys_v`` (yr with each y's
    entries sorted by x), only the entries ``x2 >= rows[k]`` of row ``k`` are written
    (see ``mirror``).
    """
    cdef SimInput s
    _fill(&s, n_x, n_y, y_indptr, y_x, y_r, x_indptr, x_y, x_r, kind, min_support, shrinkage,
          y_v, x_v)
    cdef bint upper = ys_x is not None
    if upper:
        if ys_v is None or ys_x.shape[0] != y_x.shape[0] or ys_v.shape[0] != y_x.shape[0]:
            raise ValueError("ys_x and ys_v must both be given, one entry per rating")
        if ys_x.shape[0] > 0:
            s.ys_x = &ys_x[0]
            s.ys_v = &ys_v[0]
    cdef int64_t n_rows = rows.shape[0]
    if out.shape[0] != n_rows or out.shape[1] != n_x:
        raise ValueError(
            f"out has shape ({out.shape[0]}, {out.shape[1]}), expected ({n_rows}, {n_x})"
        )
    cdef const int64_t* r_ptr = &rows[0] if n_rows > 0 else NULL
    cdef double* o_ptr = &out[0, 0] if n_rows > 0 and n_x > 0 else NULL
    with nogil:
        similarity_rows(s, r_ptr, n_rows, o_ptr, upper, n_threads)


def mirror(double[:, ::1] m, int n_threads):
    """Copy the upper triangle of the square matrix ``m`` onto its lower triangle."""
    if m.shape[0] != m.shape[1]:
        raise ValueError("mirror needs a square matrix")
    cdef int64_t n = m.shape[0]
    if n == 0:
        return
    with nogil:
        mirror_upper(&m[0, 0], n, n_threads)


def predict(
    int64_t n_x, int64_t n_y,
    const int64_t[::1] y_indptr, const int32_t[::1] y_x, const double[::1] y_r,
    const int64_t[::1] x_indptr, const int32_t[::1] x_y, const double[::1] x_r,
    int sim_kind, int64_t min_support, double shrinkage,
    const double[::1] y_v, const double[::1] x_v,
    const double[:, ::1] sim_matrix,
    int kind, int64_t k, int64_t min_k, bint user_based,
    const double[::1] means, const double[::1] sigmas,
    double knn_global_mean, const double[::1] bx, const double[::1] by,
    const int32_t[::1] xs, const int32_t[::1] ys,
    const int64_t[::1] order, const int64_t[::1] group_ptr, int n_threads,
    const int8_t[::1] by_pairs=None, const int32_t[::1] ys_x=None,
):
    """k-NN estimates of the pairs (xs[j], ys[j]) listed in ``order``, grouped by x.

    Without ``sim_matrix``, ``by_pairs[g]`` (one per group; None: all 0) chooses how group
    ``g``'s similarities are computed: 0 accumulates the row, 1 intersects rating lists
    (same numbers, different cost; see csrc/turbosvd/knn_predict.hpp). ``ys_x`` (yr's x
    ids with each y's ratings sorted by x, optional) lets the intersections visit the
    candidates in memory order.

    Returns ``(est float64, actual_k int32, code int8)`` with one entry per pair; entries of
    pairs not listed in ``order`` are left at 0.
    """
    cdef SimInput s
    _fill(&s, n_x, n_y, y_indptr, y_x, y_r, x_indptr, x_y, x_r, sim_kind, min_support,
          shrinkage, y_v, x_v)
    cdef int64_t n = xs.shape[0]
    if ys.shape[0] != n:
        raise ValueError("xs and ys have different lengths")
    cdef int64_t n_groups = group_ptr.shape[0] - 1
    if n_groups < 0 or group_ptr[n_groups] > order.shape[0]:
        raise ValueError("group_ptr does not match order")
    cdef int64_t t
    for t in range(order.shape[0]):
        if order[t] < 0 or order[t] >= n:
            raise ValueError("order holds an index out of range")
    cdef const double* m_ptr = NULL
    if sim_matrix is not None:
        if sim_matrix.shape[0] != n_x or sim_matrix.shape[1] != n_x:
            raise ValueError("sim_matrix is not n_x x n_x")
        m_ptr = &sim_matrix[0, 0] if n_x > 0 else NULL
    cdef const int8_t* bp_ptr = NULL
    if by_pairs is not None:
        if by_pairs.shape[0] != n_groups:
            raise ValueError("by_pairs must have one entry per group")
        if n_groups > 0:
            bp_ptr = &by_pairs[0]
    if ys_x is not None:
        if ys_x.shape[0] != y_x.shape[0]:
            raise ValueError("ys_x must have one entry per rating")
        if ys_x.shape[0] > 0:
            s.ys_x = &ys_x[0]
    cdef KnnParams p
    p.kind = kind
    p.k = k
    p.min_k = min_k
    p.user_based = user_based
    if kind in (1, 2) and (means is None or means.shape[0] != n_x):
        raise ValueError("means must have n_x entries")
    if kind == 2 and (sigmas is None or sigmas.shape[0] != n_x):
        raise ValueError("sigmas must have n_x entries")
    if kind == 3 and (bx is None or by is None or bx.shape[0] != n_x or by.shape[0] != n_y):
        raise ValueError("bx and by must have n_x and n_y entries")
    p.means = dptr(means)
    p.sigmas = dptr(sigmas)
    p.global_mean = knn_global_mean
    p.bx = dptr(bx)
    p.by = dptr(by)
    est = np.zeros(n, dtype=np.float64)
    actual_k = np.zeros(n, dtype=np.int32)
    code = np.zeros(n, dtype=np.int8)
    cdef double[::1] e_v = est
    cdef int32_t[::1] a_v = actual_k
    cdef int8_t[::1] c_v = code
    cdef const int32_t* xs_ptr = &xs[0] if n > 0 else NULL
    cdef const int32_t* ys_ptr = &ys[0] if n > 0 else NULL
    cdef const int64_t* o_ptr = &order[0] if order.shape[0] > 0 else NULL
    cdef double* e_ptr = &e_v[0] if n > 0 else NULL
    cdef int32_t* a_ptr = &a_v[0] if n > 0 else NULL
    cdef int8_t* c_ptr = &c_v[0] if n > 0 else NULL
    with nogil:
        knn_predict(s, m_ptr, p, xs_ptr, ys_ptr, o_ptr, &group_ptr[0], n_groups, e_ptr, a_ptr,
                    c_ptr, n_threads, bp_ptr)
    return est, actual_k, code
