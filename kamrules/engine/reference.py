"""An independent evaluator of condition trees, matching durable_rules' semantics, for tests and traces."""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kamrules.lang.expr import AS_OF, Bin, Call, Expr, Neg, Num, Ref, refs
from kamrules.lang.model import AllOf, AnyOf, Condition, Leaf, Not, RuleSet
from kamrules.lang.ops import OPS
from kamrules.lang.values import months_between, round_half_away

_MISSING = object()


def holds(cond: Condition, facts: Mapping[str, Any]) -> bool:
    """Whether a condition holds on these facts (a comparison on a missing fact is false)."""
    if isinstance(cond, AllOf):
        return all(holds(c, facts) for c in cond.children)
    if isinstance(cond, AnyOf):
        return any(holds(c, facts) for c in cond.children)
    if isinstance(cond, Not):
        return not holds(cond.child, facts)
    return leaf_holds(cond, facts)


def leaf_holds(leaf: Leaf, facts: Mapping[str, Any]) -> bool:
    """Whether one comparison holds."""
    left = facts.get(leaf.fact, _MISSING)
    op = OPS[leaf.op]
    if not op.takes_value:
        return op.predicate(left is not _MISSING, None)
    if left is _MISSING:
        return False
    if leaf.value_of is not None:
        right = facts.get(leaf.value_of, _MISSING)
        if right is _MISSING:
            return False
        right = _scaled(right, leaf)
    else:
        right = leaf.value
    return op.predicate(left, right)


def leaf_paths(cond: Condition, path: str = "") -> Iterable[tuple[str, Leaf]]:
    """Every comparison in a condition tree with where it stands (e.g. ``all[2].any[0]``)."""
    if isinstance(cond, (AllOf, AnyOf)):
        kind = "all" if isinstance(cond, AllOf) else "any"
        for i, c in enumerate(cond.children):
            yield from leaf_paths(c, f"{path}{kind}[{i}].")
    elif isinstance(cond, Not):
        yield from leaf_paths(cond.child, f"{path}not.")
    else:
        yield path.rstrip(".") or "when", cond


def other_value(leaf: Leaf, facts: Mapping[str, Any]) -> Any:
    """What a comparison with another fact compares with on these facts (None when that fact is missing)."""
    right = facts.get(str(leaf.value_of))
    return None if right is None else _scaled(right, leaf)


def _scaled(right: Any, leaf: Leaf) -> Any:
    """value_of × times + plus (plus counts days on a date)."""
    if leaf.times is not None:
        right = right * float(leaf.times)
    if leaf.plus is not None:
        right = right + dt.timedelta(days=leaf.plus) if isinstance(right, dt.date) else right + leaf.plus
    return right


def reference_value(e: Expr, facts: Mapping[str, Any], as_of: dt.date) -> Any:
    """An expression's value written independently of engine/compute.py: None when it has none."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Ref):
        return as_of if e.name == AS_OF else facts.get(e.name)
    if isinstance(e, Call) and e.func == "if":
        c = reference_value(e.args[0], facts, as_of)
        return None if c is None else reference_value(e.args[1 if c else 2], facts, as_of)
    parts = [e.operand] if isinstance(e, Neg) else [e.left, e.right] if isinstance(e, Bin) else list(e.args)
    vals = [reference_value(p, facts, as_of) for p in parts]
    if any(v is None for v in vals):
        return None
    try:
        if isinstance(e, Neg):
            return -vals[0]
        if isinstance(e, Bin):
            if e.op == "/" and vals[1] == 0:
                return None
            out = BINARY[e.op](vals[0], vals[1])
            return None if (isinstance(out, float) and out in (math.inf, -math.inf)) or out != out else out
        return _FUNCTIONS[e.func](*vals)
    except OverflowError:
        return None


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
"""The expression language's binary operators as Python's (the solver applies them to its terms too)."""
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round_half_away,
    "days_between": lambda a, b: b.toordinal() - a.toordinal(),
    "months_between": months_between,
}


def reference_computed(ruleset: RuleSet, facts: Mapping[str, Any], as_of: dt.date) -> dict[str, Any]:
    """The values of the computed facts (those that have one), each computed once its inputs are."""
    known = {k: v for k, v in facts.items() if k not in ruleset.facts or ruleset.facts[k].computed is None}
    pending = [f for f in ruleset.facts.values() if f.computed is not None]
    out: dict[str, Any] = {}
    while pending:  # the loader rejects cycles, so each pass settles at least one
        waiting = {p.name for p in pending}
        ready = [f for f in pending if f.computed is not None and not refs(f.computed) & waiting]
        for f in ready:
            assert f.computed is not None
            v = reference_value(f.computed, known, as_of)
            lo, hi = f.range or (-math.inf, math.inf)
            if v is not None and (f.type not in ("number", "integer") or lo <= v <= hi):
                known[f.name] = out[f.name] = int(v) if f.type == "integer" else v
        pending = [f for f in pending if f not in ready]
    return out


def reference_fired(
    ruleset: RuleSet, facts: Mapping[str, Any], as_of: dt.date | None = None
) -> tuple[set[str], dict[str, Any]]:
    """The rules that fire on an account and the derived facts, computed without the engine."""
    facts = dict(facts)
    fired: set[str] = set()
    derived: dict[str, Any] = {}
    day = as_of or dt.date.today()
    for stratum in range(ruleset.strata):
        computed = reference_computed(ruleset, facts, day)
        facts = {k: v for k, v in facts.items() if k not in ruleset.facts or ruleset.facts[k].computed is None}
        facts.update(computed)
        layer = sorted((r for r in ruleset.rules if r.stratum == stratum), key=lambda r: (-r.priority, r.id))
        hits = [r for r in layer if holds(r.when, facts)]
        fired.update(r.id for r in hits)
        for r in hits:
            for name, value in r.derive:
                derived.setdefault(name, value)
        for name, fact in ruleset.facts.items():
            derivers = [r.stratum for r in ruleset.rules if any(d == name for d, _ in r.derive)]
            if (
                fact.derived
                and max(derivers, default=0) == stratum
                and name not in derived
                and fact.default is not None
            ):
                derived[name] = fact.default
        facts.update(derived)
    return fired, derived
