import numpy as np
from numpy.typing import NDArray

def foldin_users(
    indptr: NDArray[np.int64],
    items: NDArray[np.int32],
    ratings: NDArray[np.float64],
    qi: NDArray[np.floating],
    bi: NDArray[np.floating],
    global_mean: float,
    biased: bool,
    reg: tuple[float, float, float, float],
    n_threads: int,
) -> tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.bool_]]: ...
