"""`rules check --deep`: planted defects found with verified witnesses, the shipped rules clean, the solver exact."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml
import z3
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.engine.deep import SEVERITY, deep_check
from kamrules.engine.solver import Encoding, constant
from kamrules.lang import load_account, load_ruleset
from kamrules.lang.expr import parse
from kamrules.lang.values import months_between

ROOT = Path(__file__).resolve().parent.parent
DEEP = Path("tests/data/deep")
CASES = sorted(p.name for p in (ROOT / DEEP).iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_every_kind_has_a_planted_defect():
    """Each kind of finding has its own planted-defect folder."""
    assert sorted(SEVERITY) == CASES


@pytest.mark.parametrize("case", CASES)
def test_planted_defect_is_found(case, check_golden):
    """The deep check reports the planted defect (golden text); exit 1 exactly when it is an error."""
    result = CliRunner().invoke(main, ["rules", "check", "--deep", str(DEEP / case)])
    assert result.exit_code == (1 if SEVERITY[case] == "error" else 0), result.output
    check_golden(result.stdout, ROOT / DEEP / case / "expected.txt")


@pytest.mark.parametrize("case", CASES)
def test_planted_defect_as_json(case):
    """With --format json every finding has its kind, file:line:col and severity; the planted kind is there."""
    result = CliRunner().invoke(main, ["rules", "check", "--deep", str(DEEP / case), "--format", "json"])
    doc = json.loads(result.stdout)
    findings = doc["rule_sets"][0]["findings"]
    assert case in {f["kind"] for f in findings}
    assert all(f["line"] >= 1 and f["column"] >= 1 and f["severity"] == SEVERITY[f["kind"]] for f in findings)
    assert doc["ok"] == (SEVERITY[case] != "error")


@pytest.mark.parametrize("case", ["conflict", "masked", "late-stratum", "gap"])
def test_witness_shows_the_finding_through_evaluate(case, tmp_path):
    """The witness account, passed to `kamrules evaluate`, shows what the finding says."""
    folder = DEEP / case
    finding = json.loads(
        CliRunner().invoke(main, ["rules", "check", "--deep", str(folder), "--format", "json"]).stdout
    )["rule_sets"][0]["findings"][0]
    account = tmp_path / "witness.yaml"
    account.write_text(yaml.safe_dump({"account": "witness", "facts": finding["witness"]}), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["evaluate", str(account), "--rules", str(folder), "--format", "json", "--no-audit"]
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    fired = set(decision["fired"])
    overridden = {r["rule"]: r["overridden"] for r in decision["reasons"]}
    rules = finding["rules"]
    if case == "conflict":
        assert set(rules) <= fired
    elif case in ("masked", "late-stratum"):
        assert finding["target"] in overridden[rules[0]]
    else:
        assert decision["stage"]["rule"] is None and decision["key_account"] is True


def test_shipped_rules_have_no_errors():
    """The default rules and the portfolio rules pass the deep check: no error (warnings are explained in docs)."""
    result = CliRunner().invoke(main, ["rules", "check", "--deep", "rules", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and all(rs["counts"]["error"] == 0 for rs in doc["rule_sets"])


EXAMPLES = sorted((ROOT / "examples" / "accounts").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_solver_fires_the_rules_the_engine_fires(path, ruleset, evaluator):
    """With an example account's facts fixed, the solver's terms fire exactly the rules the engine fires."""
    account = load_account(path, ruleset)
    enc = Encoding(ruleset, evaluator.as_of or dt.date.today())
    s = z3.Solver()
    s.add(*enc.domain)
    for f in ruleset.given_facts():
        has, value = enc.term(f.name)
        if f.name in account.facts:
            s.add(has, value == constant(f, account.facts[f.name]))
        else:
            s.add(z3.Not(has))
    assert s.check() == z3.sat
    model = s.model()
    solved = {rid for rid, term in enc.fires.items() if z3.is_true(model.eval(term, model_completion=True))}
    assert solved == set(evaluator.evaluate(account).fired)


def test_dead_rule_names_the_contradiction():
    """A dead rule's finding names the comparisons that contradict each other, not the innocent one."""
    check = deep_check(load_ruleset(ROOT / DEEP / "dead"))
    (finding,) = check.findings
    assert [(leaf.fact, leaf.op, leaf.value) for leaf in finding.leaves] == [
        ("trust_score", "gte", 8),
        ("trust_score", "lt", 5),
    ]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("2026-01-31", "2026-02-28"),
        ("2026-01-31", "2026-02-27"),
        ("2026-03-31", "2026-06-30"),
        ("2026-06-30", "2026-03-31"),
        ("2026-02-28", "2026-01-31"),
        ("2026-01-31", "2026-03-31"),
        ("2024-02-29", "2025-02-28"),
        ("2023-12-15", "2026-12-01"),
        ("2026-12-01", "2023-12-15"),
        ("1999-12-31", "2000-03-01"),
    ],
)
def test_months_between_goes_through_the_calendar(a, b, tmp_path):
    """The solver's months_between of two dates is the engine's, at month ends and across leap years."""
    rs = load_ruleset(ROOT / "tests/data/computed")
    enc = Encoding(rs, dt.date.fromisoformat(b))
    _, value = enc.expression(parse("months_between(last_review, as_of)"))
    s = z3.Solver()
    s.add(
        *enc.domain,
        enc.term("last_review")[0],
        enc.term("last_review")[1] == constant(rs.facts["last_review"], dt.date.fromisoformat(a)),
    )
    assert s.check() == z3.sat
    got = s.model().eval(value, model_completion=True).as_long()
    assert got == months_between(dt.date.fromisoformat(a), dt.date.fromisoformat(b))


OVERDUE = """
  - id: overdue-by-months
    description: Two years without a review.
    priority: 5
    when: {fact: months_since_review, op: gte, value: 24}
    then: {derive: {flag: months}}

  - id: overdue-by-date
    description: No review since 2025.
    priority: 5
    when: {fact: last_review, op: lt, value: 2025-01-01}
    then: {derive: {flag: date}}
"""


def test_conflict_through_a_computed_date_fact(tmp_path):
    """Rules on months_between(last_review, as_of) and on last_review conflict; the witness needs --as-of."""
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "tests/data/computed", folder)
    with (folder / "analyst.yaml").open("a", encoding="utf-8") as f:
        f.write(OVERDUE)
    with (folder / "facts.yaml").open("a", encoding="utf-8") as f:
        f.write("\n  flag:\n    type: enum\n    values: [months, date]\n    description: a flag\n    source: derived\n")
    check = deep_check(load_ruleset(folder), dt.date(2026, 12, 1))
    (finding,) = [f for f in check.findings if f.kind == "conflict"]
    assert set(finding.rules) == {"overdue-by-months", "overdue-by-date"}
    assert check.as_of == dt.date(2026, 12, 1)
    last_review = dict(finding.witness)["last_review"]
    assert last_review < dt.date(2025, 1, 1) and months_between(last_review, dt.date(2026, 12, 1)) >= 24
