"""The package's shape (DESIGN §2): no import circles, imports only to lower floors, small modules."""

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dmarl_des"

FLOORS = {
    "errors": 0,
    "bounds": 0,
    "robust": 0.5,  # pure math above errors, below learn and comm (both aggregate with it)
    "kernel": 1,
    "macro": 1,
    "net": 1,
    "learn": 1,
    "log": 1,
    "scenario": 1,
    "agent": 2,
    "faults": 2,
    "report": 2,
    "comm": 2,
    "world": 3,
    "study": 4,
    "worlds": 4,
    "viz": 5,
    "pettingzoo": 5,
    "cli": 6,
}
"""Floor of each part of the package (a part imports only parts on lower floors). The command
sits above everything it runs, the live view and the animations included."""

SMALL = ("world", "agent", "macro", "kernel")
"""Parts whose modules stay small (at most MAX_LINES lines each)."""
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → package modules it imports (every import statement, TYPE_CHECKING ones too)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            edges[name].update(t for t in targets if t in modules and t != name)
    return edges


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert _cycles(_imports(_modules())) == []


def test_the_circle_finder_finds_a_circle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_parts_import_only_lower_floors():
    modules = _modules()
    bad = []
    for module, targets in _imports(modules).items():
        here = _part(module)
        if here not in FLOORS:
            continue
        for target in targets:
            there = _part(target)
            if there and there != here and FLOORS.get(there, 99) >= FLOORS[here]:
                bad.append(f"{module} (floor {FLOORS[here]}) imports {target}")
    assert bad == []
    assert {_part(m) for m in modules} - {""} <= set(FLOORS)  # every part has a floor


def test_world_agent_and_kernel_modules_are_small():
    long = {
        str(path.relative_to(PACKAGE)): n
        for module, path in _modules().items()
        if _part(module) in SMALL and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_simpy_internals_are_touched_in_one_place_only():
    private = re.compile(r"\.(_ok|_value)\b(?!\s*\()")
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if private.search(path.read_text())
    )
    assert users == ["kernel/instants.py"]
