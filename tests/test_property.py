"""The engine's firings equal the independent reference evaluator's, on random accounts and random rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rule_constants import constants_of

from kamrules import Evaluator, load_ruleset
from kamrules.engine.reference import reference_fired
from kamrules.lang.model import Account, AllOf, AnyOf, Leaf, Not

ROOT = Path(__file__).resolve().parent.parent
RULESET = load_ruleset(ROOT / "rules")


CONSTANTS = constants_of(RULESET)


def value_strategy(fact):
    """Values of one fact: its thresholds, their neighbours, its range ends and anything in range."""
    near = sorted(CONSTANTS.get(fact.name, set()), key=repr)
    if fact.type == "boolean":
        return st.booleans()
    if fact.type == "enum":
        return st.sampled_from(fact.values)
    if fact.type == "string":
        return st.text(max_size=8)
    if fact.type == "date":
        edges = [d + dt.timedelta(days=k) for d in near for k in (-1, 0, 1)]
        return st.one_of(st.sampled_from(edges), st.dates()) if edges else st.dates()
    lo, hi = fact.range
    if fact.type == "integer":
        edges = [v for c in near for v in (int(c) - 1, int(c), int(c) + 1) if lo <= v <= hi] + [int(lo), int(hi)]
        return st.one_of(st.sampled_from(edges), st.integers(int(lo), int(hi)))
    edges = [v for c in near for v in (c - 0.01, c, c + 0.01) if lo <= v <= hi] + [lo, hi]
    return st.one_of(st.sampled_from(edges), st.floats(lo, hi, allow_nan=False))


def accounts(ruleset):
    """Random accounts: each given fact present or missing, with a valid value when present."""
    return st.fixed_dictionaries({}, optional={f.name: value_strategy(f) for f in ruleset.given_facts()})


EVALUATOR = Evaluator(RULESET)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts(RULESET))
def test_engine_equals_reference_on_default_rules(facts):
    """On any valid account, durable_rules fires exactly the rules the reference evaluator says hold."""
    decision = EVALUATOR.evaluate(Account("random", facts))
    fired, derived = reference_fired(RULESET, facts)
    assert set(decision.fired) == fired
    assert decision.derived == derived


NUMERIC = [f for f in RULESET.given_facts() if f.type in ("number", "integer")]
ENUMS = [f for f in RULESET.given_facts() if f.type == "enum"]
BOOLS = [f for f in RULESET.given_facts() if f.type == "boolean"]


@st.composite
def leaves(draw):
    """A random comparison of a valid kind for its fact."""
    kind = draw(st.sampled_from(["num", "enum", "bool", "presence", "pair"]))
    if kind == "num":
        f = draw(st.sampled_from(NUMERIC))
        op = draw(st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "not_in"]))
        v = draw(value_strategy(f))
        if op == "between":
            w = draw(value_strategy(f))
            return Leaf(f.name, op, (min(v, w), max(v, w)))
        if op in ("in", "not_in"):
            return Leaf(f.name, op, (v, draw(value_strategy(f))))
        return Leaf(f.name, op, v)
    if kind == "enum":
        f = draw(st.sampled_from(ENUMS))
        op = draw(st.sampled_from(["eq", "ne", "in", "not_in"]))
        if op in ("in", "not_in"):
            return Leaf(f.name, op, tuple(draw(st.lists(st.sampled_from(f.values), min_size=1, max_size=3))))
        return Leaf(f.name, op, draw(st.sampled_from(f.values)))
    if kind == "bool":
        f = draw(st.sampled_from(BOOLS))
        return Leaf(f.name, draw(st.sampled_from(["eq", "ne"])), draw(st.booleans()))
    if kind == "presence":
        f = draw(st.sampled_from(RULESET.given_facts()))
        return Leaf(f.name, draw(st.sampled_from(["exists", "missing"])))
    a, b = draw(st.sampled_from(NUMERIC)), draw(st.sampled_from(NUMERIC))
    return Leaf(a.name, draw(st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"])), value_of=b.name)


conditions = st.recursive(
    leaves(),
    lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3).map(lambda c: AllOf(tuple(c))),
        st.lists(kids, min_size=1, max_size=3).map(lambda c: AnyOf(tuple(c))),
        kids.map(Not),
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conditions, min_size=1, max_size=4), st.lists(accounts(RULESET), min_size=1, max_size=5))
def test_engine_equals_reference_on_random_conditions(conds, batch):
    """Random condition trees (all/any/not, every operator, fact-to-fact) fire exactly when the reference says."""
    from dataclasses import replace

    template = RULESET.rules[0]
    rules = tuple(
        replace(template, id=f"r{i}", when=c, derive=(), stage=None, actions=(), stratum=0) for i, c in enumerate(conds)
    )
    rs = replace(RULESET, rules=rules)
    ev = Evaluator(rs)  # every shape compiles: the compiler splits what durable_rules would refuse
    with ev:
        decisions = ev.evaluate_many([Account(str(i), f) for i, f in enumerate(batch)])
    for facts, d in zip(batch, decisions, strict=True):
        assert set(d.fired) == reference_fired(rs, facts)[0]
