import numpy as np
from numpy.typing import NDArray

def topk(
    X: NDArray[np.floating],
    Y: NDArray[np.floating],
    k: int,
    normalize: bool,
    exclude_diag: bool,
    excl_indptr: NDArray[np.int64] | None,
    excl_indices: NDArray[np.int64] | None,
    query_tile: int,
    item_tile: int,
    n_threads: int,
    strategy: int,
    diag_offset: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.floating]]: ...
def kernel_shape(is_double: bool) -> tuple[int, int]: ...
