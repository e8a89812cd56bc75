"""Training engine of the factor models: the epoch loops, in Python, around compiled epoch bodies.

- ``sgd``: the exact (Surprise's order, float64) and blocked (parallel waves) SGD loops of ``SVD``.
- ``blocked``: the blocked layout (user bins x item bins) the blocked schedule trains on.
- ``dsgd``: engine-independent DSGD pieces (grid, strata, block packing, a serial reference),
  used by ``turbosvd.spark``.
- ``monitor``: the training monitor (learning curve, validation RMSE, progress bar).

Nothing here is public API; the models in ``turbosvd.prediction_algorithms`` are.
"""
