"""An independent evaluator of condition trees, matching durable_rules' semantics, for tests and traces."""
from __future__ import annotations

from typing import Any, Mapping

from .model import AllOf, AnyOf, Condition, Leaf, Not

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
    if leaf.op == "exists":
        return left is not _MISSING
    if leaf.op == "missing":
        return left is _MISSING
    if left is _MISSING:
        return False
    if leaf.value_of is not None:
        right = facts.get(leaf.value_of, _MISSING)
        if right is _MISSING:
            return False
    else:
        right = leaf.value
    op = leaf.op
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if op == "lt":
        return left < right
    if op == "lte":
        return left <= right
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    if op == "in":
        return left in right
    if op == "not_in":
        return left not in right
    if op == "between":
        return right[0] <= left <= right[1]
    raise ValueError(f"unknown operator {op!r}")


def observed(leaf: Leaf, facts: Mapping[str, Any]) -> Any:
    """The account's value of the compared fact (None when missing)."""
    return facts.get(leaf.fact)
