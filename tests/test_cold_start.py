"""Commands load what they use: a quick command does not import the heavy libraries of the others."""

from __future__ import annotations

import gc
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.render.registry import RENDERERS, _renderer

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = ROOT / "examples" / "accounts" / "meccanica-torinese.yaml"
HEAVY = ["numpy", "polars", "fastapi", "pydantic", "uvicorn", "z3", "matplotlib", "openpyxl", "jinja2"]

# Runs the command line in this interpreter and prints, after it, which of HEAVY it imported.
PROBE = """
import json, sys
from kamrules.cli import main
try:
    main(sys.argv[2:], prog_name="kamrules")
except SystemExit as e:
    code = e.code
print("\\n" + json.dumps({"code": code, "loaded": [m for m in json.loads(sys.argv[1]) if m in sys.modules]}))
"""


def _loaded(*args: str, cwd: Path, modules: list[str] = HEAVY) -> tuple[int, list[str]]:
    """The exit code of `kamrules ARGS` and which of ``modules`` (the heavy ones) it imported."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(modules), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["code"], result["loaded"]


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    """`kamrules --version` answers without numpy, polars, fastapi, pydantic, z3, matplotlib, openpyxl or jinja2."""
    code, loaded = _loaded("--version", cwd=tmp_path)
    assert (code, loaded) == (0, [])


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_evaluate_imports_nothing_heavy(tmp_path: Path, fmt: str) -> None:
    """Evaluating one account (recorded in the log) needs none of the libraries of reviews, solver or service."""
    args = ["evaluate", str(ACCOUNT), "--rules", str(ROOT / "rules"), "--audit-db", str(tmp_path / "a.sqlite")]
    code, loaded = _loaded(*args, "--format", fmt, cwd=tmp_path)
    assert (code, loaded) == (0, [])


def test_evaluate_no_audit_opens_no_log_and_reads_no_table(tmp_path: Path) -> None:
    """With --no-audit, neither the decision log (SQLite) nor the table and invoice readers are loaded."""
    args = ["evaluate", str(ACCOUNT), "--rules", str(ROOT / "rules"), "--no-audit"]
    unused = ["sqlite3", "kamrules.audit.log", "kamrules.inputs.tables", "kamrules.inputs.invoices"]
    assert _loaded(*args, cwd=tmp_path, modules=unused) == (0, [])
    assert not (tmp_path / ".kamrules").exists()


def test_evaluate_with_cached_rules_loads_no_parser(tmp_path: Path) -> None:
    """With the rules from the cache: no rule, facts or type parser; no difflib, random, csv or hashlib."""
    args = ["evaluate", str(ACCOUNT), "--rules", str(ROOT / "rules"), "--no-audit"]
    unused = [
        "kamrules.lang.facts",
        "kamrules.lang.rules",
        "kamrules.lang.conditions",
        "kamrules.lang.exprtypes",
        "difflib",
        "random",
        "csv",
        "hashlib",  # OpenSSL's, 2-3 ms: the cache's entries are named by a CRC-32
        "kamrules.render.rules",  # the output objects of `rules` and `audit` commands (dataclasses cost at import)
        "kamrules.render.audit",
    ]
    assert _loaded(*args, cwd=tmp_path)[0] == 0  # the first run parses the rules and keeps them
    assert _loaded(*args, cwd=tmp_path, modules=unused) == (0, [])


def test_evaluate_draws_tables_without_package_metadata(tmp_path: Path) -> None:
    """The table output loads tabulate but not importlib.metadata (tabulate's version lookup: 15-20 ms)."""
    args = ["evaluate", str(ACCOUNT), "--rules", str(ROOT / "rules"), "--no-audit"]
    modules = ["tabulate", "importlib.metadata", "email", "zipfile"]
    assert _loaded(*args, cwd=tmp_path, modules=modules) == (0, ["tabulate"])


def test_tabulate_version_still_answers() -> None:
    """A table drawn without importlib.metadata; then tabulate still has its version and importlib.metadata is real."""
    probe = """
import sys
from kamrules.render.tables import tabulate
print(tabulate([["a", 1]], headers=["x", "y"]))
print("importlib.metadata" in sys.modules)
import importlib.metadata, tabulate as t
print(t.__version__ == importlib.metadata.version("tabulate"), importlib.metadata.distribution("tabulate").name)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == ["x      y", "---  ---", "a      1", "False", "True tabulate"]


def test_every_registered_renderer_exists() -> None:
    """Each type and renderer the registry names as text exists: they are imported only when used, a typo only then."""
    for type_name, by_format in RENDERERS.items():
        module, _, name = type_name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type), type_name
        for target in by_format.values():
            assert callable(_renderer(target)), target


@pytest.mark.parametrize("enabled", [True, False])
def test_a_command_leaves_the_garbage_collector_as_it_was(tmp_path: Path, enabled: bool) -> None:
    """The collector paused while a command's modules load is on again after, and stays off if it was off."""
    args = ["evaluate", str(ACCOUNT), "--rules", str(ROOT / "rules"), "--no-audit", "--format", "json"]
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        assert CliRunner().invoke(main, args).exit_code == 0
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_public_api_still_imports() -> None:
    """The names kamrules exports lazily are the objects of their modules, and unknown names are AttributeErrors."""
    import kamrules
    from kamrules.engine.evaluate import Evaluator
    from kamrules.lang.loader import load_ruleset

    assert kamrules.Evaluator is Evaluator and kamrules.load_ruleset is load_ruleset
    assert set(kamrules.__all__) <= set(dir(kamrules))
    with pytest.raises(AttributeError):
        _ = kamrules.no_such_name


# Runs `kamrules evaluate` twice in one interpreter and prints how many objects were frozen after each.
FREEZE_PROBE = """
import gc, sys
from kamrules.cli import main
counts = []
for _ in range(2):
    try:
        main(sys.argv[1:], prog_name="kamrules")
    except SystemExit:
        pass
    counts.append(gc.get_freeze_count())
print("\\n", *counts)
"""


def test_what_a_command_loads_is_frozen_once(tmp_path: Path) -> None:
    """What loading a command's modules made is frozen (never scanned again); a second run freezes nothing."""
    args = ["evaluate", str(ACCOUNT), "--rules", str(ROOT / "rules"), "--no-audit", "--format", "json"]
    out = subprocess.run(
        [sys.executable, "-c", FREEZE_PROBE, *args], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout
    first, second = map(int, out.split()[-2:])
    assert first > 10_000  # the modules of click, the engine and the rule language
    assert second == first
