"""The training wing: epoch loops of the iterative models (CoClustering so far)."""
