"""``import surprise`` resolves to turbosvd in interpreters started with this folder on PYTHONPATH.

Used by ``tests/test_surprise_suite.py`` to run Surprise's own tests and examples, unchanged,
against turbosvd. A meta-path finder placed first in ``sys.meta_path`` answers for
``surprise`` and every ``surprise.*`` name with the module of the same path under
``turbosvd``, so it wins over a scikit-surprise installed in the same environment (the tests'
oracle). A name turbosvd lacks fails with ``ModuleNotFoundError`` naming the turbosvd module.
"""

import importlib
import importlib.abc
import importlib.util
import sys

_ALIAS = "surprise"
_TARGET = "turbosvd"


class _AliasLoader(importlib.abc.Loader):
    """Hands out the already-imported turbosvd module; keeps its own ``__spec__``."""

    def __init__(self, target):
        self._target = target
        self._spec = None

    def create_module(self, spec):
        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        # The import system stamped the alias spec on the module: give turbosvd its own back.
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        real = _TARGET + fullname[len(_ALIAS) :]
        if importlib.util.find_spec(real) is None:
            raise ModuleNotFoundError(f"turbosvd has no module {real!r}", name=fullname)
        is_package = importlib.util.find_spec(real).submodule_search_locations is not None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real), is_package=is_package)


sys.meta_path.insert(0, _AliasFinder())
