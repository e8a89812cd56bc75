import numpy as np
from numpy.typing import NDArray

def build_info() -> dict[str, bool | int]: ...
def omp_max_threads() -> int: ...

class ScalarPredictor:
    pu: NDArray[np.floating]
    qi: NDArray[np.floating]
    bu: NDArray[np.floating]
    bi: NDArray[np.floating]
    def __init__(
        self,
        pu: NDArray[np.floating],
        qi: NDArray[np.floating],
        bu: NDArray[np.floating],
        bi: NDArray[np.floating],
    ) -> None: ...
    def matches(self, pu: object, qi: object, bu: object, bi: object) -> bool: ...
    def estimate(
        self, u: int, i: int, global_mean: float, biased: bool
    ) -> tuple[np.float64, bool]: ...
    def estimate_if(
        self,
        pu: object,
        qi: object,
        bu: object,
        bi: object,
        u: int,
        i: int,
        global_mean: float,
        biased: bool,
    ) -> tuple[np.float64, bool] | None: ...

def sgd_epoch_exact_f64(
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    ratings: NDArray[np.float64],
    pu: NDArray[np.float64],
    qi: NDArray[np.float64],
    bu: NDArray[np.float64],
    bi: NDArray[np.float64],
    global_mean: float,
    biased: bool,
    rates: tuple[float, float, float, float, float, float, float, float],
    simd_dot: bool = False,
) -> None: ...
def predict(
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    pu: NDArray[np.floating],
    qi: NDArray[np.floating],
    bu: NDArray[np.floating],
    bi: NDArray[np.floating],
    global_mean: float,
    biased: bool,
    n_threads: int,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]: ...
def group_rows(
    keys: NDArray[np.int32], n_keys: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]: ...
def blocked_layout(
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    ratings: NDArray[np.float64],
    user_bin: NDArray[np.int32],
    item_bin: NDArray[np.int32],
    n_bins: int,
    single: bool,
    item_map: NDArray[np.int32] | None = None,
) -> tuple[
    NDArray[np.int64], NDArray[np.int32], NDArray[np.int64], NDArray[np.int32], NDArray[np.floating]
]: ...
def sgd_epoch_blocked(
    block_ptr: NDArray[np.int64],
    run_user: NDArray[np.int32],
    run_ptr: NDArray[np.int64],
    items: NDArray[np.int32],
    ratings: NDArray[np.floating],
    pu: NDArray[np.floating],
    qi: NDArray[np.floating],
    bu: NDArray[np.floating],
    bi: NDArray[np.floating],
    global_mean: float,
    biased: bool,
    rates: tuple[float, float, float, float, float, float, float, float],
    n_threads: int,
    first_wave: int = 0,
    last_wave: int = -1,
) -> None: ...
