"""The operator registry: each comparison operator declared once, with everything every layer needs of it.

The loader checks operands and fact types from it, the compiler takes its durable_rules form, the deep
check its solver form, the reference evaluator its predicate, explain its negation, the values that
satisfy it and the gap to it, and the renderers its words. Adding an operator is one entry here plus
its tests; nothing else names operators one by one.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Operand = Literal["none", "scalar", "list", "range"]
"""What the right-hand side is: nothing (presence tests), one value, a list, or [low, high]."""

ORDERED_TYPES = ("number", "integer", "date")
"""Fact types whose values can be ordered, so that lt/lte/gt/gte/between apply."""

MISSING = "missing"
"""The presence test that holds when a fact is absent: the compiler adds it to negated comparisons."""

REMOVE = "<remove>"
"""A proposed change that takes a fact away (what satisfies `missing`)."""

Durable = dict[str, Any]


class Nudge(Protocol):
    """What a proposal needs to know of one fact: how to step its values and which values it has."""

    def step(self, value: Any, sign: int) -> Any:
        """The value moved by the fact's smallest step, up (sign > 0) or down."""

    def nearest(self, options: Iterable[Any], current: Any) -> list[Any]:
        """The option closest to the current value (none when only the current value is offered)."""

    def pool(self) -> tuple[Any, ...]:
        """Every value of the fact when there are few (enum values, true and false); else empty."""

    def other(self, value: Any) -> list[Any]:
        """A value of the fact that is not ``value``, closest to it, if one can be named."""


Satisfy = Callable[[Any, Any, Nudge], list[Any]]
"""(operand, current value or None, nudge) -> values of the fact that make the comparison hold."""


class Logic(Protocol):
    """What a solver form needs of the solver beyond Python's comparison operators."""

    def any(self, terms: Sequence[Any]) -> Any:
        """The disjunction of solver terms."""

    def all(self, terms: Sequence[Any]) -> Any:
        """The conjunction of solver terms."""

    def no(self, term: Any) -> Any:
        """The negation of a solver term."""


Solve = Callable[[Any, Any, Logic], Any]
"""(fact term, operand term(s), logic) -> the solver term that holds when the comparison does.

Presence tests get the fact's presence term instead of its value, and no operand; for the others
the solver adds "the fact (and a `value_of` fact) is present" itself, as the predicate's caller does.
"""


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
    solver: Solve  # the comparison over solver terms (engine/solver.py, `rules check --deep`)
    satisfying: Satisfy  # the values explain proposes to make the comparison hold, closest first
    violating: Satisfy | None = None  # values that make it fail; None: the negation's satisfying values
    gap_to: Callable[[Any, Any], Any] | None = None  # (operand, observed) -> the bound a shortfall is measured to
    selects: bool = False  # holds only for the values its operand names (eq, in): a rule's entry condition
    complement: Callable[[Any], tuple[tuple[str, Any], ...]] | None = None  # without a negation: its parts

    @property
    def takes_value(self) -> bool:
        """Whether the operator compares with something (a constant or another fact)."""
        return self.operand != "none"

    @property
    def takes_fact(self) -> bool:
        """Whether the operand may be another fact (`value_of`) instead of a constant."""
        return self.operand == "scalar"

    def proposals(self, want: bool, operand: Any, current: Any, nudge: Nudge) -> list[Any]:
        """Values of the fact that make the comparison hold (want) or fail (not want), closest first."""
        if want:
            return self.satisfying(operand, current, nudge)
        if self.violating is not None:
            return self.violating(operand, current, nudge)
        return OPS[str(self.negation)].satisfying(operand, current, nudge)

    def negated(self, operand: Any) -> tuple[tuple[str, Any], ...]:
        """(operator, operand) pairs any one of which holds exactly when this one fails on a present fact."""
        if self.negation is not None:
            return ((self.negation, operand),)
        assert self.complement is not None, f"operator '{self.name}' has neither negation nor complement"
        return self.complement(operand)


