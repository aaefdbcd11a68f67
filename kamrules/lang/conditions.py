"""Conditions of rules: all / any / not trees of comparisons, each checked against the facts schema."""

from __future__ import annotations

from typing import Any

from kamrules.errors import Span
from kamrules.lang.model import AllOf, AnyOf, Condition, Fact, Leaf, Not
from kamrules.lang.ops import OPERATORS, OPS, Operator, applies_to, operators_for
from kamrules.lang.problems import Problems, did_you_mean, node_value, value_problem
from kamrules.lang.schema import CONDITION, GROUPS, unknown_keys
from kamrules.lang.source import YNode, is_finite_number

MAX_TIMES = 1.0e6  # a multiple of another fact, far past any business ratio
MAX_PLUS = 1.0e12


def parse_condition(node: YNode, facts: dict[str, Fact], col: Problems, what: str) -> Condition | None:
    """A condition tree from its node; None (with problems recorded) when any part of it is invalid."""
    if node.kind != "map":
        col.bad(
            node, f"condition in {what} must be a mapping", "all / any / not / {fact, op, value}", code="bad-condition"
        )
        return None
    keys = set(node.value)
    groups = keys & set(GROUPS)
    if not groups:
        return _parse_leaf(node, facts, col, what)
    if len(keys) != 1:
        col.add(
            node.span,
            f"a condition in {what} mixes {', '.join(sorted(keys))}",
            expected="exactly one of all / any / not, or a comparison",
            found=", ".join(sorted(keys)),
            code="bad-condition",
        )
        return None
    key = groups.pop()
    child = node.value[key]
    if key == "not":
        inner = parse_condition(child, facts, col, what)
        return Not(inner) if inner else None
    if child.kind != "seq" or not child.value:
        col.bad(child, f"'{key}' in {what} needs a non-empty list of conditions", "a list", code="bad-condition")
        return None
    kids = [parse_condition(c, facts, col, what) for c in child.value]
    parsed = tuple(k for k in kids if k is not None)
    if len(parsed) < len(kids):
        return None
    return AllOf(parsed) if key == "all" else AnyOf(parsed)


def _parse_leaf(node: YNode, facts: dict[str, Fact], col: Problems, what: str) -> Leaf | None:
    n0 = len(col)
    unknown_keys(node, CONDITION, what, col)
    fn, on = node.get("fact"), node.get("op")
    if fn is None or on is None:
        col.needs(node, f"a comparison in {what}", ("fact", "op"), "{fact: NAME, op: OP, value: V}", "bad-condition")
        return None
    fact = _fact(fn, facts, col, what)
    op = on.value if on.kind == "scalar" else None
    if op not in OPERATORS:
        col.bad(
            on,
            f"unknown operator in {what}",
            "one of " + ", ".join(OPERATORS),
            help=did_you_mean(str(op), OPERATORS),
            code="unknown-op",
        )
        return None
    if fact is None:
        return None
    at = Span(fn.span.file, node.span.line, node.span.col)
    leaf = _compare(node, fact, OPS[op], on, facts, col, what, at)
    return None if leaf is None or len(col) > n0 else leaf


def _fact(fn: YNode, facts: dict[str, Fact], col: Problems, what: str) -> Fact | None:
    fact = facts.get(fn.value) if fn.kind == "scalar" and isinstance(fn.value, str) else None
    if fact is None:
        col.unknown_fact(fn.span, str(fn.raw or fn.value), what, facts)
    return fact


def _compare(
    node: YNode, fact: Fact, op: Operator, on: YNode, facts: dict[str, Fact], col: Problems, what: str, at: Span
) -> Leaf | None:
    """The comparison once its fact and operator are known: the operand checked against both."""
    vn, von = node.get("value"), node.get("value_of")
    if not op.takes_value:
        for extra in (vn, von):
            if extra is not None:
                col.add(
                    extra.span, f"'{op.name}' takes no value in {what}", found=extra.describe(), code="bad-condition"
                )
        return Leaf(fact.name, op.name, line=at.line, col=at.col)
    if not applies_to(op, fact.type):
        col.add(
            on.span,
            f"operator '{op.name}' does not apply to {fact.type} fact '{fact.name}' in {what}",
            expected=" or ".join(", ".join(operators_for(fact.type)).rsplit(", ", 1)),
            found=f"'{op.name}'",
            code="bad-operator",
        )
        return None
    if von is not None and vn is None:
        return _other_fact(von, fact, op, node, facts, col, what, at)
    for key in ("times", "plus"):
        if node.get(key) is not None and von is None:
            col.bad(
                node.value[key], f"'{key}' in {what} needs 'value_of'", "value_of: OTHER_FACT", code="bad-condition"
            )
            return None
    if vn is None or von is not None:
        col.add(
            node.span,
            f"a comparison in {what} needs exactly one of 'value' and 'value_of'",
            expected="value: CONSTANT or value_of: OTHER_FACT",
            found="both" if vn is not None else "neither",
            code="bad-condition",
        )
        return None
    if op.operand in ("list", "range"):
        values = _constants(vn, fact, op, col, what)
        return None if values is None else Leaf(fact.name, op.name, value=values, line=at.line, col=at.col)
    p = value_problem(fact, node_value(vn), vn.span, what)
    if p:
        col.append(p)
        return None
    return Leaf(fact.name, op.name, value=vn.value, line=at.line, col=at.col)


