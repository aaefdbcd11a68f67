"""The package layout: one concern per folder, imports only point down, no module too long to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kamrules"

# Lowest first: a module may import its own layer and the layers before it, never one after it.
LAYERS = ["errors", "lang", "inputs", "engine", "kam", "audit", "scenarios", "render", "serve", "cli"]
MAX_LINES = 400


def _layer(module: str) -> str:
    """The layer of a dotted kamrules module name ('kamrules.lang.model' -> 'lang')."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("kamrules"):
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names if a.name.startswith("kamrules"))
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    """A module imports only from its own layer or the layers below it (the package's __init__ only re-exports)."""
    rel = path.relative_to(PACKAGE)
    if rel.name == "__init__.py" and len(rel.parts) == 1:
        return
    own = rel.parts[0].removesuffix(".py")
    assert own in LAYERS, f"{rel}: not in a known layer {LAYERS}"
    upward = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module != "kamrules" and LAYERS.index(_layer(module)) > LAYERS.index(own)
    ]
    assert not upward, f"{rel} imports from a layer above it: {upward}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_short(path: Path) -> None:
    """No module is longer than MAX_LINES lines."""
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines (at most {MAX_LINES})"


def test_at_least_four_subpackages() -> None:
    """The package is split into layers, each a subpackage."""
    subpackages = [p.parent.name for p in PACKAGE.glob("*/__init__.py")]
    assert len(subpackages) >= 4, subpackages


def test_readme_lists_every_module() -> None:
    """The README's "How it is built" table names every module of the package, and no module that is gone."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How it is built", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    modules = {str(p.relative_to(PACKAGE)) for p in _modules() if p.name != "__init__.py"}
    top = {m for m in modules if "/" not in m}
    expected = {f"kamrules/{m}" for m in top} | (modules - top)
    folders = {f"kamrules/{p.parent.name}/" for p in PACKAGE.glob("*/__init__.py")}
    assert listed == expected | folders
