"""Explain's exact smallest change: solved over the facts marked `controllable: true`, then re-checked by the engine.

Every other given fact keeps its value (or stays missing); a controllable fact may take any value of its
declaration, appear or disappear. The cost, minimised in this order (docs/audit.md):

1. the number of facts changed;
2. the normalised distance: |new - old| / width of the declared range for numbers and integers (numbers
   move in steps of 0.01, as explain's proposals do), positions in the declared list / (values - 1) for
   enums, days / 365 for dates, 1 for a truth value flipped and for a fact added or removed.

The solver's answer is run through the engine; where the engine refutes it (possible only through an
opaque value, engine/solver.py), the true values there are learnt and the solver asked again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import z3

from kamrules.engine.evaluate import Decision, Evaluator
from kamrules.engine.proposals import Proposal, Reached
from kamrules.engine.solver import Encoding, Term, constant, python_value
from kamrules.lang.model import Account, Fact, Leaf
from kamrules.lang.ops import REMOVE

STEP = 100  # numbers move in hundredths: a strict threshold t is met at t + 0.01, as in proposals.py
RETRIES = 5  # solutions the engine may refute before the search gives up


@dataclass(frozen=True)
class Exact:
    """The smallest change over controllable facts that reaches a goal, with its cost, checked by the engine."""

    proposal: Proposal
    facts_changed: int
    distance: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the proposal and its cost."""
        return self.proposal.to_dict() | {"cost": {"facts_changed": self.facts_changed, "distance": self.distance}}


def controllable(ev: Evaluator) -> list[Fact]:
    """The facts of the evaluator's rule set that explain may change."""
    return [f for f in ev.ruleset.facts.values() if f.controllable]


def exact_change(ev: Evaluator, decision: Decision, goal: str, reached: Reached) -> Exact | None:
    """The cheapest change of controllable facts after which the engine's decision reaches the goal."""
    levers = controllable(ev)
    if not levers:
        return None
    enc = Encoding(ev.ruleset, ev.as_of or dt.date.today())
    opt = z3.Optimize()
    opt.add(*enc.domain, _goal(enc, goal))
    given = decision.given
    for f in ev.ruleset.given_facts():
        if not f.controllable:
            opt.add(*_fixed(enc, f, given))
    changed, distance = [], []
    for f in levers:
        c, d, constraints = _cost(enc, f, given)
        opt.add(*constraints)
        changed.append(c)
        distance.append(d)
    n_changed = opt.minimize(z3.Sum(changed))
    opt.minimize(z3.Sum(distance))
    for _ in range(RETRIES):
        if opt.check() != z3.sat:
            return None
        model = opt.model()
        changes = _changes(enc, model, levers, given)
        after = {k: v for k, v in given.items() if k not in changes} | {k: v for k, v in changes.items() if v != REMOVE}
        d = ev.evaluate(Account(decision.account, after, decision.name), trace="none")
        rule = reached(d)
        if rule is not None:
            rows = tuple((k, given.get(k), v) for k, v in sorted(changes.items()))
            proposal = Proposal(goal, rows, rule, d.stage_recommended, d.move, d.key_account)
            cost = sum(_number(model.eval(t, model_completion=True)) for t in distance)
            return Exact(proposal, int(_number(model.eval(n_changed.value()))), round(cost, 6))
        learnt = enc.refine(model)  # refuted: an opaque value was off; learn the true ones and ask again
        if not learnt:
            return None
        opt.add(*learnt)
    return None


def _goal(enc: Encoding, goal: str) -> Term:
    """The goal as a term: the winning stage rule names the stage, or the account is a key account."""
    if goal == "key account":
        return enc.condition(Leaf("key_account", "eq", True))
    target = goal.removeprefix("stage ")
    stage_rules = sorted((r for r in enc.ruleset.rules if r.stage), key=lambda r: (-r.priority, r.id))
    wins = []
    for i, r in enumerate(stage_rules):
        if r.stage == target:
            earlier = [enc.fires[q.id] for q in stage_rules[:i]]
            wins.append(z3.And(enc.fires[r.id], *[z3.Not(t) for t in earlier]))
    return z3.Or(*wins) if wins else z3.BoolVal(False)


def _fixed(enc: Encoding, f: Fact, given: dict[str, Any]) -> list[Term]:
    has, value = enc.term(f.name)
    if f.name not in given:
        return [z3.Not(has)]
    return [has, value == constant(f, given[f.name])]


def _cost(enc: Encoding, f: Fact, given: dict[str, Any]) -> tuple[Term, Term, list[Term]]:
    """(changed 0/1, normalised distance, constraints on the fact's new value)."""
    has, value = enc.term(f.name)
    constraints: list[Term] = []
    if f.name not in given:
        return z3.If(has, 1, 0), z3.If(has, z3.RealVal(1), z3.RealVal(0)), constraints
    old = constant(f, given[f.name])
    if f.type == "number":
        step = z3.Int(f"step:{f.name}")
        constraints.append(z3.Or(value == old, value == z3.ToReal(step) / STEP))
    moved = z3.Or(z3.Not(has), value != old)
    return z3.If(moved, 1, 0), z3.If(z3.Not(has), z3.RealVal(1), _distance(f, value, old)), constraints


def _distance(f: Fact, value: Term, old: Term) -> Term:
    if f.type == "boolean":
        return z3.If(value == old, z3.RealVal(0), z3.RealVal(1))
    gap = z3.ToReal(z3.If(value >= old, value - old, old - value))
    if f.type == "enum":
        return gap / max(len(f.values or ()) - 1, 1)
    if f.type == "date":
        return gap / 365
    width = (f.range[1] - f.range[0]) if f.range else 0.0
    return gap / z3.RealVal(str(width or 1.0))


def _changes(enc: Encoding, model: Any, levers: list[Fact], given: dict[str, Any]) -> dict[str, Any]:
    """The controllable facts whose value the model changes: fact -> new value or REMOVE."""
    out: dict[str, Any] = {}
    for f in levers:
        has, value = enc.term(f.name)
        present = z3.is_true(model.eval(has, model_completion=True))
        new = python_value(f, model.eval(value, model_completion=True)) if present else REMOVE
        if new == REMOVE and f.name in given:
            out[f.name] = REMOVE
        elif new != REMOVE and given.get(f.name, _ABSENT) != new:
            out[f.name] = new
    return out


_ABSENT = object()


def _number(term: Any) -> float:
    if z3.is_int_value(term):
        return float(term.as_long())
    return float(term.numerator_as_long()) / float(term.denominator_as_long())