def _other_fact(
    von: YNode, fact: Fact, op: Operator, node: YNode, facts: dict[str, Fact], col: Problems, what: str, at: Span
) -> Leaf | None:
    """A comparison with another fact (`value_of`), which must exist and have a comparable type."""
    if not op.takes_fact:
        col.add(
            von.span,
            f"'{op.name}' compares with constants, not with another fact",
            expected="value: [...]",
            code="bad-condition",
        )
        return None
    other = facts.get(von.value) if von.kind == "scalar" and isinstance(von.value, str) else None
    if other is None:
        col.unknown_fact(von.span, str(von.raw or von.value), what, facts)
        return None
    compatible = other.type == fact.type or {other.type, fact.type} <= {"number", "integer"}
    if not compatible or (fact.type == "enum" and other.values != fact.values):
        col.add(
            von.span,
            f"cannot compare {fact.type} fact '{fact.name}' with {other.type} fact '{other.name}'",
            expected=f"a fact of type {fact.type}",
            found=f"'{other.name}' of type {other.type}",
            code="bad-type",
        )
        return None
    times, plus = _arithmetic(von.span, fact, op, node, col, what)
    if times is False:
        return None
    return Leaf(fact.name, op.name, value_of=other.name, line=at.line, col=at.col, times=times, plus=plus)


def _arithmetic(at: Span, fact: Fact, op: Operator, node: YNode, col: Problems, what: str) -> tuple[Any, Any]:
    """The `times` and `plus` of a comparison with another fact: finite numbers, for numbers (plus: days for dates)."""
    tn, pn = node.get("times"), node.get("plus")
    n0 = len(col)
    out: list[Any] = []
    for key, vn in (("times", tn), ("plus", pn)):
        if vn is None:
            out.append(None)
            continue
        v = vn.value
        whole = fact.type in ("integer", "date") and key == "plus"
        ok = vn.kind == "scalar" and is_finite_number(v) and abs(v) <= (MAX_TIMES if key == "times" else MAX_PLUS)
        if fact.type not in ("number", "integer") and not (key == "plus" and fact.type == "date"):
            col.bad(vn, f"'{key}' in {what} applies to number facts, not {fact.type} fact '{fact.name}'",
                    "a number fact" if key == "times" else "a number or date fact", code="bad-condition")  # fmt: skip
        elif not ok or (whole and not isinstance(v, int)):
            limit = MAX_TIMES if key == "times" else MAX_PLUS
            expected = f"a whole number{' of days' if fact.type == 'date' else ''}" if whole else "a finite number"
            col.bad(vn, f"invalid '{key}' in {what}", f"{expected} within ±{limit:,.0f}", code="bad-value")
        out.append(v)
    return (False, None) if len(col) > n0 else (out[0], out[1])


def _constants(vn: YNode, fact: Fact, op: Operator, col: Problems, what: str) -> tuple[Any, ...] | None:
    """The list (in, not_in) or [low, high] (between) operand, each value checked against the fact."""
    if vn.kind != "seq" or not vn.value:
        col.bad(
            vn,
            f"'{op.name}' needs a list in {what}",
            "a list of values" if op.operand == "list" else "[low, high]",
            code="bad-value",
        )
        return None
    items = vn.value
    if op.operand == "range" and len(items) != 2:
        col.bad_value(vn.span, f"'{op.name}' needs two values in {what}", "[low, high]", f"{len(items)} values")
        return None
    problems = [value_problem(fact, node_value(item), item.span, what) for item in items]
    col.extend(p for p in problems if p is not None)
    if any(problems):
        return None
    values = tuple(item.value for item in items)
    if op.operand == "range" and values[0] > values[1]:
        col.add(
            vn.span,
            f"'{op.name}' bounds are reversed in {what}",
            expected="[low, high] with low <= high",
            found=str(list(values)),
            code="bad-value",
        )
        return None
    return values
