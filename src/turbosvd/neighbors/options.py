"""``sim_options`` parsing, with Surprise's defaults and its ``NameError`` for unknown names."""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import check_int, check_real
from .engine import SIM_KINDS

__all__ = ["SimOptions", "parse_sim_options"]


@dataclass(frozen=True)
class SimOptions:
    """The validated ``sim_options``: ``name`` (lower case), ``user_based``, supports."""

    name: str
    user_based: bool
    min_support: int
    shrinkage: float


def parse_sim_options(sim_options: dict) -> SimOptions:
    """Validate ``sim_options`` (Surprise's keys and defaults; other keys are ignored).

    Raises
    ------
    NameError
        For an unknown similarity name, with Surprise's message.
    TypeError, ValueError
        For a ``min_support`` that is not an integer >= 0 or a ``shrinkage`` that is not a
        real number >= 0.
    """
    name = sim_options.get("name", "msd")
    if not isinstance(name, str) or name.lower() not in SIM_KINDS:
        shown = name.lower() if isinstance(name, str) else repr(name)
        raise NameError(
            "Wrong sim name " + shown + ". Allowed values are " + ", ".join(SIM_KINDS) + "."
        )
    min_support = check_int(
        "sim_options['min_support']", sim_options.get("min_support", 1), min_value=0
    )
    shrinkage = check_real(
        "sim_options['shrinkage']", sim_options.get("shrinkage", 100), min_value=0
    )
    return SimOptions(
        name=name.lower(),
        user_based=bool(sim_options.get("user_based", True)),
        min_support=min_support,
        shrinkage=shrinkage,
    )
