"""The shape of the house, checked from the source (issue 14): imports flow one way, no circles, small rooms.

``LAYERS`` below is the one place the layer order is written (docs/architecture.md points here). A module
belongs to the layer of its longest matching prefix; it may import modules of its own layer or of any layer
below it, never above. Cycles are refused twice: between files (module-level and function-level imports
alike, since a lazy import still ties two files together) and between rooms (the packages and top-level
modules of ``mlops``), so a back-and-forth through several files of two packages is caught too.
Imports under ``if TYPE_CHECKING:`` do not run and are not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Top to bottom. Each entry: (layer name, module prefixes). The entry layer is what a person or a platform
# runs; services own one concept each; core is storage, statistics, metrics and the stack's typed settings;
# base is pure helpers any room may use.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry", ("functions", "__main__", "mlops.cli", "mlops.__main__")),
    ("runtimes", ("mlops.local", "mlops_infra")),
    (
        "services",
        (
            "mlops.runs",
            "mlops.tuning",
            "mlops.guardian",
            "mlops.driftjob",
            "mlops.pipeline",
            "mlops.ab",
            "mlops.function",
            "mlops.console",
            "mlops.production",
        ),
    ),
    ("registry", ("mlops.registry",)),
    ("serving", ("mlops.serving",)),
    (
        "core",
        (
            "mlops.monitoring",
            "mlops.blueprint",
            "mlops.settings",
            "mlops.fnconfig",
            "mlops.storage",
            "mlops.datasets",
            "mlops.secrets",
            "mlops.drift",
            "mlops.features",
            "mlops.quality",
        ),
    ),
    (
        "base",
        (
            "mlops.names",
            "mlops.errors",
            "mlops.envvars",
            "mlops.times",
            "mlops.jsonbody",
            "mlops.http",
            "mlops.localfiles",
            "mlops.logrecords",
            "mlops.cards",
            "mlops.cardparts",
            "mlops.fdkpatch",
            "mlops.fdkclock",
            "mlops.fdkfast",
            "mlops.logs",
            "mlops.ttlcache",
            "mlops.texttable",
            "mlops",
        ),
    ),
)

# Over the size limits on purpose (path relative to layers/): data tables, not logic. Keep this short.
SIZE_EXCEPTIONS: dict[str, str] = {}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Module:
    name: str
    path: Path


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[0] in ("layers", "infra"):
        parts = parts[1:]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Module]:
    out: dict[str, Module] = {}
    for top in ("layers", "infra", "functions"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" in path.parts or "__pycache__" in path.parts:
                continue
            name = _module_name(path)
            if top == "functions":  # each function is its own top-level ``func`` module
                name = "functions." + path.parent.name + "." + path.stem
            out[name] = Module(name, path)
    return out


def _layer_of(name: str) -> int:
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every import that runs, module-level or inside a function."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names]
        stack.extend(ast.iter_child_nodes(node))


def _targets(module: str, names: list[str], known: dict[str, Module], importer: str) -> set[str]:
    """The files an import runs: the module (or each imported submodule) and the package faces above it
    that the importer is not already inside."""
    out: set[str] = set()
    candidates = [f"{module}.{n}" for n in names if f"{module}.{n}" in known] or [module]
    if len(candidates) < len(names) or not names:
        candidates.append(module)
    for cand in candidates:
        parts = cand.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in known and not (importer == prefix or importer.startswith(prefix + ".")):
                out.add(prefix)
    out.discard(importer)
    return out


def _graph() -> tuple[dict[str, Module], dict[str, set[str]]]:
    known = _modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, mod in known.items():
        for module, names in _imports(ast.parse(mod.path.read_text(), str(mod.path))):
            if module.split(".")[0] not in ("mlops", "mlops_infra"):
                continue
            graph[name] |= _targets(module, names, known, name)
    return known, graph


def _room(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "mlops" and len(parts) > 1:
        return "mlops." + parts[1]
    return ".".join(parts[:2]) if parts[0] == "functions" else parts[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_every_module_has_a_layer():
    known, _ = _graph()
    missing = sorted(name for name in known if _layer_of(name) < 0)
    assert not missing, f"add these modules to LAYERS in {Path(__file__).name}: {missing}"


def test_imports_never_run_up_a_layer():
    _, graph = _graph()
    upward = [
        f"{a} ({LAYERS[_layer_of(a)][0]}) -> {b} ({LAYERS[_layer_of(b)][0]})"
        for a, targets in sorted(graph.items())
        for b in sorted(targets)
        if _layer_of(b) < _layer_of(a)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_cycle_between_files():
    _, graph = _graph()
    assert not _cycles(graph), f"import cycles between files: {_cycles(graph)}"


def test_no_import_cycle_between_rooms():
    _, graph = _graph()
    rooms: dict[str, set[str]] = {}
    for a, targets in graph.items():
        rooms.setdefault(_room(a), set()).update(_room(b) for b in targets if _room(b) != _room(a))
    rooms.pop("mlops", None)  # the package face (``from mlops import x``) is not a room
    for targets in rooms.values():
        targets.discard("mlops")
    assert not _cycles(rooms), f"import cycles between packages: {_cycles(rooms)}"


def test_modules_and_functions_stay_small():
    too_big = []
    for path in sorted((ROOT / "layers").rglob("*.py")):
        rel = str(path.relative_to(ROOT / "layers"))
        if rel in SIZE_EXCEPTIONS:
            continue
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{rel}: {lines} lines (max {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(
                        f"{rel}:{node.lineno} {node.name}: {length} lines (max {MAX_FUNCTION_LINES})"
                    )
    assert not too_big, "split by subject:\n" + "\n".join(too_big)


# --- the checker itself must be able to fail ---------------------------------------------------------------


def test_cycle_finder_finds_a_circle_and_passes_a_chain():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_inside_functions_count_and_type_checking_ones_do_not():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mlops.cli\n"
        "def f():\n    from mlops.registry import service\n"
    )
    seen = [m for m, _ in _imports(tree) if m.startswith("mlops")]
    assert seen == ["mlops.registry"]


def test_layer_lookup_takes_the_longest_prefix():
    assert LAYERS[_layer_of("mlops.cli.models")][0] == "entry"
    assert LAYERS[_layer_of("mlops.names")][0] == "base"
    assert LAYERS[_layer_of("mlops.registry.service")][0] == "registry"
    assert _layer_of("somewhere.else") == -1
