"""Shims over the SVD++ and NMF kernels (csrc/turbosvd/svdpp.hpp, nmf.hpp).

Each function checks shapes, allocates scratch with numpy, and makes one C++ call with
the GIL released. Validation of user-facing parameters lives in the Python modules
(turbosvd/train/svdpp.py, nmf.py and the model classes).
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t

from turbosvd._kernels cimport (
    NmfRates,
    SvdppRates,
    NmfFastJob,
    nmf_accumulate_exact,
    nmf_fast_check_layout,
    nmf_fast_epoch,
    nmf_update_exact,
    svdpp_epoch_batched,
    svdpp_epoch_exact,
    svdpp_user_vectors,
)

ctypedef fused real_t:
    float
    double


cdef inline real_t* p2(real_t[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline const real_t* cp2(const real_t[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline real_t* p1(real_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline const real_t* cp1(const real_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline const int32_t* ip(const int32_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline const int64_t* lp(const int64_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef _check_csr(const int64_t[::1] indptr, Py_ssize_t n_rows, Py_ssize_t n_entries):
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"indptr has {indptr.shape[0]} entries, expected {n_rows + 1}")
    if indptr[0] != 0 or indptr[n_rows] != n_entries:
        raise ValueError("indptr does not span the ratings")


cdef _check_model(Py_ssize_t nu, Py_ssize_t ni, Py_ssize_t k, tuple arrays):
    """Every array is (n_users or n_items) x k or a bias vector of the right length."""
    for name, a, rows, cols in arrays:
        if a.shape[0] != rows or (cols >= 0 and a.shape[1] != cols):
            raise ValueError(f"{name} has shape {tuple(a.shape)}, expected ({rows}, {cols})"
                             if cols >= 0 else f"{name} has length {a.shape[0]}, expected {rows}")


# ----------------------------------------------------------------------------- SVD++

def svdpp_epoch_exact_f64(
    const int64_t[::1] indptr,
    const int32_t[::1] items,
    const double[::1] ratings,
    double[:, ::1] pu,
    double[:, ::1] qi,
    double[:, ::1] yj,
    double[::1] bu,
    double[::1] bi,
    double global_mean,
    tuple rates,
    int64_t user_begin,
    int64_t user_end,
):
    """Users ``user_begin:user_end`` of one Surprise SVD++ epoch, in place (bit-exact).

    ``indptr``/``items``/``ratings``: the trainset grouped by user, Surprise's order.
    ``rates``: (lr_bu, lr_bi, lr_pu, lr_qi, lr_yj, reg_bu, reg_bi, reg_pu, reg_qi, reg_yj).
    """
    cdef Py_ssize_t nu = pu.shape[0], ni = qi.shape[0], k = pu.shape[1]
    if items.shape[0] != ratings.shape[0]:
        raise ValueError("items and ratings must have the same length")
    _check_csr(indptr, nu, items.shape[0])
    _check_model(nu, ni, k, (("qi", qi, ni, k), ("yj", yj, ni, k), ("bu", bu, nu, -1),
                             ("bi", bi, ni, -1)))
    cdef SvdppRates r
    (r.lr_bu, r.lr_bi, r.lr_pu, r.lr_qi, r.lr_yj,
     r.reg_bu, r.reg_bi, r.reg_pu, r.reg_qi, r.reg_yj) = rates
    scratch = np.empty(2 * k + 1, dtype=np.float64)
    cdef double[::1] s = scratch
    with nogil:
        svdpp_epoch_exact(
            &indptr[0], ip(items), cp1(ratings), nu, ni, k, p2(pu), p2(qi), p2(yj), p1(bu),
            p1(bi), global_mean, r, user_begin, user_end, &s[0], &s[k],
        )


def user_vectors(
    const int64_t[::1] indptr,
    const int32_t[::1] items,
    const real_t[:, ::1] pu,
    const real_t[:, ::1] yj,
    int n_threads,
):
    """``pu[u] + sum_{j in I_u} yj[j] / sqrt|I_u|`` for every user, float64 (n_users, k)."""
    cdef Py_ssize_t nu = pu.shape[0], ni = yj.shape[0], k = pu.shape[1]
    _check_csr(indptr, nu, items.shape[0])
    if yj.shape[1] != k:
        raise ValueError("pu and yj must have the same number of columns")
    out = np.empty((nu, k), dtype=np.float64)
    cdef double[:, ::1] o = out
    with nogil:
        svdpp_user_vectors(&indptr[0], ip(items), nu, ni, k, cp2(pu), cp2(yj), p2(o), n_threads)
    return out


def svdpp_epoch_fast(
    const int64_t[::1] indptr,
    const int32_t[::1] items,
    const real_t[::1] ratings,
    real_t[:, ::1] pu,
    real_t[:, ::1] qi,
    real_t[:, ::1] yj,
    real_t[::1] bu,
    real_t[::1] bi,
    double global_mean,
    tuple rates,
    int64_t user_begin,
    int64_t user_end,
):
    """Users ``user_begin:user_end`` of one user-batched SVD++ epoch, in place.

    Arguments as ``svdpp_epoch_exact_f64``, in float32 or float64.
    """
    cdef Py_ssize_t nu = pu.shape[0], ni = qi.shape[0], k = pu.shape[1]
    if items.shape[0] != ratings.shape[0]:
        raise ValueError("items and ratings must have the same length")
    _check_csr(indptr, nu, items.shape[0])
    _check_model(nu, ni, k, (("qi", qi, ni, k), ("yj", yj, ni, k), ("bu", bu, nu, -1),
                             ("bi", bi, ni, -1)))
    cdef SvdppRates r
    (r.lr_bu, r.lr_bi, r.lr_pu, r.lr_qi, r.lr_yj,
     r.reg_bu, r.reg_bi, r.reg_pu, r.reg_qi, r.reg_yj) = rates
    with nogil:
        svdpp_epoch_batched(
            &indptr[0], ip(items), cp1(ratings), nu, ni, k, p2(pu), p2(qi), p2(yj), p1(bu),
            p1(bi), global_mean, r, user_begin, user_end,
        )


# ------------------------------------------------------------------------------- NMF

cdef NmfRates _nmf_rates(tuple rates):
    cdef NmfRates r
    r.lr_bu, r.lr_bi, r.reg_bu, r.reg_bi, r.reg_pu, r.reg_qi = rates
    return r


def nmf_accumulate_exact_f64(
    const int64_t[::1] indptr,
    const int32_t[::1] items,
    const double[::1] ratings,
    const double[:, ::1] pu,
    const double[:, ::1] qi,
    double[::1] bu,
    double[::1] bi,
    double global_mean,
    bint biased,
    tuple rates,
    int64_t user_begin,
    int64_t user_end,
    double[:, ::1] user_num,
    double[:, ::1] user_den,
    double[:, ::1] item_num,
    double[:, ::1] item_den,
):
    """Users ``user_begin:user_end`` of Surprise's NMF accumulation pass (bit-exact).

    ``rates``: (lr_bu, lr_bi, reg_bu, reg_bi, reg_pu, reg_qi).
    """
    cdef Py_ssize_t nu = pu.shape[0], ni = qi.shape[0], k = pu.shape[1]
    if items.shape[0] != ratings.shape[0]:
        raise ValueError("items and ratings must have the same length")
    _check_csr(indptr, nu, items.shape[0])
    _check_model(nu, ni, k, (("qi", qi, ni, k), ("bu", bu, nu, -1), ("bi", bi, ni, -1),
                             ("user_num", user_num, nu, k), ("user_den", user_den, nu, k),
                             ("item_num", item_num, ni, k), ("item_den", item_den, ni, k)))
    cdef NmfRates r = _nmf_rates(rates)
    with nogil:
        nmf_accumulate_exact(
            &indptr[0], ip(items), cp1(ratings), nu, ni, k, cp2(pu), cp2(qi), p1(bu), p1(bi),
            global_mean, biased, r, user_begin, user_end, p2(user_num), p2(user_den),
            p2(item_num), p2(item_den),
        )


def nmf_update_exact_f64(
    const int64_t[::1] counts,
    double reg,
    double[:, ::1] x,
    const double[:, ::1] num,
    double[:, ::1] den,
):
    """Surprise's multiplicative step of one side: ``x *= num / (den + count reg x)``."""
    cdef Py_ssize_t n = x.shape[0], k = x.shape[1]
    if counts.shape[0] != n or num.shape[0] != n or den.shape[0] != n:
        raise ValueError("counts, x, num and den disagree on the number of rows")
    if num.shape[1] != k or den.shape[1] != k:
        raise ValueError("x, num and den disagree on the number of columns")
    with nogil:
        nmf_update_exact(lp(counts), n, k, reg, p2(x), cp2(num), p2(den))


