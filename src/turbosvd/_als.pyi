import numpy as np
from numpy.typing import NDArray

SOLVERS: dict[str, int]

def stride(n_unknowns: int, single: bool) -> int: ...
def half_sweep(
    indptr: NDArray[np.int64],
    cols: NDArray[np.int32],
    targets: NDArray[np.floating],
    Xf: NDArray[np.floating],
    Xb: NDArray[np.floating],
    Yf: NDArray[np.floating],
    Yb: NDArray[np.floating],
    n_factors: int,
    biased: bool,
    reg: float,
    solver: str,
    cg_steps: int,
    n_threads: int,
    first: int = 0,
    last: int | None = None,
) -> None: ...
