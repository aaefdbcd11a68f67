"""The expression language, case by case: each operator and function, division by zero, missing inputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from kamrules.engine.compute import compute
from kamrules.engine.reference import reference_computed
from kamrules.lang.computed import with_expression
from kamrules.lang.expr import parse, unparse
from kamrules.lang.exprtypes import check_declared, check_expression
from kamrules.lang.facts import load_facts
from kamrules.lang.model import Fact, RuleSet
from kamrules.lang.problems import Problems
from kamrules.lang.source import read_text, read_yaml
from kamrules.lang.values import months_between

CASES_FILE = Path(__file__).parent / "data" / "expression_cases.yaml"
_TEXT = read_text(CASES_FILE)
_COL = Problems()
FACTS = load_facts(CASES_FILE, "facts:\n" + _TEXT.split("\nfacts:\n", 1)[1].split("\ncases:\n")[0] + "\n", _COL)
assert not _COL, _COL
AS_OF = dt.date(2026, 12, 1)


def _cases():
    for node in read_yaml(CASES_FILE).get("cases").value:
        case = node.plain()
        yield pytest.param(case, id=f"{node.span.line}:{case['name']}")


def _computed_fact(case) -> Fact:
    ftype = case.get("type", "number")
    rng = (-1.0e300, 1.0e300) if "range" not in case["name"] else (-1.0e12, 1.0e12)
    fact = Fact("x", ftype, "the case", "computed", unit=case.get("unit"), range=rng if ftype != "date" else None)
    if ftype in ("date", "boolean"):
        fact = dataclasses.replace(fact, range=None)
    return with_expression(fact, parse(case["expr"]), case["expr"])


@pytest.mark.parametrize("case", list(_cases()))
def test_expression_case(case):
    """The expression type-checks as declared, and kamrules and the reference evaluator give the stated result."""
    fact = _computed_fact(case)
    kind = check_expression(case["expr"], fact.computed, FACTS)
    assert check_declared(fact, kind) is None
    as_of = case.get("as_of", AS_OF)
    facts = dict(case["facts"])
    (c,) = compute((fact,), facts, as_of)
    ruleset = RuleSet("cases", {**FACTS, "x": fact}, (), "v")
    reference = reference_computed(ruleset, case["facts"], as_of)
    if "missing" in case:
        assert c.value is None and "x" not in facts
        assert list(c.why) == case["missing"]
        assert "x" not in reference
    else:
        assert c.value == case["value"] and type(c.value) is type(case["value"])
        assert facts["x"] == case["value"]
        assert reference["x"] == case["value"] and type(reference["x"]) is type(case["value"])


@pytest.mark.parametrize("case", list(_cases()))
def test_unparse_parses_back(case):
    """The canonical text of every case's expression parses to the same tree (positions aside)."""
    text = unparse(parse(case["expr"]))
    assert unparse(parse(text)) == text


@given(st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)), st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)))
def test_months_between_is_dateutils_whole_months(a, b):
    """months_between counts the months dateutil's relativedelta adds (day clamped to the month's end)."""
    lo, hi = sorted((a, b))
    n = 0
    while lo + relativedelta(months=n + 1) <= hi:
        n += 1
    assert months_between(a, b) == (n if a <= b else -n)
