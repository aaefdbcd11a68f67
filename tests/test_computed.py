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


ANALYST = "tests/data/computed"


def _account(tmp_path, **facts):
    lines = "".join(f"  {k}: {v}\n" for k, v in facts.items())
    path = tmp_path / "acme.yaml"
    path.write_text(f"account: ACME\nfacts:\n  stage: mid-KAM\n{lines}", encoding="utf-8")
    return str(path)


def test_analyst_rules_pass_rules_check():
    """The analyst's two rules, written directly with a computed margin rate and `times`, load cleanly."""
    result = CliRunner().invoke(main, ["rules", "check", ANALYST])
    assert result.exit_code == 0, result.output
    assert "ok: 4 rules, 9 facts, 2 strata" in result.stdout


def test_analyst_scenario_passes():
    """The analyst's scenario (margin rate above 5%, revenue down by over 30%, revenue 0) meets its expectations."""
    result = CliRunner().invoke(main, ["test", "tests/data/computed_scenarios", "--as-of", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "6 passed, 0 failed" in result.stdout


def test_provenance_shows_the_arithmetic(tmp_path):
    """A fired rule on a computed fact shows the expression, the values put in it, the result and the threshold."""
    path = _account(tmp_path, revenue=812000, revenue_prev_12m=1200000, margin=41200, last_review="2025-09-15")
    result = CliRunner().invoke(main, ["evaluate", path, "--rules", ANALYST, "--no-audit", "--as-of", "2026-12-01"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Computed facts (as of 2026-12-01)" in out
    assert "all[1]: margin_rate = margin / revenue = 41,200 / 812,000 = 0.0507 > 0.05" in out
    months = "months_between(last_review, as_of) = months_between(2025-09-15, 2026-12-01) = 14"
    assert f"months_since_review = {months}" in out
    assert "revenue_prev_12m × 0.7 (840,000)" in out


def test_missing_reason_in_trace_and_json(tmp_path):
    """Revenue 0: the margin rate is missing with its reason, in the text and in JSON; no crash, no infinity."""
    path = _account(tmp_path, revenue=0, revenue_prev_12m=0, margin=100, last_review="2026-11-01")
    result = CliRunner().invoke(main, ["evaluate", path, "--rules", ANALYST, "--no-audit", "--as-of", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "margin_rate is missing: revenue is 0" in result.stdout
    assert "revenue_change is missing: revenue_prev_12m is 0" in result.stdout
    result = CliRunner().invoke(
        main, ["evaluate", path, "--rules", ANALYST, "--no-audit", "--as-of", "2026-12-01", "--format", "json"]
    )
    doc = json.loads(result.stdout)
    decision = doc[0] if isinstance(doc, list) else doc.get("decisions", [doc])[0]
    assert decision["as_of"] == "2026-12-01"
    assert decision["computed"]["margin_rate"]["value"] is None
    assert decision["computed"]["margin_rate"]["missing"] == {"reason": "zero", "of": "revenue"}
    assert "margin_rate" not in decision["given"]


def test_as_of_moves_the_review_date(tmp_path):
    """--as-of sets the date `as_of` reads: the review falls due 12 months after the last one, not before."""
    path = _account(tmp_path, revenue=812000, revenue_prev_12m=800000, margin=41200, last_review="2025-12-01")
    runner = CliRunner()
    early = runner.invoke(main, ["evaluate", path, "--rules", ANALYST, "--no-audit", "--as-of", "2026-11-30"])
    due = runner.invoke(main, ["evaluate", path, "--rules", ANALYST, "--no-audit", "--as-of", "2026-12-01"])
    assert "Hold the periodic account review." not in early.stdout
    assert "Hold the periodic account review." in due.stdout


def test_computed_fact_cannot_be_given(tmp_path):
    """An account file that supplies a computed fact is told it is computed, at its line."""
    path = _account(tmp_path, revenue=1, margin_rate=0.5)
    result = CliRunner().invoke(main, ["evaluate", path, "--rules", ANALYST, "--no-audit"])
    assert result.exit_code == 3
    assert "fact 'margin_rate' is computed (margin / revenue) and cannot be given" in result.stderr


def test_replay_uses_the_recorded_review_date(tmp_path, monkeypatch):
    """A decision made --as-of one date replays identical later: the recorded as_of is used, not today."""
    monkeypatch.setenv("KAMRULES_AUDIT_DB", str(tmp_path / "a.sqlite"))
    path = _account(tmp_path, revenue=812000, revenue_prev_12m=800000, margin=41200, last_review="2025-12-01")
    runner = CliRunner()
    assert runner.invoke(main, ["evaluate", path, "--rules", ANALYST, "--as-of", "2026-01-01"]).exit_code == 0
    listed = json.loads(runner.invoke(main, ["audit", "list", "--format", "json"]).stdout)
    entries = listed if isinstance(listed, list) else listed["decisions"]
    replay = runner.invoke(main, ["audit", "replay", entries[0]["decision_id"]])
    assert replay.exit_code == 0, replay.output
    assert "identical to the recorded decision" in replay.stdout
    backtest = runner.invoke(main, ["audit", "backtest", "--rules", ANALYST])
    assert "0 would change" in backtest.stdout


STRATA_FACTS = """facts:
  revenue: {type: number, unit: EUR, range: [0, 1.0e12], description: revenue, source: given}
  key_account: {type: boolean, description: designated, source: derived, default: false}
  key_revenue:
    type: number
    unit: EUR
    range: [0, 1.0e12]
    description: revenue counted for key accounts only
    source: computed
    computed: "if(key_account == true, revenue, 0)"
"""
STRATA_RULES = """rules:
  - id: designate
    description: big customers are key accounts
    when: {fact: revenue, op: gte, value: 1000}
    then: {derive: {key_account: true}}
  - id: key-revenue-large
    description: reads a computed fact that reads a derived one
    when: {fact: key_revenue, op: gt, value: 5000}
    then: {recommend: {actions: [{id: big, text: Big key account.}]}}
"""


def test_computed_fact_on_a_derived_fact_waits_for_its_stratum():
    """A rule reading a computed fact built on a derived fact runs after the rule deriving it, in both evaluators."""
    from kamrules import Evaluator
    from kamrules.engine.reference import reference_fired
    from kamrules.lang import load_ruleset_texts
    from kamrules.lang.model import Account

    rs = load_ruleset_texts([("facts.yaml", STRATA_FACTS), ("r.yaml", STRATA_RULES)], "strata")
    assert rs.rule("key-revenue-large").stratum == 1
    with Evaluator(rs) as ev:
        for revenue, fired in [(6000, {"designate", "key-revenue-large"}), (999, set()), (1000, {"designate"})]:
            d = ev.evaluate(Account("x", {"revenue": revenue}))
            assert set(d.fired) == fired == reference_fired(rs, {"revenue": revenue})[0]
            assert d.as_of is None and "as_of" not in d.to_dict()
