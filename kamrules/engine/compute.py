"""Computed facts: evaluated by kamrules before the facts are asserted, in dependency order, stratum by stratum.

durable_rules compares and does the arithmetic of `times` / `plus` itself; the expressions of computed
facts (functions, dates, conditionals, division that may be by zero) are computed here, and the values
are asserted like given facts. A value that cannot be computed (a missing input, a division by zero,
a result beyond the fact's range) leaves the fact missing, with the reason kept for the trace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from kamrules.lang.expr import AS_OF, COMPARE, Bin, Call, Expr, Neg, Num, Ref, refs, unparse
from kamrules.lang.model import Fact, RuleSet
from kamrules.lang.values import months_between, round_half_away

_REVIEW_DATE: ContextVar[dt.date | None] = ContextVar("kamrules_review_date", default=None)


def review_date() -> dt.date:
    """The review date `as_of` stands for: the one set by `reviewing_on`, else today."""
    return _REVIEW_DATE.get() or dt.date.today()


@contextlib.contextmanager
def reviewing_on(date: dt.date | None) -> Iterator[None]:
    """Evaluate with `as_of` = ``date`` inside the block (None: today); the CLI's `--as-of`."""
    token = _REVIEW_DATE.set(date)
    try:
        yield
    finally:
        _REVIEW_DATE.reset(token)


@dataclass(frozen=True)
class Computation:
    """One computed fact on one account: its value (None when missing), its inputs, and why it is missing."""

    fact: str
    expression: Expr
    value: Any
    inputs: tuple[tuple[str, Any], ...]  # every fact the expression reads, with its value (None: missing)
    why: tuple[str, str] | None = None  # (kind, subject): missing / zero / not-finite / range

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = {
            "fact": self.fact,
            "expression": _text(self.expression),
            "value": _jsonable(self.value),
            "inputs": {k: _jsonable(v) for k, v in self.inputs},
        }
        if self.why is not None:
            d["missing"] = {"reason": self.why[0], "of": self.why[1]}
        return d


# Each expression's text, by id(expression): unparsed once, not for every decision's JSON.
_TEXTS: dict[int, tuple[Expr, str]] = {}


def _text(e: Expr) -> str:
    hit = _TEXTS.get(id(e))
    if hit is None or hit[0] is not e:
        if len(_TEXTS) > 4096:  # rule sets reloaded many times: start again
            _TEXTS.clear()
        hit = _TEXTS[id(e)] = (e, unparse(e))
    return hit[1]


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


class _Undefined(Exception):
    def __init__(self, kind: str, subject: str) -> None:
        super().__init__(kind)
        self.kind, self.subject = kind, subject


def plan(ruleset: RuleSet) -> tuple[Fact, ...]:
    """The computed facts in an order where each comes after the computed facts it reads."""
    facts = ruleset.facts
    done: dict[str, Fact] = {}

    def visit(f: Fact) -> None:
        if f.name in done or f.computed is None:
            return
        for dep in sorted(refs(f.computed)):
            if dep in facts:
                visit(facts[dep])
        done[f.name] = f

    for f in ruleset.computed_facts():
        visit(f)
    return tuple(done.values())


# The last rule set asked about and its answer: a review asks once per account about the same rule set,
# and one slot keeps no rule set alive after a reload.
_BEFORE_RULES: list[tuple[RuleSet, tuple[Fact, ...]]] = []


def before_rules(ruleset: RuleSet) -> tuple[Fact, ...]:
    """The computed facts that read neither a derived fact nor the review date: known before any rule runs."""
    hit = _BEFORE_RULES[0] if _BEFORE_RULES else None  # one read: another thread may replace the slot
    if hit is None or hit[0] is not ruleset:
        facts = ruleset.facts
        early: dict[str, Fact] = {}
        for f in plan(ruleset):  # in dependency order: what a fact reads is decided before it
            assert f.computed is not None
            reads = refs(f.computed, as_of=True)
            if all(n in early or (n in facts and facts[n].given) for n in reads):
                early[f.name] = f
        hit = (ruleset, tuple(early.values()))
        _BEFORE_RULES[:] = [hit]
    return hit[1]


