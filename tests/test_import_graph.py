"""The library's import graph reads one way: no module imports, directly or through others, a module that
imports it back (no circles, whether the import sits at the top of a module or inside a function); the
folders are layers in the order of the flow (:data:`LAYERS`) and a module imports only from its own layer and the
layers below (no back-arrow); the library never imports the tools (``posecourse_tools``) or notebook tooling."""
from __future__ import annotations

import ast
from pathlib import Path

import posecourse

PACKAGE = Path(posecourse.__file__).parent
TOOLING = {"posecourse_tools", "nbformat", "papermill", "nbclient", "nbgrader", "nbval", "playwright"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports (absolute names), wherever the import statement sits."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}  # `from pkg import module`
    return found


def graph(parents: bool = False) -> dict[str, set[str]]:
    """Module -> the library modules it imports. A module importing its own package's ``__init__`` is an
    edge only with ``parents=True`` (it is part of a circle when that ``__init__`` imports the module back,
    but never a back-arrow)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in files.items():
        targets = set()
        for imp in _imports(path):
            # the deepest library module the import names (a name inside a module counts as the module)
            while imp and imp not in files:
                imp = imp.rpartition(".")[0]
            if imp and imp != name and (parents or not name.startswith(imp + ".")):
                targets.add(imp)
        edges[name] = targets
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_the_import_graph_has_no_circle():
    edges = graph(parents=True)
    assert len(edges) > 40 and edges["posecourse.targets.codecs"] >= {"posecourse.targets.heatmap", "posecourse.geometry"}
    cycle = _cycle(edges)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


# The flow, bottom to top. A module's layer is its longest matching prefix. The lecture records
# (``posecourse.lectures`` itself: which model, codec, loss and metric each lecture uses) sit below training,
# which runs a lecture by name; the lecture helpers (``posecourse.lectures.*``) sit on top.
LAYERS = [
    ("posecourse", "posecourse.params", "posecourse.utils", "posecourse.threads", "posecourse.skeletons",
     "posecourse.geometry"),
    ("posecourse.data",),
    ("posecourse.targets",),
    ("posecourse.models",),
    ("posecourse.metrics", "posecourse.evaluation"),
    ("posecourse.lectures",),  # the records only (the package's __init__)
    ("posecourse.train",),
    ("posecourse.viz",),
    ("posecourse.lectures.",),  # shipped checkpoints, report tables, domain gap
]


def layer(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``'s longest matching prefix."""
    best, level = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            hit = module == p or module.startswith(p if p.endswith(".") else p + ".")
            if hit and len(p) > best:
                best, level = len(p), i
    assert level is not None, f"{module} is in no layer of LAYERS"
    return level


def test_no_module_imports_a_higher_layer():
    edges = graph()
    back = [f"{m} ({layer(m)}) -> {t} ({layer(t)})" for m, ts in sorted(edges.items()) for t in sorted(ts)
            if layer(t) > layer(m)]
    assert not back, "imports that run back up the flow: " + "; ".join(back)


def test_the_layers_place_each_module():
    assert layer("posecourse.lectures") < layer("posecourse.train.run") < layer("posecourse.lectures.shipped")
    assert layer("posecourse.targets.codecs") < layer("posecourse.models.deeppose") < layer("posecourse.evaluation.real")
    assert layer("posecourse.geometry") == 0 and layer("posecourse.viz.plots") == len(LAYERS) - 2


def test_the_library_imports_no_tooling():
    for path in PACKAGE.rglob("*.py"):
        roots = {imp.split(".")[0] for imp in _imports(path)}
        assert not roots & TOOLING, f"{path.relative_to(PACKAGE.parent)} imports {sorted(roots & TOOLING)}"
