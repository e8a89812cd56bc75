"""The neighbourhood wing: item-item co-rating engines (SlopeOne) and, later, similarities."""