def with_computed(ruleset: RuleSet, facts: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the facts with the computed facts known before the rules (the potential estimate reads them)."""
    out = dict(facts)
    compute(before_rules(ruleset), out, dt.date.min)  # none of them reads the date
    return out


@functools.lru_cache(maxsize=1024)  # each evaluation computes the same few expressions: walk each once
def _reads(e: Expr) -> tuple[str, ...]:
    return tuple(sorted(refs(e, as_of=True)))


def compute(order: tuple[Fact, ...], facts: dict[str, Any], as_of: dt.date) -> list[Computation]:
    """Compute every fact of ``order`` into ``facts`` (a missing one is removed); what each computation gave."""
    out = []
    for fact in order:
        assert fact.computed is not None
        facts.pop(fact.name, None)
        inputs = tuple((n, as_of if n == AS_OF else facts.get(n)) for n in _reads(fact.computed))
        try:
            value = _finish(fact, evaluate_expr(fact.computed, facts, as_of))
        except _Undefined as u:
            out.append(Computation(fact.name, fact.computed, None, inputs, (u.kind, u.subject)))
            continue
        facts[fact.name] = value
        out.append(Computation(fact.name, fact.computed, value, inputs))
    return out


def _finish(fact: Fact, value: Any) -> Any:
    """The value as the fact holds it: within its declared range (else missing), whole for integer facts."""
    if fact.type in ("number", "integer"):
        if fact.range is not None and not fact.range[0] <= value <= fact.range[1]:
            raise _Undefined("range", repr(value))
        if fact.type == "integer":
            return int(value)
    return value


def evaluate_expr(e: Expr, facts: Mapping[str, Any], as_of: dt.date) -> Any:
    """The value of an expression; _Undefined when an input is missing or a step has no value."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Ref):
        if e.name == AS_OF:
            return as_of
        value = facts.get(e.name)
        if value is None:
            raise _Undefined("missing", e.name)
        return value
    if isinstance(e, Neg):
        return -evaluate_expr(e.operand, facts, as_of)
    if isinstance(e, Bin):
        return _binary(e, facts, as_of)
    return _call(e, facts, as_of)


def _finite(value: Any, e: Expr) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise _Undefined("not-finite", unparse(e))
    return value


def _binary(e: Bin, facts: Mapping[str, Any], as_of: dt.date) -> Any:
    a = evaluate_expr(e.left, facts, as_of)
    b = evaluate_expr(e.right, facts, as_of)
    try:
        return _apply(e, a, b)
    except OverflowError:  # a whole number beyond any float
        raise _Undefined("not-finite", unparse(e)) from None


def _apply(e: Bin, a: Any, b: Any) -> Any:
    op = e.op
    if op == "+":
        return _finite(a + b, e)
    if op == "-":
        return _finite(a - b, e)
    if op == "*":
        return _finite(a * b, e)
    if op == "/":
        if b == 0:
            raise _Undefined("zero", unparse(e.right))
        return _finite(a / b, e)
    return COMPARE[op](a, b)


def _call(e: Call, facts: Mapping[str, Any], as_of: dt.date) -> Any:
    if e.func == "if":  # only the branch taken is computed: if(revenue > 0, margin / revenue, 0) is safe
        chosen = e.args[1] if evaluate_expr(e.args[0], facts, as_of) else e.args[2]
        return evaluate_expr(chosen, facts, as_of)
    args = [evaluate_expr(a, facts, as_of) for a in e.args]
    if e.func == "min":
        return min(args)
    if e.func == "max":
        return max(args)
    if e.func == "abs":
        return abs(args[0])
    if e.func == "round":
        return round_half_away(args[0], args[1] if len(args) == 2 else None)
    if e.func == "days_between":
        return (args[1] - args[0]).days
    return months_between(args[0], args[1])
