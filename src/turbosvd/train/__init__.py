"""Training engine of the factor models: the epoch loops, in Python, around compiled epoch bodies.

- ``sgd``: the exact (Surprise's order, float64) and blocked (parallel waves) SGD loops of ``SVD``.
- ``svdpp``: the exact (Surprise's order, float64) and user-batched loops of ``SVDpp``.
- ``nmf``: the exact and parallel multiplicative-update loops of ``NMF``.
- ``co_clustering``: ``CoClustering``'s loop (Surprise's draws, one C++ call per epoch).
- ``blocked``: the blocked layout (user bins x item bins) the blocked schedules train on.
- ``dsgd``: engine-independent DSGD pieces (grid, strata, block packing, a serial reference),
  used by ``turbosvd.spark``.
- ``monitor``: the training monitor (learning curve, validation RMSE).
- ``schedule``: the training schedule names and their default (``$TURBOSVD_SCHEDULE``).
- ``common``: pieces shared by the loops (initial draws, divergence check, Ctrl-C chunking).

Nothing here is public API; the models in ``turbosvd.prediction_algorithms`` are.
"""
