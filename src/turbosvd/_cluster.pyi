import numpy as np
from numpy.typing import NDArray

def row_means(
    indptr: NDArray[np.int64], values: NDArray[np.float64], n_threads: int, truncate: bool = False
) -> NDArray[np.float64]: ...
def slope_one_count(
    u_indptr: NDArray[np.int64],
    u_items: NDArray[np.int32],
    i_indptr: NDArray[np.int64],
    i_users: NDArray[np.int32],
    n_threads: int,
) -> NDArray[np.int64]: ...
def slope_one_fill(
    u_indptr: NDArray[np.int64],
    u_items: NDArray[np.int32],
    u_ratings: NDArray[np.float64],
    i_indptr: NDArray[np.int64],
    i_users: NDArray[np.int32],
    i_ratings: NDArray[np.float64],
    row_ptr: NDArray[np.int64],
    n_threads: int,
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]: ...
def slope_one_predict(
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    u_indptr: NDArray[np.int64],
    u_items: NDArray[np.int32],
    user_mean: NDArray[np.float64],
    row_ptr: NDArray[np.int64],
    cols: NDArray[np.int32],
    dev: NDArray[np.float64],
    mu: float,
    n_threads: int,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]: ...
def slope_one_densify(
    row_ptr: NDArray[np.int64],
    cols: NDArray[np.int32],
    freq: NDArray[np.int32],
    dev: NDArray[np.float64],
    n_threads: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]: ...
def co_clustering_averages(
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    ratings: NDArray[np.float64],
    cltr_u: NDArray[np.int64],
    cltr_i: NDArray[np.int64],
    n_cltr_u: int,
    n_cltr_i: int,
    global_mean: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
def co_clustering_assign(
    u_indptr: NDArray[np.int64],
    u_items: NDArray[np.int32],
    u_ratings: NDArray[np.float64],
    i_indptr: NDArray[np.int64],
    i_users: NDArray[np.int32],
    i_ratings: NDArray[np.float64],
    user_mean: NDArray[np.float64],
    item_mean: NDArray[np.float64],
    avg_u: NDArray[np.float64],
    avg_i: NDArray[np.float64],
    avg_co: NDArray[np.float64],
    cltr_u: NDArray[np.int64],
    cltr_i: NDArray[np.int64],
    n_threads: int,
) -> None: ...
def co_clustering_predict(
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    cltr_u: NDArray[np.int64],
    cltr_i: NDArray[np.int64],
    user_mean: NDArray[np.float64],
    item_mean: NDArray[np.float64],
    avg_u: NDArray[np.float64],
    avg_i: NDArray[np.float64],
    avg_co: NDArray[np.float64],
    global_mean: float,
    n_threads: int,
) -> NDArray[np.float64]: ...
