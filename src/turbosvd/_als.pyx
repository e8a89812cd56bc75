"""Shim over the ALS half-sweep kernel (csrc/turbosvd/als.hpp).

Checks shapes, takes raw pointers and makes one C++ call with the GIL released.
Validation of user-facing parameters lives in turbosvd.als.
"""
from libc.stdint cimport int32_t, int64_t

from turbosvd._kernels cimport als_half_sweep, als_stride

ctypedef fused real_t:
    float
    double

SOLVERS = {"cholesky": 0, "cg": 1}


def stride(int64_t n_unknowns, bint single):
    """Row stride of the factor matrices for ``n_unknowns`` per row (float32 if ``single``)."""
    if n_unknowns < 0:
        raise ValueError(f"n_unknowns={n_unknowns} must be >= 0")
    return als_stride[float](n_unknowns) if single else als_stride[double](n_unknowns)


cdef inline real_t* ptr1(real_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


def half_sweep(
    const int64_t[::1] indptr,
    const int32_t[::1] cols,
    const real_t[::1] targets,
    real_t[:, ::1] Xf,
    real_t[::1] Xb,
    const real_t[:, ::1] Yf,
    const real_t[::1] Yb,
    int64_t n_factors,
    bint biased,
    double reg,
    str solver,
    int cg_steps,
    int n_threads,
    int64_t first=0,
    last=None,
):
    """Solve rows ``first:last`` of ``(Xf, Xb)`` in place against ``(Yf, Yb)`` (see als.hpp).

    Factor rows are ``[factors, 1, 0 ...]`` when ``biased`` (``[factors, 0 ...]``
    otherwise) with ``stride(m)`` columns; ``Xb`` and ``Yb`` hold the biases. Row ``r``'s
    ratings are ``indptr[r]:indptr[r + 1]`` of ``cols`` (rows of ``Y``) and ``targets``
    (ratings minus the global mean).
    """
    cdef int64_t n_rows = Xf.shape[0]
    cdef int64_t n_cols = Yf.shape[0]
    cdef int64_t m = n_factors + 1 if biased else n_factors
    cdef int64_t d
    if real_t is float:
        d = als_stride[float](m)
    else:
        d = als_stride[double](m)
    cdef int64_t stop = n_rows if last is None else <int64_t>last
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"indptr has {indptr.shape[0]} entries, expected {n_rows + 1}")
    if Xf.shape[1] != d or Yf.shape[1] != d:
        raise ValueError(
            f"Xf and Yf must have {d} columns, got {Xf.shape[1]} and {Yf.shape[1]}"
        )
    if Xb.shape[0] != n_rows or Yb.shape[0] != n_cols:
        raise ValueError("Xb and Yb must have one bias per row of Xf and Yf")
    if cols.shape[0] != targets.shape[0]:
        raise ValueError("cols and targets must have the same length")
    if indptr[0] < 0 or indptr[n_rows] > cols.shape[0]:
        raise ValueError("indptr points outside cols")
    if solver not in SOLVERS:
        raise ValueError(f"solver={solver!r} is not one of {tuple(SOLVERS)}")
    cdef int code = SOLVERS[solver]
    cdef int64_t r
    cdef bint monotonic = True
    with nogil:
        for r in range(n_rows):
            if indptr[r] > indptr[r + 1]:
                monotonic = False
                break
    if not monotonic:
        raise ValueError("indptr decreases")
    cdef const int32_t* cp = &cols[0] if cols.shape[0] > 0 else NULL
    cdef const real_t* tp = &targets[0] if targets.shape[0] > 0 else NULL
    cdef real_t* xp = &Xf[0, 0] if Xf.shape[0] > 0 and Xf.shape[1] > 0 else NULL
    cdef const real_t* yp = &Yf[0, 0] if Yf.shape[0] > 0 and Yf.shape[1] > 0 else NULL
    cdef const real_t* ybp = &Yb[0] if Yb.shape[0] > 0 else NULL
    with nogil:
        als_half_sweep(
            &indptr[0], cp, tp, n_rows, first, stop, xp, ptr1(Xb), yp, ybp, n_cols,
            n_factors, d, biased, reg, code, cg_steps, n_threads,
        )
