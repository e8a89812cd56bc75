import numpy as np
from numpy.typing import NDArray

_I32 = NDArray[np.int32]
_I64 = NDArray[np.int64]
_F64 = NDArray[np.float64]
_F = NDArray[np.floating]

def svdpp_epoch_exact_f64(
    indptr: _I64,
    items: _I32,
    ratings: _F64,
    pu: _F64,
    qi: _F64,
    yj: _F64,
    bu: _F64,
    bi: _F64,
    global_mean: float,
    rates: tuple[float, ...],
    user_begin: int,
    user_end: int,
) -> None: ...
def user_vectors(indptr: _I64, items: _I32, pu: _F, yj: _F, n_threads: int) -> _F64: ...
def svdpp_epoch_fast(
    indptr: _I64,
    items: _I32,
    ratings: _F,
    pu: _F,
    qi: _F,
    yj: _F,
    bu: _F,
    bi: _F,
    global_mean: float,
    rates: tuple[float, ...],
    user_begin: int,
    user_end: int,
) -> None: ...
def nmf_accumulate_exact_f64(
    indptr: _I64,
    items: _I32,
    ratings: _F64,
    pu: _F64,
    qi: _F64,
    bu: _F64,
    bi: _F64,
    global_mean: float,
    biased: bool,
    rates: tuple[float, ...],
    user_begin: int,
    user_end: int,
    user_num: _F64,
    user_den: _F64,
    item_num: _F64,
    item_den: _F64,
) -> None: ...
def nmf_update_exact_f64(counts: _I64, reg: float, x: _F64, num: _F64, den: _F64) -> None: ...

class NmfLayout:
    indptr: _I64
    items: _I32
    ratings: _F
    item_ptr: _I64
    item_users: _I32
    item_ratings: _F
    item_pos: _I64
    n_users: int
    n_items: int
    n_ratings: int
    def __init__(
        self, indptr: _I64, items: _I32, ratings: _F, n_items: int, dtype: object
    ) -> None: ...

def nmf_epoch_fast(
    layout: NmfLayout,
    pu: _F,
    pu_new: _F,
    qi: _F,
    bu: _F,
    bi: _F,
    est: _F,
    global_mean: float,
    biased: bool,
    rates: tuple[float, ...],
    n_threads: int,
) -> None: ...
