"""Top-N: exact top-k search over factor vectors, and the recommend/similar mixin of models.

- ``search``: ``cosine_topk`` and ``inner_product_topk`` over plain arrays (public, re-exported
  here), slabbed calls into the compiled top-k kernel.
- ``recommend``: ``RecommendMixin`` (``similar_items``, ``similar_users``, ``recommend``,
  ``recommend_all``) for any model that gives its user and item vectors (see CONTRIBUTING.md).
"""

from .search import cosine_topk, inner_product_topk

__all__ = ["cosine_topk", "inner_product_topk"]
