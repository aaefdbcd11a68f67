"""Broken rule folders and account files: each gives file:line:col messages (golden) and exit code 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
BROKEN = Path("tests/data/broken")
RULE_CASES = sorted(p.name for p in (ROOT / BROKEN / "rules").iterdir() if p.is_dir())
ACCOUNT_CASES = sorted(p.name for p in (ROOT / BROKEN / "accounts").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("case", RULE_CASES)
def test_broken_rules_folder(case, check_golden):
    """`rules check` on a broken folder exits 3 with the golden file:line:col messages."""
    folder = BROKEN / "rules" / case
    result = CliRunner().invoke(main, ["rules", "check", str(folder)])
    assert result.exit_code == 3
    assert f"{folder}/rules.yaml:" in result.stderr
    check_golden(result.stderr, ROOT / folder / "expected.txt")


@pytest.mark.parametrize("case", RULE_CASES)
def test_broken_rules_folder_as_json(case):
    """With --format json the same problems come as data with file, line and column."""
    folder = BROKEN / "rules" / case
    result = CliRunner().invoke(main, ["rules", "check", str(folder), "--format", "json"])
    assert result.exit_code == 3
    problems = json.loads(result.stdout)["problems"]
    assert problems and all(p["line"] >= 1 and p["column"] >= 1 and p["file"].endswith(".yaml") for p in problems)


@pytest.mark.parametrize("case", ACCOUNT_CASES)
def test_broken_account_file(case, check_golden):
    """`evaluate` on a broken account file exits 3 with golden file:line:col messages, no traceback."""
    path = BROKEN / "accounts" / case
    result = CliRunner().invoke(main, ["evaluate", str(path)])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    check_golden(result.stderr, ROOT / path.with_suffix(".expected"))


def test_all_problems_in_one_run():
    """Problems in several files and rules are all reported in one run, not just the first."""
    result = CliRunner().invoke(main, ["rules", "check", str(BROKEN / "rules" / "wrong-type-constant")])
    assert result.stderr.count(": error: ") == 4
