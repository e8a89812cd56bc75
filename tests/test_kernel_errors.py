"""Bad arguments that get past the shims' shape checks reach the C++ kernels, which must
answer with ValueError (std::invalid_argument through ``except +``), never abort.

The kernels validate in plain wrappers before their SIMD-dispatched (target_clones) loops:
GCC treats a call through a target_clones ifunc as nothrow, so a throw inside one calls
std::terminate and kills the interpreter with SIGABRT (exit 134). Each case therefore also
runs in a subprocess, where an abort is seen as a crash (not as a hang: there is a timeout).
CI and the issue-11 check run this file in a build with ``TURBOSVD_SIMD_DISPATCH=OFF`` too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from turbosvd import _foldin, _knn, _sgd

N, DIM = 300, 8  # above the size where the top-k search starts a team of threads


def _topk(dtype=np.float32, **kw):
    """_knn.topk on N random rows against themselves, with the arguments in ``kw`` changed."""
    X = np.random.default_rng(0).standard_normal((N, DIM)).astype(dtype)
    args = {
        "k": 5,
        "normalize": True,
        "exclude_diag": True,
        "excl_indptr": None,
        "excl_indices": None,
        "query_tile": 0,
        "item_tile": 0,
        "n_threads": 2,
        "strategy": 0,
    }
    args.update(kw)
    return _knn.topk(X, X, *args.values())


def _csr(rows):
    """int64 CSR (indptr, indices) of N rows, the given ones filled."""
    indptr = np.zeros(N + 1, dtype=np.int64)
    indices = []
    for q in range(N):
        indices += rows.get(q, [])
        indptr[q + 1] = len(indices)
    return indptr, np.asarray(indices, dtype=np.int64)


def _bad_indptr():
    indptr, indices = _csr({0: [1, 2], 1: [3]})
    indptr[1:3] = [3, 1]  # query 1 would run from 3 back to 1
    return indptr, indices


# (name, call, message fragment). Every call passes the shim's own checks.
TOPK_CASES = {
    "strategy": (lambda: _topk(strategy=7), "strategy=7"),
    "strategy_f64": (lambda: _topk(strategy=-1, dtype=np.float64), "strategy=-1"),
    "query_tile": (lambda: _topk(query_tile=-3), "query_tile=-3"),
    "item_tile": (lambda: _topk(item_tile=-1), "item_tile=-1"),
    "excluded_out_of_range": (
        lambda: _topk(**dict(zip(("excl_indptr", "excl_indices"), _csr({4: [N + 5]})))),
        f"excluded item {N + 5} of query 4 is out of range",
    ),
    "excluded_negative": (
        lambda: _topk(**dict(zip(("excl_indptr", "excl_indices"), _csr({0: [-1]})))),
        "excluded item -1 of query 0 is out of range",
    ),
    "excluded_unsorted": (
        lambda: _topk(**dict(zip(("excl_indptr", "excl_indices"), _csr({2: [9, 3]})))),
        "must be sorted",
    ),
    "indptr_decreasing": (
        lambda: _topk(**dict(zip(("excl_indptr", "excl_indices"), _bad_indptr()))),
        "non-decreasing",
    ),
    "indptr_end": (
        lambda: _topk(excl_indptr=np.zeros(N + 1, dtype=np.int64), excl_indices=np.array([1])),
        "end at nnz",
    ),
}


def _epoch(**kw):
    """A one-bin blocked layout of 3 ratings, optionally broken."""
    users = np.array([0, 0, 1], dtype=np.int32)
    items = np.array([0, 1, 1], dtype=np.int32)
    ratings = np.array([4.0, 3.0, 5.0])
    bins = np.zeros(2, np.int32)
    layout = _sgd.blocked_layout(users, items, ratings, bins, bins, 1, True)
    block_ptr, run_user, run_ptr, out_items, out_ratings = (np.array(a) for a in layout)
    if "item" in kw:
        out_items[-1] = kw["item"]
    if "run_user" in kw:
        run_user[0] = kw["run_user"]
    pu = np.zeros((2, 4), np.float32)
    qi = np.zeros((2, 4), np.float32)
    bu = np.zeros(2, np.float32)
    bi = np.zeros(2, np.float32)
    rates = (0.005,) * 4 + (0.02,) * 4
    _sgd.sgd_epoch_blocked(
        block_ptr,
        run_user,
        run_ptr,
        out_items,
        out_ratings,
        pu,
        qi,
        bu,
        bi,
        4.0,
        True,
        rates,
        2,
        kw.get("first_wave", 0),
        kw.get("last_wave", -1),
    )


def _predict(user):
    pu = np.zeros((2, 4), np.float64)
    b = np.zeros(2, np.float64)
    _sgd.predict(
        np.array([0, user], np.int32), np.array([0, 1], np.int32), pu, pu, b, b, 3.0, True, 2
    )


def _foldin_call(item=0, reg=(1.0, 0.0, 1.0, 0.0)):
    qi = np.zeros((3, 4), np.float32)
    bi = np.zeros(3, np.float32)
    indptr = np.array([0, 2, 3], np.int64)
    items = np.array([0, 1, item], np.int32)
    _foldin.foldin_users(indptr, items, np.array([4.0, 3.0, 5.0]), qi, bi, 3.0, True, reg, 2)


OTHER_CASES = {
    "foldin_item_id": (lambda: _foldin_call(item=3), "item id out of range"),
    "foldin_reg": (lambda: _foldin_call(reg=(1.0, -1.0, 1.0, 0.0)), "regularisation"),
    "blocked_item_id": (lambda: _epoch(item=7), "item id out of range"),
    "blocked_run_user": (lambda: _epoch(run_user=9), "user out of range"),
    "blocked_waves": (lambda: _epoch(first_wave=1, last_wave=0), "first_wave <= last_wave"),
    "predict_user_id": (lambda: _predict(5), "inner id out of range"),
}

CASES = {**TOPK_CASES, **OTHER_CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_raises_value_error(name):
    call, fragment = CASES[name]
    with pytest.raises(ValueError, match=fragment):
        call()


def test_good_arguments_still_work():
    idx, scores = _topk()
    assert idx.shape == (N, 5) and not (idx == np.arange(N)[:, None]).any()
    _epoch()
    _predict(1)
    _foldin_call()


def test_no_abort_in_a_subprocess():
    """All the cases in a fresh interpreter: a throw inside a dispatched clone would abort it."""
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {json.dumps(str(__import__("pathlib").Path(__file__).parent))})
        import test_kernel_errors as t
        out = {{}}
        for name, (call, fragment) in t.CASES.items():
            try:
                call()
                out[name] = "no error"
            except ValueError as e:
                out[name] = "ValueError" if fragment in str(e) else "ValueError: " + str(e)
            print(name, flush=True, file=sys.stderr)
        print(json.dumps(out))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"exit status {proc.returncode} (134 / -6 = abort); last case started after: "
        f"{proc.stderr.splitlines()[-1:]}\n{proc.stderr[-2000:]}"
    )
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == dict.fromkeys(CASES, "ValueError")
