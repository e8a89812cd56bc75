"""The neighbourhood wing: similarity rows and k-NN estimates (engine of ``knns.py``)."""
