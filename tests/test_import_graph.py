"""The packages' import graph, read from the source (``ast``), not from a live import: no
import cycle between modules (at module or function level) nor between subpackages; no
file over 500 lines beyond an explicit list; and DESIGN.md's mechanical dependency rules
(the body and render libraries, and the fitting and voxel ones, import no stage, source,
CLI, orchestrator or executor; a source imports no stage; a stage no CLI, orchestrator or
executor; a pipeline no source; hpt_model nothing of hpt_data but the shards and errors).

Imports inside functions count (a cycle hidden in a function is still a cycle: it only
breaks later, at a call); imports under ``if TYPE_CHECKING:`` do not, since they never run.
Importing ``a.b.c`` also runs ``a/b/__init__.py``; that implicit edge to the parent package
is not counted, or every package whose ``__init__`` imports a submodule would be a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hpt_data", "hpt_model", "pipelines")
MAX_LINES = 500

#: Files allowed over MAX_LINES, each with its reason; shrink it as they are split. A file
#: that is short (or gone) must leave the list (the test says so).
LONG_FILES: dict[str, str] = {}

#: Module cycles known and not yet broken, each as its sorted module list. A cycle that is
#: gone must leave the list (the test says so).
KNOWN_CYCLES: list[list[str]] = []

#: Subpackage-level cycles known and not yet broken (as KNOWN_CYCLES, on the folded graph).
KNOWN_SUBPACKAGE_CYCLES: list[list[str]] = [*KNOWN_CYCLES]

#: DESIGN.md: libraries and sources must not reach into these.
_HIGHER = (
    "hpt_data.stages",
    "hpt_data.sources",
    "hpt_data.cli",
    "hpt_data.orchestrator",
    "hpt_data.tasks",  # the orchestrator's worker side
    "hpt_data.output_state",  # the orchestrator's trust rule and `hpt-data info`
    "hpt_data.executors",
)
RULES: dict[str, tuple[str, ...]] = {
    "hpt_data.body": _HIGHER,
    "hpt_data.render": _HIGHER,
    "hpt_data.fitting": _HIGHER,  # libraries too (docs/fit_smpl.md: no stage or CLI imports)
    "hpt_data.voxel": _HIGHER,
    "hpt_data.sources": ("hpt_data.stages",),
    "hpt_data.stages": (
        "hpt_data.cli",
        "hpt_data.orchestrator",
        "hpt_data.tasks",
        "hpt_data.output_state",
        "hpt_data.executors",
    ),
    # a pipeline reads no source plugin's internals (targets once took the synthetic
    # source's motions; they are hpt_data.body.motions now)
    "pipelines": ("hpt_data.sources",),
}
#: DESIGN.md: hpt_model imports nothing of hpt_data but the shard schema (and the error base).
MODEL_MAY_IMPORT = ("hpt_data.shards", "hpt_data.errors")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of the three packages: dotted name → file."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (``None``: third party)."""
    modules = _modules()
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        found = (_known(alias.name) for alias in node.names)
        return {m for m in found if m}
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    out: set[str] = set()
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        target = sub if sub in _modules() else _known(source)
        if target:
            out.add(target)
    return out


@cache
def _graph() -> dict[str, frozenset[str]]:
    """Module → the modules it imports (ours only; self-imports dropped)."""
    graph: dict[str, frozenset[str]] = {}
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in _import_nodes(tree):
            edges |= _targets(module, path, node)
        edges.discard(module)
        graph[module] = frozenset(edges)
    return graph


def _strongly_connected(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Tarjan's components of more than one node, each sorted (iterative: no recursion
    limit on a deep graph)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _cycle_path(graph: dict[str, frozenset[str]], component: list[str]) -> str:
    """One cycle through the component's first module, as ``a -> b -> a``."""
    members = set(component)
    start = component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:  # breadth first: the shortest way back to start
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = parent[node]
                    path.append(start)
                    return " -> ".join([start, *reversed(path[1:-1]), start])
                if child not in parent:
                    parent[child] = node
                    nxt.append(child)
        frontier = nxt
    return " -> ".join(component)


def _units(graph: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """The graph with every module folded into its subpackage (``hpt_data.render.maps`` →
    ``hpt_data.render``); a top-level module (``hpt_data.errors``) stays itself."""

    def unit(module: str) -> str:
        parts = module.split(".")
        head = ".".join(parts[:2])
        return head if len(parts) > 2 or _modules()[head].name == "__init__.py" else module

    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        out.setdefault(unit(module), set()).update(unit(t) for t in targets)
    return {u: frozenset(t - {u}) for u, t in out.items()}


def test_the_scan_sees_the_packages() -> None:
    """Guards the test itself: the graph holds known modules and edges."""
    graph = _graph()
    assert "hpt_data.body.smpl_layer" in graph
    assert "hpt_data.body.joints" in graph["hpt_data.body.smpl_layer"]
    assert "hpt_data.stages.base" in graph["hpt_data.stages.fit_smpl"]


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    found = _strongly_connected(graph)
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(_cycle_path(graph, c) for c in new)
    stale = [c for c in KNOWN_CYCLES if c not in found]
    assert not stale, f"KNOWN_CYCLES lists cycles that are gone: {stale}"


def test_no_import_cycle_between_subpackages() -> None:
    """E.g. render → voxel → render, even when no single module closes the loop."""
    units = _units(_graph())
    found = _strongly_connected(units)
    new = [c for c in found if c not in KNOWN_SUBPACKAGE_CYCLES]
    assert not new, "subpackage import cycles:\n" + "\n".join(_cycle_path(units, c) for c in new)
    stale = [c for c in KNOWN_SUBPACKAGE_CYCLES if c not in found]
    assert not stale, f"KNOWN_SUBPACKAGE_CYCLES lists cycles that are gone: {stale}"


def test_no_long_file_beyond_the_list() -> None:
    long = {}
    for path in _modules().values():
        rel = path.relative_to(ROOT).as_posix()
        with path.open(encoding="utf-8") as f:
            lines = sum(1 for _ in f)
        if lines > MAX_LINES:
            long[rel] = lines
    unexpected = {k: v for k, v in long.items() if k not in LONG_FILES}
    assert not unexpected, f"files over {MAX_LINES} lines (split them by concern): {unexpected}"
    stale = sorted(set(LONG_FILES) - set(long))
    assert not stale, f"LONG_FILES lists files that are short or gone: {stale}"


def test_libraries_and_sources_keep_design_rules() -> None:
    """DESIGN.md: body and render (and fitting, voxel) are libraries; a source never imports
    a stage; a stage never imports the CLI, the orchestrator or an executor."""
    broken = []
    for module, targets in sorted(_graph().items()):
        for owner, forbidden in RULES.items():
            if module != owner and not module.startswith(owner + "."):
                continue
            for target in sorted(targets):
                if any(target == f or target.startswith(f + ".") for f in forbidden):
                    broken.append(f"{module} imports {target}")
    assert not broken, "\n".join(broken)


def test_hpt_model_imports_only_the_shard_schema_of_hpt_data() -> None:
    """DESIGN.md, read from the source: also imports inside functions, which the run-time
    check in test_model_imports.py only sees when they run."""
    broken = [
        f"{module} imports {target}"
        for module, targets in sorted(_graph().items())
        if module == "hpt_model" or module.startswith("hpt_model.")
        for target in sorted(targets)
        if target.startswith("hpt_data")
        and not any(target == m or target.startswith(m + ".") for m in MODEL_MAY_IMPORT)
    ]
    assert not broken, "\n".join(broken)
