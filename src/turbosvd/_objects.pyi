from typing import Any

import numpy as np
from numpy.typing import NDArray

def inner_ids(
    triples: list[Any], users: dict[Any, int], items: dict[Any, int]
) -> tuple[NDArray[np.int32], NDArray[np.int32]]: ...
def predictions(
    cls: type,
    triples: list[Any],
    est: NDArray[np.float64],
    lo: Any,
    hi: Any,
    details_ok: dict[str, Any],
    details_failed: dict[str, Any],
    impossible: NDArray[np.uint8],
) -> list[Any]: ...
def predictions_table(
    cls: type,
    triples: list[Any],
    est: NDArray[np.float64],
    lo: Any,
    hi: Any,
    table: tuple[dict[str, Any], ...],
    which: NDArray[np.int32],
) -> list[Any]: ...
def run_starts(ids: NDArray[np.object_]) -> NDArray[np.int64]: ...
