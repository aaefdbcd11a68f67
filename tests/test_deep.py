"""`rules check --deep`: planted defects found with verified witnesses, the shipped rules clean, the solver exact."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
import z3
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.engine.deep import SEVERITY, deep_check
from kamrules.engine.solver import Encoding, constant
from kamrules.lang import load_account, load_ruleset

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
