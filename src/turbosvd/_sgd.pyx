"""Shims over the SGD and prediction kernels (csrc/turbosvd/sgd*.hpp, predict.hpp).

Each function checks shapes, takes raw pointers, and makes one C++ call with the GIL
released. Validation of user-facing parameters lives in the Python modules.
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t

from turbosvd._kernels cimport (
    SgdRates,
    build_blocked_layout,
    max_threads,
    openmp_enabled,
    predict_batch,
    predict_one,
    sgd_epoch_blocked as c_sgd_epoch_blocked,
    sgd_epoch_exact,
    sgd_epoch_ordered_f64,
    simd_dispatch_enabled,
    stable_group,
)

ctypedef fused real_t:
    float
    double


def build_info():
    """Return how the compiled core was built."""
    return {
        "openmp": bool(openmp_enabled()),
        "openmp_max_threads": int(max_threads()),
        "simd_dispatch": bool(simd_dispatch_enabled()),
    }


def omp_max_threads():
    """OpenMP's default thread count (``omp_get_max_threads()``; 1 without OpenMP)."""
    return max_threads()


cdef inline const real_t* cptr2(const real_t[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline real_t* ptr2(real_t[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline real_t* ptr1(real_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline const real_t* ptr1c(const real_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline const int32_t* iptr(const int32_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


def sgd_epoch_exact_f64(
    const int32_t[::1] users,
    const int32_t[::1] items,
    const double[::1] ratings,
    double[:, ::1] pu,
    double[:, ::1] qi,
    double[::1] bu,
    double[::1] bi,
    double global_mean,
    bint biased,
    tuple rates,
    bint simd_dot=False,
):
    """One Surprise-order SGD epoch, in place, over ratings in the given order.

    ``simd_dot=False`` sums each dot product left to right (bit-identical to Surprise);
    ``True`` sums it in SIMD lanes (within ~1e-14 of Surprise, several times faster).
    """
    cdef int64_t n = users.shape[0]
    if items.shape[0] != n or ratings.shape[0] != n:
        raise ValueError("users, items and ratings must have the same length")
    if qi.shape[1] != pu.shape[1]:
        raise ValueError("pu and qi must have the same number of columns")
    if bu.shape[0] != pu.shape[0] or bi.shape[0] != qi.shape[0]:
        raise ValueError("bias and factor arrays disagree on the number of users or items")
    cdef SgdRates r
    r.lr_bu, r.lr_bi, r.lr_pu, r.lr_qi, r.reg_bu, r.reg_bi, r.reg_pu, r.reg_qi = rates
    with nogil:
        if simd_dot:
            sgd_epoch_ordered_f64(
                iptr(users), iptr(items), &ratings[0] if n > 0 else NULL, n,
                ptr2(pu), ptr2(qi), ptr1(bu), ptr1(bi), pu.shape[0], qi.shape[0], pu.shape[1],
                global_mean, biased, r,
            )
        else:
            sgd_epoch_exact(
                iptr(users), iptr(items), &ratings[0] if n > 0 else NULL, n,
                ptr2(pu), ptr2(qi), ptr1(bu), ptr1(bi), pu.shape[0], qi.shape[0], pu.shape[1],
                global_mean, biased, r,
            )


def blocked_layout(
    const int32_t[::1] users,
    const int32_t[::1] items,
    const double[::1] ratings,
    const int32_t[::1] user_bin,
    const int32_t[::1] item_bin,
    int64_t n_bins,
    bint single,
    const int32_t[::1] item_map=None,
):
    """Reorder ratings into the blocked layout (see sgd_blocked.hpp).

    Returns (block_ptr, run_user, run_ptr, items, ratings); ratings are float32 if
    ``single`` else float64. ``item_map`` (optional, one entry per item) renames the items
    written to the layout; bins stay indexed by the original ids.
    """
    cdef int64_t n = users.shape[0]
    cdef int64_t n_users = user_bin.shape[0]
    cdef int64_t n_items = item_bin.shape[0]
    if items.shape[0] != n or ratings.shape[0] != n:
        raise ValueError("users, items and ratings must have the same length")
    if n_bins < 1:
        raise ValueError(f"n_bins={n_bins} is out of range: must be >= 1")
    if item_map is not None and item_map.shape[0] != n_items:
        raise ValueError("item_map must have one entry per item")
    cdef const int32_t* map_p = iptr(item_map) if item_map is not None else NULL
    cdef int64_t capacity = min(n, n_users * n_bins)
    cursor = np.empty(max(n_users * n_bins, 1), dtype=np.int64)
    block_ptr = np.empty(n_bins * n_bins + 1, dtype=np.int64)
    run_user = np.empty(max(capacity, 1), dtype=np.int32)
    run_ptr = np.empty(capacity + 1, dtype=np.int64)
    out_items = np.empty(n, dtype=np.int32)
    out_ratings = np.empty(n, dtype=np.float32 if single else np.float64)
    cdef int64_t[::1] cursor_v = cursor
    cdef int64_t[::1] block_ptr_v = block_ptr
    cdef int32_t[::1] run_user_v = run_user
    cdef int64_t[::1] run_ptr_v = run_ptr
    cdef int32_t[::1] out_items_v = out_items
    cdef float[::1] out_f32
    cdef double[::1] out_f64
    cdef float* out_f32_p = NULL
    cdef double* out_f64_p = NULL
    if single:
        out_f32 = out_ratings
        out_f32_p = &out_f32[0] if n > 0 else NULL
    else:
        out_f64 = out_ratings
        out_f64_p = &out_f64[0] if n > 0 else NULL
    cdef int64_t n_runs
    with nogil:
        if single:
            n_runs = build_blocked_layout[int32_t, float](
                iptr(users), iptr(items), &ratings[0] if n > 0 else NULL, n,
                iptr(user_bin), iptr(item_bin), map_p, n_users, n_items, n_bins, &cursor_v[0],
                &block_ptr_v[0], &run_user_v[0], &run_ptr_v[0], capacity,
                &out_items_v[0] if n > 0 else NULL, out_f32_p,
            )
        else:
            n_runs = build_blocked_layout[int32_t, double](
                iptr(users), iptr(items), &ratings[0] if n > 0 else NULL, n,
                iptr(user_bin), iptr(item_bin), map_p, n_users, n_items, n_bins, &cursor_v[0],
                &block_ptr_v[0], &run_user_v[0], &run_ptr_v[0], capacity,
                &out_items_v[0] if n > 0 else NULL, out_f64_p,
            )
    del cursor
    # Copies (small: one entry per run) so the unused capacity is freed.
    return block_ptr, run_user[:n_runs].copy(), run_ptr[:n_runs + 1].copy(), out_items, out_ratings


def sgd_epoch_blocked(
    const int64_t[::1] block_ptr,
    const int32_t[::1] run_user,
    const int64_t[::1] run_ptr,
    const int32_t[::1] items,
    const real_t[::1] ratings,
    real_t[:, ::1] pu,
    real_t[:, ::1] qi,
    real_t[::1] bu,
    real_t[::1] bi,
    double global_mean,
    bint biased,
    tuple rates,
    int n_threads,
    int64_t first_wave=0,
    int64_t last_wave=-1,
    tuple adagrad=None,
):
    """One blocked SGD epoch, in place, over a layout from ``blocked_layout``.

    Only waves ``first_wave`` to ``last_wave - 1`` run (all of them by default), so a long
    epoch can be split into calls with Python's signal checks in between; the result is the
    same as one call. ``adagrad``: None for the constant rate, or AdaGrad's accumulators
    ``(g_pu, g_qi, g_bu, g_bi)`` (rows as ``pu``, ``qi``, ``bu``, ``bi``, positive, the
    model's dtype), updated in place.
    """
    cdef int64_t n = items.shape[0]
    cdef int64_t n_runs = run_user.shape[0]
    cdef int64_t n_bins = 1
    while n_bins * n_bins + 1 < block_ptr.shape[0]:
        n_bins += 1
    if n_bins * n_bins + 1 != block_ptr.shape[0]:
        raise ValueError(f"block_ptr has {block_ptr.shape[0]} entries, not B * B + 1")
    if ratings.shape[0] != n:
        raise ValueError("items and ratings must have the same length")
    if run_ptr.shape[0] != n_runs + 1:
        raise ValueError("run_ptr must have one entry more than run_user")
    if qi.shape[1] != pu.shape[1]:
        raise ValueError("pu and qi must have the same number of columns")
    if bu.shape[0] != pu.shape[0] or bi.shape[0] != qi.shape[0]:
        raise ValueError("bias and factor arrays disagree on the number of users or items")
    if n_threads < 1:
        raise ValueError(f"n_threads={n_threads} is out of range: must be >= 1")
    if last_wave < 0:
        last_wave = n_bins
    cdef SgdRates r
    r.lr_bu, r.lr_bi, r.lr_pu, r.lr_qi, r.reg_bu, r.reg_bi, r.reg_pu, r.reg_qi = rates
    cdef real_t[::1] g_pu, g_qi, g_bu, g_bi
    cdef real_t* g[4]
    g[0] = g[1] = g[2] = g[3] = NULL
    if adagrad is not None:
        if len(adagrad) != 4:
            raise ValueError("adagrad must be (g_pu, g_qi, g_bu, g_bi)")
        g_pu, g_qi, g_bu, g_bi = adagrad
        if g_pu.shape[0] != pu.shape[0] or g_bu.shape[0] != pu.shape[0]:
            raise ValueError("AdaGrad's user accumulators need one entry per row of pu")
        if g_qi.shape[0] != qi.shape[0] or g_bi.shape[0] != qi.shape[0]:
            raise ValueError("AdaGrad's item accumulators need one entry per row of qi")
        g[0], g[1], g[2], g[3] = ptr1(g_pu), ptr1(g_qi), ptr1(g_bu), ptr1(g_bi)
    with nogil:
        c_sgd_epoch_blocked(
            &block_ptr[0], n_bins, &run_user[0] if n_runs > 0 else NULL, &run_ptr[0],
            n_runs, iptr(items), &ratings[0] if n > 0 else NULL, n,
            ptr2(pu), ptr2(qi), ptr1(bu), ptr1(bi), pu.shape[0], qi.shape[0], pu.shape[1],
            global_mean, biased, r, n_threads, first_wave, last_wave, g[0], g[1], g[2], g[3],
        )


def predict(
    const int32_t[::1] users,
    const int32_t[::1] items,
    const real_t[:, ::1] pu,
    const real_t[:, ::1] qi,
    const real_t[::1] bu,
    const real_t[::1] bi,
    double global_mean,
    bint biased,
    int n_threads,
):
    """Estimates for inner-id pairs (-1 = unknown). Returns (est float64, impossible bool)."""
    cdef int64_t n = users.shape[0]
    if items.shape[0] != n:
        raise ValueError("users and items must have the same length")
    if qi.shape[1] != pu.shape[1]:
        raise ValueError("pu and qi must have the same number of columns")
    if bu.shape[0] != pu.shape[0] or bi.shape[0] != qi.shape[0]:
        raise ValueError("bias and factor arrays disagree on the number of users or items")
    out = np.empty(n, dtype=np.float64)
    impossible = np.empty(n, dtype=np.uint8)
    cdef double[::1] out_v = out
    cdef uint8_t[::1] imp_v = impossible
    with nogil:
        predict_batch(
            iptr(users), iptr(items), n, cptr2(pu), cptr2(qi),
            &bu[0] if bu.shape[0] > 0 else NULL, &bi[0] if bi.shape[0] > 0 else NULL,
            pu.shape[0], qi.shape[0], pu.shape[1], global_mean, biased,
            &out_v[0] if n > 0 else NULL, &imp_v[0] if n > 0 else NULL, n_threads,
        )
    return out, impossible.view(np.bool_)


cdef class ScalarPredictor:
    """One estimate at a time over fixed factor arrays (``predict(uid, iid)``'s direct path).

    The arrays' buffers are acquired once here, so each call costs one compiled
    ``predict_one`` (the same dispatched code as ``predict``, so the same bits) and no
    array conversion. ``matches`` tells whether it still serves the given array objects.
    """

    cdef readonly object pu, qi, bu, bi
    cdef const float[:, ::1] pu32
    cdef const float[:, ::1] qi32
    cdef const float[::1] bu32
    cdef const float[::1] bi32
    cdef const double[:, ::1] pu64
    cdef const double[:, ::1] qi64
    cdef const double[::1] bu64
    cdef const double[::1] bi64
    cdef bint f32
    cdef int64_t n_users, n_items, n_factors

    def __cinit__(self, pu, qi, bu, bi):
        self.pu, self.qi, self.bu, self.bi = pu, qi, bu, bi
        dtypes = {np.asarray(a).dtype for a in (pu, qi, bu, bi)}
        if len(dtypes) != 1 or dtypes.pop() not in (np.float32, np.float64):
            raise ValueError("pu, qi, bu, bi must share a float32 or float64 dtype")
        c = np.ascontiguousarray
        self.f32 = np.asarray(pu).dtype == np.float32
        if self.f32:
            self.pu32, self.qi32, self.bu32, self.bi32 = c(pu), c(qi), c(bu), c(bi)
            self.n_users, self.n_items, self.n_factors = (
                self.pu32.shape[0], self.qi32.shape[0], self.pu32.shape[1]
            )
            ok = self.qi32.shape[1] == self.n_factors and self.bu32.shape[0] == self.n_users
            ok = ok and self.bi32.shape[0] == self.n_items
        else:
            self.pu64, self.qi64, self.bu64, self.bi64 = c(pu), c(qi), c(bu), c(bi)
            self.n_users, self.n_items, self.n_factors = (
                self.pu64.shape[0], self.qi64.shape[0], self.pu64.shape[1]
            )
            ok = self.qi64.shape[1] == self.n_factors and self.bu64.shape[0] == self.n_users
            ok = ok and self.bi64.shape[0] == self.n_items
        if not ok:
            raise ValueError("bias and factor arrays disagree on the number of users or items")

    def matches(self, pu, qi, bu, bi):
        """Whether this predictor reads exactly these array objects."""
        return pu is self.pu and qi is self.qi and bu is self.bu and bi is self.bi

    def estimate_if(self, pu, qi, bu, bi, int32_t u, int32_t i, double global_mean, bint biased):
        """``estimate(...)`` if this predictor reads exactly these arrays, else None."""
        if pu is self.pu and qi is self.qi and bu is self.bu and bi is self.bi:
            return self.estimate(u, i, global_mean, biased)
        return None

    cpdef tuple estimate(self, int32_t u, int32_t i, double global_mean, bint biased):
        """(estimate, impossible) for inner ids ``u``, ``i`` (-1 = unknown).

        Microseconds of work: the GIL is kept (releasing it would cost more than the call).
        """
        cdef double out = 0.0
        cdef uint8_t imp = 0
        if self.f32:
            predict_one(
                u, i, cptr2(self.pu32), cptr2(self.qi32), ptr1c(self.bu32), ptr1c(self.bi32),
                self.n_users, self.n_items, self.n_factors, global_mean, biased, &out, &imp,
            )
        else:
            predict_one(
                u, i, cptr2(self.pu64), cptr2(self.qi64), ptr1c(self.bu64), ptr1c(self.bi64),
                self.n_users, self.n_items, self.n_factors, global_mean, biased, &out, &imp,
            )
        return _float64(out), imp != 0  # numpy.float64, as the batch path and Surprise


_float64 = np.float64


def group_rows(const int32_t[::1] keys, int64_t n_keys):
    """Stable grouping of rows by key: returns (perm int64, indptr int64 of n_keys + 1)."""
    cdef int64_t n = keys.shape[0]
    if n_keys < 0:
        raise ValueError("n_keys must be >= 0")
    perm = np.empty(n, dtype=np.int64)
    indptr = np.empty(n_keys + 1, dtype=np.int64)
    cdef int64_t[::1] perm_v = perm
    cdef int64_t[::1] indptr_v = indptr
    with nogil:
        stable_group(iptr(keys), n, n_keys, &perm_v[0] if n > 0 else NULL, &indptr_v[0])
    return perm, indptr
