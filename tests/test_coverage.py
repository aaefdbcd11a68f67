"""`kamrules test --coverage`: rules fired and branches seen over scenarios and cases; CI holds the threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.lang import load_ruleset
from kamrules.scenarios.coverage import CoverageCounter

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = "100"  # the shipped scenarios and cases fire every default rule and every portfolio rule


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _run(*args: str):
    return CliRunner().invoke(main, ["test", *args])


def test_shipped_scenarios_and_cases_fire_every_rule():
    """CI's threshold: the shipped scenarios and tests/cases fire 100% of the default and portfolio rules."""
    result = _run("scenarios", "--coverage", "--cases", "tests/cases", "--threshold", THRESHOLD, "--format", "json")
    assert result.exit_code == 0, result.output
    cov = json.loads(result.stdout)["coverage"]
    assert cov["ok"]
    dirs = {s["directory"]: s for s in cov["rule_sets"]}
    assert set(dirs) == {"rules", "rules/portfolio"}
    assert all(s["never_fired"] == [] and s["fired"] == s["rules"] for s in dirs.values())


def test_below_the_threshold_exits_1_and_names_the_rules_never_fired():
    """One scenario alone leaves rules unfired: exit 1, the message gives the percentage, the table lists them."""
    result = _run("scenarios/growth.yaml", "--coverage", "--threshold", THRESHOLD)
    assert result.exit_code == 1
    assert "rule coverage below the threshold of 100%: rules " in result.stderr
    never = next(line for line in result.stdout.splitlines() if line.startswith("never fired: "))
    assert "quadrant-streamline (rules/designation.yaml:" in never


def test_threshold_needs_coverage():
    """--threshold without --coverage is a command-line error (exit 2)."""
    assert _run("scenarios", "--threshold", "50").exit_code == 2


def test_branches_count_true_and_false_each(tmp_path):
    """A comparison counts as covered both ways only once decisions saw it hold and fail."""
    folder = ROOT / "tests/data/deep/conflict"
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name: class A\n    facts: {abc_revenue: A, trust_score: 2}\n", encoding="utf-8")
    counter = CoverageCounter()
    counter.cases([cases], [load_ruleset(folder)])
    (s,) = counter.result().sets
    by_rule = {r.rule.id: r for r in s.rules}
    assert by_rule["quadrant-strategic"].fired == 1 and by_rule["quadrant-status"].fired == 0
    (strategic,) = by_rule["quadrant-strategic"].branches
    (status,) = by_rule["quadrant-status"].branches
    assert (strategic.seen_true, strategic.seen_false) == (True, False)
    assert (status.seen_true, status.seen_false) == (False, True)
    assert s.percent == 50.0 and s.branches_seen == (2, 4)


def test_a_bad_case_value_is_an_error_with_its_position(tmp_path):
    """A case whose value breaks its fact's declaration is invalid input (exit 3) with file:line:col."""
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name: bad\n    facts: {trust_score: 11}\n", encoding="utf-8")
    result = _run("scenarios/growth.yaml", "--coverage", "--cases", str(cases))
    assert result.exit_code == 3
    assert f"{cases}:3:" in result.stderr
