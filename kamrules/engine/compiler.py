"""Model → durable_rules ruleset definitions: plain, JSON-ready data that golden tests can pin."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from kamrules.lang.model import AllOf, AnyOf, Condition, Leaf, Not, RuleSet
from kamrules.lang.ops import MISSING, OPS

STRATUM_KEY = "_s"  # which evaluation layer an asserted fact belongs to
_EPOCH = dt.date(1970, 1, 1)


def encode_value(value: Any) -> Any:
    """A fact value as the engine sees it: dates become days since 1970-01-01 (JSON has no dates)."""
    if isinstance(value, dt.date):
        return (value - _EPOCH).days
    return value


def negation_normal_form(cond: Condition) -> Condition:
    """Push every ``not`` down to the comparisons, keeping 'a comparison on a missing fact is false'."""
    if isinstance(cond, AllOf):
        return AllOf(tuple(negation_normal_form(c) for c in cond.children))
    if isinstance(cond, AnyOf):
        return AnyOf(tuple(negation_normal_form(c) for c in cond.children))
    if isinstance(cond, Leaf):
        return cond
    inner = cond.child
    if isinstance(inner, Not):
        return negation_normal_form(inner.child)
    if isinstance(inner, AllOf):
        return AnyOf(tuple(negation_normal_form(Not(c)) for c in inner.children))
    if isinstance(inner, AnyOf):
        return AllOf(tuple(negation_normal_form(Not(c)) for c in inner.children))
    return _negate_leaf(inner)


def _negate_leaf(leaf: Leaf) -> Condition:
    op = OPS[leaf.op]
    if not op.takes_value:
        return Leaf(leaf.fact, str(op.negation), line=leaf.line, col=leaf.col)
    # The comparison is false when a fact it reads is missing, so its negation is true then.
    missing = [Leaf(f, MISSING, line=leaf.line, col=leaf.col) for f in sorted(leaf.facts())]
    parts = [dataclasses.replace(leaf, op=name, value=value) for name, value in op.negated(leaf.value)]
    return AnyOf((*parts, *missing))


def compile_condition(cond: Condition) -> dict[str, Any]:
    """One condition (in negation normal form) as a durable_rules alpha expression."""
    if isinstance(cond, AllOf):
        parts = [compile_condition(c) for c in cond.children]
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if isinstance(cond, AnyOf):
        parts = [compile_condition(c) for c in cond.children]
        return parts[0] if len(parts) == 1 else {"$or": parts}
    if isinstance(cond, Not):
        return compile_condition(negation_normal_form(cond))
    return _compile_leaf(cond)


def _compile_leaf(leaf: Leaf) -> dict[str, Any]:
    op = OPS[leaf.op]
    if leaf.value_of is not None:
        # durable_rules can match a comparison whose right-hand fact is missing; require it explicitly.
        return {"$and": [{"$ex": {leaf.value_of: 1}}, op.durable(leaf.fact, other_fact(leaf))]}
    if op.operand in ("list", "range"):
        return op.durable(leaf.fact, [encode_value(v) for v in leaf.value])
    return op.durable(leaf.fact, encode_value(leaf.value))


def other_fact(leaf: Leaf) -> dict[str, Any]:
    """The right-hand side of a comparison with another fact, in durable_rules' own arithmetic.

    ``value_of × times + plus``: times is applied as a float, so the engine (C doubles) and Python round alike.
    """
    right: dict[str, Any] = {"$m": leaf.value_of}
    if leaf.times is not None:
        right = {"$mul": {"$l": right, "$r": float(leaf.times)}}
    if leaf.plus is not None:
        right = {"$add": {"$l": right, "$r": leaf.plus}}
    return right


def compile_ruleset(ruleset: RuleSet) -> dict[str, dict[str, Any]]:
    """Every rule as a durable_rules rule: its stratum tag and its condition on one fact ``m``."""
    out: dict[str, dict[str, Any]] = {}
    for rule in ruleset.rules:
        cond = compile_condition(negation_normal_form(rule.when))
        parts = [{STRATUM_KEY: rule.stratum}, *cond.get("$and", [cond])]
        out[rule.id] = {"all": [{"m": {"$and": parts}}]}
    return out
