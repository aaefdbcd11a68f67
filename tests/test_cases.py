"""Data-driven cases: facts → expected decision and the fired rules, exactly or in part (tests/cases/*.yaml)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kamrules.engine.reference import reference_fired
from kamrules.errors import Span
from kamrules.lang import fact_value_problem
from kamrules.lang.model import Account
from kamrules.lang.source import read_yaml

CASES_DIR = Path(__file__).parent / "cases"
# The review date of every case (computed facts such as days_since_review count to it); a case may set its own.
AS_OF = dt.date(2026, 7, 10)
EXPECT_KEYS = {"fired", "fired_include", "fired_absent", "key_account", "stage", "move", "actions", "actions_absent"}


def unknown_expect_keys(case: dict) -> list[str]:
    """The keys of a case's `expect` that this test does not check (a typo would otherwise pass silently)."""
    return sorted(set(case["expect"]) - EXPECT_KEYS)


def _load_cases():
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for node in read_yaml(path).get("cases").value:
            case = node.plain()
            yield pytest.param(case, id=f"{path.stem}:{node.span.line}:{case['name']}")


CASES = list(_load_cases())


@pytest.mark.parametrize("case", CASES)
def test_case(case, evaluator, ruleset):
    """The engine's decision on the case's facts is the one the case states."""
    for name, value in case["facts"].items():
        problem = fact_value_problem(ruleset, name, value, Span("case"), Span("case"), "case")
        assert problem is None, problem.headline()
    assert unknown_expect_keys(case) == [], f"unknown expect keys; allowed: {sorted(EXPECT_KEYS)}"
    as_of = case.get("as_of", AS_OF)
    d = evaluator.evaluate(Account("case", case["facts"]), as_of=as_of)
    expect = case["expect"]
    if "fired" in expect:
        assert sorted(d.fired) == sorted(expect["fired"])
    assert set(expect.get("fired_include", [])) <= set(d.fired), d.fired
    assert not set(expect.get("fired_absent", [])) & set(d.fired), d.fired
    if "key_account" in expect:
        assert d.key_account == expect["key_account"]
    if "stage" in expect:
        assert d.stage_recommended == expect["stage"]
    if "move" in expect:
        assert d.move == expect["move"]
    actions = {a["id"] for a in d.actions}
    for a in expect.get("actions", []):
        assert a in actions
    for a in expect.get("actions_absent", []):
        assert a not in actions
    # the independent reference agrees with the engine on every case
    assert set(d.fired) == reference_fired(ruleset, case["facts"], as_of)[0]


def test_every_default_rule_fires_in_some_case(evaluator, ruleset):
    """Each default rule is exercised by at least one case file, so none goes untested."""
    fired = set()
    for param in CASES:
        case = param.values[0]
        fired |= set(evaluator.evaluate(Account("case", case["facts"]), as_of=case.get("as_of", AS_OF)).fired)
    assert sorted(r.id for r in ruleset.rules if r.id not in fired) == []


def test_a_typo_in_expect_is_rejected():
    """A misspelt `expect` key (here `stgae`) is reported instead of being ignored."""
    case = {"name": "typo", "facts": {}, "expect": {"stgae": "mid-KAM", "fired": []}}
    assert unknown_expect_keys(case) == ["stgae"]
