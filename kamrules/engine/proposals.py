"""What it would take: change sets of given facts that reach a goal, each checked through the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import product
from typing import Any

from kamrules.engine.evaluate import Decision, Evaluator
from kamrules.engine.reference import leaf_holds
from kamrules.lang.model import Account, AllOf, Condition, Fact, Leaf, Not, Rule
from kamrules.lang.ops import OPS, ORDERED_TYPES, REMOVE
from kamrules.lang.values import jsonable

# Strict comparisons (gt, lt) on number facts move the value 0.01 past the threshold, rounded to
# two decimals: round(t + 0.01, 2) > t for any t. Integers move by 1, dates by one day.
EPSILON = 0.01
MAX_WAYS = 256  # alternative branch combinations explored per rule; `any` trees multiply fast
MAX_CANDIDATES = 400  # change sets sent to the engine per goal
MAX_PROPOSALS = 5  # proposals kept per goal
DERIVED_DEPTH = 2  # how deep a needed derived fact is traced back to the rules that derive it

Need = tuple[Leaf, bool]  # a comparison and whether it must hold (False below a `not`)
Changes = dict[str, Any]  # fact -> new value or REMOVE
Reached = Callable[[Decision], "str | None"]  # the rule that reaches a goal in a decision, or None


@dataclass(frozen=True)
class Proposal:
    """Changes to given facts that, re-evaluated by the engine, reach a goal."""

    goal: str
    changes: tuple[tuple[str, Any, Any], ...]  # (fact, current value or None, new value or REMOVE)
    rule: str  # the rule that concludes the goal once the changes are made
    stage: str | None
    move: str
    key_account: bool | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "goal": self.goal,
            "rule": self.rule,
            "changes": [{"fact": f, "from": jsonable(a), "to": jsonable(b)} for f, a, b in self.changes],
            "result": {"stage": self.stage, "move": self.move, "key_account": self.key_account},
        }


def ways(cond: Condition, want: bool = True) -> list[list[Need]]:
    """The condition as alternative conjunctions of comparisons (each `any` branch is one way), capped."""
    if isinstance(cond, Leaf):
        return [[(cond, want)]]
    if isinstance(cond, Not):
        return ways(cond.child, not want)
    children = [ways(c, want) for c in cond.children]
    if isinstance(cond, AllOf) == want:  # all must be true, or any must be false: combine
        out: list[list[Need]] = []
        for combo in product(*children):
            out.append([n for part in combo for n in part])
            if len(out) >= MAX_WAYS:
                break
        return out
    return [w for ch in children for w in ch][:MAX_WAYS]


@dataclass(frozen=True)
class _Nudge:
    """How proposals move one fact's value: its smallest step and its neighbouring values."""

    fact: Fact

    def step(self, value: Any, sign: int) -> Any:
        """The value one step up or down: integers by 1, dates by a day, numbers by EPSILON to two decimals."""
        if self.fact.type == "integer":
            step: Any = 1
        elif self.fact.type == "date":
            step = dt.timedelta(days=1)
        else:
            step = EPSILON
        moved = value + step if sign > 0 else value - step
        return round(moved, 2) if self.fact.type == "number" else moved

    def nearest(self, options: Iterable[Any], current: Any) -> list[Any]:
        """The option closest to the current value: for enums by position in the declared list."""
        rest = [o for o in options if o != current]
        values = self.fact.values
        if self.fact.type == "enum" and values and current in values:
            rest.sort(key=lambda o: abs(values.index(o) - values.index(current)))
        return rest[:1]

    def pool(self) -> tuple[Any, ...]:
        """Every value of an enum or boolean fact; nothing for the others."""
        if self.fact.type == "enum":
            return self.fact.values or ()
        return (True, False) if self.fact.type == "boolean" else ()

    def other(self, value: Any) -> list[Any]:
        """The closest value that differs: another enum value, the other boolean, one step up."""
        if self.pool():
            return self.nearest(self.pool(), value)
        return [self.step(value, +1)] if self.fact.type in ORDERED_TYPES else []


def _values(leaf: Leaf, want: bool, fact: Fact, working: dict[str, Any]) -> list[Any]:
    """Values of the fact that make the comparison hold (or not hold), closest to the current one."""
    if leaf.value_of is not None and leaf.value_of not in working:
        return []
    operand = working[leaf.value_of] if leaf.value_of else leaf.value
    out = OPS[leaf.op].proposals(want, operand, working.get(leaf.fact), _Nudge(fact))
    if fact.range is not None:
        lo, hi = fact.range
        out = [v for v in out if v == REMOVE or not isinstance(v, (int, float)) or lo <= v <= hi]
    return out


