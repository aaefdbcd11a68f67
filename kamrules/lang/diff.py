"""Two rule sets compared rule by rule: added, removed and changed rules, each change with where it is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kamrules.lang.model import AllOf, AnyOf, Condition, Leaf, Not, Rule, RuleSet

ASPECTS = ("threshold", "condition", "priority", "conclusion", "description")


@dataclass(frozen=True)
class Change:
    """One difference in a rule: what changed, the old and new values, and where each is written."""

    aspect: str  # threshold | condition | priority | conclusion | description
    old: Any
    new: Any
    old_line: int
    new_line: int
    new_col: int = 0
    path: str = ""  # a threshold's place in the condition tree (all[2].any[0])


@dataclass(frozen=True)
class RuleChange:
    """A rule added, removed or changed between two rule sets."""

    kind: str  # added | removed | changed
    old: Rule | None
    new: Rule | None
    changes: tuple[Change, ...] = ()

    @property
    def id(self) -> str:
        """The rule's id."""
        rule = self.new or self.old
        assert rule is not None
        return rule.id


@dataclass(frozen=True)
class RulesDiff:
    """Every rule that differs between an old and a new rule set, in the new set's order, removed ones last."""

    old: RuleSet
    new: RuleSet
    rules: tuple[RuleChange, ...]

    def ids(self) -> set[str]:
        """The ids of every rule that differs."""
        return {r.id for r in self.rules}


def diff_rulesets(old: RuleSet, new: RuleSet) -> RulesDiff:
    """The rules added, removed and changed from ``old`` to ``new``, matched by id."""
    before = {r.id: r for r in old.rules}
    after = {r.id: r for r in new.rules}
    out = []
    for r in new.rules:
        if r.id not in before:
            out.append(RuleChange("added", None, r))
            continue
        changes = rule_changes(before[r.id], r)
        if changes:
            out.append(RuleChange("changed", before[r.id], r, changes))
    out.extend(RuleChange("removed", r, None) for r in old.rules if r.id not in after)
    return RulesDiff(old, new, tuple(out))


def rule_changes(old: Rule, new: Rule) -> tuple[Change, ...]:
    """What differs between two versions of one rule: thresholds where the condition keeps its shape."""
    out: list[Change] = []
    if _shape(old.when) == _shape(new.when):
        for path, a, b in _pairs(old.when, new.when):
            if _operand(a) != _operand(b):
                out.append(Change("threshold", a, b, a.line, b.line, b.col, path))
    else:
        out.append(Change("condition", old.when, new.when, old.line, new.line))
    if old.priority != new.priority:
        out.append(Change("priority", old.priority, new.priority, old.line, new.line))
    if conclusions(old) != conclusions(new):
        out.append(Change("conclusion", conclusions(old), conclusions(new), old.line, new.line))
    if old.description != new.description:
        out.append(Change("description", old.description, new.description, old.line, new.line))
    return tuple(out)


def conclusions(r: Rule) -> dict[str, Any]:
    """What a rule concludes: derived facts, stage, structure, action ids."""
    out: dict[str, Any] = dict(r.derive)
    if r.stage:
        out["stage"] = r.stage
    if r.structure:
        out["structure"] = r.structure
    if r.actions:
        out["actions"] = tuple(a.id for a in r.actions)
    return out


def _operand(leaf: Leaf) -> tuple[Any, ...]:
    value = tuple(leaf.value) if isinstance(leaf.value, list) else leaf.value
    return (value, leaf.value_of, leaf.times, leaf.plus)


def _shape(cond: Condition) -> Any:
    """The condition tree without its operands: kinds, facts and operators."""
    if isinstance(cond, Leaf):
        return (cond.fact, cond.op)
    if isinstance(cond, Not):
        return ("not", _shape(cond.child))
    return ("all" if isinstance(cond, AllOf) else "any", tuple(_shape(c) for c in cond.children))


def _pairs(a: Condition, b: Condition, path: str = "") -> list[tuple[str, Leaf, Leaf]]:
    """The comparisons of two conditions of one shape, side by side, with their place."""
    if isinstance(a, Leaf) and isinstance(b, Leaf):
        return [(path.rstrip(".") or "when", a, b)]
    if isinstance(a, Not) and isinstance(b, Not):
        return _pairs(a.child, b.child, f"{path}not.")
    assert isinstance(a, (AllOf, AnyOf)) and isinstance(b, (AllOf, AnyOf))
    kind = "all" if isinstance(a, AllOf) else "any"
    out = []
    for i, (x, y) in enumerate(zip(a.children, b.children, strict=True)):
        out.extend(_pairs(x, y, f"{path}{kind}[{i}]."))
    return out
