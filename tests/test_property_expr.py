"""Differential: random expressions and accounts give the same computed values and firings in every evaluator.

durable_rules fires on the values kamrules computed before asserting (and does the times / plus arithmetic
itself); the reference evaluator computes the same facts with its own code and checks the conditions
without the engine. Zero divisors, missing inputs, overflow and values beyond the declared range included.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from kamrules import Evaluator
from kamrules.engine.reference import reference_computed, reference_fired
from kamrules.lang import load_ruleset_texts
from kamrules.lang.expr import ExprError, parse, unparse
from kamrules.lang.exprtypes import check_expression, unit_text
from kamrules.lang.model import Account, Fact

AS_OF = dt.date(2026, 12, 1)
NUMBERS = ["a", "b", "n", "m"]
GIVEN = """facts:
  a: {type: number, range: [-1.0e12, 1.0e12], description: a number, source: given}
  b: {type: number, range: [-1.0e12, 1.0e12], description: a number, source: given}
  n: {type: integer, range: [-1000000, 1000000], description: a whole number, source: given}
  m: {type: integer, range: [-1000000, 1000000], description: a whole number, source: given}
  d1: {type: date, description: a date, source: given}
  d2: {type: date, description: a date, source: given}
"""
SCHEMA = {
    name: Fact(name, t, "", "given", range=r)
    for name, t, r in [
        ("a", "number", (-1e12, 1e12)),
        ("b", "number", (-1e12, 1e12)),
        ("n", "integer", (-1e6, 1e6)),
        ("m", "integer", (-1e6, 1e6)),
        ("d1", "date", None),
        ("d2", "date", None),
    ]
}

constants = st.sampled_from(["0", "1", "2", "3", "0.5", "0.85", "1000", "1.0e9"])
numbers = st.one_of(constants, st.sampled_from(NUMBERS))
dates = st.sampled_from(["d1", "d2", "as_of"])
between = st.tuples(st.sampled_from(["days_between", "months_between"]), dates, dates).map(
    lambda t: f"{t[0]}({t[1]}, {t[2]}) * 0 + 1"  # keeps the unit of days / months out of the sums
)


def _grow(kids):
    pair = st.tuples(kids, kids)
    return st.one_of(
        st.tuples(kids, st.sampled_from(["+", "-", "*", "/"]), kids).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        kids.map(lambda k: f"-{k}"),
        pair.map(lambda t: f"min({t[0]}, {t[1]})"),
        pair.map(lambda t: f"max({t[0]}, {t[1]})"),
        kids.map(lambda k: f"abs({k})"),
        st.tuples(kids, st.sampled_from(["", ", 0", ", 2"])).map(lambda t: f"round({t[0]}{t[1]})"),
        st.tuples(kids, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), kids, kids, kids).map(
            lambda t: f"if({t[0]} {t[1]} {t[2]}, {t[3]}, {t[4]})"
        ),
    )


expressions = st.recursive(st.one_of(numbers, between), _grow, max_leaves=8)
values = {
    "a": st.sampled_from([0.0, 1.0, -1.0, 0.5, 812000.0, 41200.0, 1.0e12, -1.0e12]) | st.floats(-1e12, 1e12),
    "b": st.sampled_from([0.0, 2.0, -3.5, 1.0e9]) | st.floats(-1e12, 1e12),
    "n": st.sampled_from([0, 1, -1, 7, 1000000]) | st.integers(-1000000, 1000000),
    "m": st.sampled_from([0, 2, -5]) | st.integers(-1000000, 1000000),
    "d1": st.sampled_from([dt.date(2026, 1, 31), AS_OF]) | st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)),
    "d2": st.sampled_from([dt.date(2026, 2, 28), AS_OF]) | st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)),
}
accounts = st.fixed_dictionaries({}, optional=values)


def _ruleset(expr: str, times: float, plus: float, threshold: float):
    try:
        kind = check_expression(expr, parse(expr), SCHEMA)
    except ExprError:
        reject()
    unit = "" if not kind.unit else f", unit: '{unit_text(kind.unit)}'"
    facts = GIVEN + (
        f"  x: {{type: number{unit}, range: [-1.0e12, 1.0e12], description: computed, source: computed,"
        f" computed: '{expr}'}}\n"
    )
    rules = f"""rules:
  - {{id: x-above, description: t, when: {{fact: x, op: gt, value: {threshold!r}}}, then: {{recommend: {{stage: mid-KAM}}}}}}
  - {{id: x-not-above, description: t, when: {{not: {{fact: x, op: gt, value: {threshold!r}}}}}, then: {{recommend: {{stage: early-KAM}}}}}}
  - {{id: x-missing, description: t, when: {{fact: x, op: missing}}, then: {{recommend: {{structure: base}}}}}}
  - {{id: x-vs-a, description: t, when: {{fact: x, op: lte, value_of: a, times: {times!r}}}, then: {{recommend: {{structure: advanced}}}}}}
  - {{id: a-vs-b, description: t, when: {{fact: a, op: lt, value_of: b, times: {times!r}, plus: {plus!r}}}, then: {{recommend: {{actions: [{{id: q, text: Q.}}]}}}}}}
  - {{id: n-vs-m, description: t, when: {{fact: n, op: gte, value_of: m, plus: {int(plus)}}}, then: {{recommend: {{actions: [{{id: r, text: R.}}]}}}}}}
  - {{id: d1-vs-d2, description: t, when: {{fact: d1, op: lt, value_of: d2, plus: {int(plus)}}}, then: {{recommend: {{actions: [{{id: s, text: S.}}]}}}}}}
"""  # noqa: E501
    return load_ruleset_texts([("facts.yaml", facts), ("r.yaml", rules)], "random")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    expressions,
    st.sampled_from([0.85, 1.0, 0.7, 2.0, -1.0]),
    st.sampled_from([0.0, 1.0, -30.0, 1000.5]),
    st.sampled_from([0.0, 0.05, -0.3, 1000.0]),
    st.lists(accounts, min_size=1, max_size=4),
)
def test_engine_equals_reference_on_random_expressions(expr, times, plus, threshold, batch):
    """Computed values and fired rules agree between durable_rules + kamrules and the reference evaluator."""
    ruleset = _ruleset(unparse(parse(expr)), times, plus, threshold)
    with Evaluator(ruleset, as_of=AS_OF) as ev:
        decisions = ev.evaluate_many([Account(str(i), f) for i, f in enumerate(batch)])
    for facts, d in zip(batch, decisions, strict=True):
        expected = reference_computed(ruleset, facts, AS_OF)
        got = {c.fact: c.value for c in d.computed if c.value is not None}
        assert got == expected
        assert all(c.why is not None for c in d.computed if c.value is None)
        assert set(d.fired) == reference_fired(ruleset, facts, AS_OF)[0]
