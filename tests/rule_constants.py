"""Shared by the property tests: the constants each fact is compared with in a rule set."""

from __future__ import annotations

from kamrules.lang import AllOf, AnyOf, Not, RuleSet


def constants_of(ruleset: RuleSet) -> dict[str, set]:
    """Every constant each fact is compared with, so random values land on and around thresholds."""
    found: dict[str, set] = {}

    def walk(c):
        if isinstance(c, (AllOf, AnyOf)):
            for k in c.children:
                walk(k)
        elif isinstance(c, Not):
            walk(c.child)
        elif c.value is not None:
            values = c.value if isinstance(c.value, tuple) else (c.value,)
            found.setdefault(c.fact, set()).update(values)

    for r in ruleset.rules:
        walk(r.when)
    return found
