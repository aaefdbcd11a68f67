"""Why, why not, and what it would take: one account's decision explained, with verified proposals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import product
from typing import Any

from kamrules.engine.evaluate import ConditionTrace, Decision, Evaluator, Reason
from kamrules.engine.reference import holds, leaf_holds
from kamrules.lang.model import STAGES, UNCOUPLING, Account, AllOf, AnyOf, Condition, Fact, Leaf, Not, Rule, stage_index
from kamrules.lang.ops import OPS, ORDERED_TYPES, REMOVE

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
            "changes": [{"fact": f, "from": _plain(a), "to": _plain(b)} for f, a, b in self.changes],
            "result": {"stage": self.stage, "move": self.move, "key_account": self.key_account},
        }


@dataclass(frozen=True)
class Explanation:
    """Why the decision is what it is, which next moves were missed and what would reach them."""

    decision: Decision
    goals: tuple[str, ...]
    misses: tuple[Miss, ...]
    proposals: tuple[Proposal, ...]
    candidates_tried: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
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


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


# ---------------------------------------------------------------------------- why


def why(d: Decision) -> dict[str, Any]:
    """The fired rules as a chain: given facts used → derived facts → recommendation."""
    given = set(d.given)
    used = sorted({f for r in d.reasons for f in r.rule.reads() if f in given})
    steps = {r.rule.id: _step(r) for r in d.reasons}
    derived = [
        {"fact": k, "value": _plain(v), "rule": d.derived_by[k], "because": steps.get(d.derived_by[k])}
        for k, v in d.derived.items()
    ]
    return {
        "given": {f: _plain(d.given[f]) for f in used},
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


# ---------------------------------------------------------------------------- what it would take


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


class _Search:
    """Builds candidate change sets for one account and checks them through the engine."""

    def __init__(self, ev: Evaluator, decision: Decision) -> None:
        self.ev = ev
        self.rs = ev.ruleset
        self.decision = decision
        self.facts = dict(decision.given) | dict(decision.derived)

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
                else:
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
    search = _Search(ev, d)
    proposals: list[Proposal] = []
    tried = 0
    for goal, rules, reached in goals:
        found, n = search.run(goal, rules, reached)
        proposals.extend(found)
        tried += n
    return Explanation(d, tuple(g for g, _, _ in goals), tuple(misses), tuple(proposals), tried)
