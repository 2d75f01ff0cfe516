"""The shape of the code, kept by a test: imports run one way (no cycles), no module reaches
into another's private names, heavy libraries stay behind their fences, modules stay short,
and every package is installed."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "nnrender"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, name: str, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(imported nnrender module, names taken from it) for every import in the file, lazy
    ones included; ``if TYPE_CHECKING:`` blocks left out (they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("nnrender")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if not base.startswith("nnrender"):
                continue
            taken = []
            for alias in node.names:  # a submodule imported by name is an edge to it
                if f"{base}.{alias.name}" in modules:
                    out.append((f"{base}.{alias.name}", []))
                else:
                    taken.append(alias.name)
            out.append((base, taken))
    return out


def test_no_private_names_imported_across_modules() -> None:
    modules = _modules()
    bad = []
    for name, path in modules.items():
        for target, names in _imports(path, name, modules):
            bad += [f"{name} imports {target}.{n}" for n in names
                    if n.startswith("_") and not n.startswith("__") and target != name]
    assert not bad, "\n".join(bad)


def test_imports_have_no_cycles() -> None:
    modules = _modules()
    graph = {name: sorted({t for t, _ in _imports(path, name, modules) if t in modules
                           and t != name}) for name, path in modules.items()}
    # a package's __init__ re-exporting its modules is not a cycle back into the package
    for name in graph:
        graph[name] = [t for t in graph[name] if not name.startswith(t + ".")]
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(cycles)


def test_modules_stay_short_or_say_why() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        head = "\n".join(lines[:25])
        if len(lines) > MAX_LINES and f"over {MAX_LINES} lines" not in head:
            long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert not long, "\n".join(long)


def test_every_package_is_installed() -> None:
    """setuptools lists the packages by hand (presets/ and scenes/ live at the top)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found <= listed, f"missing from pyproject.toml: {sorted(found - listed)}"
    for name, folder in config["tool"]["setuptools"].get("package-dir", {}).items():
        assert (ROOT / folder / "__init__.py").is_file(), f"{name}: {folder}/__init__.py"
