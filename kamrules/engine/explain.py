"""Why, why not, and what it would take: one account's decision explained, with verified proposals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kamrules.engine.evaluate import ConditionTrace, Decision, Evaluator, Reason
from kamrules.engine.exact import Exact, controllable, exact_change
from kamrules.engine.proposals import Proposal, Search
from kamrules.engine.reference import holds, leaf_holds
from kamrules.lang.model import STAGES, UNCOUPLING, Account, AllOf, AnyOf, Condition, Leaf, Not, Rule, stage_index
from kamrules.lang.ops import OPS
from kamrules.lang.values import jsonable


@dataclass(frozen=True)
class Failure:
    """A comparison that kept a rule from firing: threshold, observed value and the gap."""

    trace: ConditionTrace
    must_hold: bool  # False when the comparison sits under a `not` and should not hold
    gap: float | int | None  # how far the observed value is from the threshold (numbers, days for dates)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return self.trace.to_dict() | {"must_hold": self.must_hold, "gap": self.gap}


@dataclass(frozen=True)
class Miss:
    """A rule concerning the account's next move that did not fire, and why."""

    rule: Rule
    goal: str
    failures: tuple[Failure, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rule": self.rule.id,
            "source": self.rule.source,
            "description": self.rule.description.strip(),
            "goal": self.goal,
            "failed": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True)
class Explanation:
    """Why the decision is what it is, which next moves were missed and what would reach them."""

    decision: Decision
    goals: tuple[str, ...]
    misses: tuple[Miss, ...]
    proposals: tuple[Proposal, ...]
    candidates_tried: int
    levers: tuple[str, ...] = ()  # the controllable facts; without any, no exact change is sought
    exact: tuple[Exact, ...] = ()  # per goal reachable by them, the smallest change of controllable facts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`controllable` and `exact` only when the rule set has controllable facts)."""
        exact = {"controllable": list(self.levers), "exact": [x.to_dict() for x in self.exact]} if self.levers else {}
        return self._base_dict() | exact

    def _base_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "account": d.account,
            "name": d.name,
            "rules_version": d.rules_version,
            "why": why(d),
            "goals": list(self.goals),
            "why_not": [m.to_dict() for m in self.misses],
            "what_it_would_take": [p.to_dict() for p in self.proposals],
            "candidates_tried": self.candidates_tried,
        }


# ---------------------------------------------------------------------------- why


def why(d: Decision) -> dict[str, Any]:
    """The fired rules as a chain: given facts used → derived facts → recommendation."""
    given = set(d.given)
    used = sorted({f for r in d.reasons for f in r.rule.reads() if f in given})
    steps = {r.rule.id: _step(r) for r in d.reasons}
    derived = [
        {"fact": k, "value": jsonable(v), "rule": d.derived_by[k], "because": steps.get(d.derived_by[k])}
        for k, v in d.derived.items()
    ]
    return {
        "given": {f: jsonable(d.given[f]) for f in used},
        "derived": derived,
        "stage": {
            "current": d.stage_current,
            "recommended": d.stage_recommended,
            "move": d.move,
            "because": steps.get(d.stage_rule) if d.stage_rule else None,
        },
        "structure": {"recommended": d.structure, "because": steps.get(d.structure_rule or "")}
        if d.structure
        else None,
        "actions": [{"id": a["id"], "text": a["text"], "because": [steps[r] for r in a["rules"]]} for a in d.actions],
    }


def _step(reason: Reason) -> dict[str, Any]:
    r = reason.rule
    return {
        "rule": r.id,
        "source": r.source,
        "description": " ".join(r.description.split()),
        "conditions": [c.to_dict() for c in reason.conditions if c.holds],
    }


# ---------------------------------------------------------------------------- why not


def _requires_stage(cond: Condition, stage: str) -> bool:
    """True when the condition requires stage == `stage` (or `stage` in a list) at its top level."""
    leaves = cond.children if isinstance(cond, AllOf) else (cond,)
    return any(
        isinstance(c, Leaf)
        and c.fact == "stage"
        and c.value_of is None
        and OPS[c.op].selects
        and OPS[c.op].predicate(stage, c.value)
        for c in leaves
    )