class Search:
    """Builds candidate change sets for one account and checks them through the engine."""

    def __init__(self, ev: Evaluator, decision: Decision) -> None:
        self.ev = ev
        self.rs = ev.ruleset
        self.decision = decision
        computed = {c.fact: c.value for c in decision.computed if c.value is not None}
        self.facts = dict(decision.given) | dict(decision.derived) | computed

    def expand(self, needs: list[Need], changes: Changes, depth: int = DERIVED_DEPTH) -> list[Changes]:
        """Change sets (on top of `changes`) meeting every need; derived facts through their rules."""
        partial = [dict(changes)]
        for leaf, want in needs:
            nxt = []
            for ch in partial:
                working = self._apply(ch)
                if leaf_holds(leaf, working) == want:
                    nxt.append(ch)
                    continue
                fact = self.rs.facts[leaf.fact]
                if fact.derived:
                    if depth > 0:
                        for r in self.rs.rules:
                            for f, v in r.derive:
                                if f == leaf.fact and leaf_holds(leaf, working | {f: v}) == want:
                                    for w in ways(r.when):
                                        nxt.extend(self.expand(w, ch, depth - 1))
                elif fact.computed is None:  # a computed fact changes through its inputs: no inverse is sought
                    nxt.extend(ch | {leaf.fact: v} for v in _values(leaf, want, fact, working))
                if len(nxt) >= MAX_CANDIDATES:
                    break
            partial = nxt[:MAX_CANDIDATES]
        return partial

    def _apply(self, changes: Changes) -> dict[str, Any]:
        working = dict(self.facts)
        for f, v in changes.items():
            if v == REMOVE:
                working.pop(f, None)
            else:
                working[f] = v
        return working

    def given_after(self, changes: Changes) -> dict[str, Any]:
        """The given facts with the changes applied (derived facts are left to the engine)."""
        return {k: v for k, v in self._apply(changes).items() if k in self.decision.given or k in changes}

    def run(self, goal: str, rules: list[Rule], reached: Reached) -> tuple[list[Proposal], int]:
        """Candidates from the goal's rules, then one repair round against the rules that blocked them."""
        candidates = _unique(ch for r in rules for w in ways(r.when) for ch in self.expand(w, {}))
        kept, failed = self._check(goal, candidates, reached)
        if {} in candidates:  # the rule's own conditions already hold: something else blocks it
            failed.append(({}, self.decision))
        repairs: list[Changes] = []
        for ch, d in failed:
            for blocker in self._blockers(goal, d):
                repairs.extend(x for w in ways(blocker.when, False) for x in self.expand(w, ch))
        repairs = [r for r in _unique(repairs) if r not in candidates]
        more, _ = self._check(goal, repairs, reached)
        return _minimal(kept + more), len(candidates) + len(repairs)

    def _check(
        self, goal: str, candidates: list[Changes], reached: Reached
    ) -> tuple[list[Proposal], list[tuple[Changes, Decision]]]:
        candidates = [c for c in candidates if c][:MAX_CANDIDATES]
        accounts = [Account(self.decision.account, self.given_after(c), self.decision.name) for c in candidates]
        # Only the outcome of a candidate counts: no provenance is built for it.
        decisions = self.ev.evaluate_many(accounts, trace="none") if accounts else []
        kept, failed = [], []
        for ch, d in zip(candidates, decisions, strict=True):
            rule = reached(d)
            if rule is None:
                failed.append((ch, d))
                continue
            changes = tuple((f, self.decision.given.get(f), v) for f, v in sorted(ch.items()))
            kept.append(Proposal(goal, changes, rule, d.stage_recommended, d.move, d.key_account))
        return kept, failed

    def _blockers(self, goal: str, d: Decision) -> list[Rule]:
        """Fired rules whose conclusions stand in the goal's way: the winning stage rule, a withdrawn designation."""
        out = []
        if goal != "key account" and d.stage_rule:
            out.append(self.rs.rule(d.stage_rule))
        by = d.derived_by.get("key_account")
        if d.key_account is False and by and by != "default":
            out.append(self.rs.rule(by))
        return out


def _unique(change_sets: Iterable[Changes]) -> list[Changes]:
    seen, out = set(), []
    for ch in change_sets:
        key = tuple(sorted((k, repr(v)) for k, v in ch.items()))
        if key not in seen:
            seen.add(key)
            out.append(ch)
    return out


def _distance(p: Proposal) -> float:
    total = 0.0
    for _, old, new in p.changes:
        if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(new, bool):
            total += abs(new - old) / (abs(old) or 1.0)
        else:
            total += 1.0
    return total


def _minimal(proposals: list[Proposal]) -> list[Proposal]:
    """Keep the smallest: per set of facts the smallest move; no proposal changing a strict superset of another's."""
    best: dict[frozenset[str], Proposal] = {}
    for p in proposals:
        key = frozenset(f for f, _, _ in p.changes)
        if key not in best or _distance(p) < _distance(best[key]):
            best[key] = p
    kept = [p for s, p in best.items() if not any(o < s for o in best)]
    kept.sort(key=lambda p: (len(p.changes), _distance(p), [f for f, _, _ in p.changes]))
    return kept[:MAX_PROPOSALS]
