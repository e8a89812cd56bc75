"""The neighbourhood wing: similarity rows and k-NN estimates (engine of ``knns.py``), and
SlopeOne's item-item co-rating table."""
