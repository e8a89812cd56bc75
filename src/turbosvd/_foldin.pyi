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
    rotation: tuple[NDArray[np.float64], NDArray[np.floating]] | None = None,
) -> tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.bool_]]: ...
def batch_rotation(
    items: NDArray[np.int32], qi: NDArray[np.floating], n_threads: int
) -> tuple[NDArray[np.float64], NDArray[np.floating]]: ...
def symmetric_eigenvectors(
    a: NDArray[np.floating],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
