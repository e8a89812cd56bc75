"""Training engine of the factor models: the epoch loops, in Python, around compiled epoch bodies.

- ``schedule``: the training schedule names and their default (``$TURBOSVD_SCHEDULE``).
- ``svdpp``: the exact (Surprise's order, float64) and user-batched (parallel) loops of ``SVDpp``.
- ``nmf``: the exact and parallel multiplicative-update loops of ``NMF``.
- ``common``: pieces shared by the loops (initial draws, divergence check, Ctrl-C chunking).

Nothing here is public API; the models in ``turbosvd.prediction_algorithms`` are.
"""
