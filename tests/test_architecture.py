"""The import graph of the package: layers only import downwards, and no two parts import each other.

Read from the source with `ast` (every import, including those inside functions and under TYPE_CHECKING), so a new
upward import fails here before it becomes a cycle at run time. docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import faceprint

ROOT = Path(faceprint.__file__).resolve().parent

# lowest first; a part may import from its own layer's other parts only where no cycle results (checked below)
LAYERS: list[set[str]] = [
    {"errors", "utils"},
    {"distances"},
    {"data"},
    {"models", "detection", "search"},
    {"thresholds", "miners", "losses"},
    {"embeddings"},
    {"pipeline"},
    {"evaluation"},
    {"applications"},
    {"training", "deploy", "api"},
    {"service", "demo", "cli", "__main__", "__init__"},
]
LAYER = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def _part(module: str) -> str | None:
    """faceprint.x.y -> x (a subpackage or a top-level module); names imported from `faceprint` itself -> __init__."""
    bits = module.split(".")
    if bits[0] != "faceprint":
        return None
    if len(bits) == 1:
        return "__init__"
    return bits[1]


def import_graph() -> dict[str, dict[str, list[str]]]:
    """part -> imported part -> the files that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for f in sorted(ROOT.rglob("*.py")):
        rel = f.relative_to(ROOT)
        src = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "faceprint":  # `from faceprint import x`: a submodule, or a name of __init__
                    targets = [f"faceprint.{a.name}" if (ROOT / a.name).exists() or (ROOT / f"{a.name}.py").exists()
                               else "faceprint" for a in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                dst = _part(t)
                if dst is not None and dst != src:
                    graph[src][dst].append(str(rel))
    return graph


def test_every_part_has_a_layer():
    parts = {p.name.removesuffix(".py") for p in ROOT.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert parts - set(LAYER) == set(), "place new parts in LAYERS (and in docs/architecture.md)"


def test_imports_only_go_down_the_layers():
    graph = import_graph()
    upward = [f"{src} -> {dst} ({', '.join(sorted(set(files)))})" for src, deps in graph.items()
              for dst, files in deps.items() if dst != "__init__" and LAYER[dst] > LAYER[src]]
    # `from faceprint import __version__` is the one thing lower parts may take from the package itself
    upward += [f"{src} -> faceprint (not __version__)" for src, deps in graph.items()
               if "__init__" in deps and src not in LAYERS[-1] and _imports_more_than_version(src)]
    assert upward == []


def _imports_more_than_version(part: str) -> bool:
    files = [ROOT / part] if (ROOT / part).is_dir() else [ROOT / f"{part}.py"]
    for f in (x for d in files for x in (d.rglob("*.py") if d.is_dir() else [d])):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "faceprint" and node.level == 0:
                if any(a.name != "__version__" and not (ROOT / a.name).exists() and not (ROOT / f"{a.name}.py").exists()
                       for a in node.names):
                    return True
    return False


def test_no_import_cycles_between_parts():
    graph = {src: set(deps) - {"__init__"} for src, deps in import_graph().items()}
    assert _cycles(graph) == []


def module_graph() -> dict[str, set[str]]:
    """faceprint.x.y -> the faceprint modules it imports (a package's own name meaning its __init__), including
    imports inside functions: a lazy import still makes a circle, only a hidden one."""
    modules = {".".join(("faceprint", *f.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__"): f
               for f in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, f in modules.items():
        package = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t and t not in modules:  # faceprint.x.y.Name -> the module that holds it
                    t = t.rpartition(".")[0]
                if t.startswith("faceprint") and t != mod:
                    graph[mod].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    return cycles


# A package's __init__ that re-exports its modules, and those modules importing a sibling through the package, are
# not circles of meaning: edges into a package's own __init__ from inside it are left out.
def test_no_import_cycles_between_modules():
    graph = {m: {t for t in deps if not m.startswith(t + ".")} for m, deps in module_graph().items()}
    assert _cycles(graph) == []


def test_the_module_graph_is_read_correctly():
    graph = module_graph()
    assert "faceprint.detection.detector" in graph["faceprint.detection.mtcnn"]
    assert "faceprint.detection.mtcnn" in graph["faceprint.detection.registry"]  # a lazy import counts
    assert "faceprint.models.fingerprint" in graph["faceprint.models.embedder"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_graph_is_read_correctly():
    """The checks above are only as good as the graph: known edges must be in it, and a made-up one must not."""
    graph = import_graph()
    assert "pipeline" in graph["evaluation"]  # evaluation/protocol.py embeds through the pipeline
    assert "search" in graph["applications"]  # the gallery searches with search/
    assert "applications" not in graph["evaluation"]
    assert "evaluation" not in graph.get("search", {})


def test_no_distance_names_outside_distances():
    """Code branches on what a Distance knows (its unit, how to search, its diameter), never on its name."""
    offenders = []
    for f in ROOT.rglob("*.py"):
        if f.relative_to(ROOT).parts[0] == "distances":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Compare) and any(
                    isinstance(c, ast.Constant) and c.value in ("squared_l2", "l2") for c in node.comparators):
                offenders.append(f"{f.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
