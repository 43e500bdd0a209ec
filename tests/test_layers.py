"""The engine's architecture, checked from its imports: layers point down, no loops, no UI imports.

Layers (lowest first): the top-level modules (contract, periods, formatting, clock, escape, config);
store; intake and demand (side by side, neither imports the other); planning; meetings; cli.
Every import counts, also one inside a function; imports under `if TYPE_CHECKING:` (type hints
only, never run) do not.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "sop_core"
RANK = {"": 0, "store": 1, "intake": 2, "demand": 2, "planning": 3, "meetings": 4, "cli": 5}
UI = ("pages", "streamlit", "app")


def module_name(path: Path, engine: Path = ENGINE) -> str:
    """sop_core/store/workspace.py -> sop_core.store.workspace (a package's __init__ -> the package)."""
    parts = list(path.relative_to(engine.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, engine: Path = ENGINE) -> list[tuple[int, str]]:
    """(line, imported module) for every import the module runs, resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path, engine)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            for a in node.names:  # `from sop_core.store import workspace` imports the module workspace
                found.append((node.lineno, f"{target}.{a.name}"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def engine_modules() -> dict[str, Path]:
    return {module_name(p, ENGINE): p for p in sorted(ENGINE.rglob("*.py"))}


def graph() -> dict[str, set[str]]:
    """Engine module -> the engine modules it imports (names that are not modules are dropped)."""
    mods = engine_modules()
    return {m: {t for _, t in imports(p, ENGINE) if t in mods and t != m} for m, p in mods.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else ""


def test_the_layers_are_the_folders_named_in_the_docstring():
    folders = {p.name for p in ENGINE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(RANK) - {""}


def test_no_import_loops_in_the_engine():
    g = graph()
    state: dict[str, int] = {}
    loops: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                loops.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for m in sorted(g):
        if m not in state:
            walk(m, [m])
    assert loops == [], "import loops: " + "; ".join(" → ".join(loop) for loop in loops)


def test_every_import_points_down_or_sideways_within_a_layer():
    wrong = []
    for m, targets in graph().items():
        if m in ("sop_core", "sop_core.__main__"):  # the package and `python -m sop_core` (the cli) stand outside
            continue
        for t in targets:
            if t == "sop_core" or t.startswith("sop_core.__main__"):
                continue
            a, b = layer(m), layer(t)
            if RANK[b] > RANK[a] or (RANK[a] == RANK[b] and a != b):
                wrong.append(f"{m} imports {t} ({b or 'top level'} is not below {a or 'top level'})")
    assert wrong == []


def test_the_engine_never_imports_the_user_interface():
    found = [f"{module_name(p, ENGINE)}:{line} imports {t}" for p in engine_modules().values()
             for line, t in imports(p, ENGINE)
             if t.split(".")[0] in UI]
    assert found == []


@pytest.mark.parametrize("source, expected", [
    ("from sop_core.store import workspace\n", {"sop_core.store", "sop_core.store.workspace"}),
    ("if TYPE_CHECKING:\n    from sop_core.cli import main\n", set()),
    ("def f():\n    from sop_core.planning import plan\n", {"sop_core.planning", "sop_core.planning.plan"}),
    ("from ..store.workspace import Workspace\n", {"sop_core.store.workspace", "sop_core.store.workspace.Workspace"}),
])
def test_the_import_reader_sees_local_and_relative_imports_and_skips_type_only_ones(tmp_path, source, expected):
    fake = tmp_path / "sop_core" / "demand" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(source)
    assert {t for _, t in imports(fake, tmp_path / "sop_core")} == expected


def test_a_loop_hidden_in_a_function_is_found(tmp_path, monkeypatch):
    engine = tmp_path / "sop_core"
    for rel, text in {"__init__.py": "", "demand/__init__.py": "", "demand/a.py": "from sop_core.demand import b\n",
                      "demand/b.py": "def f():\n    from sop_core.demand import a\n"}.items():
        (engine / rel).parent.mkdir(parents=True, exist_ok=True)
        (engine / rel).write_text(text)
    monkeypatch.setattr(f"{__name__}.ENGINE", engine)
    with pytest.raises(AssertionError, match="sop_core.demand.a → sop_core.demand.b → sop_core.demand.a"):
        test_no_import_loops_in_the_engine()


def test_each_layer_names_its_modules_in_all():
    for folder in sorted(p for p in ENGINE.iterdir() if (p / "__init__.py").exists()):
        package = __import__(f"sop_core.{folder.name}", fromlist=["__all__"])
        modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | {
            p.name for p in folder.iterdir() if (p / "__init__.py").exists()}
        assert sorted(package.__all__) == sorted(modules), folder.name
