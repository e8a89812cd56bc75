"""The package's shape: no import cycles, no oversized modules, no reaching into Trainset.

These read the source (``ast``), so they see every import, including the ones inside
functions that run only on some paths, and modules whose optional dependencies (pyspark,
matplotlib) are not installed.
"""

from __future__ import annotations

import ast
import importlib.machinery
from pathlib import Path

import pytest

import turbosvd

PACKAGE = Path(turbosvd.__file__).resolve().parent
MAX_LINES = 700
# Private state of Trainset that other modules must not read (they use its public
# accessors: rating_arrays, ratings_by_user, user_csr, item_csr, raw_user_ids, ...).
TRAINSET_PRIVATE = {
    "_users",
    "_items",
    "_ratings",
    "_user_ids",
    "_item_ids",
    "_global_mean",
    "_grouped",
    "_by_user",
    "_raw2inner_id_users",
    "_raw2inner_id_items",
    "_inner_uids",
    "_inner_iids",
    "_ur",
    "_ir",
}


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every .py module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _extensions() -> set[str]:
    """Dotted names of the compiled modules (leaves of the graph: they import no module)."""
    # .pyx sources in a checkout; only the built .so/.pyd files in an installed wheel.
    names = {p.relative_to(PACKAGE.parent).with_suffix("") for p in PACKAGE.rglob("*.pyx")}
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for p in PACKAGE.rglob(f"*{suffix}"):
            names.add(p.relative_to(PACKAGE.parent).with_name(p.name[: -len(suffix)]))
    return {".".join(n.parts) for n in names}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports (anywhere in its body)."""
    leaves = _extensions()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in modules:
                        found.add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target not in modules:
                    continue  # a compiled extension or another distribution
                submodules = [f"{target}.{a.name}" for a in child.names]
                subs = [m for m in submodules if m in modules or m in leaves]
                found.update(m for m in subs if m in modules)
                if len(subs) < len(submodules):  # names defined in `target` itself
                    found.add(target)
            visit(child)

    visit(tree)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_import_graph_is_read():
    graph = _graph()
    # The check sees relative, absolute, sub-package and function-level imports.
    assert "turbosvd.train.sgd" in graph["turbosvd.prediction_algorithms.matrix_factorization"]
    assert "turbosvd.topn.search" in graph["turbosvd.topn.recommend"]
    assert "turbosvd.apps.cli" in graph["turbosvd.__main__"]
    assert "turbosvd.apps.plotting" in graph["turbosvd.apps._cli_commands"]  # in a function
    assert "turbosvd" in graph["turbosvd.apps.demo"]  # names from the package itself
    assert "turbosvd" not in graph["turbosvd.train.sgd"]  # `from .. import _sgd`: a leaf
    assert (
        "turbosvd.prediction_algorithms.optimize_baselines"
        in graph["turbosvd.prediction_algorithms.algo_base"]
    )


def test_cycle_detection_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_engine_modules_do_not_import_model_classes():
    """Wings below the models (model files, training, top-N) never import them."""
    graph = _graph()
    models = {
        m
        for m in graph
        if m.startswith("turbosvd.prediction_algorithms.")
        and m.rpartition(".")[2] not in ("predictions", "optimize_baselines")
    }
    for name in graph:
        wing = name.split(".")[1] if "." in name else ""
        low = wing in ("persist", "train", "topn", "_progress", "trainset")
        if low:
            assert not graph[name] & models, f"{name} imports {graph[name] & models}"


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_size(name):
    path = _modules()[name]
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n_lines} lines"


def test_no_module_reads_trainset_private_fields():
    offenders = []
    for name, path in _modules().items():
        if name == "turbosvd.trainset":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in TRAINSET_PRIVATE
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}")
    assert offenders == []
