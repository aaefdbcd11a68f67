"""Computed facts: golden messages for every kind of bad expression, and the analyst's rules end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
BROKEN = Path("tests/data/broken/computed")
CASES = sorted(p.name for p in (ROOT / BROKEN).iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("case", CASES)
def test_bad_expression_golden(case, check_golden):
    """`rules check` on a facts.yaml with a bad expression exits 3, pointing inside the expression (golden)."""
    folder = BROKEN / case
    result = CliRunner().invoke(main, ["rules", "check", str(folder)])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert f"{folder}/facts.yaml:" in result.stderr
    check_golden(result.stderr, ROOT / folder / "expected.txt")


@pytest.mark.parametrize("case", CASES)
def test_bad_expression_as_json(case):
    """With --format json each problem has file, line and a column inside the facts file."""
    result = CliRunner().invoke(main, ["rules", "check", str(BROKEN / case), "--format", "json"])
    problems = json.loads(result.stdout)["problems"]
    assert problems and all(p["file"].endswith("facts.yaml") and p["column"] >= 1 for p in problems)
