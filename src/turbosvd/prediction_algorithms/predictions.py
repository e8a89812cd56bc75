"""``Prediction`` and ``PredictionImpossible``, as in Surprise's ``predictions`` module."""

from __future__ import annotations

from collections import namedtuple

__all__ = ["Prediction", "PredictionImpossible"]


class _ReadOnlyDetails(dict):
    """A ``details`` dict shared by many predictions, so it refuses to be modified.

    Batched ``test()`` returns millions of predictions; giving each its own dict would cost
    more than computing the estimates. It is a real ``dict`` (equality, repr, json and
    pickling behave as usual); copy it with ``dict(pred.details)`` to modify it.
    """

    __slots__ = ()

    def _readonly(self, *args, **kwargs):
        raise TypeError(
            "this Prediction's details dict is shared and read-only; "
            "copy it first with dict(pred.details)"
        )

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly
    __ior__ = _readonly

    def __reduce__(self):
        return (_ReadOnlyDetails, (dict(self),))


POSSIBLE = _ReadOnlyDetails(was_impossible=False)


def impossible_details(reason: str) -> _ReadOnlyDetails:
    """Shared details of an impossible prediction with ``reason``."""
    return _ReadOnlyDetails(was_impossible=True, reason=reason)


class PredictionImpossible(Exception):
    """Raised by ``estimate`` when a prediction cannot be made (e.g. unknown ids)."""


class Prediction(namedtuple("Prediction", ["uid", "iid", "r_ui", "est", "details"])):
    """A prediction: raw user id, raw item id, true rating (or None), estimate, details.

    A named tuple, so ``uid, iid, r_ui, est, details = pred`` works.
    """

    __slots__ = ()

    def __str__(self):
        s = f"user: {self.uid:<10} "
        s += f"item: {self.iid:<10} "
        if self.r_ui is not None:
            s += f"r_ui = {self.r_ui:1.2f}   "
        else:
            s += "r_ui = None   "
        s += f"est = {self.est:1.2f}   "
        s += str(self.details)
        return s
