"""Every operator in the registry holds in durable_rules exactly when its predicate says so, negated too."""

from __future__ import annotations

from typing import Any

import pytest

from kamrules.engine.compiler import encode_value
from kamrules.engine.durable import Engine
from kamrules.engine.proposals import _values
from kamrules.engine.reference import leaf_holds
from kamrules.lang.model import Fact, Leaf, Not, Rule, RuleSet
from kamrules.lang.ops import OPS, REMOVE, applies_to

# For each operand kind: a fact type it applies to, an operand, and values around it (None: fact absent).
CASES: dict[str, tuple[str, Any, list[Any]]] = {
    "scalar": ("number", 5, [None, -1.5, 4, 5, 5.0, 5.01, 6, 1e20]),
    "list": ("string", ("a", "c"), [None, "a", "b", "c", ""]),
    "range": ("integer", (2, 4), [None, 1, 2, 3, 4, 5]),
    "none": ("number", None, [None, 0, 7.5]),
}


def _fires(leaf_or_not: Any, fact_type: str, value: Any) -> bool:
    """Whether durable_rules fires a one-rule set with this condition on an account with this value."""
    facts = {"x": Fact("x", fact_type, "x", "given", range=(-1e21, 1e21) if fact_type != "string" else None)}
    rule = Rule("r", "r", 0, leaf_or_not, "ops.yaml", 1)
    with Engine(RuleSet("ops", facts, (rule,), "ops-test")) as engine:
        given = {} if value is None else {"x": encode_value(value)}
        return "r" in engine.fire([given], 0)[0]


@pytest.mark.parametrize("name", list(OPS))
def test_predicate_agrees_with_durable_rules(name):
    """On a handful of values, the engine fires the comparison and its negation exactly as the registry says."""
    op = OPS[name]
    fact_type, operand, values = CASES[op.operand]
    assert applies_to(op, fact_type)
    leaf = Leaf("x", name, operand)
    for value in values:
        facts = {} if value is None else {"x": value}
        expected = leaf_holds(leaf, facts)
        if value is not None and op.takes_value:
            assert expected == op.predicate(value, operand)
        assert _fires(leaf, fact_type, value) == expected, (name, value)
        assert _fires(Not(leaf), fact_type, value) == (not expected), ("not", name, value)


def test_every_operator_has_a_case():
    """Adding an operator with a new kind of operand needs a case here."""
    assert {op.operand for op in OPS.values()} <= set(CASES)


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("want", [True, False])
def test_proposed_values_do_what_they_promise(name, want):
    """The values explain proposes for a comparison make it hold (want) or fail (not want), from any start."""
    op = OPS[name]
    fact_type, operand, values = CASES[op.operand]
    fact = Fact("x", fact_type, "x", "given", range=(-1e21, 1e21) if fact_type in ("number", "integer") else None)
    leaf = Leaf("x", name, operand)
    for current in values:
        working = {} if current is None else {"x": current}
        for proposed in _values(leaf, want, fact, working):
            after = {} if proposed == REMOVE else {"x": proposed}
            assert leaf_holds(leaf, after) == want, (name, want, current, proposed)
