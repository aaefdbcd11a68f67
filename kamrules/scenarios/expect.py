"""Expectations checked against a timeline, and `kamrules test`: every scenario of some files or folders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kamrules.engine import Evaluator
from kamrules.scenarios.model import Expectation
from kamrules.scenarios.simulate import PortfolioStepResult, StepResult, Timeline, simulate
from kamrules.scenarios.spec import load_scenarios

# Expectations about ids in a list (actions recommended, rules fired); the others compare one value.
LIST_KINDS = ("action", "no_action", "fired")


@dataclass(frozen=True)
class Outcome:
    """One expectation checked: passed or not, with what was observed.

    ``observed`` is the value the expectation is about: a stage, a move, a structure, a designation,
    a count of key accounts, or (for actions and fired rules) the tuple of ids present.
    """

    scenario: str
    period: str
    expectation: Expectation
    passed: bool
    observed: Any
    rule: str | None = None  # the rule behind a portfolio's observed structure
    portfolio: bool = False  # checked against a portfolio review rather than one account's decision


def _observed(e: Expectation, res: StepResult | PortfolioStepResult) -> Any:
    """What the step shows about the expectation's subject."""
    if isinstance(res, PortfolioStepResult):
        return len(res.key_accounts) if e.kind == "key_accounts" else res.structure.structure
    d = res.decision
    if e.kind in ("action", "no_action"):
        return tuple(res.action_ids)
    if e.kind == "fired":
        return tuple(d.fired)
    return {"stage": res.stage, "move": d.move, "key_account": d.key_account, "structure": d.structure}[e.kind]


def _holds(e: Expectation, observed: Any) -> bool:
    """True when the observed value meets the expectation."""
    if e.kind == "no_action":
        return e.value not in observed
    if e.kind in LIST_KINDS:
        return e.value in observed
    return bool(observed == e.value)


def check(timeline: Timeline) -> list[Outcome]:
    """Every expectation of the scenario against its timeline, in file order."""
    out = []
    for step, res in zip(timeline.scenario.steps, timeline.steps, strict=True):
        portfolio = isinstance(res, PortfolioStepResult)
        rule = res.structure.structure_rule if isinstance(res, PortfolioStepResult) else None
        for e in step.expect:
            seen = _observed(e, res)
            out.append(Outcome(timeline.scenario.name, step.label, e, _holds(e, seen), seen, rule, portfolio))
    return out


@dataclass(frozen=True)
class TestReport:
    """The outcomes of every expectation of every scenario run."""

    outcomes: tuple[Outcome, ...] = field(default=())

    @property
    def passed(self) -> int:
        """How many expectations held."""
        return sum(o.passed for o in self.outcomes)

    @property
    def failed(self) -> int:
        """How many expectations did not hold."""
        return len(self.outcomes) - self.passed


Observer = Callable[[Timeline], None]
"""Called with each scenario's timeline as it is checked (coverage counts its decisions)."""


def run_tests(paths: Sequence[str | Path], observe: Observer | None = None) -> TestReport:
    """Load every scenario under ``paths``, simulate each, and check its expectations."""
    scenarios = load_scenarios(paths)
    evaluators: dict[int, Evaluator] = {}
    outcomes: list[Outcome] = []
    try:
        for sc in scenarios:
            if sc.is_portfolio:  # the portfolio review runs its own engine
                timeline = simulate(sc)
            else:
                # One engine per rule set, built when first needed (setdefault would build, and leak, one each).
                if id(sc.ruleset) not in evaluators:
                    evaluators[id(sc.ruleset)] = Evaluator(sc.ruleset)
                timeline = simulate(sc, evaluators[id(sc.ruleset)])
            if observe is not None:
                observe(timeline)
            outcomes.extend(check(timeline))
    finally:
        for ev in evaluators.values():
            ev.close()
    return TestReport(tuple(outcomes))
