"""Shim over the blocked top-k search (csrc/turbosvd/cosine_topn.hpp).

Checks shapes, allocates the outputs with numpy and makes one C++ call with the GIL
released. Validation of user-facing parameters lives in turbosvd/topn.py.
"""
import numpy as np

from libc.stdint cimport int64_t

from turbosvd._kernels cimport topk_kernel_shape, topk_search

ctypedef fused real_t:
    float
    double


def kernel_shape(bint is_double):
    """The micro-kernel block (query rows, item rows) used on this CPU."""
    cdef int mq = 0, nv = 0
    topk_kernel_shape(is_double, &mq, &nv)
    return mq, nv


def topk(
    const real_t[:, ::1] X,
    const real_t[:, ::1] Y,
    int64_t k,
    bint normalize,
    bint exclude_diag,
    const int64_t[::1] excl_indptr,
    const int64_t[::1] excl_indices,
    int64_t query_tile,
    int64_t item_tile,
    int n_threads,
    int strategy,
    int64_t diag_offset=0,
):
    """Top-k items of Y for every row of X. Returns (indices int64, scores) of shape (nq, k).

    With ``exclude_diag``, query q never returns item ``q + diag_offset`` (X is then a slab
    of Y's rows starting at ``diag_offset``).

    ``excl_indptr``/``excl_indices`` (both None or both given): CSR of sorted item indices
    to skip per query. Tiles of 0 pick the defaults; strategy 0/1/2 = auto/queries/items.
    """
    if X is None or Y is None:
        raise ValueError("X and Y are required")
    cdef int64_t nq = X.shape[0], ni = Y.shape[0], dim = X.shape[1]
    if Y.shape[1] != dim:
        raise ValueError(f"X has {dim} columns but Y has {Y.shape[1]}")
    if k < 0:
        raise ValueError(f"k={k} must be >= 0")
    if (excl_indptr is None) != (excl_indices is None):
        raise ValueError("excl_indptr and excl_indices must both be given or both be None")
    if excl_indptr is not None and excl_indptr.shape[0] != nq + 1:
        raise ValueError(f"excl_indptr has {excl_indptr.shape[0]} entries, expected {nq + 1}")
    dtype = np.float32 if real_t is float else np.float64
    scores = np.empty((nq, k), dtype=dtype)
    indices = np.empty((nq, k), dtype=np.int64)
    cdef real_t[:, ::1] s_v = scores
    cdef int64_t[:, ::1] i_v = indices
    cdef const real_t* x_ptr = &X[0, 0] if nq > 0 and dim > 0 else NULL
    cdef const real_t* y_ptr = &Y[0, 0] if ni > 0 and dim > 0 else NULL
    cdef const int64_t* ip_ptr = NULL
    cdef const int64_t* ix_ptr = NULL
    cdef int64_t nnz = 0
    if excl_indptr is not None:
        ip_ptr = &excl_indptr[0]
        nnz = excl_indices.shape[0]
        if nnz > 0:
            ix_ptr = &excl_indices[0]
    cdef real_t* s_ptr = &s_v[0, 0] if nq > 0 and k > 0 else NULL
    cdef int64_t* i_ptr = &i_v[0, 0] if nq > 0 and k > 0 else NULL
    with nogil:
        topk_search(
            x_ptr, nq, y_ptr, ni, dim, k, normalize, exclude_diag, diag_offset, ip_ptr, ix_ptr, nnz,
            query_tile, item_tile, n_threads, strategy, s_ptr, i_ptr,
        )
    return indices, scores
