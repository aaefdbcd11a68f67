"""Model → durable_rules ruleset definitions: plain, JSON-ready data that golden tests can pin."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang.model import AllOf, AnyOf, Condition, Leaf, Not, Rule, RuleSet
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


# durable_rules 2.0.28's limits, found by experiment (tests/test_limits.py pins each workaround):
# - a fact that fires more than 64 rules of one ruleset at once fails with error 303, and a $or
#   counts once per branch that holds: so every rule is split into the terms of its disjunctive
#   normal form (pure conjunctions, each firing at most once), at most FIRINGS_PER_SHARD to a ruleset;
# - a $or nested in a $or, or holding more than a dozen $and, is refused at creation (error 113):
#   pure conjunctions contain no $or at all;
# - a ruleset holds at most 4,096 rules (error 106): shards stay far below it.
FIRINGS_PER_SHARD = 64
MAX_TERMS = 4096  # per rule; beyond it `rules check` (check_compilable) refuses the rule, naming the limit
TERM_MARK = "#"  # "<rule id>#<n>": the n-th term of a rule split into several; rule ids never hold it


def terms(expr: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """A compiled expression in disjunctive normal form: each term the comparisons that must all hold."""
    if "$and" in expr:
        out: list[list[dict[str, Any]]] = [[]]
        for part in expr["$and"]:
            out = [a + b for a in out for b in terms(part)]
        return out
    if "$or" in expr:
        return [t for part in expr["$or"] for t in terms(part)]
    return [[expr]]


def term_count(expr: dict[str, Any]) -> int:
    """How many terms ``terms`` would make, counted without making them."""
    if "$and" in expr:
        return math.prod(term_count(p) for p in expr["$and"])
    if "$or" in expr:
        return sum(term_count(p) for p in expr["$or"])
    return 1


def rule_expression(rule: Rule) -> dict[str, Any]:
    """A rule's condition as one durable_rules expression (negation pushed to the comparisons)."""
    return compile_condition(negation_normal_form(rule.when))


def check_compilable(ruleset: RuleSet) -> None:
    """Refuse, with each rule's position, a rule whose condition has more terms than MAX_TERMS."""
    problems = []
    for rule in ruleset.rules:
        n = term_count(rule_expression(rule))
        if n > MAX_TERMS:
            problems.append(
                Problem(
                    Span(rule.file, rule.line, 1),
                    f"rule '{rule.id}' is too large to compile: its condition has {n:,} alternative ways to hold",
                    expected=f"at most {MAX_TERMS:,} (an 'all' of several 'any' multiplies their branches)",
                    found=f"{n:,}",
                    help="split the rule into several rules, or move an 'any' out of the 'all'",
                    code="engine-limit",
                )
            )
    if problems:
        raise InvalidInput(problems)


def compile_ruleset(ruleset: RuleSet) -> dict[str, dict[str, Any]]:
    """Every term of every rule as a durable_rules rule: its stratum tag and its comparisons on one fact ``m``."""
    check_compilable(ruleset)
    out: dict[str, dict[str, Any]] = {}
    for rule in ruleset.rules:
        parts = terms(rule_expression(rule))
        for n, term in enumerate(parts):
            name = rule.id if len(parts) == 1 else f"{rule.id}{TERM_MARK}{n}"
            out[name] = {"all": [{"m": {"$and": [{STRATUM_KEY: rule.stratum}, *term]}}]}
    return out


def rule_of(name: str) -> str:
    """The rule id a compiled (term) name belongs to."""
    return name.partition(TERM_MARK)[0]


def shards(ruleset: RuleSet) -> list[tuple[int, dict[str, dict[str, Any]]]]:
    """The compiled rules in rulesets of one stratum each, at most FIRINGS_PER_SHARD rules to a ruleset."""
    by_stratum: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    strata = {r.id: r.stratum for r in ruleset.rules}
    for name, definition in compile_ruleset(ruleset).items():
        by_stratum.setdefault(strata[rule_of(name)], []).append((name, definition))
    return [
        (stratum, dict(rules[i : i + FIRINGS_PER_SHARD]))
        for stratum, rules in sorted(by_stratum.items())
        for i in range(0, len(rules), FIRINGS_PER_SHARD)
    ]
