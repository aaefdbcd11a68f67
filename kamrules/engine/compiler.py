"""Model → durable_rules ruleset definitions: plain, JSON-ready data that golden tests can pin."""
from __future__ import annotations

import datetime as dt
from typing import Any

from kamrules.lang.model import AllOf, AnyOf, Condition, Leaf, Not, RuleSet

STRATUM_KEY = "_s"  # which evaluation layer an asserted fact belongs to
_EPOCH = dt.date(1970, 1, 1)

_NEGATE = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt",
           "in": "not_in", "not_in": "in", "exists": "missing", "missing": "exists"}
_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


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
    if leaf.op in ("exists", "missing"):
        return Leaf(leaf.fact, _NEGATE[leaf.op], line=leaf.line, col=leaf.col)
    # The comparison is false when a fact it reads is missing, so its negation is true then.
    missing = [Leaf(f, "missing", line=leaf.line, col=leaf.col) for f in sorted(leaf.facts())]
    if leaf.op == "between":
        lo, hi = leaf.value
        return AnyOf((Leaf(leaf.fact, "lt", lo, line=leaf.line, col=leaf.col),
                      Leaf(leaf.fact, "gt", hi, line=leaf.line, col=leaf.col), *missing))
    flipped = Leaf(leaf.fact, _NEGATE[leaf.op], leaf.value, leaf.value_of, leaf.line, leaf.col)
    return AnyOf((flipped, *missing))


def compile_condition(cond: Condition) -> dict:
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


def _compile_leaf(leaf: Leaf) -> dict:
    f, op = leaf.fact, leaf.op
    if op == "exists":
        return {"$ex": {f: 1}}
    if op == "missing":
        return {"$nex": {f: 1}}
    if leaf.value_of is not None:
        rhs: Any = {"$m": leaf.value_of}
        cmp = {f: rhs} if op == "eq" else {_DURABLE_OP[op]: {f: rhs}}
        # durable_rules can match a comparison whose right-hand fact is missing; require it explicitly.
        return {"$and": [{"$ex": {leaf.value_of: 1}}, cmp]}
    if op == "in":
        parts = [{f: encode_value(v)} for v in leaf.value]
        return parts[0] if len(parts) == 1 else {"$or": parts}
    if op == "not_in":
        parts = [{"$neq": {f: encode_value(v)}} for v in leaf.value]
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if op == "between":
        lo, hi = leaf.value
        return {"$and": [{"$gte": {f: encode_value(lo)}}, {"$lte": {f: encode_value(hi)}}]}
    v = encode_value(leaf.value)
    return {f: v} if op == "eq" else {_DURABLE_OP[op]: {f: v}}


def compile_ruleset(ruleset: RuleSet) -> dict[str, dict]:
    """Every rule as a durable_rules rule: its stratum tag and its condition on one fact ``m``."""
    out: dict[str, dict] = {}
    for rule in ruleset.rules:
        cond = compile_condition(negation_normal_form(rule.when))
        parts = [{STRATUM_KEY: rule.stratum}] + (cond["$and"] if "$and" in cond else [cond])
        out[rule.id] = {"all": [{"m": {"$and": parts}}]}
    return out