def failures(cond: Condition, facts: dict[str, Any], path: str = "", want: bool = True) -> Iterable[Failure]:
    """The comparisons that keep a condition from being `want`, with observed values and gaps."""
    if isinstance(cond, Not):
        yield from failures(cond.child, facts, f"{path}not.", not want)
        return
    if isinstance(cond, (AllOf, AnyOf)):
        kind = "all" if isinstance(cond, AllOf) else "any"
        # all-true and any-false fail through each failing child; any-true and all-false need every child.
        every = (kind == "all") != want
        for i, c in enumerate(cond.children):
            if every or holds(c, facts) != want:
                yield from failures(c, facts, f"{path}{kind}[{i}].", want)
        return
    leaf: Leaf = cond
    if leaf_holds(leaf, facts) == want:
        return
    value = facts.get(leaf.value_of) if leaf.value_of else leaf.value
    observed = facts.get(leaf.fact)
    trace = ConditionTrace(leaf.fact, leaf.op, value, observed, not want, path.rstrip(".") or "when", leaf.value_of)
    yield Failure(trace, want, _gap(leaf.op, value, observed) if want else None)


def _gap(op: str, threshold: Any, observed: Any) -> float | int | None:
    bound = OPS[op].gap_to
    if observed is None or threshold is None or bound is None:
        return None
    diff = bound(threshold, observed) - observed
    if isinstance(diff, dt.timedelta):
        return diff.days
    return round(diff, 10) if isinstance(diff, float) else diff


def next_stage(d: Decision, rules: Iterable[Rule]) -> str | None:
    """The next stage on the path (from uncoupling-KAM: the earliest stage a recovery rule reaches)."""
    current = d.stage_current
    if current in STAGES:
        i = STAGES.index(current)
        return STAGES[i + 1] if i + 1 < len(STAGES) else None
    if current == UNCOUPLING:
        targets = [r.stage for r in rules if r.stage in STAGES and _requires_stage(r.when, current)]
        return min(targets, key=stage_index, default=None)
    return None


def explain(ev: Evaluator, account: Account) -> Explanation:
    """Why, why not and what it would take, for one account, every proposal checked by the engine."""
    rs = ev.ruleset
    d = ev.evaluate(account)
    facts = dict(d.given) | dict(d.derived)
    fired = set(d.fired)
    goals: list[tuple[str, list[Rule], Any]] = []
    misses: list[Miss] = []
    if d.stage_current is not None:
        out_of = [r for r in rs.rules if r.stage and _requires_stage(r.when, d.stage_current)]
        for r in out_of:
            if r.id not in fired:
                misses.append(Miss(r, f"stage {r.stage}", tuple(failures(r.when, facts))))
        target = next_stage(d, rs.rules)
        if target and d.stage_recommended != target:
            goal_rules = [r for r in out_of if r.stage == target]

            def reached_stage(x: Decision, target: str = target) -> str | None:
                return x.stage_rule if x.stage_recommended == target else None

            goals.append((f"stage {target}", goal_rules, reached_stage))
    if "key_account" in rs.facts and d.key_account is not True:
        designating = [r for r in rs.rules if ("key_account", True) in r.derive]
        misses.extend(Miss(r, "key account", tuple(failures(r.when, facts))) for r in designating if r.id not in fired)

        def reached_key(x: Decision) -> str | None:
            return x.derived_by.get("key_account") if x.key_account is True else None

        goals.append(("key account", designating, reached_key))
    search = Search(ev, d)
    proposals: list[Proposal] = []
    exact: list[Exact] = []
    tried = 0
    for goal, rules, reached in goals:
        found, n = search.run(goal, rules, reached)
        proposals.extend(found)
        tried += n
        smallest = exact_change(ev, d, goal, reached)
        if smallest is not None:
            exact.append(smallest)
    levers = tuple(f.name for f in controllable(ev))
    return Explanation(d, tuple(g for g, _, _ in goals), tuple(misses), tuple(proposals), tried, levers, tuple(exact))
