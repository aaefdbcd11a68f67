"""The operator registry: each comparison operator declared once, with everything every layer needs of it.

The loader checks operands and fact types from it, the compiler takes its durable_rules form, the
reference evaluator its predicate, explain its negation and the renderers its words. Adding an
operator is one entry here plus its tests; nothing else names operators one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Operand = Literal["none", "scalar", "list", "range"]
"""What the right-hand side is: nothing (presence tests), one value, a list, or [low, high]."""

ORDERED_TYPES = ("number", "integer", "date")
"""Fact types whose values can be ordered, so that lt/lte/gt/gte/between apply."""

Durable = dict[str, Any]


@dataclass(frozen=True)
class Operator:
    """One comparison operator: its words, its negation, what it applies to, how it holds and compiles."""

    name: str
    symbol: str  # how listings and traces write it
    negation: str | None  # the operator true exactly when this one is false on a present fact; None: no single one
    operand: Operand
    ordered: bool  # needs a fact of an ordered type
    on_boolean: bool  # applies to boolean facts
    predicate: Callable[[Any, Any], bool]  # (fact value, operand) -> holds, both present; see presence tests
    durable: Callable[[str, Any], Durable]  # (fact name, encoded operand) -> durable_rules expression

    @property
    def takes_value(self) -> bool:
        """Whether the operator compares with something (a constant or another fact)."""
        return self.operand != "none"

    @property
    def takes_fact(self) -> bool:
        """Whether the operand may be another fact (`value_of`) instead of a constant."""
        return self.operand == "scalar"


def _cmp(durable_op: str | None) -> Callable[[str, Any], Durable]:
    """durable_rules' form of a binary comparison: `{f: v}` for equality, `{$op: {f: v}}` otherwise."""
    if durable_op is None:
        return lambda f, v: {f: v}
    return lambda f, v: {durable_op: {f: v}}


def _one_or(join: str, parts: list[Durable]) -> Durable:
    return parts[0] if len(parts) == 1 else {join: parts}


_ENTRIES = (
    Operator("eq", "=", "ne", "scalar", False, True, lambda a, b: bool(a == b), _cmp(None)),
    Operator("ne", "≠", "eq", "scalar", False, True, lambda a, b: bool(a != b), _cmp("$neq")),
    Operator("lt", "<", "gte", "scalar", True, False, lambda a, b: bool(a < b), _cmp("$lt")),
    Operator("lte", "≤", "gt", "scalar", True, False, lambda a, b: bool(a <= b), _cmp("$lte")),
    Operator("gt", ">", "lte", "scalar", True, False, lambda a, b: bool(a > b), _cmp("$gt")),
    Operator("gte", "≥", "lt", "scalar", True, False, lambda a, b: bool(a >= b), _cmp("$gte")),
    Operator(
        "in",
        "in",
        "not_in",
        "list",
        False,
        False,
        lambda a, b: a in b,
        lambda f, vs: _one_or("$or", [{f: v} for v in vs]),
    ),
    Operator(
        "not_in",
        "not in",
        "in",
        "list",
        False,
        False,
        lambda a, b: a not in b,
        lambda f, vs: _one_or("$and", [{"$neq": {f: v}} for v in vs]),
    ),
    Operator(
        "between",
        "between",
        None,
        "range",
        True,
        False,
        lambda a, b: bool(b[0] <= a <= b[1]),
        lambda f, lh: {"$and": [{"$gte": {f: lh[0]}}, {"$lte": {f: lh[1]}}]},
    ),
    # Presence tests: the predicate is given whether the fact is present, and no operand.
    Operator(
        "exists",
        "exists",
        "missing",
        "none",
        False,
        True,
        lambda present, _: bool(present),
        lambda f, _: {"$ex": {f: 1}},
    ),
    Operator(
        "missing",
        "missing",
        "exists",
        "none",
        False,
        True,
        lambda present, _: not present,
        lambda f, _: {"$nex": {f: 1}},
    ),
)

OPS: dict[str, Operator] = {op.name: op for op in _ENTRIES}
"""Every operator by name, in the order the documentation lists them."""

OPERATORS = tuple(OPS)


def applies_to(op: Operator, fact_type: str) -> bool:
    """Whether the operator may compare a fact of this type."""
    if op.ordered and fact_type not in ORDERED_TYPES:
        return False
    return op.on_boolean or fact_type != "boolean"


def operators_for(fact_type: str) -> list[str]:
    """The operators that apply to a fact type, for error messages."""
    return [op.name for op in _ENTRIES if applies_to(op, fact_type) and op.takes_value]
