"""Old name of ``turbosvd.train.blocked``, kept only for ``bench/bench_fast.py``.

Remove once the benchmark imports ``turbosvd.train.blocked`` (the bench/ helper owns it).
"""

from .train.blocked import BlockedLayout, build_layout, choose_n_bins, item_bins, user_bins

__all__ = ["BlockedLayout", "build_layout", "choose_n_bins", "item_bins", "user_bins"]
