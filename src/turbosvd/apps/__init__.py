"""Front ends: the ``turbosvd`` command line (``cli``), the MovieLens tour (``demo``), the
in-package benchmark against Surprise (``benchmark``), plots (``plotting``) and the detection of
rating-file formats (``formats``). Nothing in the library imports this package.
"""