cdef class NmfLayout:
    """The ratings of one fast NMF fit, grouped by user and by item, checked once.

    ``indptr``/``items``/``ratings``: the trainset grouped by user (``Trainset.user_csr()``).
    The arrays are private copies (the ratings in ``dtype``), so the epochs can trust them.
    """

    cdef readonly object indptr, items, ratings, item_ptr, item_users, item_ratings, item_pos
    cdef readonly Py_ssize_t n_users, n_items, n_ratings

    def __init__(self, indptr, items, ratings, Py_ssize_t n_items, dtype):
        from turbosvd._sgd import group_rows

        self.indptr = np.array(indptr, dtype=np.int64, order="C")
        self.items = np.array(items, dtype=np.int32, order="C")
        self.ratings = np.array(ratings, dtype=dtype, order="C")
        if self.indptr.ndim != 1 or self.indptr.shape[0] < 1:
            raise ValueError("indptr must be a non-empty vector")
        self.n_users = self.indptr.shape[0] - 1
        self.n_items = n_items
        self.n_ratings = self.items.shape[0]
        if self.ratings.shape[0] != self.n_ratings:
            raise ValueError("items and ratings must have the same length")
        if n_items < 0:
            raise ValueError(f"n_items={n_items} must be >= 0")
        if self.n_ratings and (self.items.min() < 0 or self.items.max() >= n_items):
            raise ValueError("items holds ids out of range")
        # Each item's ratings in user order (a stable grouping), as Surprise sums them.
        self.item_pos, self.item_ptr = group_rows(self.items, n_items)
        users = np.repeat(np.arange(self.n_users, dtype=np.int32), np.diff(self.indptr))
        self.item_users = users[self.item_pos]
        self.item_ratings = self.ratings[self.item_pos]
        cdef const int64_t[::1] ip_ = self.indptr
        cdef const int32_t[::1] it = self.items
        cdef const int64_t[::1] iptr = self.item_ptr
        cdef const int32_t[::1] iu = self.item_users
        cdef const int64_t[::1] ipos = self.item_pos
        with nogil:
            nmf_fast_check_layout(
                &ip_[0], ip(it), &iptr[0], ip(iu), lp(ipos), self.n_users, n_items,
                self.n_ratings,
            )


