"""Shim over the fold-in kernel (csrc/turbosvd/foldin.hpp).

Checks shapes, allocates the outputs and makes one C++ call with the GIL released.
Validation of user-facing parameters lives in the Python modules.
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t

from turbosvd._kernels cimport foldin_rotation as _foldin_rotation
from turbosvd._kernels cimport foldin_users as _foldin_users
from turbosvd._kernels cimport symmetric_eigenvectors as _symmetric_eigenvectors

ctypedef fused real_t:
    float
    double


def foldin_users(
    const int64_t[::1] indptr,
    const int32_t[::1] items,
    const double[::1] ratings,
    const real_t[:, ::1] qi,
    const real_t[::1] bi,
    double global_mean,
    bint biased,
    tuple reg,
    int n_threads,
    tuple rotation=None,
):
    """Regularised least-squares user factors and biases with the item side fixed.

    User ``u``'s ratings are ``items[indptr[u]:indptr[u + 1]]`` (inner ids) and the same
    slice of ``ratings``. ``reg`` is ``(lam_p0, lam_p1, lam_b0, lam_b1)``: a user with ``n``
    ratings gets ``lam_p = lam_p0 + lam_p1 * n`` on its factors and ``lam_b0 + lam_b1 * n``
    on its bias. Returns ``(pu, bu, bad)``: factors (n_users, n_factors) and biases in the
    model's dtype, and a bool mask of users whose system was singular.

    ``rotation``: ``(V, qr)`` from :func:`batch_rotation` on these items, to solve in that
    rotation with a per-user preconditioner (the same solution by fewer steps), or None.
    """
    cdef int64_t n_users = indptr.shape[0] - 1
    if n_users < 0:
        raise ValueError("indptr must have at least one entry")
    cdef int64_t nnz = indptr[n_users]
    if items.shape[0] != ratings.shape[0] or nnz > items.shape[0] or nnz < 0:
        raise ValueError("indptr, items and ratings disagree on the number of ratings")
    if bi.shape[0] != qi.shape[0]:
        raise ValueError("qi and bi disagree on the number of items")
    if n_threads < 1:
        raise ValueError(f"n_threads={n_threads} is out of range: must be >= 1")
    cdef double lp0, lp1, lb0, lb1
    lp0, lp1, lb0, lb1 = reg
    dtype = np.float32 if real_t is float else np.float64
    pu = np.empty((n_users, qi.shape[1]), dtype=dtype)
    bu = np.empty(n_users, dtype=dtype)
    bad = np.empty(n_users, dtype=np.uint8)
    cdef real_t[:, ::1] pu_v = pu
    cdef real_t[::1] bu_v = bu
    cdef uint8_t[::1] bad_v = bad
    cdef const double[:, ::1] rot_v
    cdef const real_t[:, ::1] qr_v
    cdef const double* rot_p = NULL
    cdef const real_t* qr_p = NULL
    if rotation is not None:
        rot_v, qr_v = rotation
        if (rot_v.shape[0] != qi.shape[1] or rot_v.shape[1] != qi.shape[1]
                or qr_v.shape[0] != qi.shape[0] or qr_v.shape[1] != qi.shape[1]):
            raise ValueError("rotation must be (V, qr) of shapes (k, k) and qi's")
        if qi.shape[1] == 0:
            raise ValueError("a rotation needs factors")
        rot_p = &rot_v[0, 0]
        qr_p = &qr_v[0, 0] if qi.shape[0] > 0 else NULL
    with nogil:
        _foldin_users(
            &indptr[0], n_users, &items[0] if items.shape[0] > 0 else NULL,
            &ratings[0] if ratings.shape[0] > 0 else NULL,
            &qi[0, 0] if qi.shape[0] > 0 and qi.shape[1] > 0 else NULL,
            &bi[0] if bi.shape[0] > 0 else NULL, qi.shape[0], qi.shape[1], global_mean,
            biased, lp0, lp1, lb0, lb1,
            &pu_v[0, 0] if n_users > 0 and qi.shape[1] > 0 else NULL,
            &bu_v[0] if n_users > 0 else NULL, &bad_v[0] if n_users > 0 else NULL, n_threads,
            rot_p, qr_p,
        )
    return pu, bu, bad.view(np.bool_)


def batch_rotation(const int32_t[::1] items, const real_t[:, ::1] qi, int n_threads):
    """``(V, qr)``: the rotation of a batch of ratings on ``items`` (inner ids, any order),
    for :func:`foldin_users`.

    ``V`` (k x k, float64) is orthogonal, its columns the eigenvectors of the rated item
    factors' second moment; ``qr = qi V`` in the model's dtype. Worth its
    ``O(n_items k^2 + k^3)`` on large batches (``foldin.rotation_pays``;
    csrc/turbosvd/foldin.hpp). Independent of ``n_threads``.
    """
    if qi.shape[1] == 0:
        raise ValueError("a rotation needs factors (qi has no column)")
    if n_threads < 1:
        raise ValueError(f"n_threads={n_threads} is out of range: must be >= 1")
    dtype = np.float32 if real_t is float else np.float64
    V = np.empty((qi.shape[1], qi.shape[1]), dtype=np.float64)
    qr = np.empty((qi.shape[0], qi.shape[1]), dtype=dtype)
    cdef double[:, ::1] V_v = V
    cdef real_t[:, ::1] qr_v = qr
    with nogil:
        _foldin_rotation(
            &items[0] if items.shape[0] > 0 else NULL, items.shape[0],
            &qi[0, 0] if qi.shape[0] > 0 else NULL, qi.shape[0], qi.shape[1], &V_v[0, 0],
            &qr_v[0, 0] if qi.shape[0] > 0 else NULL, n_threads,
        )
    return V, qr


def symmetric_eigenvectors(a):
    """Eigenvalues and eigenvectors of a symmetric matrix (``symeig.hpp``, used by the
    fold-in's rotation), for the tests against ``numpy.linalg.eigh``.

    Returns ``(d, v)``: the eigenvalues (unsorted) and the matrix whose row ``i`` is the
    unit eigenvector of ``d[i]``. Only the values are read, not checked for symmetry.
    """
    cdef double[:, ::1] m = np.array(a, dtype=np.float64, order="C", copy=True)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"a must be square, got shape {tuple(np.shape(a))}")
    cdef int64_t n = m.shape[0]
    d = np.zeros(n, dtype=np.float64)
    e = np.zeros(n, dtype=np.float64)
    cdef double[::1] d_v = d
    cdef double[::1] e_v = e
    if n > 0:
        with nogil:
            _symmetric_eigenvectors(&m[0, 0], n, &d_v[0], &e_v[0])
    return d, np.asarray(m)
