"""The compiled durable_rules definitions, pinned as golden data, and negation pushed to comparisons."""

from __future__ import annotations

import json
from pathlib import Path

from kamrules.engine.compiler import compile_condition, compile_ruleset, negation_normal_form
from kamrules.lang.model import AllOf, AnyOf, Leaf, Not

GOLDEN = Path(__file__).parent / "golden" / "compiled-default-rules.json"


def test_default_rules_compile_to_golden(ruleset, check_golden):
    """The default rule set compiles to the reviewed definitions (regenerate: KAMRULES_REGEN=1)."""
    text = json.dumps(compile_ruleset(ruleset), indent=1, sort_keys=True) + "\n"
    check_golden(text, GOLDEN)


def test_not_of_comparison_is_true_when_fact_missing():
    """not(trust >= 6) compiles to trust < 6 or trust missing, keeping classical negation."""
    cond = compile_condition(negation_normal_form(Not(Leaf("trust_score", "gte", 6))))
    assert cond == {"$or": [{"$lt": {"trust_score": 6}}, {"$nex": {"trust_score": 1}}]}


def test_de_morgan():
    """not(all(a, b)) becomes any(not a, not b) and a double not cancels."""
    a, b = Leaf("x", "exists"), Leaf("y", "missing")
    assert negation_normal_form(Not(AllOf((a, b)))) == AnyOf((Leaf("x", "missing"), Leaf("y", "exists")))
    assert negation_normal_form(Not(Not(a))) == a


def test_between_and_in_expand():
    """between becomes gte and lte; in becomes an $or of equalities; not_in an $and of $neq."""
    assert compile_condition(Leaf("x", "between", (1, 2))) == {"$and": [{"$gte": {"x": 1}}, {"$lte": {"x": 2}}]}
    assert compile_condition(Leaf("s", "in", ("a", "b"))) == {"$or": [{"s": "a"}, {"s": "b"}]}
    assert compile_condition(Leaf("s", "not_in", ("a", "b"))) == {"$and": [{"$neq": {"s": "a"}}, {"$neq": {"s": "b"}}]}