def nmf_epoch_fast(
    NmfLayout layout,
    const real_t[:, ::1] pu,
    real_t[:, ::1] pu_new,
    real_t[:, ::1] qi,
    real_t[::1] bu,
    real_t[::1] bi,
    real_t[::1] est,
    double global_mean,
    bint biased,
    tuple rates,
    int n_threads,
):
    """One fast NMF epoch (``nmf.hpp``): ``pu_new`` from ``pu``, ``qi`` (and biases) in place.

    Factors have a padded row stride (a multiple of 8 floats / 4 doubles, zero padding);
    ``est`` is scratch with one entry per rating; ``rates`` as in
    ``nmf_accumulate_exact_f64``. The ratings of ``layout`` must have the factors' dtype.
    """
    cdef Py_ssize_t nu = layout.n_users, ni = layout.n_items, kp = pu.shape[1]
    _check_model(nu, ni, kp, (("pu", pu, nu, kp), ("pu_new", pu_new, nu, kp), ("qi", qi, ni, kp),
                              ("bu", bu, nu, -1), ("bi", bi, ni, -1),
                              ("est", est, layout.n_ratings, -1)))
    if n_threads < 1:
        raise ValueError(f"n_threads={n_threads} is out of range: must be >= 1")
    cdef const real_t[::1] rv = layout.ratings
    cdef const real_t[::1] irv = layout.item_ratings
    cdef const int64_t[::1] indptr = layout.indptr
    cdef const int32_t[::1] items = layout.items
    cdef const int64_t[::1] item_ptr = layout.item_ptr
    cdef const int32_t[::1] item_users = layout.item_users
    cdef const int64_t[::1] item_pos = layout.item_pos
    scratch = np.empty(2 * kp * n_threads + 1, dtype=np.float32 if real_t is float else np.float64)
    cdef real_t[::1] s = scratch
    cdef NmfRates r = _nmf_rates(rates)
    cdef NmfFastJob[real_t] job
    job.indptr = &indptr[0]
    job.items = ip(items)
    job.ratings = cp1(rv)
    job.item_ptr = &item_ptr[0]
    job.item_users = ip(item_users)
    job.item_ratings = cp1(irv)
    job.item_pos = lp(item_pos)
    job.n_users = nu
    job.n_items = ni
    job.kp = kp
    job.pu = cp2(pu)
    job.pu_new = p2(pu_new)
    job.qi = p2(qi)
    job.bu = p1(bu)
    job.bi = p1(bi)
    job.est = p1(est)
    job.scratch = &s[0]
    job.mu = <real_t>global_mean
    job.lr_bu, job.lr_bi = <real_t>r.lr_bu, <real_t>r.lr_bi
    job.reg_bu, job.reg_bi = <real_t>r.reg_bu, <real_t>r.reg_bi
    job.reg_pu, job.reg_qi = <real_t>r.reg_pu, <real_t>r.reg_qi
    job.biased = biased
    with nogil:
        nmf_fast_epoch(job, n_threads)
