"""Random-state handling, identical to ``surprise.utils``."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["get_rng"]


def get_rng(random_state: None | int | np.random.RandomState) -> np.random.RandomState:
    """Return a legacy ``numpy.random.RandomState`` following Surprise's contract.

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState
        ``None`` returns numpy's global RandomState (the stream ``np.random.seed`` controls),
        an integer seeds a fresh RandomState, and a RandomState instance is returned as is
        (so it advances across calls).

    Raises
    ------
    ValueError
        For anything else, including ``numpy.random.Generator``.
    """
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.RandomState(random_state)
    if isinstance(random_state, np.random.RandomState):
        return random_state
    raise ValueError(
        "Wrong random state. Expecting None, an int or a numpy "
        f"RandomState instance, got a {type(random_state)}"
    )
