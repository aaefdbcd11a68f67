"""`kamrules rules diff`: rules added, removed and changed with positions; the accounts a change affects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
HIGH_POTENTIAL = "        - {fact: potential_score, op: gte, value: 0.8}        # default threshold; tune it"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _run(*args: str):
    return CliRunner().invoke(main, ["rules", "diff", *args])


def _edited(tmp_path: Path, source: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "new"
    shutil.copytree(source, folder)
    text = (folder / file).read_text(encoding="utf-8")
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def test_threshold_change_names_the_rule_and_the_affected_accounts(tmp_path):
    """Lowering the high-potential threshold: the changed rule at its position, the example accounts it designates."""
    new = _edited(tmp_path, ROOT / "rules", "designation.yaml", HIGH_POTENTIAL, HIGH_POTENTIAL.replace("0.8", "0.6"))
    result = _run("rules", str(new), "--portfolio", "examples/portfolio.csv", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (rule,) = doc["rules"]
    assert (rule["rule"], rule["kind"]) == ("eligible-by-high-potential", "changed")
    (change,) = rule["changes"]
    assert change["aspect"] == "threshold" and change["line"] == 84 and change["column"] == 11
    assert (change["old"], change["new"]) == ("potential_score ≥ 0.8", "potential_score ≥ 0.6")
    impact = doc["impact"]
    designated = [c for c in impact["changes"] if c["aspect"] == "designation"]
    assert designated and all(c["old"] is False and c["new"] is True for c in designated)
    assert all(c["rule"] == "eligible-by-high-potential" for c in impact["changes"])
    assert impact["affected"] == len({c["account"] for c in impact["changes"]}) <= impact["accounts"]


def test_text_output_shows_positions_and_the_affected_count(tmp_path):
    """The text form: a 'changed' line with the new file:line, the threshold change, and the impact line."""
    new = _edited(tmp_path, ROOT / "rules", "designation.yaml", HIGH_POTENTIAL, HIGH_POTENTIAL.replace("0.8", "0.6"))
    out = _run("rules", str(new), "--portfolio", "examples/portfolio.csv").stdout
    assert f"changed eligible-by-high-potential at {new}/designation.yaml:75 (was rules/designation.yaml:75)" in out
    assert f"  threshold all[0] at {new}/designation.yaml:84:11: potential_score ≥ 0.8 → potential_score ≥ 0.6" in out
    assert "impact on examples/portfolio.csv: " in out and " accounts change (" in out


def test_added_removed_priority_and_conclusion(tmp_path):
    """A rule renamed is one removed and one added; a new priority and a new conclusion are changes."""
    source = ROOT / "tests/data/deep/conflict"
    new = _edited(tmp_path, source, "rules.yaml", "id: quadrant-strategic", "id: quadrant-strategic-a")
    text = (new / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "priority: 100\n    when:\n      all:\n        - {fact: trust_score",
        "priority: 300\n    when:\n      all:\n        - {fact: trust_score",
    )
    (new / "rules.yaml").write_text(text.replace("quadrant: status", "quadrant: strategic"), encoding="utf-8")
    doc = json.loads(_run(str(source), str(new), "--format", "json").stdout)
    kinds = {r["rule"]: (r["kind"], [c["aspect"] for c in r["changes"]]) for r in doc["rules"]}
    assert kinds == {
        "quadrant-strategic-a": ("added", []),
        "quadrant-status": ("changed", ["priority", "conclusion"]),
        "quadrant-strategic": ("removed", []),
    }


def test_audit_db_counts_accounts_not_decisions(tmp_path):
    """Each account decided twice in the log is compared once, from its latest decision."""
    db = tmp_path / "audit.sqlite"
    accounts = sorted(str(p) for p in (ROOT / "examples/accounts").glob("*.yaml"))
    for _ in range(2):
        assert CliRunner().invoke(main, ["evaluate", *accounts, "--audit-db", str(db)]).exit_code == 0
    new = _edited(tmp_path, ROOT / "rules", "designation.yaml", HIGH_POTENTIAL, HIGH_POTENTIAL.replace("0.8", "0.6"))
    doc = json.loads(_run("rules", str(new), "--audit-db", str(db), "--format", "json").stdout)
    assert doc["impact"]["accounts"] == len(accounts)


def test_portfolio_and_audit_db_together_is_a_usage_error(tmp_path):
    """--portfolio and --audit-db are alternatives (exit 2)."""
    result = _run("rules", "rules", "--portfolio", "examples/portfolio.csv", "--audit-db", str(tmp_path / "a.sqlite"))
    assert result.exit_code == 2