def _cmp(durable_op: str | None) -> Callable[[str, Any], Durable]:
    """durable_rules' form of a binary comparison: `{f: v}` for equality, `{$op: {f: v}}` otherwise."""
    if durable_op is None:
        return lambda f, v: {f: v}
    return lambda f, v: {durable_op: {f: v}}


def _one_or(join: str, parts: list[Durable]) -> Durable:
    return parts[0] if len(parts) == 1 else {join: parts}


def _threshold(t: Any, _observed: Any) -> Any:
    return t


def _ordered(name: str, symbol: str, negation: str, compare: Callable[[Any, Any], Any], sign: int) -> Operator:
    """lt, lte, gt, gte: a strict one is met one step past the threshold, a loose one at it."""

    def satisfying(t: Any, _current: Any, nudge: Nudge) -> list[Any]:
        return [nudge.step(t, sign)] if sign else [t]

    def predicate(a: Any, b: Any) -> bool:
        return bool(compare(a, b))

    def solver(x: Any, t: Any, _logic: Logic) -> Any:
        return compare(x, t)

    return Operator(
        name, symbol, negation, "scalar", True, False, predicate, _cmp("$" + name), solver, satisfying,
        gap_to=_threshold,
    )  # fmt: skip


# Laid out by hand (fmt: skip below) so that each operator reads as one block: its positional
# parts on one line, then what explain needs of it.
_ENTRIES = (
    Operator(
        "eq", "=", "ne", "scalar", False, True, lambda a, b: bool(a == b), _cmp(None), lambda x, t, _l: x == t,
        satisfying=lambda t, _cur, _n: [t], selects=True,
    ),
    Operator(
        "ne", "≠", "eq", "scalar", False, True, lambda a, b: bool(a != b), _cmp("$neq"), lambda x, t, _l: x != t,
        satisfying=lambda t, _cur, n: n.other(t),
    ),
    _ordered("lt", "<", "gte", operator.lt, -1),
    _ordered("lte", "≤", "gt", operator.le, 0),
    _ordered("gt", ">", "lte", operator.gt, +1),
    _ordered("gte", "≥", "lt", operator.ge, 0),
    Operator(
        "in", "in", "not_in", "list", False, False, lambda a, b: a in b,
        lambda f, vs: _one_or("$or", [{f: v} for v in vs]), lambda x, vs, lg: lg.any([x == v for v in vs]),
        satisfying=lambda vs, cur, n: n.nearest(vs, cur), selects=True,
    ),
    Operator(
        "not_in", "not in", "in", "list", False, False, lambda a, b: a not in b,
        lambda f, vs: _one_or("$and", [{"$neq": {f: v}} for v in vs]), lambda x, vs, lg: lg.all([x != v for v in vs]),
        satisfying=lambda vs, cur, n: n.nearest([v for v in n.pool() if v not in vs], cur),
    ),
    Operator(
        "between", "between", None, "range", True, False, lambda a, b: bool(b[0] <= a <= b[1]),
        lambda f, lh: {"$and": [{"$gte": {f: lh[0]}}, {"$lte": {f: lh[1]}}]},
        lambda x, lh, lg: lg.all([lh[0] <= x, x <= lh[1]]),
        satisfying=lambda lh, cur, _n: [lh[0] if cur is None or cur < lh[0] else lh[1]],
        violating=lambda lh, _cur, n: [n.step(lh[0], -1), n.step(lh[1], +1)],
        gap_to=lambda lh, observed: lh[0] if observed < lh[0] else lh[1],
        complement=lambda lh: (("lt", lh[0]), ("gt", lh[1])),
    ),
    # Presence tests: the predicate is given whether the fact is present, and no operand.
    Operator(
        "exists", "exists", MISSING, "none", False, True, lambda present, _: bool(present),
        lambda f, _: {"$ex": {f: 1}}, lambda present, _t, _l: present,
        satisfying=lambda _t, _cur, _n: [],  # no value to propose without knowing the account
    ),
    Operator(
        MISSING, "missing", "exists", "none", False, True, lambda present, _: not present,
        lambda f, _: {"$nex": {f: 1}}, lambda present, _t, lg: lg.no(present),
        satisfying=lambda _t, _cur, _n: [REMOVE],
    ),
)  # fmt: skip

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
