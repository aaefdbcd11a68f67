"""An independent evaluator of condition trees, matching durable_rules' semantics, for tests and traces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kamrules.lang.model import AllOf, AnyOf, Condition, Leaf, Not, RuleSet
from kamrules.lang.ops import OPS

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
    else:
        right = leaf.value
    return op.predicate(left, right)


def reference_fired(ruleset: RuleSet, facts: Mapping[str, Any]) -> tuple[set[str], dict[str, Any]]:
    """The rules that fire on an account and the derived facts, computed without the engine."""
    facts = dict(facts)
    fired: set[str] = set()
    derived: dict[str, Any] = {}
    for stratum in range(ruleset.strata):
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
