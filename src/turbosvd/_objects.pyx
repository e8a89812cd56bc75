"""Python-object glue: testset tuples in, ``Prediction`` tuples out; runs of equal ids.

One C loop per direction replaces per-prediction Python bytecode; the estimates
themselves come from the C++ kernels. Semantics are those of Surprise's
``[algo.predict(u, i, r) for (u, i, r) in testset]``. ``run_starts`` finds where the id
changes in a column of raw ids (fold-in groups its ratings by user with it).
"""
import numpy as np

from cpython.dict cimport PyDict_GetItemWithError
from cpython.object cimport Py_EQ, PyObject, PyObject_RichCompareBool
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_SET_ITEM
from cpython.unicode cimport (
    PyUnicode_CheckExact,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)
from libc.string cimport memcmp
from libc.stdint cimport int32_t, int64_t


cdef extern from "Python.h":
    ctypedef struct PyTypeObject:
        pass
    object PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems)


def inner_ids(list triples, dict users, dict items):
    """Inner ids (-1 if unknown) of the user and item of every ``(uid, iid, r_ui)``."""
    cdef Py_ssize_t n = len(triples), k
    u_out = np.empty(n, dtype=np.int32)
    i_out = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] uv = u_out
    cdef int32_t[::1] iv = i_out
    cdef PyObject* hit
    cdef object t, uid, iid
    for k in range(n):
        t = triples[k]
        if type(t) is tuple and len(<tuple>t) == 3:
            uid = (<tuple>t)[0]
            iid = (<tuple>t)[1]
        else:
            uid, iid, _ = _unpack3(t)
        hit = PyDict_GetItemWithError(users, uid)
        uv[k] = <object>hit if hit != NULL else -1
        hit = PyDict_GetItemWithError(items, iid)
        iv[k] = <object>hit if hit != NULL else -1
    return u_out, i_out


def run_starts(ids):
    """Index of the first id of every run of equal consecutive ids (int64).

    ``ids`` is a contiguous one-dimensional object array (kept alive by the caller).

    Equal as a dict's keys: the same object, or ``==``. The comparison's own errors
    propagate (``pandas.NA`` raises ``TypeError``). One comparison per id, ``str`` against
    ``str`` by length and memcmp, without the boolean array of NumPy's elementwise ``!=``:
    ~10 ms for 900k distinct short strings against 12-19 ms, where reading the string
    objects themselves (~57 MB) is most of the time.
    """
    if not (isinstance(ids, np.ndarray) and ids.dtype == object and ids.ndim == 1
            and ids.flags.c_contiguous):
        raise ValueError("ids must be a contiguous one-dimensional object array")
    cdef Py_ssize_t n = len(ids), k, m = 0
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    cdef int64_t[::1] starts = out
    cdef PyObject** p = <PyObject**><size_t>ids.__array_interface__["data"][0]
    starts[m] = 0
    m += 1
    for k in range(1, n):
        if not _same_key(<object>p[k], <object>p[k - 1]):
            starts[m] = k
            m += 1
    return out[:m].copy()


cdef inline bint _same_key(object a, object b) except -1:
    """``a`` and ``b`` are the same dict key; two ``str`` are compared without a call."""
    cdef Py_ssize_t n
    if a is b:
        return True
    if PyUnicode_CheckExact(a) and PyUnicode_CheckExact(b):
        n = PyUnicode_GET_LENGTH(a)
        return (
            n == PyUnicode_GET_LENGTH(b)
            and PyUnicode_KIND(a) == PyUnicode_KIND(b)
            and memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), n * PyUnicode_KIND(a)) == 0
        )
    return PyObject_RichCompareBool(a, b, Py_EQ)


cdef tuple _unpack3(object t):
    """Surprise unpacks ``uid, iid, r_ui = entry``; same errors, with the entry shown."""
    cdef tuple values = tuple(t)
    if len(values) > 3:
        raise ValueError(
            f"too many values to unpack (expected 3): testset entries are (uid, iid, r_ui), "
            f"got {values!r}"
        )
    if len(values) < 3:
        raise ValueError(
            f"not enough values to unpack (expected 3, got {len(values)}): testset entries "
            f"are (uid, iid, r_ui), got {values!r}"
        )
    return values


def predictions(type cls, list triples, const double[::1] est, lo, hi, details_ok,
                details_failed, const unsigned char[::1] impossible):
    """``cls(uid, iid, r_ui, clipped est, details)`` for every triple.

    ``cls`` is a 5-field tuple subclass (``Prediction``). Clipping is Surprise's
    ``max(lo, min(hi, est))``: a clipped estimate is the bound object itself; other
    estimates are ``numpy.float64``. ``details`` is ``details_failed`` where
    ``impossible`` is set, else ``details_ok``.
    """
    if impossible.shape[0] != len(triples):
        raise ValueError("est and impossible must have one entry per triple")
    which = np.asarray(impossible, dtype=np.int32)
    return predictions_table(cls, triples, est, lo, hi, (details_ok, details_failed), which)


def predictions_table(type cls, list triples, const double[::1] est, lo, hi, tuple table,
                      const int32_t[::1] which):
    """As ``predictions``, with ``details = table[which[k]]`` for prediction ``k``."""
    cdef Py_ssize_t n = len(triples), k, n_table = len(table)
    if est.shape[0] != n or which.shape[0] != n:
        raise ValueError("est and which must have one entry per triple")
    for k in range(n):
        if which[k] < 0 or which[k] >= n_table:
            raise ValueError(f"which[{k}]={which[k]} is not an index of the details table")
    cdef list out = [None] * n
    cdef double e
    cdef double hi_f = hi, lo_f = lo
    cdef object top = hi if hi > lo else lo
    cdef object value, details, t, uid, iid, r, pred
    f64 = np.float64
    for k in range(n):
        t = triples[k]
        if type(t) is tuple and len(<tuple>t) == 3:
            uid = (<tuple>t)[0]
            iid = (<tuple>t)[1]
            r = (<tuple>t)[2]
        else:
            uid, iid, r = _unpack3(t)
        e = est[k]
        if not (e < hi_f):
            value = top
        elif not (e > lo_f):
            value = lo
        else:
            value = f64(e)
        details = table[which[k]]
        pred = PyType_GenericAlloc(<PyTypeObject*>cls, 5)
        _set(pred, 0, uid)
        _set(pred, 1, iid)
        _set(pred, 2, r)
        _set(pred, 3, value)
        _set(pred, 4, details)
        out[k] = pred
    return out


cdef inline void _set(object tup, Py_ssize_t pos, object item):
    Py_INCREF(item)  # PyTuple_SET_ITEM steals a reference
    PyTuple_SET_ITEM(tup, pos, item)
